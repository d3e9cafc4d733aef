"""One rule, one home: the catalog and the rule functions match one to one, no rule
spells its own id, and the host and inventory rules fire and stay silent like the VM
rules (whose cases are in test_checks_*.py and tests/guest/test_rule_cases.py)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from tests.audit.factory import policy
from vmguard.audit.catalog import load_catalog
from vmguard.checks.inventory import Listing
from vmguard.checks.registry import HOST_AREAS, INVENTORY_AREAS, findings, unit_of, units
from vmguard.core.errors import AuditError
from vmguard.firewall.audit import DriftKind, FirewallAudit, RulesetDrift
from vmguard.inventory.model import Connection, DriverKind, FirewallSettings, Inventory, VmEntry

CHECKS_DIR = Path(__file__).resolve().parents[2] / "vmguard" / "checks"
# Modules of vmguard/checks that hold no rule.
NOT_FAMILIES = {
    "__init__", "common", "registry", "unit", "guest_evidence", "guest_questions", "guest_fix", "guest_sshd_fix",
}  # fmt: skip
FAMILIES = sorted(p.stem for p in CHECKS_DIR.glob("*.py") if p.stem not in NOT_FAMILIES)


def _rule_functions(family: str) -> set[str]:
    module = importlib.import_module(f"vmguard.checks.{family}")
    return {
        f"{family}.{name}"
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }


def test_catalog_and_rule_functions_match_one_to_one() -> None:
    catalog = list(load_catalog())
    named = [rule.check for rule in catalog]
    assert len(set(named)) == len(named), "two catalog entries name one function"
    assert all(unit_of(rule) is not None for rule in catalog)
    assert set(named) == set().union(*map(_rule_functions, FAMILIES))


def test_a_catalog_entry_naming_no_rule_function_is_an_error() -> None:
    """Control: a typo in `check:` is caught, not skipped."""
    rule = dataclasses.replace(load_catalog().get("VMG-DEV-001"), check="devices.clipbaord")
    with pytest.raises(AuditError, match="clipbaord"):
        unit_of(rule)
    private = dataclasses.replace(rule, check="devices._transfer")
    with pytest.raises(AuditError):
        unit_of(private)
    assert unit_of(dataclasses.replace(rule, check="not_in_this_build.x")) is None  # optional family


def _id_literals(source: str) -> list[str]:
    """String constants that look like rule ids, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        if "VMG-" in node.value
    ]


def test_no_rule_spells_its_own_id() -> None:
    spelled = {p.name: _id_literals(p.read_text()) for p in CHECKS_DIR.glob("*.py")}
    assert {name: ids for name, ids in spelled.items() if ids} == {}
    assert _id_literals('"""VMG-DEV-001 in a docstring"""\nx = "VMG-DEV-001"\n') == ["VMG-DEV-001"]  # control


def _audit(*kinds: DriftKind, bridges: tuple[str, ...] = ()) -> FirewallAudit:
    return FirewallAudit("nftables", tuple(RulesetDrift(k, "forward", "detail") for k in kinds), 2, bridges)


CONN = Connection("lab", DriverKind.LIBVIRT, uri="test:///default")
INVENTORY = Inventory(
    "inventory.yaml",
    (CONN,),
    (VmEntry("batch-1", "lab", policy()), VmEntry("gleam-*", "lab", policy())),
)
CLEAN = Listing(connection=CONN, names=("batch-1", "gleam-7"))
SETTINGS = FirewallSettings()
CASES = [
    ("VMG-FW-001", _audit(), _audit(DriftKind.TABLE_MISSING)),
    ("VMG-FW-002", _audit(), _audit(DriftKind.JUMP_MISSING)),
    ("VMG-FW-003", _audit(), _audit(DriftKind.RULE_EXTRA)),
    ("VMG-FW-004", _audit(), _audit(DriftKind.SET_MISSING)),
    ("VMG-FW-005", _audit(), _audit(bridges=("virbr1: net.bridge.bridge-nf-call-iptables is not 1",))),
    ("VMG-INV-001", CLEAN, Listing(connection=CONN, names=("batch-1", "stray"))),
    ("VMG-INV-002", CLEAN, Listing(connection=CONN, names=("gleam-7",))),
]


@pytest.mark.parametrize(("rule", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule: str, good: object, bad: object) -> None:
    host = rule.split("-")[1] in HOST_AREAS
    table = units(HOST_AREAS if host else INVENTORY_AREAS)
    subject_policy = SETTINGS if host else INVENTORY
    assert findings(table, subject_policy, good, "host") == []
    found = findings(table, subject_policy, bad, "host")
    assert [f.rule for f in found] == [rule]
    assert found[0].subject == {"VMG-INV-001": "stray", "VMG-INV-002": "batch-1"}.get(rule, "host")


def test_host_and_inventory_rules_all_have_a_case() -> None:
    ids = {r.id for r in load_catalog() if r.area in HOST_AREAS | INVENTORY_AREAS}
    assert {c[0] for c in CASES} == ids
