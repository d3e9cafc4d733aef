"""apply streams the transaction to nft while it renders it: the loaded ruleset is the
one `plan` shows, and no cut of the stream (vmguard killed half-way) commits anything."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.firewall.conftest import REPO
from tests.support.netns import Netns, netns
from tests.support.require import require_root, require_tools
from vmguard.core.modes import Protocol
from vmguard.firewall import nftables_render as nr
from vmguard.firewall.model import Flow, Ruleset, VmRules
from vmguard.policy.model import PortRange

pytestmark = pytest.mark.root

VMS = nr.STREAM_BATCH * 2 + 100  # three batches of elements
LIST = ("sh", "-c", "nft list table inet vmguard; nft list table arp vmguard; nft list table bridge vmguard")


def ruleset(n: int, port: int = 3306) -> Ruleset:
    def vm(i: int) -> VmRules:
        db = Flow(
            f"db-{i}",
            Protocol.TCP,
            (ipaddress.ip_network(f"10.200.{i % 250}.7/32"),),
            (PortRange(port, port),),
        )
        wide = Flow("grid", Protocol.TCP, (ipaddress.ip_network("10.201.0.0/16"),), (PortRange(9000, 9100),))
        addr = ipaddress.ip_address(f"10.100.{i // 250}.{i % 250 + 2}")
        return VmRules(f"vm-{i:05d}", (addr,), f"52:54:00:00:{i >> 8:02x}:{i & 0xFF:02x}", (db, wide))

    return Ruleset(("br0",), tuple(vm(i) for i in range(n)))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Netns]:
    require_root()
    require_tools("nft", "ip")
    os.environ["VMGUARD_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    with netns("stream") as ns:
        yield ns
    del os.environ["VMGUARD_STATE_DIR"]


def _apply_in(ns: Netns, rs: Ruleset, die_before: int | None = None) -> subprocess.Popen[str]:
    """vmguard's nftables apply in a child process inside `ns`; with `die_before`, the
    child SIGKILLs itself just before it would write that piece of the stream (-1: in
    the middle of the largest piece, after writing its first half)."""
    code = f"""
import json, os, signal, sys
from vmguard.firewall import nftables_render as nr
from vmguard.firewall.backends import backend_for
from vmguard.firewall.model import Ruleset
real, die = nr.replace_stream, {die_before!r}
def dying(rs, per_vm):
    pieces = list(real(rs, per_vm))
    big = max(range(len(pieces)), key=lambda i: len(pieces[i]))
    for i, piece in enumerate(pieces):
        if die == -1 and i == big:
            yield piece[: len(piece) // 2]
            os.kill(os.getpid(), signal.SIGKILL)
        if i == die:
            os.kill(os.getpid(), signal.SIGKILL)
        yield piece
nr.replace_stream = dying
backend_for("nftables").apply(Ruleset.from_dict(json.load(sys.stdin)))
"""
    proc = subprocess.Popen(
        ns.argv(sys.executable, "-c", code),
        stdin=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    proc.communicate(json.dumps(rs.to_dict()), timeout=120)
    _wait_group(proc.pid)  # nft, orphaned by a killed vmguard, must be done before we look
    return proc


def _wait_group(pgid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("nft still running a minute after vmguard died")


def _listing(ns: Netns) -> str:
    return ns.run(*LIST).stdout


def test_streamed_apply_loads_the_ruleset_plan_shows(host: Netns) -> None:
    rs = ruleset(VMS)
    assert len(list(nr.replace_stream(rs, {}))) == 2 + 3 + 5, "three batches of elements"
    host.run("nft", "-f", "-", input=nr.replace_script(rs))
    from_file = _listing(host)
    host.run("nft", "flush", "ruleset")
    assert _apply_in(host, rs).returncode == 0
    assert _listing(host) == from_file
    host.run("nft", "flush", "ruleset")


@pytest.mark.parametrize("die_before", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1])
def test_killed_mid_stream_leaves_the_previous_rules(host: Netns, die_before: int) -> None:
    """Killed before the first piece, between any two pieces (just before the last
    "}" too: the elements are all in, the ARP table complete), or inside one."""
    old, new = ruleset(VMS), ruleset(VMS, port=5432)
    assert _apply_in(host, old).returncode == 0
    before = _listing(host)
    assert _apply_in(host, new, die_before).returncode == -signal.SIGKILL
    assert _listing(host) == before
    assert _apply_in(host, new).returncode == 0, "control: the same apply, not killed"
    assert _listing(host) != before
    host.run("nft", "flush", "ruleset")


def test_error_found_while_rendering_kills_nft_and_changes_nothing(host: Netns) -> None:
    """The last VM's endpoints overlap partly, which vmguard finds only when it renders
    that VM: the transaction stops there."""
    rs = ruleset(VMS)
    assert _apply_in(host, rs).returncode == 0
    before = _listing(host)
    last = rs.vms[-1]
    clash = Flow(
        "grid-part", Protocol.TCP, (ipaddress.ip_network("10.201.0.0/24"),), (PortRange(9000, 9200),)
    )
    bad = Ruleset(
        rs.vm_interfaces, (*rs.vms[:-1], VmRules(last.name, last.addresses, last.mac, (*last.egress, clash)))
    )
    proc = _apply_in(host, bad)
    assert proc.returncode == 1, "FirewallError, raised half-way"
    assert _listing(host) == before
    host.run("nft", "flush", "ruleset")
