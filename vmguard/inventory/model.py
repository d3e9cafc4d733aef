"""The inventory: which VMs exist, how to reach them, and which policy each follows.

Model only; vmguard.inventory.loader reads and validates the YAML file.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from vmguard.facts.vm import HostOnly, HostOnlyKind
from vmguard.policy.model import Policy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DriverKind(StrEnum):
    LIBVIRT = "libvirt"
    VIRTUALBOX = "virtualbox"  # live, through pyvbox
    VBOX_FILE = "vbox-file"  # offline, VirtualBox settings files


class FirewallBackend(StrEnum):
    NFTABLES = "nftables"
    IPTABLES = "iptables"


@dataclass(frozen=True)
class Connection:
    name: str
    driver: DriverKind
    uri: str = ""  # libvirt URI, e.g. qemu:///system (driver libvirt)
    path: str = ""  # glob of .vbox files (driver vbox-file)
    host_only: HostOnly | None = None  # where apply moves NICs the policy does not allow


# Which host-only kinds each driver can attach a NIC to.
HOST_ONLY_KINDS = {
    DriverKind.LIBVIRT: (HostOnlyKind.NETWORK, HostOnlyKind.BRIDGE),
    DriverKind.VIRTUALBOX: (HostOnlyKind.HOSTONLY_INTERFACE, HostOnlyKind.HOSTONLY_NETWORK),
    DriverKind.VBOX_FILE: (HostOnlyKind.HOSTONLY_INTERFACE, HostOnlyKind.HOSTONLY_NETWORK),
}


@dataclass(frozen=True)
class VmEntry:
    pattern: str  # exact VM name or a glob ("gleam-batch-*")
    connection: str  # a Connection.name
    policy: Policy
    addresses: tuple[IPAddress, ...] = ()  # on the host-only network (firewall)
    mac: str = ""  # host-only NIC's MAC (firewall anti-spoofing)
    interface: str = ""  # host-side tap/vnet interface, when fixed
    quarantine: str = ""  # the VM's quarantine directory; may contain {vm}
    origin: str = ""  # file:line:col of this entry

    @property
    def is_glob(self) -> bool:
        return any(c in self.pattern for c in "*?[")

    def matches(self, vm_name: str) -> bool:
        return fnmatch.fnmatchcase(vm_name, self.pattern)

    def quarantine_for(self, vm_name: str) -> str:
        return self.quarantine.replace("{vm}", vm_name)


@dataclass(frozen=True)
class FirewallSettings:
    backend: FirewallBackend = FirewallBackend.NFTABLES
    # Host-side interfaces of the host-only networks (vboxnet0, virbr-hostonly, ...):
    # everything arriving on them is VM traffic and is default-denied.
    vm_interfaces: tuple[str, ...] = ()
    # The networks VM addresses must lie in; empty: read from the vm_interfaces' addresses.
    vm_networks: tuple[IPNetwork, ...] = ()
    # Where denied packets are logged: None the kernel log (which a non-initial network
    # namespace only gets with the sysctl net.netfilter.nf_log_all_netns), a number the
    # nfnetlink_log group read per namespace by ulogd2 or `tcpdump -i nflog:N`.
    log_group: int | None = None


class Unmanaged(StrEnum):
    REFUSE = "refuse"
    ALLOW = "allow"


class OnError(StrEnum):
    FAIL_CLOSED = "fail-closed"  # vmguard broke: the VM does not start
    FAIL_OPEN = "fail-open"  # vmguard broke: the VM starts, and that is logged


@dataclass(frozen=True)
class GateSettings:
    """Host-wide settings of the libvirt start gate (the per-role ones are in the policy)."""

    unmanaged: Unmanaged = Unmanaged.REFUSE
    on_error: OnError = OnError.FAIL_CLOSED
    timeout: float = 10.0  # seconds; the hook is killed after it (libvirtd waits for hooks)


def outside(addresses: tuple[IPAddress, ...], networks: tuple[IPNetwork, ...]) -> list[IPAddress]:
    """The addresses in none of `networks` (link-local IPv6 is on every link)."""
    return [
        a
        for a in addresses
        if not (a.version == 6 and a.is_link_local)
        and not any(a in n for n in networks if n.version == a.version)
    ]


@dataclass(frozen=True)
class Inventory:
    source: str
    connections: tuple[Connection, ...]
    vms: tuple[VmEntry, ...]
    firewall: FirewallSettings = field(default_factory=FirewallSettings)
    gate: GateSettings = field(default_factory=GateSettings)

    def connection(self, name: str) -> Connection:
        return next(c for c in self.connections if c.name == name)

    def entry_for(self, vm_name: str) -> VmEntry | None:
        """The entry a VM follows: an exact name wins over globs, then file order."""
        for entry in self.vms:
            if not entry.is_glob and entry.pattern == vm_name:
                return entry
        return next((e for e in self.vms if e.matches(vm_name)), None)

    def entry_on(self, connection: str, vm_name: str) -> VmEntry | None:
        """The entry a VM listed by `connection` follows, or None (unmanaged): the one
        answer plan/apply (drivers.session), the audit and watch share. The VM's entry
        must name this connection: a same-named VM elsewhere is not the one it means."""
        entry = self.entry_for(vm_name)
        return entry if entry is not None and entry.connection == connection else None

    def absent(self, connection: str, names: Iterable[str]) -> tuple[VmEntry, ...]:
        """The exactly named entries of `connection` whose VM is not among `names`."""
        known = set(names)
        return tuple(
            e for e in self.vms if e.connection == connection and not e.is_glob and e.pattern not in known
        )

    @property
    def asks_for_firewall(self) -> bool:
        """A host firewall is asked for by vm_interfaces, or by a VM given an address to
        filter (its interfaces then follow from the connections' host_only networks, as
        for `vmguard firewall`): the one answer the audit and `apply` share."""
        return bool(self.firewall.vm_interfaces) or any(e.addresses for e in self.vms)

    @property
    def policies(self) -> tuple[Policy, ...]:
        seen: dict[str, Policy] = {}
        for entry in self.vms:
            seen.setdefault(entry.policy.source, entry.policy)
        return tuple(seen.values())


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the closest of `names`, or "": a misspelt VM name."""
    near = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def not_found(entry: VmEntry, names: Iterable[str], *, located: bool = False) -> str:
    """Why an inventory entry's VM was not covered: not defined on its connection.
    located: the caller prints the entry's file:line:col already."""
    where = f" (inventory {entry.origin})" if entry.origin and not located else ""
    return (
        f"VM '{entry.pattern}'{where} is not defined on connection {entry.connection}"
        f"{did_you_mean(entry.pattern, names)}"
    )
