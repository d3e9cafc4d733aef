"""Real rules, real packets: each backend enforces the policies in the `host` namespace.

One topology per module; every test starts from "nothing of vmguard's loaded" and
leaves it so (the `fw` fixture removes whatever a test applied).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import INGRESS, POLICIES, Firewall, make_firewall, write_policy
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root
BACKENDS = ["nftables", "iptables"]

VM1_ALLOWED = ["10.80.0.10:3306", "10.80.0.20:2401", "10.80.0.20:22", "10.70.0.12:22"]
VM1_DENIED = [
    "10.80.0.10:2401",
    "10.80.0.10:8080",
    "10.80.0.20:3306",
    "10.80.0.10:22",
    "10.70.0.12:8080",
    "10.70.0.1:9000",
    "10.80.0.1:9000",
    "10.90.0.10:22",
]


@pytest.fixture(params=BACKENDS)
def fw(request: pytest.FixtureRequest, topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, request.param)
    yield firewall
    firewall("remove")


def test_baseline_everything_reachable_without_rules(topo: Topology) -> None:
    """Guards the other tests: a denied target must be reachable when vmguard is absent."""
    targets = VM1_ALLOWED + VM1_DENIED
    assert all(topo.reach(topo.vms["vm1"], *targets).values())


def test_allowed_endpoints_connect_and_everything_else_is_dropped(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    result = topo.reach(topo.vms["vm1"], *VM1_ALLOWED, *VM1_DENIED)
    assert {t: result[t] for t in VM1_ALLOWED} == dict.fromkeys(VM1_ALLOWED, True)
    assert {t: result[t] for t in VM1_DENIED} == dict.fromkeys(VM1_DENIED, False)
    vm2 = topo.reach(topo.vms["vm2"], "10.80.0.20:2401", "10.80.0.10:3306", "10.70.0.11:22", "10.70.0.1:9000")
    assert vm2 == {
        "10.80.0.20:2401": True,
        "10.80.0.10:3306": False,
        "10.70.0.11:22": False,
        "10.70.0.1:9000": False,
    }


def test_traffic_between_vms_needs_the_senders_egress_and_the_receivers_ingress(
    fw: Firewall, topo: Topology
) -> None:
    """vm1's egress allows vm2:22; vm2's ingress decides too (bridged, same bridge)."""
    folder = fw.inventory.parent
    fw("apply")
    assert topo.reach(topo.vms["vm1"], "10.70.0.12:22") == {"10.70.0.12:22": True}, (
        "control: both sides allow it"
    )
    write_policy(folder, "vm2", POLICIES["vm2"], ingress=INGRESS)
    try:
        fw("apply")
        assert topo.reach(topo.vms["vm1"], "10.70.0.12:22") == {"10.70.0.12:22": False}
    finally:
        write_policy(folder, "vm2", POLICIES["vm2"])


def test_ingress_only_from_allowed_sources(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    assert topo.reach(topo.outside, "10.70.0.11:22", "10.70.0.11:8080") == {
        "10.70.0.11:22": True,
        "10.70.0.11:8080": False,
    }
    assert topo.reach(topo.services, "10.70.0.11:22") == {"10.70.0.11:22": False}
    assert topo.reach(topo.host, "10.70.0.11:22") == {"10.70.0.11:22": False}


def test_spoofed_address_is_dropped(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    vm1 = topo.vms["vm1"]
    tag = secrets.token_hex(4)
    topo.send_udp(topo.vms["vm2"], f"genuine-{tag}")
    assert topo.udp_seen(f"genuine-{tag}"), "vm2's own syslog datagram must pass"
    vm1.run("ip", "addr", "add", "10.70.0.12/32", "dev", "eth0")
    try:
        topo.send_udp(vm1, f"spoofed-{tag}", source="10.70.0.12")
    finally:
        vm1.run("ip", "addr", "del", "10.70.0.12/32", "dev", "eth0")
    assert not topo.udp_seen(f"spoofed-{tag}", wait=0.3)


def test_spoofed_mac_is_dropped(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    vm1 = topo.vms["vm1"]
    tag = secrets.token_hex(4)
    topo.send_udp(vm1, f"genuine-{tag}")
    assert topo.udp_seen(f"genuine-{tag}")
    vm1.run("ip", "link", "set", "eth0", "address", "52:54:00:99:99:99")
    try:
        topo.send_udp(vm1, f"spoofed-{tag}")
    finally:
        vm1.run("ip", "link", "set", "eth0", "address", "52:54:00:70:00:11")
    assert not topo.udp_seen(f"spoofed-{tag}", wait=0.3)


def test_dropping_an_endpoint_and_reapplying_cuts_it(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    assert topo.reach(topo.vms["vm1"], "10.80.0.20:2401")["10.80.0.20:2401"]
    folder = fw.inventory.parent
    write_policy(folder, "vm1", "\n".join(line for line in POLICIES["vm1"].splitlines() if "cvs" not in line))
    try:
        fw("apply")
        after = topo.reach(topo.vms["vm1"], "10.80.0.20:2401", "10.80.0.10:3306")
    finally:
        write_policy(folder, "vm1", POLICIES["vm1"])
    assert after == {"10.80.0.20:2401": False, "10.80.0.10:3306": True}


def test_apply_is_idempotent(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    before = fw("show").stdout
    second = fw("apply")
    assert "up to date" in second.stdout
    assert fw("show").stdout == before
    assert "up to date" in fw("plan").stdout


def test_remove_restores_reachability(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    assert not any(topo.reach(topo.vms["vm1"], *VM1_DENIED).values())
    assert "removed" in fw("remove").stdout
    assert all(topo.reach(topo.vms["vm1"], *VM1_DENIED, *VM1_ALLOWED).values())
    assert "nothing" in fw("remove").stdout


def test_log_rules_are_rate_limited(fw: Firewall) -> None:
    fw("apply")
    shown = fw("show").stdout
    assert "vmguard deny out" in shown and "limit" in shown
    assert "calib-db" in shown and "admin-ssh" in shown, "endpoint names in rule comments"
