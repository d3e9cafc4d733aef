"""Audit finds drift; a failed apply changes nothing; foreign rules stay byte-for-byte."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import REPO, Firewall, make_firewall
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root

NFT_TAMPER = {
    "table-missing": ["nft flush table inet vmguard", "nft delete table inet vmguard"],
    "jump-missing": ["nft delete rule inet vmguard forward handle {forward_jump}"],
    "jump-shadowed": ["nft insert rule inet vmguard forward accept"],
    "set-elements-missing": ["nft delete element inet vmguard ids4 {{ 10.70.0.11 . 52:54:00:70:00:11 }}"],
    "set-elements-extra": ["nft add element inet vmguard out4 {{ 10.70.0.99 : drop }}"],
    "rule-extra": ["nft add rule inet vmguard from_vm accept"],
}
FOREIGN_NFT = """\
table inet foreign {
	chain forwarding {
		type filter hook forward priority -10; policy accept;
		tcp dport 9999 accept comment "someone else's"
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		ip saddr 10.99.0.0/16 drop
	}
}
"""


@pytest.fixture
def nft(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "nftables")
    yield firewall
    firewall("remove")


def _forward_jump(topo: Topology) -> str:
    out = topo.host.run("nft", "-j", "-a", "list", "chain", "inet", "vmguard", "forward").stdout
    rules = [o["rule"] for o in json.loads(out)["nftables"] if "rule" in o]
    return str(next(r["handle"] for r in rules if r.get("comment", "").startswith("vmguard jump")))


def _tamper(topo: Topology, commands: list[str]) -> None:
    for command in commands:
        if "{forward_jump}" in command:
            command = command.replace("{forward_jump}", _forward_jump(topo))
        topo.host.run("sh", "-c", command.replace("{{", "{").replace("}}", "}"))


@pytest.mark.parametrize("kind", sorted(NFT_TAMPER))
def test_audit_reports_each_kind_of_drift(nft: Firewall, topo: Topology, kind: str) -> None:
    nft("apply")
    _tamper(topo, NFT_TAMPER[kind])
    audit = nft("audit", check=False)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    assert f"{kind}:" in audit.stdout
    nft("apply")
    assert nft("audit").returncode == 0, "apply repairs the drift"


def test_audit_is_clean_after_apply(nft: Firewall) -> None:
    nft("apply")
    audit = nft("audit")
    assert "live rules match the policy (2 VMs)" in audit.stdout


def test_flushed_table_is_reported(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    topo.host.run("nft", "flush", "table", "inet", "vmguard")
    audit = nft("audit", check=False)
    assert audit.returncode == 1
    assert "rule-missing:" in audit.stdout and "jump-missing:" in audit.stdout


def test_failure_late_in_the_batch_leaves_previous_rules(nft: Firewall, topo: Topology,
                                                          tmp_path: Path) -> None:
    nft("apply")
    before = nft("show").stdout
    bad = _ruleset_with_duplicate_last_vm(nft)
    proc = subprocess.run(
        ["ip", "netns", "exec", topo.host.name, sys.executable, "-m", "vmguard.firewall.scratch",
         "nftables"], input=json.dumps(bad), capture_output=True, text=True, env=nft.env,
        check=False, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "nothing changed" in proc.stderr
    assert nft("show").stdout == before
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306", "10.80.0.10:8080") == {
        "10.80.0.10:3306": True, "10.80.0.10:8080": False}


def _ruleset_with_duplicate_last_vm(fw: Firewall) -> dict:
    """A ruleset whose only flaw is its last element: a VM reusing another's address."""
    code = ("import json,sys;from vmguard.inventory_loader import load_inventory;"
            "from vmguard.firewall.compile import compile_ruleset;"
            "print(json.dumps(compile_ruleset(load_inventory(sys.argv[1])).to_dict()))")
    out = subprocess.run([sys.executable, "-c", code, str(fw.inventory)], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    data = json.loads(out)
    clone = dict(data["vms"][0], name="zz-late", mac="52:54:00:70:00:99", egress=[])
    data["vms"].append(clone)
    return data


def test_foreign_tables_are_untouched(nft: Firewall, topo: Topology) -> None:
    topo.host.run("nft", "-f", "-", input=FOREIGN_NFT)
    try:
        listing = [topo.host.run("nft", "list", "table", *t).stdout
                   for t in (("inet", "foreign"), ("ip", "filter"))]
        for step in ("apply", "apply", "remove"):
            nft(step)
            assert [topo.host.run("nft", "list", "table", *t).stdout
                    for t in (("inet", "foreign"), ("ip", "filter"))] == listing, step
    finally:
        topo.host.run("nft", "delete", "table", "inet", "foreign")
        topo.host.run("nft", "delete", "table", "ip", "filter")


def test_not_root_is_a_clear_error_and_changes_nothing(nft: Firewall, topo: Topology) -> None:
    readable = Path(tempfile.mkdtemp(prefix="vmg-fw-"))
    readable.chmod(0o755)
    for file in nft.inventory.parent.glob("*.yaml"):
        shutil.copy(file, readable)
    proc = subprocess.run(
        ["ip", "netns", "exec", topo.host.name, "setpriv", "--reuid=65534", "--regid=65534",
         "--clear-groups", sys.executable, "-m", "vmguard", "firewall", "apply",
         "--inventory", str(readable / "inventory.yaml"), "--backend", "nftables"],
        capture_output=True, text=True, env=nft.env, check=False, timeout=60)
    shutil.rmtree(readable)
    assert proc.returncode == 3
    assert "root" in proc.stderr and "Traceback" not in proc.stderr
    assert "no vmguard table" in nft("show").stdout


def test_missing_nft_binary_is_a_clear_error(nft: Firewall) -> None:
    no_tools = dataclasses.replace(nft, env={**nft.env, "PATH": "/nonexistent"})
    proc = no_tools("apply", check=False)
    assert proc.returncode == 3
    assert "nft not found" in proc.stderr and "Traceback" not in proc.stderr
