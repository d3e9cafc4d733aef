"""The gate's settings: per role in the policy (block_at, on_drift), host-wide in the
inventory (unmanaged, on_error, timeout); mistakes are located like every other one."""

from __future__ import annotations

import yaml

from tests.policy.helpers import check, errors, located
from vmguard.core.findings import Level
from vmguard.inventory.loader import check_inventory
from vmguard.inventory.model import GateSettings, OnError, Unmanaged
from vmguard.policy.dump import to_data
from vmguard.policy.model import DriftAction

INVENTORY = """apiVersion: vmguard/v1
kind: Inventory
connections:
  - {name: kvm, driver: libvirt, uri: 'test:///default'}
vms:
  - {name: a, connection: kvm, policy: p.yaml}
"""


def test_defaults_are_the_strict_ones(tmp_path):
    policy = check(tmp_path, "spec: {}\n").policy
    assert policy.enforcement.block_at is Level.HIGH
    assert policy.enforcement.on_drift is DriftAction.REAPPLY
    assert GateSettings() == GateSettings(Unmanaged.REFUSE, OnError.FAIL_CLOSED, 10.0)


def test_policy_settings_load_and_dump_back(tmp_path):
    checked = check(tmp_path, "spec:\n  enforcement: {block_at: medium, on_drift: pause}\n")
    assert checked.policy.enforcement.block_at is Level.MEDIUM
    assert checked.policy.enforcement.on_drift is DriftAction.PAUSE
    again = check(tmp_path, yaml.safe_dump(to_data(checked.policy)), head=False).policy
    assert again.enforcement == checked.policy.enforcement


def test_policy_mistakes_are_located(tmp_path):
    body = "spec:\n  enforcement: {block_at: severe, on_drift: kill, when: now}\n"
    checked = check(tmp_path, body)
    text = (tmp_path / "p.yaml").read_text()
    found = {p.where: located(p, text) for p in checked.errors}
    assert found["spec.enforcement.block_at"].startswith("severe")
    assert found["spec.enforcement.on_drift"].startswith("kill")
    assert any("when" in e for e in errors(checked))


def test_inventory_gate_settings(tmp_path):
    (tmp_path / "p.yaml").write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n")
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY + "gate: {unmanaged: allow, on_error: fail-open, timeout: 500ms}\n")
    inv = check_inventory(path).inventory
    assert inv.gate == GateSettings(Unmanaged.ALLOW, OnError.FAIL_OPEN, 0.5)
    path.write_text(INVENTORY + "gate: {unmanaged: maybe, on_error: fail-soft, timeout: 90s}\n")
    problems = check_inventory(path).errors
    text = path.read_text()
    found = {p.where: (p.line, located(p, text)) for p in problems}
    assert found["gate.unmanaged"] == (7, "maybe, on_error: fail-soft, timeout: 90s}")
    assert found["gate.on_error"][1].startswith("fail-soft")
    assert found["gate.timeout"][1].startswith("90s")
