"""The host section of an audit: the firewall, when the inventory configures one.

vmguard.firewall.service.audit(inventory) compares the live ruleset with the compiled one
(read-only) and returns a FirewallAudit; the catalog's host rules (VMG-FW, in
vmguard.checks.firewall, owned by the firewall area) turn it into findings.
Whatever prevents that audit is stated plainly in the report, never a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from vmguard.audit.result import HostReport, Outcome
from vmguard.checks.registry import HOST_AREAS, findings, units
from vmguard.core.errors import VmguardError
from vmguard.core.findings import Finding
from vmguard.inventory.model import Inventory

ToOutcomes = Callable[[Iterable[Finding]], tuple[Outcome, ...]]


def _not_audited(why: str, asked: bool = True) -> HostReport:
    """asked: the inventory configures a firewall, so not auditing it leaves the run incomplete."""
    note = f"firewall not audited: {why}"
    return HostReport(False, note, error=note if asked else "")


def audit_host(inventory: Inventory, to_outcomes: ToOutcomes) -> HostReport:
    if not inventory.asks_for_firewall:  # a lab with neither has no host firewall to audit
        why = "the inventory configures no firewall (firewall.vm_interfaces, or a VM with an address)"
        return _not_audited(why, asked=False)
    if os.geteuid() != 0:
        return _not_audited("reading the host firewall needs root")
    rules = units(HOST_AREAS)
    if not rules:
        return _not_audited("this build has no firewall checks")
    from vmguard.firewall import service
    from vmguard.firewall.interfaces import with_vm_interfaces

    try:
        inventory = with_vm_interfaces(inventory)
        state = service.audit(inventory)
    except VmguardError as err:
        return _not_audited(str(err))
    found = findings(rules, inventory.firewall, state, "host")
    backend = inventory.firewall.backend.value
    unseen = "; ".join(state.unseen)  # a VM's port not learned: the run is incomplete
    return HostReport(
        True, f"{backend} firewall audited", to_outcomes(found), error=unseen, checked=tuple(rules)
    )
