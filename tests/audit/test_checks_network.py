"""VMG-NET rules: one passing and one failing case per rule."""

from __future__ import annotations

import pytest

from tests.audit.factory import EVERY_ADDRESS, SRC, facts, policy, run
from vmguard.audit.checks.network import CHECKS
from vmguard.facts import Attachment, Nic, PortForward
from vmguard.policy.model import NetworkMode, NetworkPolicy

NONE = policy(network=NetworkPolicy(mode=NetworkMode.NONE))


def nic(attachment: Attachment, **kw: object) -> Nic:
    return Nic(index=kw.pop("index", 0), attachment=attachment, network="net0", source=SRC, **kw)


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
