"""The ipsets of the iptables backend: per-VM endpoints as set elements, not rules.

A handful of iptables rules match these sets, so the rule count (and the per-packet
cost) does not grow with VMs or endpoints. Sets are replaced atomically: the new
contents are built under a temporary name in one `ipset restore`, then swapped in.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator

from vmguard.errors import FirewallError
from vmguard.firewall.model import Flow, Ruleset, VmRules
from vmguard.policy.model import Protocol

PREFIX = "vmg-"
IDS, OUT, IN, LOG = "vmg-ids4", "vmg-out4", "vmg-in4", "vmg-log4"
NAMES = (IDS, OUT, IN, LOG)
TEMP = "-new"
MAXELEM = 1 << 22
TIMEOUT = 300


def ipset(args: list[str], script: str | None = None, check: bool = True) -> str:
    binary = shutil.which("ipset")
    if binary is None:
        raise FirewallError("ipset not found: install the ipset package")
    proc = subprocess.run([binary, *args], input=script, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
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
        raise FirewallError(f"VM addresses span {net}: the iptables backend's anti-spoofing "
                            "set holds at most a /16; use the nftables backend")
    return str(net)


def _creates(ruleset: Ruleset, suffix: str) -> list[str]:
    common = f"family inet maxelem {MAXELEM}"
    return [f"create {IDS}{suffix} bitmap:ip,mac range {_id_range(ruleset)}",
            f"create {OUT}{suffix} hash:ip,port,net {common} comment",
            f"create {IN}{suffix} hash:ip,port,net {common} comment",
            f"create {LOG}{suffix} hash:ip {common}"]


def _ports(flow: Flow) -> list[str]:
    if flow.protocol is Protocol.ICMP:
        return ["icmp:8/0"]  # echo request; replies pass as established
    return [f"{flow.protocol.value}:{p.first}-{p.last}" if p.first != p.last
            else f"{flow.protocol.value}:{p.first}" for p in flow.ports]


def _flow_elements(name: str, vm: VmRules, flow: Flow) -> Iterator[str]:
    comment = flow.name.replace('"', "'")[:200]
    for addr in vm.addresses_of(4):
        for port in _ports(flow):
            for net in flow.nets_of(4):
                yield f'add {name} {addr},{port},{net} comment "{comment}"'


def _adds(ruleset: Ruleset, suffix: str) -> Iterator[str]:
    for vm in ruleset.vms:
        for addr in vm.addresses_of(4):
            yield f"add {IDS}{suffix} {addr},{vm.mac}"
            if vm.log_denied:
                yield f"add {LOG}{suffix} {addr}"
        for flow in vm.egress:
            yield from _flow_elements(OUT + suffix, vm, flow)
        for flow in vm.ingress:
            yield from _flow_elements(IN + suffix, vm, flow)


def describe(ruleset: Ruleset) -> list[str]:
    """The sets in `ipset restore` syntax, for `plan`."""
    return [*_creates(ruleset, ""), *_adds(ruleset, "")]


def prepare(ruleset: Ruleset) -> None:
    """Make sure the live sets exist (rules need them) and build the new contents aside."""
    ipset(["-exist", "restore"], "\n".join(_creates(ruleset, "")) + "\n")
    discard()
    script = [*_creates(ruleset, TEMP), *_adds(ruleset, TEMP)]
    try:
        ipset(["restore"], "\n".join(script) + "\n")
    except FirewallError:
        discard()
        raise


def swap_in() -> None:
    """Put the prepared contents in force; each swap is atomic in the kernel."""
    for name in NAMES:
        ipset(["swap", name + TEMP, name])
    discard()


def discard() -> None:
    for name in NAMES:
        ipset(["destroy", name + TEMP], check=False)


def destroy() -> bool:
    existing = [n for n in NAMES if ipset(["list", "-n", n], check=False).strip() == n]
    for name in existing:
        ipset(["destroy", name])
    return bool(existing)


def snapshot() -> dict[str, frozenset[str]]:
    """Our sets' type and elements, with what the kernel picks itself (initval) left out."""
    sets: dict[str, frozenset[str]] = {}
    for name in NAMES:
        out = ipset(["save", name], check=False)
        if not out.strip():
            continue
        lines = [_normal(line) for line in out.splitlines() if line.strip()]
        sets[name] = frozenset(lines)
    return sets


def _normal(line: str) -> str:
    if not line.startswith("create "):
        return line
    words = line.split()
    drop = {"hashsize", "bucketsize", "initval"}
    kept = [w for i, w in enumerate(words) if w not in drop and words[i - 1] not in drop]
    return "(type) " + " ".join(kept)
