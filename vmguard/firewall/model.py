"""The abstract host-firewall ruleset: what every backend renders, independent of syntax.

compile.py builds it from policy + inventory; nftables.py and iptables.py turn it into
their own rules. It round-trips through plain JSON (to_dict/from_dict) so a child
process can load exactly the same ruleset into a scratch namespace (audit.py).
"""

from __future__ import annotations

import gc
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vmguard.core.modes import Protocol
from vmguard.policy.model import IPNetwork, PortRange

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# nftables and iptables log prefixes are short; a drop log names the VM within this.
LOG_RATE_PER_MINUTE = 10
LOG_BURST = 5


@contextmanager
def gc_paused() -> Iterator[None]:
    """Compiling and rendering 10,000 VMs allocates about a million small objects that
    all stay alive; the cyclic collector would rescan them again and again (about 6x the
    work, measured). Nothing here makes reference cycles, so pause it meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Flow:
    """One named policy endpoint: traffic of `protocol` to/from `nets` on `ports`.

    For egress `nets` are destinations, for ingress they are sources. `ports` is empty
    for ICMP (and means "any port" nowhere: a TCP/UDP flow always names its ports).
    """

    name: str
    protocol: Protocol
    nets: tuple[IPNetwork, ...]
    ports: tuple[PortRange, ...] = ()

    def nets_of(self, version: int) -> tuple[IPNetwork, ...]:
        return tuple(n for n in self.nets if n.version == version)


@dataclass(frozen=True)
class VmRules:
    """Everything the firewall enforces for one VM on the host-only network."""

    name: str
    addresses: tuple[IPAddress, ...]
    mac: str  # lower-case, colon-separated
    egress: tuple[Flow, ...] = ()
    ingress: tuple[Flow, ...] = ()
    log_denied: bool = True
    ipv6: bool = False  # False: every IPv6 packet from this VM is dropped, ND included
    port: str = ""  # host-side bridge port (tap/vnet); "" unknown: its frames are dropped

    def addresses_of(self, version: int) -> tuple[IPAddress, ...]:
        return tuple(a for a in self.addresses if a.version == version)

    def sources_of(self, version: int) -> tuple[IPAddress, ...]:
        """The addresses the VM may send from: an IPv6 VM also from its EUI-64 link-local
        address (neighbour discovery, DHCPv6), unless the inventory lists its own."""
        own = self.addresses_of(version)
        if version == 4 or not self.ipv6 or any(a.is_link_local for a in own):
            return own
        return (*own, eui64_link_local(self.mac))

    @property
    def ident(self) -> str:
        """A name safe in nftables chain names, unique per VM name, stable across runs."""
        safe = re.sub(r"[^A-Za-z0-9_]", "_", self.name)[:40]
        return f"{safe}_{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"


def eui64_link_local(mac: str) -> ipaddress.IPv6Address:
    """fe80::/64 with the interface identifier derived from `mac` (RFC 4291, 2.5.1)."""
    octets = bytes.fromhex(mac.replace(":", ""))
    ident = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + ident)


@dataclass(frozen=True)
class Ruleset:
    """The whole compiled firewall of one host."""

    vm_interfaces: tuple[str, ...]  # host side of the host-only networks
    vms: tuple[VmRules, ...]
    bridge_ports: tuple[str, ...] = ()  # every port of the VM bridges (read live)
    log_group: int | None = None  # None: kernel log; N: nfnetlink_log group N

    @property
    def log_denied(self) -> bool:
        """Spoofed packets are nobody's: log them when any VM's policy logs drops."""
        return any(vm.log_denied for vm in self.vms)

    def vm(self, name: str) -> VmRules | None:
        return next((vm for vm in self.vms if vm.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm_interfaces": list(self.vm_interfaces),
            "vms": [_vm_dict(v) for v in self.vms],
            "bridge_ports": list(self.bridge_ports),
            "log_group": self.log_group,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ruleset:
        return cls(
            tuple(data["vm_interfaces"]),
            tuple(_vm_from(v) for v in data["vms"]),
            tuple(data.get("bridge_ports", ())),
            data.get("log_group"),
        )


def _flow_dict(flow: Flow) -> dict[str, Any]:
    return {
        "name": flow.name,
        "protocol": flow.protocol.value,
        "nets": [str(n) for n in flow.nets],
        "ports": [[p.first, p.last] for p in flow.ports],
    }


def _flow_from(data: dict[str, Any]) -> Flow:
    return Flow(
        data["name"],
        Protocol(data["protocol"]),
        tuple(ipaddress.ip_network(n) for n in data["nets"]),
        tuple(PortRange(a, b) for a, b in data["ports"]),
    )


def _vm_dict(vm: VmRules) -> dict[str, Any]:
    return {
        "name": vm.name,
        "addresses": [str(a) for a in vm.addresses],
        "mac": vm.mac,
        "egress": [_flow_dict(f) for f in vm.egress],
        "ingress": [_flow_dict(f) for f in vm.ingress],
        "log_denied": vm.log_denied,
        "ipv6": vm.ipv6,
        "port": vm.port,
    }


def _vm_from(data: dict[str, Any]) -> VmRules:
    return VmRules(
        data["name"],
        tuple(ipaddress.ip_address(a) for a in data["addresses"]),
        data["mac"],
        tuple(_flow_from(f) for f in data["egress"]),
        tuple(_flow_from(f) for f in data["ingress"]),
        data["log_denied"],
        data["ipv6"],
        data.get("port", ""),
    )
