"""Walk an inventory's VMs through their drivers: one open driver per connection.

A connection that cannot be opened does not stop the others; its error is kept and
reported, so one dead hypervisor does not hide the state of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from vmguard.drivers.interface import Driver, open_driver
from vmguard.errors import DriverError
from vmguard.inventory import Connection, Inventory, VmEntry

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    connection: Connection
    driver: Driver
    vm: str
    entry: VmEntry | None  # None: on the host, but no inventory entry names it


@dataclass
class Session:
    inventory: Inventory
    drivers: dict[str, Driver] = field(default_factory=dict)
    errors: list[DriverError] = field(default_factory=list)

    def _used(self) -> list[Connection]:
        names = {e.connection for e in self.inventory.vms}
        return [c for c in self.inventory.connections if c.name in names]

    def _driver(self, conn: Connection) -> Driver | None:
        if conn.name not in self.drivers:
            try:
                self.drivers[conn.name] = open_driver(conn)
            except DriverError as err:
                self.errors.append(DriverError(f"connection {conn.name}: {err}"))
                return None
        return self.drivers[conn.name]

    def targets(self, only: str | None = None, *, unmanaged: bool = False) -> Iterator[Target]:
        """Every VM an inventory entry matches (`unmanaged`: every VM on the hosts)."""
        found = False
        for conn in self._used():
            driver = self._driver(conn)
            for vm in [] if driver is None else driver.list_vms():
                entry = self.inventory.entry_for(vm)
                if entry is not None and entry.connection != conn.name:
                    entry = None  # a same-named VM on another connection
                if (only is None or vm == only) and (entry is not None or unmanaged):
                    found = True
                    yield Target(conn, driver, vm, entry)
        if only is not None and not found and not self.errors:
            raise DriverError(f"no VM named {only!r} on any connection of the inventory")

    def attempt(self, target: Target, fn: Callable[[Target], T]) -> T | None:
        """fn(target), or None with its DriverError kept: one VM that fails (locked, or a
        change its hypervisor refuses) does not stop the others."""
        try:
            return fn(target)
        except DriverError as err:
            self.errors.append(err)
            return None

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()
        self.drivers.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
