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
and one VM is added or removed by a few element operations (the elements:
nftables_elements.py).

Table `arp vmguard`: ARP the host receives from the VM interfaces must carry a known
VM's MAC and IPv4 address as sender (set arp_ids), so no VM can poison the host's
neighbour table. Table `bridge vmguard` (nftables_bridge.py): frames on the VM bridges,
bound to the VM's port, VLAN tags and other ethertypes, ARP and ND between VMs.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.firewall import nftables_bridge as nb
from vmguard.firewall.model import Ruleset, gc_paused
from vmguard.firewall.nftables_elements import KINDS, flow_sets, vm_elements
from vmguard.firewall.nftables_text import JUMP, chain, quote
from vmguard.firewall.nftables_text import log as log_stmt

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
        yield name, _ADDR[v] + KINDS[kind].format(a=_ADDR[v]), kind != ""


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


def heads() -> str:
    """Create-if-absent then delete each of our tables: what starts a replacing transaction."""
    return "".join(f"table {t}\ndelete table {t}\n" for t in TABLES)


def replace_script(rs: Ruleset) -> str:
    """One transaction: create-if-absent, delete, define. nft applies all of it or nothing."""
    return heads() + render(rs)


def replace_stream(rs: Ruleset, per_vm: dict[str, dict[str, list[str]]]) -> Iterator[str]:
    """The same transaction as replace_script, in pieces nft can parse while the next
    ones are rendered (apply feeds them as they come); fills `per_vm` on the way.

    The per-VM elements come in batches of STREAM_BATCH VMs, each batch re-declaring the
    sets it adds to (nft merges them). If vmguard dies half-way, nft reads an end of
    file: only the last piece closes the last block, so every shorter text is a syntax
    error and nothing is committed. Pieces that close one block also open the next and
    are small enough (PIPE_BUF) for the kernel to write them into the pipe whole.
    """
    yield heads() + f"table {TABLE} {{\n"
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
