"""Waivers are checked at load time against this catalog and the inventory."""

from __future__ import annotations

import pytest

from vmguard.audit.catalog import rule_ids
from vmguard.core.errors import InputError
from vmguard.inventory.loader import load_inventory


def add_waiver(lab, rule: str, vm: str) -> None:
    text = lab.policy.read_text()
    waiver = (
        f'  waivers:\n    - {{rule: {rule}, vm: "{vm}", justification: sound card for a driver test, owner: alice,'
        " expires: 2030-01-01}\n"
    )
    lab.policy.write_text(text + waiver)


def test_known_rule_and_vm_load(lab):
    add_waiver(lab, "VMG-DEV-005", "vm2")
    (entry,) = [e for e in load_inventory(lab.inventory, rule_ids()).vms if e.pattern == "vm2"]
    assert entry.policy.waivers[0].rule == "VMG-DEV-005"


def test_unknown_rule_is_an_input_error(lab):
    add_waiver(lab, "VMG-DEV-999", "vm2")
    with pytest.raises(InputError, match="unknown rule 'VMG-DEV-999'"):
        load_inventory(lab.inventory, rule_ids())


def test_unknown_vm_is_an_input_error(lab):
    add_waiver(lab, "VMG-DEV-005", "nosuchvm")
    with pytest.raises(InputError, match="nosuchvm"):
        load_inventory(lab.inventory, rule_ids())


def test_without_known_ids_waiver_rules_go_unchecked(lab):
    """The policy layer never reads the audit's catalog itself: the caller passes the ids."""
    add_waiver(lab, "VMG-DEV-999", "vm2")
    (entry,) = [e for e in load_inventory(lab.inventory).vms if e.pattern == "vm2"]
    assert entry.policy.waivers[0].rule == "VMG-DEV-999"
