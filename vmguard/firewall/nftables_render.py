"""The Ruleset in nftables syntax: `plan` shows render(), `apply` streams the same sets,
elements and chains (replace_stream; a test checks both load to the same listing).

Table `inet vmguard`, packets from the VM interfaces, in order:
  input   -> vm_to_host: DHCP (IPv4) / DHCPv6 (IPv6 VMs) to the host, then from_vm
  forward -> from_vm (routed, and through br_netfilter bridged VM-to-VM traffic)
          -> to_vm for traffic forwarded towards VMs
  output  -> host_to_vm: DHCP replies, then to_vm
  from_vm: IPv6 -> from_vm6; anti-spoofing (address . MAC set); replies; then one
           lookup of (VM address . protocol . destination . port) in the egress sets.
Allowed traffic *returns* rather than accepts: forwarded traffic between two VMs goes on
to to_vm, so the receiver's ingress judges it too (an accept in our table would end the
hook here; the base chains' policy accepts what both let through).
Per-VM data lives only in set elements (commented "VM: endpoint"), never in per-VM
rules or chains: the rule count is fixed, a new flow costs a hash lookup (exact
endpoints) plus an interval lookup (networks, port ranges) whatever the number of VMs,
and one VM is added or removed by a few element operations.

Table `arp vmguard`: ARP the host receives from the VM interfaces must carry a known
VM's MAC and IPv4 address as sender (set arp_ids), so no VM can poison the host's
neighbour table. Table `bridge vmguard` (nftables_bridge.py): frames on the VM bridges,
bound to the VM's port, VLAN tags and other ethertypes, ARP and ND between VMs.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import NamedTuple

from vmguard.core.errors import FirewallError
from vmguard.core.modes import Protocol
from vmguard.firewall import nftables_bridge as nb
from vmguard.firewall.model import (
    Flow,
    IPAddress,
    Ruleset,
    VmRules,
    gc_paused,
)
from vmguard.firewall.nftables_text import JUMP, chain, quote
from vmguard.firewall.nftables_text import log as log_stmt
from vmguard.policy.model import IPNetwork, PortRange

TABLE = "inet vmguard"
STREAM_BATCH = 500  # VMs whose elements apply renders while nft parses the previous ones
ARP_TABLE = "arp vmguard"  # ARP anti-spoofing: ARP never reaches the inet hooks
TABLES = (TABLE, ARP_TABLE, nb.TABLE)
ARP_SETS = ("arp_ids",)  # set names that live in ARP_TABLE (nb.SETS: in nb.TABLE)
ND_OUT = "{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }"
ND_IN = "{ nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }"
_ADDR = {4: "ipv4_addr", 6: "ipv6_addr"}
_FAMILY = {4: "ip", 6: "ip6"}
_ICMP = {4: "icmp", 6: "ipv6-icmp"}
# set name suffix -> key type after the VM's own address
_KINDS = {
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
    return [(f"{d}{v}{k}", v, k) for d in ("out", "in") for v in (4, 6) for k in _KINDS]


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


def _set(name: str, type_: str, items: list[str], interval: bool = False) -> str:
    flags = " flags interval;" if interval else ""
    body = f" elements = {{ {', '.join(items)} }};" if items else ""
    type_ = type_ if type_.startswith("typeof ") else f"type {type_}"
    return f"\tset {name} {{ {type_};{flags}{body} }}"


def _by_set(per_vm: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """All VMs' elements gathered per set, in VM order, in one pass."""
    by_set: dict[str, list[str]] = {}
    for elements in per_vm.values():
        for name, items in elements.items():
            by_set.setdefault(name, []).extend(items)
    return by_set


def _set_types() -> Iterator[tuple[str, str, bool]]:
    """(name, type, interval?) of every set of the inet table but vm_ifaces."""
    yield "v6_macs", "ether_addr", False
    yield "nd_ids", "typeof ether saddr . @th,64,128", False
    yield "lla", "typeof ether saddr . @th,208,48", False
    for v, addr in _ADDR.items():
        yield f"ids{v}", f"{addr} . ether_addr", False
        yield f"log{v}", addr, False
    for name, v, kind in flow_sets():
        yield name, _ADDR[v] + _KINDS[kind].format(a=_ADDR[v]), kind != ""


def _sets(rs: Ruleset, by_set: dict[str, list[str]]) -> Iterator[str]:
    yield _set("vm_ifaces", "ifname", [quote(i) for i in rs.vm_interfaces])
    for name, type_, interval in _set_types():
        yield _set(name, type_, by_set.get(name, []), interval)


def _spoof(rs: Ruleset, match: str, what: str) -> list[str]:
    log = [f'{match} {log_stmt("vmguard spoofed: ", rs.log_group)} comment "log spoofed {what}"']
    return [
        *(log if rs.log_denied else []),
        f'{match} drop comment "anti-spoofing: {what} is not a known VM\'s"',
    ]


def _lookups(rs: Ruleset, v: int, direction: str) -> list[str]:
    """The per-VM allow lookups: `vm` is the VM's side of the packet, `peer` the other."""
    fam, name = _FAMILY[v], f"{direction}{v}"
    vm, peer = ("saddr", "daddr") if direction == "out" else ("daddr", "saddr")
    concat = f"{fam} {vm} . meta l4proto . {fam} {peer} . th dport"
    what = "egress" if direction == "out" else "ingress"
    return [
        f'{concat} @{name} return comment "per-VM {what} endpoints"',
        f'{concat} @{name}_net return comment "per-VM {what} networks and port ranges"',
        f'meta l4proto {_ICMP[v]} {fam} {vm} . {fam} {peer} @{name}_icmp return comment "per-VM {what} ICMP"',
        f"{fam} {vm} @log{v} {log_stmt(f'vmguard deny {direction}: ', rs.log_group)} "
        f'comment "log denied {what}"',
    ]


def _shared_chains(rs: Ruleset) -> Iterator[str]:
    yield from chain(
        "from_vm",
        [
            'meta nfproto ipv6 goto from_vm6 comment "IPv6 from VMs"',
            *_spoof(rs, "ip saddr . ether saddr != @ids4", "IPv4 address and MAC"),
            'ct state established,related return comment "replies"',
            *_lookups(rs, 4, "out"),
            'drop comment "default deny from VMs"',
        ],
    )
    yield from chain(
        "from_vm6",
        [
            'ether saddr != @v6_macs drop comment "IPv6 denied: the policy has no IPv6 endpoint"',
            "ip6 saddr :: icmpv6 type nd-neighbor-solicit ip6 hoplimit 255 return "
            'comment "duplicate address detection"',
            *_spoof(rs, "ip6 saddr . ether saddr != @ids6", "IPv6 address and MAC"),
            *nb.nd_rules("", "drop comment"),
            f'icmpv6 type {ND_OUT} ip6 hoplimit 255 return comment "neighbour discovery"',
            'ct state established,related return comment "replies"',
            *_lookups(rs, 6, "out"),
            'drop comment "default deny from VMs"',
        ],
    )
    yield from chain(
        "to_vm",
        [
            'ct state established,related return comment "replies"',
            f'icmpv6 type {ND_IN} ip6 hoplimit 255 return comment "neighbour discovery"',
            *_lookups(rs, 4, "in"),
            *_lookups(rs, 6, "in"),
            'drop comment "default deny to VMs"',
        ],
    )
    yield from chain(
        "vm_to_host",
        [
            'meta nfproto ipv4 udp sport 68 udp dport 67 accept comment "DHCP requests to the host"',
            "meta nfproto ipv6 ether saddr @v6_macs udp sport 546 udp dport 547 accept "
            'comment "DHCPv6 requests to the host, from IPv6 VMs only"',
            'jump from_vm comment "same rules as forwarded traffic"',
        ],
    )
    yield from chain(
        "host_to_vm",
        [
            'meta nfproto ipv4 udp sport 67 udp dport 68 accept comment "DHCP replies from the host"',
            'meta nfproto ipv6 udp sport 547 udp dport 546 accept comment "DHCPv6 replies from the host"',
            'jump to_vm comment "same rules as forwarded traffic"',
        ],
    )


BASE_CHAINS = {  # base chain -> (hook, its jumps: (match, target, what))
    "input": ("input", [("iifname", "vm_to_host", "VM traffic to the host")]),
    "forward": (
        "forward",
        [
            ("iifname", "from_vm", "traffic forwarded from VMs"),
            ("oifname", "to_vm", "traffic forwarded to VMs"),
        ],
    ),
    "output": ("output", [("oifname", "host_to_vm", "host traffic to VMs")]),
}


def _base_chains() -> Iterator[str]:
    for name, (hook, jumps) in BASE_CHAINS.items():
        rules = [f'{m} @vm_ifaces jump {t} comment "{JUMP}: {w}"' for m, t, w in jumps]
        head = f"type filter hook {hook} priority filter; policy accept;"
        yield from chain(name, rules, head)


def _arp_table(rs: Ruleset, by_set: dict[str, list[str]]) -> Iterator[str]:
    """ARP to the host must name a known VM's MAC and IPv4 address as its sender, in the
    frame header and in the ARP body alike; only an address probe (sender 0.0.0.0,
    RFC 5227) is let through without one, as it updates no neighbour table.
    The table's content: the caller opens and closes the block."""
    yield _set("vm_ifaces", "ifname", [quote(i) for i in rs.vm_interfaces])
    yield _set("arp_ids", "ether_addr . ipv4_addr", by_set.get("arp_ids", []))
    yield from chain(
        "arp_from_vm",
        [
            'arp saddr ip 0.0.0.0 arp operation request accept comment "address probes"',
            *_spoof(rs, "ether saddr . arp saddr ip != @arp_ids", "ARP sender address and frame MAC"),
            *_spoof(rs, "arp saddr ether . arp saddr ip != @arp_ids", "ARP sender address and MAC"),
        ],
    )
    yield from chain(
        "input",
        [f'iifname @vm_ifaces jump arp_from_vm comment "{JUMP}: ARP from VMs to the host"'],
        "type filter hook input priority filter; policy accept;",
    )


def render(rs: Ruleset) -> str:
    """Both tables, as `plan` shows them: the sets first, then the chains that look them up."""
    with gc_paused():
        by_set = _by_set({vm.name: vm_elements(vm) for vm in rs.vms})
        sets = list(_sets(rs, by_set))
        arp = list(_arp_table(rs, by_set))
        bridge = list(nb.table_body(rs, by_set))
    lines = [
        f"table {TABLE} {{",
        *sets,
        *_shared_chains(rs),
        *_base_chains(),
        "}",
        f"table {ARP_TABLE} {{",
        *arp,
        "}",
        f"table {nb.TABLE} {{",
        *bridge,
        "}",
    ]
    return "\n".join(lines) + "\n"


def _heads() -> str:
    return "".join(f"table {t}\ndelete table {t}\n" for t in TABLES)


def replace_script(rs: Ruleset) -> str:
    """One transaction: create-if-absent, delete, define. nft applies all of it or nothing."""
    return _heads() + render(rs)


def replace_stream(rs: Ruleset, per_vm: dict[str, dict[str, list[str]]]) -> Iterator[str]:
    """The same transaction as replace_script, in pieces nft can parse while the next
    ones are rendered (apply feeds them as they come); fills `per_vm` on the way.

    The per-VM elements come in batches of STREAM_BATCH VMs, each batch re-declaring the
    sets it adds to (nft merges them). If vmguard dies half-way, nft reads an end of
    file: only the last piece closes the last block, so every shorter text is a syntax
    error and nothing is committed. Pieces that close one block also open the next and
    are small enough (PIPE_BUF) for the kernel to write them into the pipe whole.
    """
    yield _heads() + f"table {TABLE} {{\n"
    yield "\n".join([*_sets(rs, {}), *_shared_chains(rs), *_base_chains()]) + "\n"
    later: dict[str, list[str]] = {}  # the elements of the other tables' sets
    types = list(_set_types())
    for start in range(0, len(rs.vms), STREAM_BATCH):
        batch = {vm.name: vm_elements(vm) for vm in rs.vms[start : start + STREAM_BATCH]}
        per_vm.update(batch)
        by_set = _by_set(batch)
        for name in (*ARP_SETS, *nb.SETS):
            later.setdefault(name, []).extend(by_set.get(name, ()))
        yield "\n".join(_set(n, t, by_set[n], i) for n, t, i in types if n in by_set) + "\n"
    yield f"}}\ntable {ARP_TABLE} {{\n"
    yield "\n".join(_arp_table(rs, later)) + "\n"
    yield f"}}\ntable {nb.TABLE} {{\n"
    yield "\n".join(nb.table_body(rs, later)) + "\n"
    yield "}\n"


def bridge_script(rs: Ruleset) -> str:
    """The bridge table alone, replaced in one transaction (the iptables backend's)."""
    with gc_paused():
        by_set = _by_set({vm.name: nb.vm_elements(vm) for vm in rs.vms})
        body = list(nb.table_body(rs, by_set))
    return f"table {nb.TABLE}\ndelete table {nb.TABLE}\ntable {nb.TABLE} {{\n" + "\n".join(body) + "\n}\n"


def element_script(verb: str, elements: dict[str, list[str]]) -> list[str]:
    """`add element` / `delete element` commands for the given elements."""
    return [
        f"{verb} element {_table_of(s)} {s} {{ {', '.join(items)} }}"
        for s, items in elements.items()
        if items
    ]


def _table_of(set_name: str) -> str:
    if set_name in ARP_SETS:
        return ARP_TABLE
    return nb.TABLE if set_name in nb.SETS else TABLE
