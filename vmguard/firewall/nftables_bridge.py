"""Frames on the VM bridges, filtered in nftables' bridge family (table `bridge vmguard`)
where the IP hooks cannot look: the bridge port a frame came in on, VLAN tags, other
ethertypes, ARP and neighbour discovery between VMs. Both backends load this table.

- Each VM is bound to its port: a frame carrying a VM's MAC, or a VM's address as IP
  source or ARP sender, passes only from that VM's port, with that VM's MAC and address
  (sets br_ids4/br_ids6). A VM whose port is unknown is in neither set: every frame
  carrying its identity is dropped (the strict default) until its port is known.
- From every port of a VM bridge (set br_ports): VLAN-tagged frames, ethertypes other
  than IPv4, IPv6 and ARP, and router advertisements and redirects are dropped; ARP and
  neighbour discovery must name the sender's own (port, MAC, address) like IP does.

`meta ibrname` (the bridge of a port) needs the kernel module nft_meta_bridge, which not
every kernel has, so the ports of the VM bridges are listed instead: read from sysfs at
apply, plus each VM's own port. A port added later shows up in `audit` (its element is
missing) until the next apply or one-VM update.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.firewall.model import IPAddress, Ruleset, VmRules
from vmguard.firewall.nftables_text import JUMP, chain, quote
from vmguard.firewall.nftables_text import log as log_stmt

TABLE = "bridge vmguard"
# set name -> type; raw payload keys (an ND target, an option's MAC) need `typeof`
SET_TYPES = {
    "br_ports": "type ifname",
    "br_macs": "type ether_addr",
    "br_addrs4": "type ipv4_addr",
    "br_addrs6": "type ipv6_addr",
    "br_ids4": "type ifname . ether_addr . ipv4_addr",
    "br_ids6": "type ifname . ether_addr . ipv6_addr",
    "br_nd": "typeof iifname . ether saddr . @th,64,128",
    "br_lla": "typeof ether saddr . @th,208,48",
}
SETS = tuple(SET_TYPES)


def _int128(ip: IPAddress) -> str:
    return f"0x{ip.packed.hex()}"


def _mac_int(mac: str) -> str:
    return "0x" + mac.replace(":", "")


def vm_elements(vm: VmRules) -> dict[str, list[str]]:
    """The bridge table's elements of one VM (the identity sets; the bound ones only
    when its port is known)."""
    c = f" comment {quote(vm.name)}"
    v4, v6 = vm.sources_of(4), vm.sources_of(6)
    out = {
        "br_macs": [vm.mac + c],
        "br_addrs4": [f"{a}{c}" for a in v4],
        "br_addrs6": [f"{a}{c}" for a in vm.addresses_of(6)],
    }
    if vm.port:
        port = quote(vm.port)
        out["br_ports"] = [port]  # no comment: the same element as a bridge port's
        out["br_ids4"] = [f"{port} . {vm.mac} . {a}{c}" for a in v4]
        out["br_ids6"] = [f"{port} . {vm.mac} . {a}{c}" for a in v6]
        out["br_nd"] = [f"{port} . {vm.mac} . {_int128(a)}{c}" for a in v6]
        out["br_lla"] = [f"{vm.mac} . {_mac_int(vm.mac)}{c}"] if v6 else []
    return {s: items for s, items in out.items() if items}


def shared_ports(rs: Ruleset) -> list[str]:
    """The VM bridges' ports that are no VM's own port (those come with the VM)."""
    own = {vm.port for vm in rs.vms}
    return [quote(p) for p in rs.bridge_ports if p not in own]


def nd_rules(port: str, deny: str) -> list[str]:
    """Neighbour discovery held to the address and MAC rules of ARP: a neighbour
    advertisement's target and a link-layer address option must be the sender's own.
    `port` is the key head ("iifname . " in the bridge table, "" where none is known)."""
    nd_set, lla_set = ("@br_nd", "@br_lla") if port else ("@nd_ids", "@lla")
    return [
        f"icmpv6 type nd-neighbor-advert {port}ether saddr . @th,64,128 != {nd_set} {deny} "
        '"neighbour advertisement for an address not the sender\'s"',
        f"icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} @th,192,8 {{ 1, 2 }} "
        f"ether saddr . @th,208,48 != {lla_set} {deny} "
        '"link-layer address option not the sender\'s MAC"',
        f"icmpv6 type nd-router-solicit @th,64,8 1 ether saddr . @th,80,48 != {lla_set} "
        f'{deny} "link-layer address option not the sender\'s MAC"',
        f'icmpv6 type {{ nd-router-advert, nd-redirect }} {deny} "VMs are no routers"',
    ]


def _frame_rules() -> list[str]:
    d = "goto deny comment"
    return [
        f'ether type {{ 8021q, 8021ad }} {d} "VLAN-tagged frame"',
        f'ether type != {{ ip, ip6, arp }} {d} "ethertype other than IPv4, IPv6, ARP"',
        'arp saddr ip 0.0.0.0 arp operation request accept comment "address probes"',
        f'iifname . ether saddr . arp saddr ip != @br_ids4 {d} "ARP frame MAC or port"',
        f'iifname . arp saddr ether . arp saddr ip != @br_ids4 {d} "ARP sender MAC or port"',
        'ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept comment "DHCP discovery"',
        f"ip saddr @br_addrs4 iifname . ether saddr . ip saddr != @br_ids4 {d} "
        '"a VM\'s IPv4 address from another port or MAC"',
        f"ether saddr @br_macs meta protocol ip iifname . ether saddr . ip saddr != @br_ids4 "
        f'{d} "a VM\'s MAC with another address or port"',
        'ip6 saddr :: icmpv6 type nd-neighbor-solicit accept comment "duplicate address detection"',
        f"ip6 saddr @br_addrs6 iifname . ether saddr . ip6 saddr != @br_ids6 {d} "
        '"a VM\'s IPv6 address from another port or MAC"',
        f"ether saddr @br_macs meta protocol ip6 iifname . ether saddr . ip6 saddr != @br_ids6 "
        f'{d} "a VM\'s MAC with another address or port"',
        *nd_rules("iifname . ", "goto deny comment"),
        'accept comment "the frame is its sender\'s own"',
    ]


JUMPS = (  # (match, what): frames that vm_frame judges
    ("iifname @br_ports", "frames from the VM bridges' ports"),
    ("ether saddr @br_macs", "a VM's MAC on any bridge port"),
    ("ip saddr @br_addrs4", "a VM's IPv4 address on any bridge port"),
    ("arp saddr ip @br_addrs4", "a VM's IPv4 address in ARP on any bridge port"),
    ("ip6 saddr @br_addrs6", "a VM's IPv6 address on any bridge port"),
)


def _set(name: str, items: list[str]) -> str:
    body = f" elements = {{ {', '.join(items)} }};" if items else ""
    return f"\tset {name} {{ {SET_TYPES[name]};{body} }}"


def table_body(rs: Ruleset, by_set: dict[str, list[str]]) -> Iterator[str]:
    """The table's content (the caller opens and closes the block); `by_set` holds the
    VMs' elements gathered per set name."""
    for name in SETS:
        extra = shared_ports(rs) if name == "br_ports" else []
        yield _set(name, extra + by_set.get(name, []))
    log = [f'{log_stmt("vmguard frame: ", rs.log_group)} comment "log dropped frames"']
    yield from chain("deny", [*(log if rs.log_denied else []), 'drop comment "dropped frame"'])
    yield from chain("vm_frame", _frame_rules())
    yield from chain(
        "prerouting",
        [f'{m} jump vm_frame comment "{JUMP}: {w}"' for m, w in JUMPS],
        "type filter hook prerouting priority filter; policy accept;",
    )


def element_sets(elements: dict[str, list[str]]) -> Iterator[str]:
    """Set declarations adding `elements` (nft merges them into the declared sets)."""
    for name in SETS:
        if elements.get(name):
            yield _set(name, elements[name])
