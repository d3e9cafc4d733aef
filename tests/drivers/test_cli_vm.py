"""`vmguard vms / plan / apply / rollback` end to end on the real qemu:///system daemon
(each command its own connection, as an admin would run them)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.drivers.conftest import forbidden_xml
from vmguard.cli import main
from vmguard.core import eventlog as log
from vmguard.drivers.libvirt.driver import LibvirtDriver

pytestmark = [pytest.mark.root]
POLICIES = Path(__file__).parents[2] / "policy"


@pytest.fixture
def inventory(tmp_path: Path, libvirt_uri: str) -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: cli-test}\n"
        f"connections:\n  - {{name: kvm, driver: libvirt, uri: '{libvirt_uri}', host_only: {{network: vmguard-test-isolated}}}}\n"
        "vms:\n  - {name: 'vmg-test-*', connection: kvm, policy: batch.yaml}\n"
    )
    return path


@pytest.fixture
def exposed(tcg_domain, nat_network):
    return tcg_domain.define(forbidden_xml(tcg_domain, nat_network))


def _xml_hash(libvirt_uri: str, name: str) -> str:
    driver = LibvirtDriver(libvirt_uri)
    try:
        return hashlib.sha256(driver.persistent_xml(name).encode()).hexdigest()
    finally:
        driver.close()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plan_apply_plan_rollback(exposed, inventory, libvirt_uri, log_path, capsys) -> None:
    inv, vm = str(inventory), exposed.name
    code, out, _ = _run(capsys, "plan", "--inventory", inv, "--vm", vm)
    assert code == 1 and f"{vm} (kvm, policy gleam-batch, off)" in out
    assert "clipboard: bidirectional -> disabled" in out and "base.yaml:" in out
    code, out, _ = _run(capsys, "plan", "--inventory", inv, "--vm", vm, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["plans"][0]["changes"] and doc["exit_code"] == 1 and doc["incomplete"] == []

    before = _xml_hash(libvirt_uri, vm)
    code, out, _ = _run(capsys, "apply", "--inventory", inv, "--vm", vm, "--dry-run")
    assert code == 0 and "would change" in out and _xml_hash(libvirt_uri, vm) == before

    code, out, _ = _run(capsys, "apply", "--inventory", inv, "--vm", vm)
    assert code == 0 and "changed" in out and "previous configuration saved" in out
    code, out, _ = _run(capsys, "plan", "--inventory", inv, "--vm", vm)
    assert code == 0 and out.strip().endswith("nothing to change\nfirewall: not configured in the inventory")
    code, out, _ = _run(capsys, "apply", "--inventory", inv, "--vm", vm)
    assert code == 0 and out.strip() == f"{vm}: nothing to do\nfirewall: not configured in the inventory"

    code, out, _ = _run(capsys, "rollback", vm, "--inventory", inv)
    assert code == 0 and _xml_hash(libvirt_uri, vm) == before
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(e["kind"], e["data"].get("status")) for e in events] == [
        ("apply", "applied"),
        ("rollback", None),
    ]
    assert log.verify(log_path) == []


def test_vms_lists_facts(exposed, inventory, capsys) -> None:
    code, out, _ = _run(capsys, "vms", "--inventory", str(inventory))
    line = next(line for line in out.splitlines() if line.startswith(exposed.name))
    assert code == 0 and "nics=nat,user" in line and "clipboard=bidirectional" in line


def test_a_vm_the_inventory_covers_but_the_host_lacks_exits_3(inventory, capsys) -> None:
    code, _, err = _run(capsys, "plan", "--inventory", str(inventory), "--vm", "vmg-test-none")
    # (other tests' domains on the shared daemon may add a did-you-mean)
    assert code == 3 and err.startswith("vmguard: incomplete: no VM named 'vmg-test-none' on connection kvm")


def test_a_vm_the_inventory_does_not_cover_is_bad_input(inventory, capsys) -> None:
    for command in ("plan", "apply"):
        code, _, err = _run(capsys, command, "--inventory", str(inventory), "--vm", "web-01")
        assert code == 2 and "--vm 'web-01': no entry of inventory" in err, err
    code, _, err = _run(capsys, "rollback", "web-01", "--inventory", str(inventory))
    assert code == 2 and "no entry of inventory" in err


def test_running_vm_refused_exit_1(tcg_domain, inventory, log_path, capsys) -> None:
    made = tcg_domain.start(wait_agent=False)
    code, out, _ = _run(capsys, "apply", "--inventory", str(inventory), "--vm", made.name)
    assert code == 1 and "refused" in out and "--power-off-ok" in out


def test_rollback_when_the_hypervisor_is_unreachable(tmp_path, capsys) -> None:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: gone}\n"
        f"connections:\n  - {{name: kvm, driver: libvirt, "
        f"uri: 'qemu+unix:///system?socket={tmp_path}/none.sock'}}\n"
        "vms:\n  - {name: web, connection: kvm, policy: batch.yaml}\n"
    )
    code, _, err = _run(capsys, "rollback", "web", "--inventory", str(inventory))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "cannot reach libvirt" in err
    code, _, err = _run(capsys, "plan", "--inventory", str(inventory))
    assert code == 3 and "connection kvm: cannot reach libvirt" in err
