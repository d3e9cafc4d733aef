"""The firewall's VM interfaces follow from the inventory's host-only networks (one source).

Each connection's `host_only:` names where its VMs' NICs are; the host side of that
network is what the firewall filters: a bridge or vboxnetN as named, a libvirt network
through its <bridge name=...> (asked from libvirt). An explicit `firewall.vm_interfaces`
is still allowed when it holds every derived interface (it may add more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vmguard.core.errors import InventoryError, Problem
from vmguard.facts.vm import HostOnlyKind
from vmguard.inventory.model import Connection, Inventory

BridgeOf = Callable[[Connection, str], str]  # (connection, libvirt network) -> its bridge


def libvirt_bridge(conn: Connection, network: str) -> str:
    """The bridge of an isolated libvirt network; DriverError when it is not one."""
    from vmguard.drivers.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver(conn.uri or "qemu:///system")
    try:
        return driver.host_only_bridge(network)
    finally:
        driver.close()


def derived_interfaces(inventory: Inventory, bridge_of: BridgeOf) -> tuple[str | None, ...]:
    """The host side of each connection's host-only network; None when vmguard cannot
    know it (a VirtualBox host-only network: the admin names it in vm_interfaces)."""
    out: list[str | None] = []
    for conn in (c for c in inventory.connections if c.host_only is not None):
        kind, name = conn.host_only.kind, conn.host_only.name
        if kind is HostOnlyKind.NETWORK:
            out.append(bridge_of(conn, name))
        else:
            out.append(None if kind is HostOnlyKind.HOSTONLY_NETWORK else name)
    return tuple(dict.fromkeys(out))


def with_vm_interfaces(inventory: Inventory, bridge_of: BridgeOf = libvirt_bridge) -> Inventory:
    """The inventory whose firewall filters its host-only networks: vm_interfaces derived
    when the inventory names none, checked against the derivation when it does."""
    derived = derived_interfaces(inventory, bridge_of)
    explicit = inventory.firewall.vm_interfaces
    if not explicit:
        if None in derived:
            why = "must name the host side of a VirtualBox host-only network"
            raise InventoryError([_problem(inventory, why)])
        named = tuple(i for i in derived if i)
        return replace(inventory, firewall=replace(inventory.firewall, vm_interfaces=named))
    missing = [i for i in derived if i and i not in explicit]
    if missing:
        why = f"lacks {', '.join(missing)}, the host side of a host_only network (or leave it out)"
        raise InventoryError([_problem(inventory, why)])
    return inventory


def _problem(inventory: Inventory, message: str) -> Problem:
    return Problem(inventory.source, 0, 0, "firewall.vm_interfaces", message)
