"""VMG-NET rules: one passing and one failing case per rule."""

from __future__ import annotations

import ipaddress

import pytest

from tests.audit.factory import EVERY_ADDRESS, SRC, facts, policy, run
from vmguard.checks.registry import vm_checks
from vmguard.core.modes import NetworkMode
from vmguard.enforce.plan import Action, Capabilities, make_plan
from vmguard.facts.vm import Attachment, HostOnly, HostOnlyKind, Nic, PortForward
from vmguard.policy.model import Egress, NetworkPolicy

CHECKS = vm_checks("network")

NONE = policy(network=NetworkPolicy(mode=NetworkMode.NONE))
NET0 = HostOnly(HostOnlyKind.NETWORK, "net0")
BR0 = HostOnly(HostOnlyKind.BRIDGE, "br-lab")
DB = Egress("db", (ipaddress.ip_network("192.0.2.10/32"),), ((3306, 3306),))
CAPS = Capabilities(supported=frozenset(Action))
WITH_DB = policy(network=NetworkPolicy(mode=NetworkMode.HOST_ONLY, egress=(DB,)))


def nic(attachment: Attachment, **kw: object) -> Nic:
    return Nic(
        index=kw.pop("index", 0), attachment=attachment, network=kw.pop("network", "net0"), source=SRC, **kw
    )


def fwd(host_ip: str) -> PortForward:
    return PortForward("ssh", "tcp", host_ip, 2222, "", 22)


CASES = [
    # rule, policy, good facts, bad facts
    (
        "VMG-NET-001",
        policy(),
        facts(nics=(nic(Attachment.HOST_ONLY),)),
        facts(nics=(nic(Attachment.BRIDGED),)),
    ),
    (
        "VMG-NET-002",
        policy(),
        facts(nics=(nic(Attachment.HOST_ONLY),)),
        facts(nics=(nic(Attachment.USER),)),
    ),
    (
        "VMG-NET-003",
        policy(),
        facts(nics=(nic(Attachment.NAT),), extra={"nic0.localhost_reachable": "false"}),
        facts(driver="virtualbox", nics=(nic(Attachment.NAT_NETWORK),)),
    ),
    (
        "VMG-NET-004",
        policy(),
        facts(nics=(nic(Attachment.NAT, port_forwards=(fwd("127.0.0.1"),)),)),
        facts(nics=(nic(Attachment.NAT, port_forwards=(fwd(""),)),)),
    ),
    (
        "VMG-NET-005",
        NONE,
        facts(nics=(nic(Attachment.HOST_ONLY, enabled=False),)),
        facts(nics=(nic(Attachment.HOST_ONLY),)),
    ),
    (
        "VMG-NET-006",
        policy(),
        facts(nics=(nic(Attachment.HOST_ONLY),)),
        facts(nics=(nic(Attachment.INTERNAL),)),
    ),
    (
        "VMG-NET-007",
        policy(),
        facts(nics=(nic(Attachment.HOST_ONLY, kind="network"),), host_only=NET0),
        facts(nics=(nic(Attachment.HOST_ONLY, kind="network"),), host_only=BR0),
    ),
    (
        "VMG-NET-008",
        WITH_DB,
        facts(nics=(nic(Attachment.HOST_ONLY, kind="network"),), host_only=NET0),
        facts(nics=(nic(Attachment.NAT, kind="network", network="default"),), host_only=NET0),
    ),
]


@pytest.mark.parametrize(("rule", "pol", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule, pol, good, bad):
    assert run(CHECKS, rule, pol, good) == []
    found = run(CHECKS, rule, pol, bad)
    assert len(found) == 1
    assert str(SRC) in found[0].evidence


def test_every_rule_has_a_case():
    assert {c[0] for c in CASES} == set(CHECKS)


def test_detached_adapter_is_never_a_finding():
    fx = facts(nics=(nic(Attachment.BRIDGED, enabled=False), nic(Attachment.NONE, index=1)))
    for rule in CHECKS:
        assert run(CHECKS, rule, NONE, fx) == []


@pytest.mark.parametrize("host_ip", ["", EVERY_ADDRESS, "::", "192.0.2.1", "127.0.0.1.evil"])
def test_port_forward_beyond_loopback(host_ip):
    fx = facts(nics=(nic(Attachment.NAT, port_forwards=(fwd(host_ip),)),))
    assert len(run(CHECKS, "VMG-NET-004", policy(), fx)) == 1


@pytest.mark.parametrize("host_ip", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_port_forward_on_loopback(host_ip):
    fx = facts(nics=(nic(Attachment.NAT, port_forwards=(fwd(host_ip),)),))
    assert run(CHECKS, "VMG-NET-004", policy(), fx) == []


def test_two_adapters_give_two_distinct_findings():
    fx = facts(nics=(Nic(0, Attachment.BRIDGED), Nic(1, Attachment.BRIDGED)))
    found = run(CHECKS, "VMG-NET-001", policy(), fx)
    assert len({f.key for f in found}) == 2


@pytest.mark.parametrize(
    ("driver", "attachment", "stated", "bad"),
    [
        ("virtualbox", Attachment.NAT, None, True),
        ("vbox-file", Attachment.NAT_NETWORK, None, True),
        ("virtualbox", Attachment.NAT, "false", False),
        ("libvirt", Attachment.USER, None, True),
        ("libvirt", Attachment.USER, "off", False),
        ("libvirt", Attachment.NAT, None, False),  # a libvirt NAT network: bridge address only
        ("libvirt", Attachment.NAT, "true", True),
    ],
)
def test_nat_loopback_reachability(driver, attachment, stated, bad):
    extra = {} if stated is None else {"nic0.localhost_reachable": stated}
    fx = facts(driver=driver, nics=(nic(attachment),), extra=extra)
    assert bool(run(CHECKS, "VMG-NET-003", policy(), fx)) is bad


def test_a_nic_on_the_host_only_bridge_is_not_bridged():
    """libvirt reports a NIC on a bridge as bridged; on the connection's own host-only
    bridge it is where it belongs (control: another bridge is flagged)."""
    on_bridge = Nic(0, Attachment.BRIDGED, network="br-lab", kind="bridge", source=SRC)
    assert run(CHECKS, "VMG-NET-001", policy(), facts(nics=(on_bridge,), host_only=BR0)) == []
    other = facts(nics=(on_bridge,), host_only=HostOnly(HostOnlyKind.BRIDGE, "br-other"))
    assert len(run(CHECKS, "VMG-NET-001", policy(), other)) == 1


def test_endpoints_without_any_nic_is_a_finding():
    assert len(run(CHECKS, "VMG-NET-008", WITH_DB, facts(nics=(), host_only=NET0))) == 1
    assert run(CHECKS, "VMG-NET-008", policy(), facts(nics=(), host_only=NET0)) == []  # no endpoints


@pytest.mark.parametrize(
    "bad",
    [
        Nic(0, Attachment.NAT, network="default", kind="network", mac="52:54:00:00:00:01"),
        Nic(0, Attachment.USER, kind="user", mac="52:54:00:00:00:01"),
        Nic(0, Attachment.BRIDGED, network="eth0", kind="direct", mac="52:54:00:00:00:01"),
        Nic(0, Attachment.HOST_ONLY, network="other", kind="network", mac="52:54:00:00:00:01"),
        Nic(0, Attachment.INTERNAL, network="x", kind="mcast", mac="52:54:00:00:00:01"),
    ],
)
def test_plan_and_audit_agree_on_every_misplaced_nic(bad):
    """What the audit flags, plan moves; once moved (the driver's re-read), neither."""
    fx = facts(nics=(bad,), host_only=NET0)
    flagged = [f for rule in CHECKS for f in run(CHECKS, rule, WITH_DB, fx)]
    plan = make_plan(WITH_DB, fx, CAPS)
    assert flagged and [c.action.value for c in plan.changes] == ["move-nic"]
    assert plan.changes[0].destination == NET0 and plan.changes[0].target == "0/52:54:00:00:00:01"
    moved = facts(nics=(Nic(0, Attachment.HOST_ONLY, network="net0", kind="network"),), host_only=NET0)
    assert [f for rule in CHECKS for f in run(CHECKS, rule, WITH_DB, moved)] == []
    assert make_plan(WITH_DB, moved, CAPS).empty


def test_without_host_only_plan_never_deletes_a_nic():
    """No `host_only:` on the connection: the NIC stays, the move is a manual item with
    the reason; `mode: none` still detaches."""
    fx = facts(nics=(Nic(0, Attachment.NAT, network="default", kind="network"),))
    plan = make_plan(WITH_DB, fx, CAPS)
    assert not plan.changes and [c.action.value for c in plan.manual] == ["move-nic"]
    assert "names no host_only network" in plan.manual[0].wanted
    assert [c.action.value for c in make_plan(NONE, fx, CAPS).changes] == ["detach-nic"]
