"""VMG-NET: how the VM's network adapters are attached (VM rules over VmFacts)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vmguard.checks.common import wanted, where
from vmguard.checks.unit import Action, Violation, VmFix, fixes
from vmguard.core.modes import NetworkMode
from vmguard.facts.vm import Attachment, Nic, VmFacts, is_loopback
from vmguard.policy.model import Policy

NAT_LIKE = frozenset({Attachment.NAT, Attachment.NAT_NETWORK, Attachment.USER})
# Set by drivers as facts.extra["nic<N>.localhost_reachable"]: VirtualBox 7's
# LocalhostReachable, QEMU user networking's restrict=on. Absent means the default:
# reachable through QEMU user networking and VirtualBox NAT (before 7.0), not through a
# libvirt NAT network (its guests reach the host's bridge address, never 127.0.0.1).
REACHABLE_KEY = "nic{}.localhost_reachable"
FALSE = frozenset({"false", "0", "off", "no"})
MODE_KEY = "spec.network.mode"


def _attached(facts: VmFacts) -> Iterator[Nic]:
    """Attached NICs, but not those on the connection's host-only network (a NIC on the
    host-only bridge is 'bridged' to libvirt, yet exactly where it belongs)."""
    return (n for n in _connected(facts) if not _on_host_only(facts, n))


def _connected(facts: VmFacts) -> Iterator[Nic]:
    return (n for n in facts.nics if n.enabled and n.attachment is not Attachment.NONE)


def _on_host_only(facts: VmFacts, nic: Nic) -> bool:
    return facts.host_only is not None and facts.host_only.holds(nic)


def _nic_fix(policy: Policy, facts: VmFacts, nic: Nic) -> VmFix:
    """Detach the NIC (network mode none) or move it onto the connection's host-only
    network; manual when the inventory names none (vmguard must not guess one)."""
    current = nic.attachment.value + (f" ({nic.network})" if nic.network else "")
    common = {"setting": MODE_KEY, "subject": f"nic {nic.index}", "current": current}
    target = f"{nic.index}/{nic.mac}"  # drivers pick: VirtualBox a slot, libvirt a MAC
    if policy.network.mode is NetworkMode.NONE:
        return VmFix(action=Action.DETACH_NIC, wanted="none (vmguard detaches it)", target=target, **common)
    if facts.host_only is None:
        why = "the inventory names no host_only network for this connection"
        return VmFix(action=Action.MOVE_NIC, wanted=f"host-only ({why})", target=target, manual=why, **common)
    return VmFix(
        action=Action.MOVE_NIC,
        wanted=str(facts.host_only),
        target=target,
        destination=facts.host_only,
        **common,
    )


def _nic_violation(policy: Policy, facts: VmFacts, nic: Nic, what: str) -> Violation:
    return Violation(
        message=f"adapter {nic.index} {what}",
        evidence=where(nic.source, f"nic[{nic.index}]"),
        wanted=wanted(policy, MODE_KEY, policy.network.mode),
        fix=_nic_fix(policy, facts, nic),
    )


@fixes
def bridged(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for nic in _attached(facts):
        if nic.attachment is Attachment.BRIDGED:
            yield _nic_violation(policy, facts, nic, f"is bridged to '{nic.network}'")


@fixes
def nat(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for nic in _attached(facts):
        if nic.attachment in NAT_LIKE:
            what = f"uses {nic.attachment.value} networking"
            yield _nic_violation(policy, facts, nic, what)


def _reaches_loopback(facts: VmFacts, nic: Nic) -> bool:
    if nic.attachment not in NAT_LIKE:
        return False
    default = nic.attachment is Attachment.USER or facts.driver != "libvirt"
    stated = facts.extra.get(REACHABLE_KEY.format(nic.index))
    return default if stated is None else stated.lower() not in FALSE


@fixes
def nat_loopback(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for nic in _attached(facts):
        if _reaches_loopback(facts, nic):
            what = f"({nic.attachment.value}) lets the guest reach the host's 127.0.0.1"
            yield _nic_violation(policy, facts, nic, what)


@fixes
def port_forwards(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for nic in _attached(facts):
        for pf in nic.port_forwards:
            if is_loopback(pf.host_ip):
                continue
            host = pf.host_ip or "every host address"
            yield Violation(
                message=f"port forward '{pf.name}' publishes guest {pf.protocol}/{pf.guest_port} "
                f"on {host} port {pf.host_port}",
                evidence=f"{where(nic.source, f'nic[{nic.index}]')} forward {pf.name}",
                wanted="host address 127.0.0.1, or no port forward",
                fix=_nic_fix(policy, facts, nic),
            )


@fixes
def unwanted_adapter(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    """Network mode none: every attached NIC that VMG-NET-001/002 do not already flag
    (host-only, internal, other, and one on the connection's host-only bridge)."""
    if policy.network.mode is not NetworkMode.NONE:
        return
    flagged = {n.index for n in _attached(facts) if n.attachment in NAT_LIKE | {Attachment.BRIDGED}}
    for nic in (n for n in _connected(facts) if n.index not in flagged):
        what = f"is attached ({nic.attachment.value} '{nic.network}')"
        yield _nic_violation(policy, facts, nic, what)


@fixes
def unreviewed_network(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.network.mode is not NetworkMode.HOST_ONLY:
        return
    for nic in _attached(facts):
        if nic.attachment in (Attachment.INTERNAL, Attachment.OTHER):
            what = f"is attached to {nic.attachment.value} network '{nic.network}'"
            yield _nic_violation(policy, facts, nic, what)


@fixes
def other_host_only(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    """A host-only NIC on another host-only network than the connection's; NAT, bridged
    and internal ones have their own rules above."""
    if policy.network.mode is not NetworkMode.HOST_ONLY or facts.host_only is None:
        return
    for nic in _attached(facts):
        if nic.attachment is Attachment.HOST_ONLY:
            what = f"is on host-only network {nic.network!r}, not the connection's {facts.host_only}"
            yield _nic_violation(policy, facts, nic, what)


def unreachable_endpoints(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
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
        yield Violation(
            message=f"no network adapter on {where_}, so the policy's "
            f"{len(net.egress)} egress and {len(net.ingress)} ingress endpoint(s) are unreachable",
            evidence=", ".join(where(n.source, f"nic[{n.index}]") for n in facts.nics)
            or "no network adapter",
            wanted=wanted(
                policy, f"spec.network.{'egress' if net.egress else 'ingress'}", "an adapter on it"
            ),
        )
