"""A misspelt VM name in the inventory: every command says so, with the hypervisor's
closest name, and none exits 0 (libvirt's test:///default driver has one VM, 'test')."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vmguard.cli import main

POLICIES = Path(__file__).parents[2] / "policy"
HINT = "VM 'tset' is not defined on connection t (did you mean 'test'?)"
TAIL = "is not defined on connection t (did you mean 'test'?)"  # unlocated lines name the entry


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch) -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\n"
        "connections: [{name: t, driver: libvirt, uri: 'test:///default', host_only: {network: default}}]\n"
        "vms:\n  - {name: tset, connection: t, policy: batch.yaml}\n"
    )
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inventory_check_locates_the_entry_and_suggests(inventory, capsys) -> None:
    code, _, err = _run(capsys, "inventory", "check", str(inventory))
    assert code == 2 and err.strip() == f"{inventory}:5:5: name: {HINT}"
    code, out, _ = _run(capsys, "inventory", "check", str(inventory), "--format", "json")
    doc = json.loads(out)
    assert code == 2 and not doc["ok"] and doc["problems"][0]["message"] == HINT


def test_inventory_check_offline_says_the_names_went_unchecked(inventory, capsys) -> None:
    code, out, _ = _run(capsys, "inventory", "check", "--offline", str(inventory))
    assert code == 0 and "VM names not checked against the hypervisors (--offline)" in out


def test_plan_apply_and_dry_run_are_incomplete(inventory, capsys) -> None:
    for argv in (["plan"], ["apply"], ["apply", "--dry-run"], ["vms"]):
        code, _, err = _run(capsys, *argv, "--inventory", str(inventory))
        assert code == 3 and TAIL in err and "inv.yaml:5:5" in err, (argv, err)
    code, out, _ = _run(capsys, "plan", "--inventory", str(inventory), "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["exit_code"] == 3 and TAIL in doc["incomplete"][0] and doc["plans"] == []


def test_audit_reports_it_and_exits_3_whatever_fail_on(inventory, tmp_path, capsys) -> None:
    code, _, err = _run(
        capsys,
        "audit",
        "--inventory",
        str(inventory),
        "--out",
        str(tmp_path / "r"),
        "--fail-on",
        "critical",
        "--guest",
        "off",
    )
    assert code == 3 and TAIL in err
    report = json.loads((tmp_path / "r/latest/report.json").read_text())
    [vm] = [v for v in report["vms"] if v["name"] == "tset"]
    assert TAIL in vm["error"] and [f["rule"] for f in vm["findings"]] == ["VMG-INV-002"]
    assert report["summary"]["exit_code"] == 3


def test_control_the_right_name_is_complete(inventory, capsys) -> None:
    inventory.write_text(inventory.read_text().replace("tset", "test"))
    assert _run(capsys, "inventory", "check", str(inventory))[0] == 0
    assert _run(capsys, "plan", "--inventory", str(inventory))[0] in (0, 1, 4)


def test_a_glob_that_matches_nothing_is_a_warning(inventory, capsys) -> None:
    inventory.write_text(inventory.read_text().replace("tset", "'tset-*'"))
    code, _, err = _run(capsys, "inventory", "check", str(inventory))
    assert code == 0 and "warning: name: 'tset-*' matches no VM on connection t" in err
