"""The guest rules reach the audit: registered in its check table, each in the catalog."""

from __future__ import annotations

from vmguard.audit.catalog import load_catalog
from vmguard.audit.checks import vm_checks
from vmguard.audit.checks.guest import CHECKS


def test_guest_checks_are_in_the_audit_table():
    table = vm_checks()
    assert {rule: table[rule] for rule in CHECKS} == CHECKS


def test_every_guest_rule_has_a_catalog_entry_and_vice_versa():
    catalog = load_catalog()
    ours = {r.id for r in catalog if r.id.startswith(("VMG-USR-", "VMG-SW-"))}
    assert ours == set(CHECKS)
