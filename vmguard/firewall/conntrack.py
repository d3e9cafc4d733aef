"""Connections the new ruleset no longer allows are cut: their conntrack entries go.

Both backends accept replies of tracked connections before any policy lookup, so a
revoked endpoint would keep working for every connection already open. After a
change, each tracked flow from or to a VM address is judged again by `allows` (the
same questions the rules ask: the sender's egress, the receiver's ingress); the entries
of flows it refuses are deleted with the `conntrack` tool, in this network namespace.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from vmguard.core.errors import FirewallError
from vmguard.core.modes import Protocol
from vmguard.firewall.model import Flow, IPAddress, Ruleset, VmRules

TIMEOUT = 60


@dataclass(frozen=True)
class Tracked:
    """The original direction of one conntrack entry."""

    family: str  # "ipv4" / "ipv6"
    proto: str  # "tcp", "udp", "icmp", "icmpv6", ...
    src: IPAddress
    dst: IPAddress
    sport: int = 0
    dport: int = 0


def _covers(flow: Flow, proto: str, peer: IPAddress, port: int) -> bool:
    if not any(peer in n for n in flow.nets_of(peer.version)):
        return False
    if flow.protocol is Protocol.ICMP:
        return proto.startswith("icmp")  # icmp, icmpv6
    return proto == str(flow.protocol) and any(p.first <= port <= p.last for p in flow.ports)


def _side_allows(flows: tuple[Flow, ...], t: Tracked, peer: IPAddress) -> bool:
    return any(_covers(f, t.proto, peer, t.dport) for f in flows)


def allows(ruleset: Ruleset, t: Tracked) -> bool:
    """Would the ruleset let this flow start now? Only VM ends are judged: the sender's
    egress if the source is a VM, the receiver's ingress if the destination is one."""
    by_addr = {a: vm for vm in ruleset.vms for a in vm.addresses}
    sender, receiver = by_addr.get(t.src), by_addr.get(t.dst)
    return _judge(sender, t, t.dst, "egress") and _judge(receiver, t, t.src, "ingress")


def _judge(vm: VmRules | None, t: Tracked, peer: IPAddress, side: str) -> bool:
    if vm is None:
        return True
    return _side_allows(vm.egress if side == "egress" else vm.ingress, t, peer)


def _binary() -> str:
    binary = shutil.which("conntrack")
    if binary is None:
        raise FirewallError(
            "rules applied, but conntrack (Debian package conntrack) is not "
            "installed: connections already open to revoked endpoints keep working"
        )
    return binary


def _parse(family: str, line: str) -> Tracked | None:
    words = line.split()
    fields: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        if value and key not in fields:  # the first src=/dst=: the original direction
            fields[key] = value
    if "src" not in fields or "dst" not in fields or not words:
        return None
    return Tracked(
        family,
        words[0],
        ipaddress.ip_address(fields["src"]),
        ipaddress.ip_address(fields["dst"]),
        int(fields.get("sport", 0)),
        int(fields.get("dport", 0)),
    )


def tracked() -> Iterator[Tracked]:
    for family in ("ipv4", "ipv6"):
        proc = subprocess.run(
            [_binary(), "-L", "-f", family], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        if proc.returncode != 0:
            raise FirewallError(f"rules applied, but conntrack -L failed: {proc.stderr.strip()}")
        yield from (t for line in proc.stdout.splitlines() if (t := _parse(family, line)))


def _delete(t: Tracked) -> None:
    argv = [
        _binary(),
        "-D",
        "-f",
        t.family,
        "-p",
        t.proto,
        "--orig-src",
        str(t.src),
        "--orig-dst",
        str(t.dst),
    ]
    if t.sport or t.dport:
        argv += ["--sport", str(t.sport), "--dport", str(t.dport)]
    # exit 1: gone meanwhile (it timed out or closed), which is what we want
    subprocess.run(argv, capture_output=True, timeout=TIMEOUT, check=False)


def cut_revoked(ruleset: Ruleset) -> int:
    """Delete the entries of tracked VM flows the ruleset does not allow; how many."""
    addrs = {a for vm in ruleset.vms for a in vm.addresses}
    refused = [t for t in tracked() if (t.src in addrs or t.dst in addrs) and not allows(ruleset, t)]
    for t in refused:
        _delete(t)
    return len(refused)
