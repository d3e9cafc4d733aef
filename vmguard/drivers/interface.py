"""The Driver protocol every hypervisor backend implements, and the registry that opens one.

Callers (plan/apply, audit, guest inspection) only ever see this interface:
`open_driver(connection)` -> list_vms / read_facts / apply / backup / restore.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from vmguard.core.errors import DriverError
from vmguard.enforce.plan import Capabilities, Change, Plan
from vmguard.facts.vm import HostOnly, VmFacts
from vmguard.inventory.model import Connection, DriverKind


@dataclass(frozen=True)
class ApplyResult:
    vm: str
    applied: tuple[Change, ...] = ()  # in effect now
    next_boot: tuple[Change, ...] = ()  # saved in the configuration, in effect at next boot
    dry_run: bool = False


class Driver(Protocol):
    kind: DriverKind
    capabilities: Capabilities

    def list_vms(self) -> list[str]: ...

    def read_facts(self, name: str) -> VmFacts:
        """Read-only: never changes anything."""
        ...

    def apply(self, name: str, plan: Plan, *, dry_run: bool) -> ApplyResult:
        """Make plan.changes, all or nothing. Dry run: validate only, change nothing."""
        ...

    def backup(self, name: str) -> bytes:
        """The VM's configuration as it is now, in a form `restore` takes back."""
        ...

    def restore(self, name: str, config: bytes) -> None: ...

    def power_off(self, name: str, *, hard: bool = False) -> None:
        """Shut a running VM down (hard: at once, as pulling the plug)."""
        ...

    def pause(self, name: str) -> None:
        """Suspend a running VM's CPUs; its memory and configuration stay."""
        ...

    def start(self, name: str) -> None: ...

    def close(self) -> None: ...


def facts_of(driver: Driver, vm: str, host_only: HostOnly | None) -> VmFacts:
    """A VM's facts with its connection's host-only network: what plan, apply, audit and
    watch all compare NICs against."""
    return replace(driver.read_facts(vm), host_only=host_only)


def open_driver(conn: Connection) -> Driver:
    """The driver for one inventory connection; DriverError if it cannot be opened.

    Imports are local so a host without libvirt or VirtualBox can still use the others.
    """
    if conn.driver is DriverKind.LIBVIRT:
        from vmguard.drivers.libvirt.driver import LibvirtDriver

        return LibvirtDriver(conn.uri or "qemu:///system")
    if conn.driver is DriverKind.VBOX_FILE:
        from vmguard.drivers.vbox.file import VboxFileDriver

        return VboxFileDriver(conn.path)
    if conn.driver is DriverKind.VIRTUALBOX:
        from vmguard.drivers.vbox.driver import VirtualBoxDriver

        return VirtualBoxDriver.connect()
    raise DriverError(f"connection {conn.name}: unknown driver {conn.driver}")
