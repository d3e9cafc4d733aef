"""Walk an inventory's VMs through their drivers: one open driver per connection.

A connection that cannot be opened does not stop the others; its error is kept and
reported, so one dead hypervisor does not hide the state of the rest. A VM the inventory
names and its connection does not have is an error too: nothing asked for goes unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from vmguard.core.errors import DriverError, Problem, Severity, UsageError
from vmguard.drivers.interface import Driver
from vmguard.drivers.registry import open_driver
from vmguard.inventory.model import Connection, Inventory, VmEntry, did_you_mean, not_found

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

    def check_only(self, only: str | None) -> None:
        """--vm NAME must name a VM the inventory covers (exact or glob): else bad input."""
        if only is not None and self.inventory.entry_for(only) is None:
            names = [e.pattern for e in self.inventory.vms if not e.is_glob]
            raise UsageError(
                f"--vm {only!r}: no entry of inventory {self.inventory.source} names it"
                f"{did_you_mean(only, names)}"
            )

    def targets(self, only: str | None = None, *, unmanaged: bool = False) -> Iterator[Target]:
        """Every VM an inventory entry matches (`unmanaged`: every VM on the hosts).

        An exactly named VM its connection does not have is kept as an error (with the
        closest name the hypervisor has), so the run ends incomplete (exit 3)."""
        self.check_only(only)
        entry = self.inventory.entry_for(only) if only else None
        for conn in self._used() if entry is None else [self.inventory.connection(entry.connection)]:
            driver = self._driver(conn)
            names = [] if driver is None else self._list(conn, driver)
            for vm in names:
                entry = self.inventory.entry_on(conn.name, vm)
                if (only is None or vm == only) and (entry is not None or unmanaged):
                    yield Target(conn, driver, vm, entry)
            if driver is not None:
                self._missing(conn, names, only)

    def _list(self, conn: Connection, driver: Driver) -> list[str]:
        try:
            return driver.list_vms()
        except DriverError as err:
            self.errors.append(DriverError(f"connection {conn.name}: {err}"))
            return []

    def _missing(self, conn: Connection, names: list[str], only: str | None) -> None:
        absent = self.inventory.absent(conn.name, names)
        for entry in absent:
            if only is None or entry.pattern == only:
                self.errors.append(DriverError(not_found(entry, names)))
        entry = self.inventory.entry_for(only) if only else None
        if entry and entry.is_glob and entry.connection == conn.name and only not in names:
            self.errors.append(
                DriverError(f"no VM named {only!r} on connection {conn.name}{did_you_mean(only, names)}")
            )

    def listings(self) -> dict[str, list[str]]:
        """The VM names of each connection the inventory uses; one that cannot be
        opened or listed is left out, its error kept."""
        found = {}
        for conn in self._used():
            driver = self._driver(conn)
            errors = len(self.errors)
            names = [] if driver is None else self._list(conn, driver)
            if driver is not None and len(self.errors) == errors:
                found[conn.name] = names
        return found

    def absent_problems(self) -> list[Problem]:
        """Each exactly named VM its (reachable) connection does not have, located at its
        inventory entry, with the closest name the hypervisor has."""
        problems = []
        for conn, names in self.listings().items():
            for entry in self.inventory.absent(conn, names):
                problems.append(_at(entry, not_found(entry, names, located=True)))
            for entry in (e for e in self.inventory.vms if e.is_glob and e.connection == conn):
                if not any(entry.matches(n) for n in names):  # a typo, or no such VM yet
                    why = f"'{entry.pattern}' matches no VM on connection {conn}"
                    problems.append(_at(entry, why, Severity.WARNING))
        return problems

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


def _at(entry: VmEntry, message: str, severity: Severity = Severity.ERROR) -> Problem:
    """A problem located at the entry's position in the inventory file."""
    file, line, col = (entry.origin or "::0:0").rsplit(":", 2)
    return Problem(file, int(line), int(col), "name", message, severity)
