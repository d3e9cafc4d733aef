"""The Ruleset in nftables syntax: the text `plan` shows is the text `apply` loads.

Layout of table `inet vmguard` (packets from VM interfaces, in order):
  input   -> vm_to_host: DHCP to the host, then from_vm
  forward -> from_vm (routed and, through br_netfilter, bridged VM-to-VM traffic)
          -> to_vm for traffic forwarded towards VMs
  output  -> host_to_vm: DHCP replies, then to_vm
  from_vm: IPv6 -> from_vm6; anti-spoofing (address . MAC set); replies;
           `ip saddr vmap @out4` jumps to the sender's own chain; default drop.
The verdict maps make the per-packet cost one hash lookup whatever the number of VMs;
each VM's chain holds only its own endpoints, commented with the endpoints' names.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.firewall.model import LOG_BURST, LOG_RATE_PER_MINUTE, Flow, Ruleset, VmRules
from vmguard.policy.model import Protocol

TABLE = "inet vmguard"
JUMP = "vmguard jump"  # comment prefix of the rules that hook our chains into the kernel
ND_OUT = "{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }"
ND_IN = "{ nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }"
LIMIT = f"limit rate {LOG_RATE_PER_MINUTE}/minute burst {LOG_BURST} packets"
_L4 = {4: {Protocol.ICMP: "icmp"}, 6: {Protocol.ICMP: "ipv6-icmp"}}
_FAMILY = {4: "ip", 6: "ip6"}


def quote(text: str) -> str:
    """An nftables string literal (comments, prefixes) that cannot break the syntax."""
    return '"' + text.replace("\\", "/").replace('"', "'")[:120] + '"'


def out_chain(vm: VmRules) -> str:
    return f"out_{vm.ident}"


def in_chain(vm: VmRules) -> str:
    return f"in_{vm.ident}"


def vm_comment(vm: VmRules) -> str:
    """The per-VM chain comment: what update_vm needs to remove this VM's elements later."""
    return f"addr={','.join(str(a) for a in vm.addresses)} mac={vm.mac}"


def _flow_rule(flow: Flow, version: int, side: str) -> str | None:
    nets = flow.nets_of(version)
    if not nets:
        return None
    match = f"{_FAMILY[version]} {side} {{ {', '.join(str(n) for n in nets)} }}"
    if flow.protocol is Protocol.ICMP:
        proto = f"meta l4proto {_L4[version][Protocol.ICMP]}"
    else:
        proto = f"{flow.protocol.value} dport {{ {', '.join(str(p) for p in flow.ports)} }}"
    return f"{match} {proto} accept comment {quote(flow.name)}"


def vm_rules(vm: VmRules, direction: str) -> list[str]:
    """The rules of one VM's egress ("out") or ingress ("in") chain."""
    flows, side = (vm.egress, "daddr") if direction == "out" else (vm.ingress, "saddr")
    rules = [r for f in flows for v in (4, 6) if (r := _flow_rule(f, v, side))]
    if vm.log_denied:
        prefix = quote(f"vmguard deny {direction} {vm.name[:60]}: ")
        rules.append(f'{LIMIT} log prefix {prefix} level warn comment "log denied"')
    return rules


def _chain(name: str, rules: list[str], head: str = "") -> Iterator[str]:
    yield f"\tchain {name} {{"
    if head:
        yield f"\t\t{head}"
    yield from (f"\t\t{r}" for r in rules)
    yield "\t}"


def _elements(items: list[str]) -> str:
    return f" elements = {{ {', '.join(items)} }};" if items else ""


def id_elements(vm: VmRules, version: int) -> list[str]:
    return [f"{a} . {vm.mac}" for a in vm.addresses_of(version)]


def map_elements(vm: VmRules, version: int, direction: str) -> list[str]:
    chain = out_chain(vm) if direction == "out" else in_chain(vm)
    return [f"{a} : jump {chain}" for a in vm.addresses_of(version)]


def _sets(rs: Ruleset) -> Iterator[str]:
    ifaces = [quote(i) for i in rs.vm_interfaces]
    yield f"\tset vm_ifaces {{ type ifname;{_elements(ifaces)} }}"
    for v, addr in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        ids = [e for vm in rs.vms for e in id_elements(vm, v)]
        yield f"\tset ids{v} {{ type {addr} . ether_addr;{_elements(ids)} }}"
    v6 = sorted({vm.mac for vm in rs.vms if vm.ipv6})
    yield f"\tset v6_macs {{ type ether_addr;{_elements(v6)} }}"


def _maps(rs: Ruleset) -> Iterator[str]:
    for v, addr in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        for d in ("out", "in"):
            items = [e for vm in rs.vms for e in map_elements(vm, v, d)]
            yield f"\tmap {d}{v} {{ type {addr} : verdict;{_elements(items)} }}"


def _spoof(rs: Ruleset, match: str, what: str) -> list[str]:
    log = (
        [f'{match} {LIMIT} log prefix "vmguard spoofed {what}: " level warn comment "log spoofed {what}"']
        if rs.log_denied
        else []
    )
    return [*log, f'{match} drop comment "anti-spoofing: {what} is not a known VM\'s"']


def _shared_chains(rs: Ruleset) -> Iterator[str]:
    yield from _chain(
        "from_vm",
        [
            'meta nfproto ipv6 jump from_vm6 comment "IPv6 from VMs"',
            *_spoof(rs, "ip saddr . ether saddr != @ids4", "IPv4 address and MAC"),
            'ct state established,related accept comment "replies"',
            'ip saddr vmap @out4 comment "per-VM egress"',
            'drop comment "default deny from VMs"',
        ],
    )
    yield from _chain(
        "from_vm6",
        [
            'ether saddr != @v6_macs drop comment "IPv6 denied: the policy has no IPv6 endpoint"',
            f'icmpv6 type {ND_OUT} ip6 hoplimit 255 accept comment "neighbour discovery"',
            *_spoof(rs, "ip6 saddr . ether saddr != @ids6", "IPv6 address and MAC"),
            'ct state established,related accept comment "replies"',
            'ip6 saddr vmap @out6 comment "per-VM egress"',
            'drop comment "default deny from VMs"',
        ],
    )
    yield from _chain(
        "to_vm",
        [
            'ct state established,related accept comment "replies"',
            f'icmpv6 type {ND_IN} ip6 hoplimit 255 accept comment "neighbour discovery"',
            'ip daddr vmap @in4 comment "per-VM ingress"',
            'ip6 daddr vmap @in6 comment "per-VM ingress"',
            'drop comment "default deny to VMs"',
        ],
    )
    yield from _chain(
        "vm_to_host",
        [
            'udp sport 68 udp dport 67 accept comment "DHCP requests to the host"',
            'jump from_vm comment "same rules as forwarded traffic"',
        ],
    )
    yield from _chain(
        "host_to_vm",
        [
            'udp sport 67 udp dport 68 accept comment "DHCP replies from the host"',
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
        yield from _chain(name, rules, head)


def vm_chains(vm: VmRules) -> Iterator[str]:
    head = f"comment {quote(vm_comment(vm))}"
    yield from _chain(out_chain(vm), vm_rules(vm, "out"), head)
    yield from _chain(in_chain(vm), vm_rules(vm, "in"), head)


def render(rs: Ruleset) -> str:
    """The whole table. Order matters: sets, then the chains maps point to, then maps."""
    lines = [f"table {TABLE} {{", *_sets(rs)]
    for vm in rs.vms:
        lines.extend(vm_chains(vm))
    lines.extend(_maps(rs))
    lines.extend(_shared_chains(rs))
    lines.extend(_base_chains())
    lines.append("}")
    return "\n".join(lines) + "\n"


def replace_script(rs: Ruleset) -> str:
    """One transaction: create-if-absent, delete, define. nft applies all of it or nothing."""
    return f"table {TABLE}\ndelete table {TABLE}\n{render(rs)}"
