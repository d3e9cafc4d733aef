"""The iptables apply killed (SIGKILL) before each of its steps that change something
(ipset restore, each table commit, each set destroyed, the bridge table load): the
rules and sets in force are then wholly the old ruleset's or wholly the new one's,
never a mix, and the next apply repairs whatever the kill left.

The two rulesets differ in vm1's egress (3306 -> 8080) and ingress (22 -> 8080), which
live in different sets: a kill between two set swaps (as before the sets had slots)
would let one change through without the other.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.firewall.conftest import REPO, Firewall, make_firewall
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root

CHILD = """
import json, os, signal, sys
import iptc
from vmguard.firewall import ipsets, nftables
from vmguard.firewall.backends import backend_for
from vmguard.firewall.model import Ruleset
kill_at, steps = int(sys.argv[1]), []
CHANGES = ("restore", "destroy", "create", "swap")
def step(name, fn, changes=lambda *a: True):
    def wrapped(*args, **kwargs):
        if changes(*args):
            if len(steps) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            steps.append(name)
        return fn(*args, **kwargs)
    return wrapped
ipsets.ipset = step("ipset", ipsets.ipset, lambda args, *_: args[0] in CHANGES)
nftables._nft = step("nft", nftables._nft)
iptc.Table.commit = step("commit", iptc.Table.commit)
backend_for("iptables").apply(Ruleset.from_dict(json.load(sys.stdin)))
print(json.dumps(steps))
"""
OLD = {"10.80.0.10:3306": True, "10.80.0.10:8080": False}  # vm1's egress
NEW = {"10.80.0.10:3306": False, "10.80.0.10:8080": True}
OLD_IN = {"10.70.0.11:22": True, "10.70.0.11:8080": False}  # from outside to vm1
NEW_IN = {"10.70.0.11:22": False, "10.70.0.11:8080": True}


@pytest.fixture
def ipt(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "iptables")
    yield firewall
    firewall("remove")


def _rulesets(fw: Firewall) -> tuple[dict[str, Any], dict[str, Any]]:
    code = (
        "import json,sys;from vmguard.inventory.loader import load_inventory;"
        "from vmguard.firewall.compile import compile_ruleset;"
        "print(json.dumps(compile_ruleset(load_inventory(sys.argv[1])).to_dict()))"
    )
    old = json.loads(
        subprocess.run(
            [sys.executable, "-c", code, str(fw.inventory)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for vm in old["vms"]:
        vm["port"] = f"p-{vm['name']}"
    new = json.loads(json.dumps(old))
    vm1 = new["vms"][0]
    vm1["egress"][0]["ports"] = [[8080, 8080]]
    vm1["ingress"][0]["ports"] = [[8080, 8080]]
    return old, new


def _apply(fw: Firewall, ruleset: dict[str, Any], kill_at: int = -1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        fw.ns.argv(sys.executable, "-c", CHILD, str(kill_at)),
        input=json.dumps(ruleset),
        capture_output=True,
        text=True,
        env=fw.env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def _in_force(topo: Topology) -> str:
    out = topo.reach(topo.vms["vm1"], *OLD)
    ins = topo.reach(topo.outside, *OLD_IN)
    return {(json.dumps(OLD), json.dumps(OLD_IN)): "old", (json.dumps(NEW), json.dumps(NEW_IN)): "new"}.get(
        (json.dumps(out), json.dumps(ins)), f"mixed: {out} {ins}"
    )


def _slots(topo: Topology) -> set[str]:
    names = topo.host.run("ipset", "list", "-n").stdout.split()
    return {n.rsplit("-", 1)[1] for n in names if n.startswith("vmg-")}


def test_killed_at_every_step_leaves_old_or_new_and_the_next_apply_repairs(
    ipt: Firewall, topo: Topology
) -> None:
    old, new = _rulesets(ipt)
    done = _apply(ipt, old)
    assert done.returncode == 0, done.stderr
    assert _in_force(topo) == "old"
    steps = json.loads(_apply(ipt, new).stdout)  # control: unkilled, it switches
    assert _in_force(topo) == "new"
    assert steps.count("commit") == 2 and steps.count("nft") == 1 and "ipset" in steps
    rulesets = {"old": old, "new": new}
    now = "new"
    for kill_at in range(len(steps)):  # each time from what is in force to the other
        target = "old" if now == "new" else "new"
        killed = _apply(ipt, rulesets[target], kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        switched = steps[:kill_at].count("commit") == 2  # the IPv4 commit is the switch
        assert _in_force(topo) == (target if switched else now), (kill_at, steps[:kill_at])
        assert len(_slots(topo)) <= 2, "at most one unreferenced slot left behind"
        assert _apply(ipt, rulesets[target]).returncode == 0, "the next apply repairs"
        assert len(_slots(topo)) == 1, kill_at
        now = target
    assert _in_force(topo) == now
    ipt("apply")
    assert ipt("audit").returncode == 0
