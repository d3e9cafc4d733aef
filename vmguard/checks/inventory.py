"""VMG-INV: the inventory and the hypervisors agree on which VMs there are.

Inventory rules over (Inventory, Listing): what one connection lists. A VM no entry
names is unmanaged; an exactly named entry whose VM the connection lacks is missing.
Each violation names its subject (the VM, or the entry's name).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vmguard.checks.unit import Violation
from vmguard.inventory.model import Connection, Inventory, not_found


@dataclass(frozen=True, kw_only=True)
class Listing:
    """The VMs one connection has (the facts inventory rules judge)."""

    connection: Connection
    names: tuple[str, ...]


def unmanaged(inventory: Inventory, listing: Listing) -> Iterable[Violation]:
    conn = listing.connection
    for name in listing.names:
        if inventory.entry_on(conn.name, name) is None:
            yield Violation(
                subject=name,
                message=f"VM '{name}' on connection {conn.name} is in no inventory entry",
                evidence=f"connection {conn.name} ({conn.uri or conn.path or conn.driver.value})",
                wanted="every VM named by an inventory entry",
            )


def missing(inventory: Inventory, listing: Listing) -> Iterable[Violation]:
    for entry in inventory.absent(listing.connection.name, listing.names):
        yield Violation(
            subject=entry.pattern,
            message=not_found(entry, listing.names),
            evidence=entry.origin or f"inventory entry {entry.pattern}",
            wanted="the VM exists, or the entry is removed",
        )
