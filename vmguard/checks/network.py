"""VMG-NET: how the VM's network adapters are attached (VM rules over VmFacts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from vmguard.checks.common import is_loopback, wanted, where
from vmguard.core.findings import Finding
from vmguard.core.modes import NetworkMode
from vmguard.enforce.plan import misplaced
from vmguard.facts.vm import Attachment, Nic, VmFacts
from vmguard.policy.model import Policy

NAT_LIKE = frozenset({Attachment.NAT, Attachment.NAT_NETWORK, Attachment.USER})
# Set by drivers as facts.extra["nic<N>.localhost_reachable"]: VirtualBox 7's
# LocalhostReachable, QEMU user networking's restrict=on. Absent means the default:
# reachable through QEMU user networking and VirtualBox NAT (before 7.0), not through a
# libvirt NAT network (its guests reach the host's bridge address, never 127.0.0.1).
REACHABLE_KEY = "nic{}.localhost_reachable"
FALSE = frozenset({"false", "0", "off", "no"})


def _attached(facts: VmFacts) -> Iterator[Nic]:
    """Attached NICs, but not those on the connection's host-only network (a NIC on the
    host-only bridge is 'bridged' to libvirt, yet exactly where it belongs)."""
    on = facts.host_only.holds if facts.host_only else (lambda _nic: False)
    return (n for n in facts.nics if n.enabled and n.attachment is not Attachment.NONE and not on(n))


def _nic_finding(rule: str, policy: Policy, facts: VmFacts, nic: Nic, what: str) -> Finding:
    return Finding(
        rule,
        facts.name,
        f"adapter {nic.index} {what}",
        where(nic.source, f"nic[{nic.index}]"),
        wanted(policy, "spec.network.mode", policy.network.mode),
    )


def bridged(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for nic in _attached(facts):
        if nic.attachment is Attachment.BRIDGED:
            yield _nic_finding("VMG-NET-001", policy, facts, nic, f"is bridged to '{nic.network}'")


def nat(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for nic in _attached(facts):
        if nic.attachment in NAT_LIKE:
            what = f"uses {nic.attachment.value} networking"
            yield _nic_finding("VMG-NET-002", policy, facts, nic, what)


def _reaches_loopback(facts: VmFacts, nic: Nic) -> bool:
    if nic.attachment not in NAT_LIKE:
        return False
    default = nic.attachment is Attachment.USER or facts.driver != "libvirt"
    stated = facts.extra.get(REACHABLE_KEY.format(nic.index))
    return default if stated is None else stated.lower() not in FALSE


def nat_loopback(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for nic in _attached(facts):
        if _reaches_loopback(facts, nic):
            what = f"({nic.attachment.value}) lets the guest reach the host's 127.0.0.1"
            yield _nic_finding("VMG-NET-003", policy, facts, nic, what)


def port_forwards(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for nic in _attached(facts):
        for pf in nic.port_forwards:
            if is_loopback(pf.host_ip):
                continue
            host = pf.host_ip or "every host address"
            yield Finding(
                "VMG-NET-004",
                facts.name,
                f"port forward '{pf.name}' publishes guest {pf.protocol}/{pf.guest_port} "
                f"on {host} port {pf.host_port}",
                f"{where(nic.source, f'nic[{nic.index}]')} forward {pf.name}",
                "host address 127.0.0.1, or no port forward",
            )


def unwanted_adapter(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.network.mode is not NetworkMode.NONE:
        return
    for nic in (n for n in facts.nics if n.enabled and n.attachment is not Attachment.NONE):
        if nic.attachment not in NAT_LIKE | {Attachment.BRIDGED}:
            what = f"is attached ({nic.attachment.value} '{nic.network}')"
            yield _nic_finding("VMG-NET-005", policy, facts, nic, what)


def unreviewed_network(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.network.mode is not NetworkMode.HOST_ONLY:
        return
    for nic in _attached(facts):
        if nic.attachment in (Attachment.INTERNAL, Attachment.OTHER):
            what = f"is attached to {nic.attachment.value} network '{nic.network}'"
            yield _nic_finding("VMG-NET-006", policy, facts, nic, what)


def other_host_only(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    """A host-only NIC on another host-only network than the connection's: plan moves it
    (plan.misplaced); NAT, bridged and internal ones have their own rules above."""
    if policy.network.mode is not NetworkMode.HOST_ONLY or facts.host_only is None:
        return
    for nic in misplaced(facts):
        if nic.attachment is Attachment.HOST_ONLY:
            what = f"is on host-only network {nic.network!r}, not the connection's {facts.host_only}"
            yield _nic_finding("VMG-NET-007", policy, facts, nic, what)


def unreachable_endpoints(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    """Endpoints allowed, but no NIC on the host-only network to reach them through."""
    net = policy.network
    if net.mode is not NetworkMode.HOST_ONLY or not (net.egress or net.ingress):
        return
    enabled = [n for n in facts.nics if n.enabled]
    if facts.host_only is None:
        on = [n for n in enabled if n.attachment is Attachment.HOST_ONLY]
    else:
        on = [n for n in enabled if facts.host_only.holds(n)]
    if not on:
        where_ = str(facts.host_only) if facts.host_only else "a host-only network"
        yield Finding(
            "VMG-NET-008",
            facts.name,
            f"no network adapter on {where_}, so the policy's "
            f"{len(net.egress)} egress and {len(net.ingress)} ingress endpoint(s) are unreachable",
            ", ".join(where(n.source, f"nic[{n.index}]") for n in facts.nics) or "no network adapter",
            wanted(policy, f"spec.network.{'egress' if net.egress else 'ingress'}", "an adapter on it"),
        )


CHECKS: dict[str, Callable[[Policy, VmFacts], Iterable[Finding]]] = {
    "VMG-NET-001": bridged,
    "VMG-NET-002": nat,
    "VMG-NET-003": nat_loopback,
    "VMG-NET-004": port_forwards,
    "VMG-NET-005": unwanted_adapter,
    "VMG-NET-006": unreviewed_network,
    "VMG-NET-007": other_host_only,
    "VMG-NET-008": unreachable_endpoints,
}
