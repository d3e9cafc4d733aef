"""What the host says live, for the firewall: where each VM's frames enter (the bridge
table binds VMs to it) and which networks the VM interfaces are on.

- Each addressed VM's bridge port: the inventory's `interface` when given, else learned
  from the hypervisor (libvirt's <target dev=...> of the NIC with the VM's MAC, while
  the VM runs). A VM whose port cannot be learned gets none: the strict default.
- Every port of the VM bridges, read from sysfs in this network namespace.
- The networks of the VM interfaces' own addresses (`ip -j addr`), which VM addresses
  must lie in unless the inventory declares firewall.vm_networks.

compile.py stays pure: the service reads these facts and hands them to it.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.errors import FirewallError, VmguardError
from vmguard.inventory.model import Connection, DriverKind, Inventory, IPNetwork, VmEntry

SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class HostFacts:
    bridge_ports: tuple[str, ...] = ()  # every port of the VM bridges
    vm_ports: tuple[tuple[str, str], ...] = ()  # (VM name, port) learned from hypervisors
    networks: tuple[IPNetwork, ...] | None = None  # of the VM interfaces; None: not read
    unseen: tuple[str, ...] = ()  # addressed VMs whose port could not be learned, and why

    def port_of(self, entry: VmEntry) -> str:
        return entry.interface or dict(self.vm_ports).get(entry.pattern, "")


def bridge_ports(interfaces: tuple[str, ...]) -> tuple[str, ...]:
    ports = (
        p.name
        for i in interfaces
        if (SYS_NET / i / "brif").is_dir()
        for p in (SYS_NET / i / "brif").iterdir()
    )
    return tuple(sorted(set(ports)))


def _learned(inventory: Inventory) -> tuple[list[tuple[str, str]], list[str]]:
    """(VM, port) for each addressed VM whose port libvirt names, and why the others'
    could not be learned (a stopped VM has no port and is not unseen)."""
    wanted = [e for e in inventory.vms if e.addresses and not e.interface and e.mac]
    ports: list[tuple[str, str]] = []
    unseen: list[str] = []
    for conn in sorted({e.connection for e in wanted}):
        connection = inventory.connection(conn)
        if connection.driver is not DriverKind.LIBVIRT:
            continue  # VirtualBox NICs have no per-VM host device to bind to
        found, missed = _libvirt_ports(connection, [e for e in wanted if e.connection == conn])
        ports += found
        unseen += missed
    return ports, unseen


def _libvirt_ports(connection: Connection, entries: list[VmEntry]) -> tuple[list[tuple[str, str]], list[str]]:
    from vmguard.drivers.registry import open_driver

    dropped = "its bridge port is not known, so its frames are dropped"
    try:
        driver = open_driver(connection)
    except VmguardError as err:
        return [], [f"VM {e.pattern}: connection {connection.name}: {err}; {dropped}" for e in entries]
    ports, unseen = [], []
    try:
        for entry in entries:
            try:
                nics = driver.read_facts(entry.pattern).nics
            except VmguardError as err:
                unseen.append(f"VM {entry.pattern}: {err}; {dropped}")
                continue
            port = next((n.port for n in nics if n.mac.lower() == entry.mac and n.port), "")
            if port:
                ports.append((entry.pattern, port))
    finally:
        driver.close()
    return ports, unseen


def interface_networks(interfaces: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """The networks of the interfaces' addresses (link-local ones left out)."""
    ip = shutil.which("ip")
    if ip is None:
        raise FirewallError("ip (iproute2) not found: needed to read the VM interfaces' networks")
    nets: list[IPNetwork] = []
    for iface in interfaces:
        proc = subprocess.run(
            [ip, "-j", "addr", "show", "dev", iface], capture_output=True, text=True, timeout=30, check=False
        )
        for link in json.loads(proc.stdout or "[]") if proc.returncode == 0 else []:
            nets += [
                ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
                for a in link.get("addr_info", [])
                if a.get("scope") != "link"
            ]
    return tuple(dict.fromkeys(nets))


def read_facts(inventory: Inventory, vm_ports: tuple[tuple[str, str], ...] | None = None) -> HostFacts:
    """vm_ports: given by a caller that knows them (a libvirt hook), else learned."""
    ifaces = inventory.firewall.vm_interfaces
    networks = None if inventory.firewall.vm_networks else interface_networks(ifaces)
    learned, unseen = _learned(inventory) if vm_ports is None else (list(vm_ports), [])
    return HostFacts(bridge_ports(ifaces), tuple(learned), networks, tuple(unseen))
