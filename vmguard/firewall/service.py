"""The firewall operations the CLI and job runners call: plan, apply, show, audit, remove.

Each one: compile (pure) -> read what we own -> compare -> act, and every change is
appended to vmguard's event log.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmguard.core import eventlog as log
from vmguard.core.errors import UsageError
from vmguard.firewall import conntrack, state
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
from vmguard.firewall.interface import Backend, RulesetSnapshot
from vmguard.firewall.model import Ruleset
from vmguard.inventory.model import Inventory, did_you_mean


@dataclass(frozen=True)
class FirewallPlan:
    backend: str
    ruleset: Ruleset
    text: str  # the full ruleset in the backend's syntax
    loaded: bool  # something of ours is live already
    drifts: tuple[RulesetDrift, ...]  # live vs compiled; empty and loaded: nothing to do
    unseen: tuple[str, ...] = ()  # what could not be learned from the hypervisors: incomplete

    @property
    def up_to_date(self) -> bool:
        return self.loaded and not self.drifts


@dataclass(frozen=True)
class LiveRules:
    """`firewall show`: what of vmguard's is loaded, in the backend's own syntax."""

    backend: str
    loaded: bool
    text: str


@dataclass(frozen=True)
class Removal:
    backend: str
    removed: bool  # False: nothing of vmguard's was loaded


def chosen_backend(inventory: Inventory, name: str | None) -> str:
    """The backend a command uses: --backend, else the inventory's firewall.backend."""
    return name or inventory.firewall.backend


def _backend(inventory: Inventory, name: str | None) -> Backend:
    backend = backend_for(chosen_backend(inventory, name))
    backend.check()
    return backend


def plan(inventory: Inventory, backend_name: str | None = None) -> FirewallPlan:
    backend = _backend(inventory, backend_name)
    facts = read_facts(inventory)
    ruleset = compile_ruleset(inventory, facts)
    live = backend.snapshot()
    drifts = compare(expected_snapshot(backend.name, ruleset), live) if live.present else ()
    return FirewallPlan(backend.name, ruleset, backend.render(ruleset), live.present, drifts, facts.unseen)


def apply(
    inventory: Inventory,
    backend_name: str | None = None,
    *,
    events: log.EventLog,
    planned: FirewallPlan | None = None,
) -> FirewallPlan:
    """Make the live firewall equal the compiled one; nothing happens when it already is.
    planned: the plan the caller just made (not made again). The change is logged to `events`."""
    result = planned or plan(inventory, backend_name)
    if not result.up_to_date:
        backend_for(result.backend).apply(result.ruleset)
        events.append(
            "firewall",
            action="apply",
            backend=result.backend,
            inventory=inventory.source,
            vms=len(result.ruleset.vms),
            drifts=[str(d) for d in result.drifts],
        )
        _cut(result.ruleset, result.backend, events)
    return result


def _cut(ruleset: Ruleset, backend: str, events: log.EventLog) -> None:
    """Connections open before a change that no longer allows them are cut."""
    cut = conntrack.cut_revoked(ruleset)
    if cut:
        events.append("firewall", action="cut-connections", backend=backend, connections=cut)


def apply_vm(
    inventory: Inventory,
    vm_name: str,
    backend_name: str | None = None,
    *,
    vm_ports: tuple[tuple[str, str], ...] | None = None,
    running: bool = True,
    events: log.EventLog,
) -> str:
    """Add, replace or remove one VM's rules without reloading the others.
    vm_ports: (VM, port) when the caller knows them (the libvirt hook, which must not ask
    libvirt); running=False removes the VM's rules (the VM stopped)."""
    backend = _backend(inventory, backend_name)
    ruleset = compile_ruleset(inventory, read_facts(inventory, vm_ports))
    vm = ruleset.vm(vm_name) if running else None
    if vm is None:
        _require_known(inventory, backend.name, vm_name)
    backend.update_vm(ruleset, vm, vm_name)
    _cut(ruleset, backend.name, events)
    action = "update-vm" if vm is not None else "remove-vm"
    events.append("firewall", action=action, backend=backend.name, vm=vm_name, inventory=inventory.source)
    return action


def _require_known(inventory: Inventory, backend: str, name: str) -> None:
    """A name neither the inventory nor the loaded rules know is a typo, not a removal:
    removing nothing and exiting 0 would tell the admin the VM is covered."""
    names = [e.pattern for e in inventory.vms]
    try:
        loaded = state.lookup(backend, name) is not None
    except state.NoRecord:
        loaded = False
    if name not in names and not loaded:
        raise UsageError(
            f"no VM {name!r} in {inventory.source} nor in the loaded rules{did_you_mean(name, names)}; "
            "a VM gone from the inventory on a backend without a record is dropped by a full "
            "`vmguard firewall apply`"
        )


def audit(inventory: Inventory, backend_name: str | None = None) -> FirewallAudit:
    backend = _backend(inventory, backend_name)
    facts = read_facts(inventory)
    ruleset = compile_ruleset(inventory, facts)
    drifts = compare(expected_snapshot(backend.name, ruleset), backend.snapshot())
    bridges = unfiltered_bridges(ruleset.vm_interfaces)
    return FirewallAudit(backend.name, drifts, len(ruleset.vms), bridges, facts.unseen)


def show(inventory: Inventory, backend_name: str | None = None) -> LiveRules:
    backend = _backend(inventory, backend_name)
    return LiveRules(backend.name, backend.snapshot().present, backend.show())


def snapshot(inventory: Inventory, backend_name: str | None = None) -> RulesetSnapshot:
    """What of vmguard's is live, normalized (handles and counters left out)."""
    return _backend(inventory, backend_name).snapshot()


def restore(
    inventory: Inventory, backend_name: str, text: str, *, check: bool = False, events: log.EventLog
) -> None:
    """Put back a listing `show` made (check: only try it, nothing changes)."""
    _backend(inventory, backend_name).restore(text, check=check)
    if not check:
        events.append("firewall", action="restore", backend=backend_name, inventory=inventory.source)


def remove(inventory: Inventory, backend_name: str | None = None, *, events: log.EventLog) -> Removal:
    backend = _backend(inventory, backend_name)
    removed = backend.remove()
    events.append("firewall", action="remove", backend=backend.name, removed=removed)
    return Removal(backend.name, removed)
