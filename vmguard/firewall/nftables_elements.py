"""The per-VM set elements of the nftables tables: every VM's addresses, MAC and allowed
flows as element strings, keyed by set name (nftables_render declares the sets and
chains that look them up; `apply` adds and deletes one VM's elements by these).

An exact flow (one address, one port) is a plain string key of a hash set; networks and
port ranges go to interval sets, which refuse overlapping elements: a covered element is
left out and a partial overlap refused with both endpoints named.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

from vmguard.core.errors import FirewallError
from vmguard.core.modes import Protocol
from vmguard.firewall import nftables_bridge as nb
from vmguard.firewall.model import Flow, IPAddress, VmRules
from vmguard.firewall.nftables_text import quote
from vmguard.policy.model import IPNetwork, PortRange

# set name suffix -> key type after the VM's own address
KINDS = {
    "": " . inet_proto . {a} . inet_service",
    "_net": " . inet_proto . {a} . inet_service",
    "_icmp": " . {a}",
}


def _text(ip: IPAddress) -> str:
    """An address as nft writes it. inet_ntoa formats IPv4 the same as str() in a third
    of the time, which counts at 10,000 VMs' worth of addresses."""
    return socket.inet_ntoa(ip.packed) if ip.version == 4 else str(ip)


def _net_text(net: IPNetwork) -> str:
    return f"{_text(net.network_address)}/{net.prefixlen}"


def flow_sets() -> list[tuple[str, int, str]]:
    """(set name, IP version, suffix) of every per-VM flow set, e.g. ("out4_net", 4, "_net")."""
    return [(f"{d}{v}{k}", v, k) for d in ("out", "in") for v in (4, 6) for k in KINDS]


class _Item(NamedTuple):
    """One element of an interval set: the VM's address with a peer network (and ports)."""

    kind: str  # set name suffix: "_net" or "_icmp"
    addr: str  # the VM's own address
    net: IPNetwork  # the peer
    endpoint: str  # the policy endpoint's name, for the comment
    proto: str = ""  # a Protocol (a StrEnum) for "_net"
    port: PortRange | None = None

    @property
    def key(self) -> str:
        if self.kind == "_icmp":
            return f"{self.addr} . {_net_text(self.net)}"
        return f"{self.addr} . {self.proto} . {_net_text(self.net)} . {self.port}"

    def within(self, other: _Item) -> bool:
        """Covered by `other` (same set, same VM address and protocol)?"""
        ports = self.port is None or (
            other.port is not None
            and other.port.first <= self.port.first <= self.port.last <= other.port.last
        )
        return (
            (self.kind, self.addr, self.proto) == (other.kind, other.addr, other.proto)
            and self.net.version == other.net.version
            and self.net.subnet_of(other.net)
            and ports
        )


def _flow_keys(flow: Flow, version: int, addrs: list[str], ranged: list[_Item]) -> list[str]:
    """The exact keys of a flow (one address, one port), built as plain strings: the
    common case, kept free of per-element objects (10,000 VMs' worth add up). Its
    interval elements go to `ranged`."""
    exact: list[str] = []
    for net in flow.nets:
        if net.version != version:
            continue
        if flow.protocol is Protocol.ICMP:
            ranged.extend(_Item("_icmp", a, net, flow.name) for a in addrs)
            continue
        single = net.prefixlen == net.max_prefixlen
        # a StrEnum formats as its value ("tcp"), without the slower `.value` lookup
        head = f" . {flow.protocol} . {_text(net.network_address)} . " if single else ""
        for port in flow.ports:
            if single and port.first == port.last:
                exact.extend([a + head + str(port.first) for a in addrs])
            else:
                ranged.extend(_Item("_net", a, net, flow.name, flow.protocol, port) for a in addrs)
    return exact


def _minimal(items: list[_Item]) -> list[tuple[str, _Item]]:
    """(key, element) once per key. Interval sets refuse overlapping elements, so an
    element another one covers is left out (a partial overlap is refused)."""
    unique: dict[str, _Item] = {}
    for item in items:
        unique.setdefault(item.key, item)
    if len(unique) > 1:
        covered = {k for k, i in unique.items() for k2, o in unique.items() if k2 != k and i.within(o)}
        _refuse_partial([i for k, i in unique.items() if k not in covered])
        unique = {k: i for k, i in unique.items() if k not in covered}
    return list(unique.items())


def _refuse_partial(items: list[_Item]) -> None:
    starts: dict[tuple[object, ...], str] = {}
    for item in items:
        start = (
            item.kind,
            item.addr,
            item.proto,
            item.net.network_address,
            item.port.first if item.port else None,
        )
        if start in starts:
            raise FirewallError(
                f"endpoints {starts[start]!r} and {item.endpoint!r} overlap "
                "partly; nftables cannot hold both: merge them in the policy"
            )
        starts[start] = item.endpoint


def vm_elements(vm: VmRules) -> dict[str, list[str]]:
    """Every set element of one VM, keyed by set name, each key once, with its comment."""
    addrs = {v: [_text(a) for a in own] for v in (4, 6) if (own := vm.addresses_of(v))}
    elements: dict[str, list[str]] = {}
    for direction, flows in (("out", vm.egress), ("in", vm.ingress)):
        elements.update(_direction_elements(vm.name, direction, flows, addrs))
    c = f" comment {quote(vm.name)}"
    for v, own in addrs.items():
        elements[f"ids{v}"] = [f"{_text(a)} . {vm.mac}{c}" for a in vm.sources_of(v)]
        if vm.log_denied:
            elements[f"log{v}"] = own
    if 4 in addrs:
        elements["arp_ids"] = [f"{vm.mac} . {a} comment {quote(vm.name)}" for a in addrs[4]]
    if vm.ipv6:
        elements["v6_macs"] = [vm.mac]
        elements["nd_ids"] = [f"{vm.mac} . 0x{a.packed.hex()}{c}" for a in vm.sources_of(6)]
        elements["lla"] = [f"{vm.mac} . 0x{vm.mac.replace(':', '')}{c}"]
    elements.update(nb.vm_elements(vm))
    return {s: items for s, items in elements.items() if items}


def _direction_elements(
    name: str, direction: str, flows: tuple[Flow, ...], addrs: dict[int, list[str]]
) -> dict[str, list[str]]:
    """The elements of one direction's sets; a key two endpoints share keeps the first
    endpoint's comment."""
    exact: dict[str, dict[str, str]] = {f"{direction}{v}": {} for v in addrs} if flows else {}
    ranged: list[_Item] = []
    for flow in flows:
        comment = f" comment {quote(f'{name}: {flow.name}')}"
        for v, own in addrs.items():
            keys = exact[f"{direction}{v}"]
            for key in _flow_keys(flow, v, own, ranged):
                keys.setdefault(key, comment)
    elements = {s: [k + c for k, c in keys.items()] for s, keys in exact.items()}
    for key, item in _minimal(ranged) if ranged else ():
        elements.setdefault(f"{direction}{item.net.version}{item.kind}", []).append(
            f"{key} comment {quote(f'{name}: {item.endpoint}')}"
        )
    return elements


def keys_only(elements: dict[str, list[str]]) -> dict[str, list[str]]:
    """The same elements without comments, as `delete element` wants them."""
    return {s: [e.split(" comment ")[0] for e in items] for s, items in elements.items()}
