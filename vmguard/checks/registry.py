"""From the catalog to the rules' functions, and from their violations to findings.

Each catalog entry (rules/<ID>.yaml) names its rule function: `check: devices.clipboard`
is vmguard.checks.devices.clipboard. That is the only place an id meets its function,
so finding rule X is one step, and a rule never spells its own id: `stamp` adds it.
A rule's area says what it is about, and so what it is called with:

- VM rules (NET, FS, DEV, USR, SW, VET): (Policy, VmFacts)
- host rules (FW): (FirewallSettings, FirewallAudit)
- inventory rules (INV): (Inventory, Listing)

The guest family (checks.guest*) belongs to the guest-inspection area and may be absent
from a build: its rules are then skipped, as is any rule whose module is missing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vmguard.audit.catalog import Catalog, Rule, load_catalog
from vmguard.checks.unit import Violation, declares_fix
from vmguard.core.errors import AuditError
from vmguard.core.findings import Finding
from vmguard.facts.vm import VmFacts
from vmguard.policy.model import Policy

Unit = Callable[[Any, Any], Iterable[Violation]]
Check = Callable[[Policy, VmFacts], list[Finding]]
HOST_AREAS = frozenset({"FW"})
INVENTORY_AREAS = frozenset({"INV"})
PACKAGE = "vmguard.checks"


def unit_of(rule: Rule) -> Unit | None:
    """The function a catalog entry names; None when its (optional) module is absent."""
    module_name, _, function = rule.check.rpartition(".")
    full = f"{PACKAGE}.{module_name}"
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as err:
        if err.name != full:  # the module exists but one of its imports is missing: a bug
            raise
        return None
    unit = getattr(module, function, None)
    if not callable(unit) or function.startswith("_"):
        raise AuditError(f"{rule.id}: check {rule.check!r} names no rule function in {full}")
    return unit


def fixed_by_apply(rule: Rule) -> bool:
    """Whether `vmguard apply` changes what the rule checks: its function is declared
    `@fixes` (vmguard.checks.unit). Reports and `rules show` say so."""
    return _declares_fix(rule)


@functools.cache  # asked once per finding in a report; the answer never changes
def _declares_fix(rule: Rule) -> bool:
    unit = unit_of(rule)
    return unit is not None and declares_fix(unit)


def units(scope: frozenset[str] | None = None, catalog: Catalog | None = None) -> dict[str, Unit]:
    """Rule id -> function, for the rules of the given areas (None: the VM rules)."""
    catalog = catalog or load_catalog()
    found = {}
    for rule in catalog:
        in_scope = rule.area in scope if scope else rule.area not in HOST_AREAS | INVENTORY_AREAS
        unit = unit_of(rule) if in_scope else None
        if unit is not None:
            found[rule.id] = unit
    return found


def violations(table: dict[str, Unit], policy: Any, facts: Any) -> Iterator[tuple[str, Violation]]:
    """(rule id, violation) for every rule of the table: what the audit reports and, of
    VM rules, what plan takes the fixes from."""
    for rule_id, unit in table.items():
        for violation in unit(policy, facts):
            yield rule_id, violation


def stamp(rule_id: str, subject: str, violation: Violation) -> Finding:
    """The finding a violation makes: the id from the catalog, the subject from the caller
    (the VM, "host") unless the rule named one (inventory rules)."""
    return Finding(
        rule=rule_id,
        subject=violation.subject or subject,
        message=violation.message,
        evidence=violation.evidence,
        wanted=violation.wanted,
    )


def findings(table: dict[str, Unit], policy: Any, facts: Any, subject: str) -> list[Finding]:
    return [stamp(rule_id, subject, v) for rule_id, v in violations(table, policy, facts)]


def vm_checks(family: str | None = None) -> dict[str, Check]:
    """Rule id -> (policy, facts) -> findings, for every VM rule (or one family's, e.g.
    "devices"; "guest" takes guest_sshd and the other guest_* too): a rule run on its
    own, stamped as the audit stamps it."""
    table = units()
    if family:
        table = {k: u for k, u in table.items() if u.__module__.startswith(f"{PACKAGE}.{family}")}
    return {rule_id: _stamped(rule_id, unit) for rule_id, unit in table.items()}


def host_checks() -> dict[str, Callable[[Any, Any], list[Finding]]]:
    """Rule id -> (firewall settings, FirewallAudit) -> findings, for the host rules."""
    return {rule_id: _stamped(rule_id, unit, "host") for rule_id, unit in units(HOST_AREAS).items()}


def _stamped(rule_id: str, unit: Unit, subject: str = "") -> Check:
    def check(policy: Any, facts: Any) -> list[Finding]:
        return [stamp(rule_id, subject or facts.name, v) for v in unit(policy, facts)]

    check.__name__ = unit.__name__
    return check
