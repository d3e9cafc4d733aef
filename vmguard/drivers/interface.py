"""The Driver protocol every hypervisor backend implements.

Callers (plan/apply, audit, guest inspection) only ever see this interface:
`open_driver(connection)` (vmguard.drivers.registry) -> list_vms / read_facts / apply /
backup / restore.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from vmguard.enforce.plan import Capabilities, Change, Plan
from vmguard.facts.vm import HostOnly, VmFacts
from vmguard.inventory.model import DriverKind


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
