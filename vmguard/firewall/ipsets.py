"""The ipsets of the iptables backend: per-VM endpoints as set elements, not rules.

A handful of iptables rules match these sets, so the rule count (and the per-packet
cost) does not grow with VMs or endpoints.

Sets come in two generations, slots "a" and "b" (vmg-ids4-a, vmg-ids4-b, ...). An apply
fills the slot the live rules do not use in one `ipset restore`, then commits the IPv4
rules that name it: that one commit switches rules and all sets at once. The other
slot's sets, unreferenced from then on, are destroyed last. A kill at any step leaves
either the old rules with the old sets or the new with the new, plus at most one
unreferenced slot, which the next apply destroys first.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections.abc import Iterator

from vmguard.core.errors import FirewallError
from vmguard.core.modes import Protocol
from vmguard.firewall.model import Flow, Ruleset, VmRules

PREFIX = "vmg-"
IDS, OUT, IN, LOG = "vmg-ids4", "vmg-out4", "vmg-in4", "vmg-log4"
NAMES = (IDS, OUT, IN, LOG)
SLOTS = ("a", "b")
MAXELEM = 1 << 22
TIMEOUT = 300
_SLOTTED = re.compile(r"\b(vmg-(?:ids4|out4|in4|log4))-[ab]\b")
_INITVAL = re.compile(r" initval 0x[0-9a-f]+")
_PLAIN = re.compile(r"\b(vmg-(?:ids4|out4|in4|log4))\b(?!-)")


def slotted(name: str, slot: str) -> str:
    """A set's name in one slot; slot "" is the plain name `plan` shows."""
    return f"{name}-{slot}" if slot else name


def unslotted(text: str) -> str:
    """Set names with the slot left out, so either generation compares equal."""
    return _SLOTTED.sub(r"\1", text)


def reslotted(text: str, slot: str) -> str:
    """Set names (slotted or not) renamed to those of `slot`: a listing put back there."""
    return _PLAIN.sub(rf"\1-{slot}", unslotted(text))


def ipset(args: list[str], script: str | None = None, check: bool = True) -> str:
    binary = shutil.which("ipset")
    if binary is None:
        raise FirewallError("ipset not found: install the ipset package")
    proc = subprocess.run(
        [binary, *args], input=script, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if check and proc.returncode != 0:
        raise FirewallError(f"ipset {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _id_range(ruleset: Ruleset) -> str:
    """bitmap:ip,mac needs a range of at most 65536 addresses holding every VM address."""
    addrs = [a for vm in ruleset.vms for a in vm.addresses_of(4)]
    if not addrs:
        return "192.0.2.0/30"  # no VM: an empty set over a documentation range
    net = ipaddress.ip_network(addrs[0])
    while not all(a in net for a in addrs):
        net = net.supernet()
    if net.prefixlen < 16:
        raise FirewallError(
            f"VM addresses span {net}: the iptables backend's anti-spoofing "
            "set holds at most a /16; use the nftables backend"
        )
    # As first-last: ipset refuses a bitmap range written as a /32 (one VM's address).
    return f"{net.network_address}-{net.broadcast_address}"


def _creates(ruleset: Ruleset, slot: str) -> list[str]:
    common = f"family inet maxelem {MAXELEM}"
    ids, out, in_, log = (slotted(n, slot) for n in NAMES)
    return [
        f"create {ids} bitmap:ip,mac range {_id_range(ruleset)}",
        f"create {out} hash:ip,port,net {common} comment",
        f"create {in_} hash:ip,port,net {common} comment",
        f"create {log} hash:ip {common}",
    ]


def _ports(flow: Flow) -> list[str]:
    if flow.protocol is Protocol.ICMP:
        return ["icmp:8/0"]  # echo request; replies pass as established
    return [
        f"{flow.protocol.value}:{p.first}-{p.last}"
        if p.first != p.last
        else f"{flow.protocol.value}:{p.first}"
        for p in flow.ports
    ]


def _flow_elements(name: str, vm: VmRules, flow: Flow) -> Iterator[str]:
    comment = flow.name.replace('"', "'")[:200]
    for addr in vm.addresses_of(4):
        for port in _ports(flow):
            for net in flow.nets_of(4):
                yield f'add {name} {addr},{port},{net} comment "{comment}"'


def _adds(ruleset: Ruleset, slot: str) -> Iterator[str]:
    ids, out, in_, log = (slotted(n, slot) for n in NAMES)
    for vm in ruleset.vms:
        for addr in vm.addresses_of(4):
            yield f"add {ids} {addr},{vm.mac}"
            if vm.log_denied:
                yield f"add {log} {addr}"
        for flow in vm.egress:
            yield from _flow_elements(out, vm, flow)
        for flow in vm.ingress:
            yield from _flow_elements(in_, vm, flow)


def describe(ruleset: Ruleset) -> list[str]:
    """The sets in `ipset restore` syntax, for `plan`."""
    return [*_creates(ruleset, ""), *_adds(ruleset, "")]


def _references(name: str) -> int | None:
    """How many rules use set `name`; None if it does not exist."""
    out = ipset(["list", "-t", name], check=False)
    found = re.search(r"^References: (\d+)$", out, re.MULTILINE)
    return int(found.group(1)) if found else None


def live_slot() -> str | None:
    """The slot the live rules use (None: no rule uses ours)."""
    return next((s for s in SLOTS if (_references(slotted(IDS, s)) or 0) > 0), None)


def free_slot() -> str:
    """The slot the live rules do not use."""
    live = live_slot()
    return next(s for s in SLOTS if s != live)


def prepare(ruleset: Ruleset) -> str:
    """Fill the slot the live rules do not use, in one `ipset restore`; its name."""
    slot = free_slot()
    discard(slot)  # left by an apply killed before its commit
    load(slot, [*_creates(ruleset, slot), *_adds(ruleset, slot)])
    return slot


def load(slot: str, lines: list[str]) -> None:
    """`ipset restore` of `lines` (sets of `slot`, emptied first); none of them left on failure."""
    if not lines:
        return
    try:
        ipset(["restore"], "\n".join(lines) + "\n")
    except FirewallError:
        discard(slot)
        raise


def retire(slot: str) -> None:
    """After the commit that switched to `slot`: the other slot's sets (and those of
    versions before slots) are referenced no more."""
    for other in ("", *SLOTS):
        if other != slot:
            discard(other)


def discard(slot: str) -> None:
    for name in NAMES:
        if _references(slotted(name, slot)) == 0:
            ipset(["destroy", slotted(name, slot)], check=False)


def destroy() -> bool:
    """Every set of ours, once no rule uses them (remove)."""
    existing = [slotted(n, s) for s in ("", *SLOTS) for n in NAMES if _references(slotted(n, s)) is not None]
    for name in existing:
        ipset(["destroy", name])
    return bool(existing)


def snapshot() -> dict[str, frozenset[str]]:
    """The live slot's sets by their plain names: type and elements, with what the kernel
    picks itself (initval) left out."""
    slot = live_slot()
    sets: dict[str, frozenset[str]] = {}
    for name in NAMES if slot else ():
        out = ipset(["save", slotted(name, slot)], check=False)
        if out.strip():
            sets[name] = frozenset(_normal(unslotted(line)) for line in out.splitlines() if line.strip())
    return sets


def show() -> str:
    """The live slot's sets in `ipset restore` syntax, with what the kernel picks itself
    (initval, and the element order it makes) left out: the same sets list the same."""
    slot = live_slot()
    listings = [ipset(["save", slotted(n, slot)], check=False).splitlines() for n in NAMES] if slot else []
    return "".join(
        "\n".join([_INITVAL.sub("", lines[0]), *sorted(lines[1:])]) + "\n" for lines in listings if lines
    )


def _normal(line: str) -> str:
    if not line.startswith("create "):
        return line
    words = line.split()
    drop = {"hashsize", "bucketsize", "initval"}
    kept = [w for i, w in enumerate(words) if w not in drop and words[i - 1] not in drop]
    return "(type) " + " ".join(kept)
