"""The guest rules reach the audit: registered in its check table, each in the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vmguard.audit.catalog import load_catalog
from vmguard.checks.registry import vm_checks

CHECKS = vm_checks("guest")


def test_guest_checks_are_in_the_audit_table():
    assert set(CHECKS) <= set(vm_checks())


def test_every_guest_rule_has_a_catalog_entry_and_vice_versa():
    catalog = load_catalog()
    ours = {r.id for r in catalog if r.id.startswith(("VMG-USR-", "VMG-SW-"))}
    assert ours == set(CHECKS)


# Which test makes each rule of the catalog fire and stay silent, on facts the test
# builds (CASES tests: a compliant and a violating case per rule id). A rule nobody can
# trigger is dead weight that looks like coverage: a new rule needs its line here.
COVERED_BY = {
    **{
        f"VMG-DEV-{n:03}": f"tests/audit/test_checks_devices.py::test_rule_passes_and_fails[VMG-DEV-{n:03}]"
        for n in range(1, 17)
    },
    **{
        f"VMG-FS-{n:03}": f"tests/audit/test_checks_shares.py::test_rule_passes_and_fails[VMG-FS-{n:03}]"
        for n in range(1, 6)
    },
    **{
        f"VMG-NET-{n:03}": f"tests/audit/test_checks_network.py::test_rule_passes_and_fails[VMG-NET-{n:03}]"
        for n in range(1, 9)
    },
    **{
        f"VMG-VET-{n:03}": f"tests/audit/test_checks_quarantine.py::test_rule_passes_and_fails[VMG-VET-{n:03}]"
        for n in range(1, 6)
    },
    **{
        rule: f"tests/audit/test_rule_units.py::test_rule_passes_and_fails[{rule}]"
        for rule in [f"VMG-FW-{n:03}" for n in range(1, 6)] + ["VMG-INV-001", "VMG-INV-002"]
    },
    **{
        rule: f"tests/guest/test_rule_cases.py::test_rule_passes_and_fails[{rule}]"
        for rule in [f"VMG-USR-{n:03}" for n in range(1, 16)] + [f"VMG-SW-{n:03}" for n in range(1, 9)]
    },
}
# Tests that name what they trigger by another word than the rule id (none today: every
# rule has a CASES line, parametrized by its id).
NAMED_AS: dict[str, str] = {}
ROOT = Path(__file__).resolve().parents[2]


def _test_source(node: str) -> tuple[str, str]:
    """(the test function's source with its decorators, its module's source)."""
    path, _, name = node.partition("::")
    module = (ROOT / path).read_text()
    for item in ast.parse(module).body:
        if isinstance(item, ast.FunctionDef) and item.name == name.split("[")[0]:
            decorators = "".join(ast.get_source_segment(module, d) or "" for d in item.decorator_list)
            return decorators + (ast.get_source_segment(module, item) or ""), module
    raise AssertionError(f"{node}: no such test")


def test_every_rule_of_the_catalog_is_triggered_by_a_named_test():
    catalog = {r.id for r in load_catalog()}
    uncovered = sorted(catalog - set(COVERED_BY))
    assert not uncovered, f"rules no test triggers (dead rules, or add their test to COVERED_BY): {uncovered}"
    assert not set(COVERED_BY) - catalog, "COVERED_BY names rules the catalog no longer has"
    for rule, node in COVERED_BY.items():
        function, module = _test_source(node)
        name = NAMED_AS.get(rule, rule)
        if node.endswith(f"[{rule}]"):  # a CASES test, parametrized by rule id
            assert "CASES" in function and name in module, node
        else:
            assert name in function or name in module, f"{node} does not mention {name}"


def test_a_rule_without_a_test_is_caught(monkeypatch):
    """Control: drop one entry and the coverage test fails, naming the rule."""
    monkeypatch.delitem(COVERED_BY, "VMG-USR-013")
    with pytest.raises(AssertionError, match="VMG-USR-013"):
        test_every_rule_of_the_catalog_is_triggered_by_a_named_test()


# The SSG rules issue #22 names: each must be a reference of some vmguard rule.
ISSUE_SSG_RULES = (
    "sshd_disable_empty_passwords",
    "sshd_disable_x11_forwarding",
    "sshd_disable_tcp_forwarding",
    "sshd_do_not_permit_user_env",
    "file_permissions_etc_shadow",
    "no_empty_passwords",
    "no_netrc_files",
    "sudo_remove_nopasswd",
    "file_permissions_unauthorized_world_writable",
    "file_permissions_unauthorized_suid",
)


def test_issue_ssg_rules_are_referenced():
    titles = {ref.title for rule in load_catalog() for ref in rule.references}
    missing = [i for i in ISSUE_SSG_RULES if f"SCAP Security Guide rule {i}" not in titles]
    assert not missing


def test_readme_guest_table_lists_every_guest_rule():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### What the guest audit checks", 1)[1].split("\n\n", 3)[2]
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| VMG-")}
    assert rows == set(CHECKS)
