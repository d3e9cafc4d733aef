"""Which driver serves an inventory connection: the one factory that opens drivers.

Kept apart from the Driver protocol (drivers.interface) so that the concrete drivers,
which import the protocol's types, never sit in an import circle with their factory.
"""

from __future__ import annotations

from vmguard.core.errors import DriverError
from vmguard.drivers.interface import Driver
from vmguard.inventory.model import Connection, DriverKind


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

        driver = VirtualBoxDriver.connect()
        driver.check_host_only(conn.host_only)
        return driver
    raise DriverError(f"connection {conn.name}: unknown driver {conn.driver}")
