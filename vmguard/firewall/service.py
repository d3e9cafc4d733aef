"""The firewall operations the CLI and job runners call: plan, apply, show, audit, remove.

Each one: compile (pure) -> read what we own -> compare -> act, and every change is
appended to vmguard's event log.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmguard.core import eventlog as log
from vmguard.firewall import conntrack
from vmguard.firewall.audit import (
    FirewallAudit,
    RulesetDrift,
    compare,
    expected_snapshot,
    unfiltered_bridges,
)
from vmguard.firewall.backends import backend_for
from vmguard.firewall.compile import compile_ruleset
from vmguard.firewall.hostfacts import read_facts
from vmguard.firewall.interface import Backend
from vmguard.firewall.model import Ruleset
from vmguard.inventory.model import Inventory


@dataclass(frozen=True)
class FirewallPlan:
    backend: str
    ruleset: Ruleset
    text: str  # the full ruleset in the backend's syntax
    loaded: bool  # something of ours is live already
    drifts: tuple[RulesetDrift, ...]  # live vs compiled; empty and loaded: nothing to do

    @property
    def up_to_date(self) -> bool:
        return self.loaded and not self.drifts


def _backend(inventory: Inventory, name: str | None) -> Backend:
    backend = backend_for(name or inventory.firewall.backend)
    backend.check()
    return backend


def plan(inventory: Inventory, backend_name: str | None = None) -> FirewallPlan:
    backend = _backend(inventory, backend_name)
    ruleset = compile_ruleset(inventory, read_facts(inventory))
    live = backend.snapshot()
    drifts = compare(expected_snapshot(backend.name, ruleset), live) if live.present else ()
    return FirewallPlan(backend.name, ruleset, backend.render(ruleset), live.present, drifts)


def apply(inventory: Inventory, backend_name: str | None = None) -> FirewallPlan:
    """Make the live firewall equal the compiled one; nothing happens when it already is."""
    result = plan(inventory, backend_name)
    if not result.up_to_date:
        backend_for(result.backend).apply(result.ruleset)
        log.append(
            "firewall",
            action="apply",
            backend=result.backend,
            inventory=inventory.source,
            vms=len(result.ruleset.vms),
            drifts=[str(d) for d in result.drifts],
        )
        _cut(result.ruleset, result.backend)
    return result


def _cut(ruleset: Ruleset, backend: str) -> None:
    """Connections open before a change that no longer allows them are cut."""
    cut = conntrack.cut_revoked(ruleset)
    if cut:
        log.append("firewall", action="cut-connections", backend=backend, connections=cut)


def apply_vm(inventory: Inventory, vm_name: str, backend_name: str | None = None) -> str:
    """Add, replace or remove one VM's rules without reloading the others."""
    backend = _backend(inventory, backend_name)
    ruleset = compile_ruleset(inventory, read_facts(inventory))
    vm = ruleset.vm(vm_name)
    backend.update_vm(ruleset, vm, vm_name)
    _cut(ruleset, backend.name)
    action = "update-vm" if vm is not None else "remove-vm"
    log.append("firewall", action=action, backend=backend.name, vm=vm_name, inventory=inventory.source)
    return action


def audit(inventory: Inventory, backend_name: str | None = None) -> FirewallAudit:
    backend = _backend(inventory, backend_name)
    ruleset = compile_ruleset(inventory, read_facts(inventory))
    drifts = compare(expected_snapshot(backend.name, ruleset), backend.snapshot())
    return FirewallAudit(backend.name, drifts, len(ruleset.vms), unfiltered_bridges(ruleset.vm_interfaces))


def show(inventory: Inventory, backend_name: str | None = None) -> str:
    backend = _backend(inventory, backend_name)
    return backend.show()


def remove(inventory: Inventory, backend_name: str | None = None) -> bool:
    backend = _backend(inventory, backend_name)
    removed = backend.remove()
    log.append("firewall", action="remove", backend=backend.name, removed=removed)
    return removed
