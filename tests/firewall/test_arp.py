"""ARP anti-spoofing (nftables backend, table `arp vmguard`): with real, crafted ARP
replies sent from a VM namespace, the host's neighbour table is poisoned without vmguard
and is not with it; a VM's genuine ARP still updates it.

On bridges both backends also filter ARP in table `bridge vmguard` (test_frames.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import Firewall, make_firewall
from tests.firewall.topology import HERE, VMS, Topology

pytestmark = pytest.mark.root
SEND = HERE / "arp_send.py"
VM1_IP, VM1_MAC = VMS["vm1"]
VM2_IP, VM2_MAC = VMS["vm2"]
HOST_IP = "10.70.0.1"


@pytest.fixture
def fw(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    # Without the lock time the host takes every ARP update at once (default: 1 s).
    topo.host.run("sysctl", "-qw", "net.ipv4.neigh.br0.locktime=0")
    firewall = make_firewall(topo, tmp_path, "nftables")
    yield firewall
    firewall("remove")
    topo.host.run("ip", "neigh", "flush", "dev", "br0")


def _host_learns(topo: Topology, ip: str, start_mac: str, frame_mac: str, sender_mac: str) -> str:
    """The MAC the host holds for `ip` after vm1 sends an ARP reply claiming it."""
    topo.host.run("ip", "neigh", "replace", ip, "lladdr", start_mac, "dev", "br0", "nud", "stale")
    host_mac = topo.host.run("cat", "/sys/class/net/br0/address").stdout.strip()
    topo.vms["vm1"].run(sys.executable, str(SEND), "eth0", frame_mac, sender_mac, ip, host_mac, HOST_IP)
    time.sleep(0.2)
    entry = topo.host.run("ip", "neigh", "show", ip, "dev", "br0").stdout.split()
    return entry[entry.index("lladdr") + 1]


BOGUS = "52:54:00:de:ad:00"
FORGERIES = {  # (frame MAC, ARP sender MAC), each claiming vm2's address from vm1's port
    "own-mac": (VM1_MAC, VM1_MAC),
    "another-vms-frame-mac": (VM2_MAC, VM1_MAC),
    "another-vms-sender-mac": (VM1_MAC, VM2_MAC),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
def test_arp_claiming_another_vms_address_is_dropped(
    fw: Firewall, topo: Topology, forgery: tuple[str, str]
) -> None:
    frame_mac, sender_mac = forgery
    fw("remove")
    assert _host_learns(topo, VM2_IP, BOGUS, frame_mac, sender_mac) == sender_mac, (
        "control: without vmguard the forged ARP must update the host's entry"
    )
    fw("apply")
    assert _host_learns(topo, VM2_IP, BOGUS, frame_mac, sender_mac) == BOGUS


def test_a_vms_genuine_arp_still_updates_the_host(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    assert _host_learns(topo, VM1_IP, BOGUS, VM1_MAC, VM1_MAC) == VM1_MAC
    audit = fw("audit", check=False)
    assert audit.returncode == 0, audit.stdout


def test_audit_and_remove_cover_the_arp_table(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    topo.host.run("nft", "delete", "table", "arp", "vmguard")
    audit = fw("audit", check=False)
    assert audit.returncode == 1
    assert "jump-missing: arp input" in audit.stdout and "arp arp_ids" in audit.stdout
    fw("apply")
    fw("remove")
    assert "vmguard" not in topo.host.run("nft", "list", "tables").stdout


def test_iptables_plan_says_where_it_does_not_filter_arp(topo: Topology, tmp_path: Path) -> None:
    fw = make_firewall(topo, tmp_path, "iptables")
    plan = fw("plan", check=False)
    assert plan.returncode == 1, plan.stderr  # changes pending, as `vmguard plan` says it
    assert "ARP anti-spoofing: on bridges only" in plan.stdout
    assert "table bridge vmguard" in plan.stdout
    fw("apply")
    assert "up to date" in fw("plan").stdout  # exit 0 (checked): nothing left to change
    fw("remove")
