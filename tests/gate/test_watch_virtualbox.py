"""`vmguard watch --enforce` on VirtualBox (no start hook there): pyvbox's event source
in the contract-checked fake. A VM started out of policy is paused within a second; a
setting changed on a running VM is re-applied live; without --enforce nothing changes."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from virtualbox import library as lib

from tests.drivers import fake_pyvbox as fake
from tests.gate.lab import wait_for
from vmguard.audit.watch import watch
from vmguard.core.eventlog import EventLog
from vmguard.drivers.vbox.driver import VirtualBoxDriver
from vmguard.inventory.loader import load_inventory

POLICY = """apiVersion: vmguard/v1
kind: Policy
metadata: {{name: vb-{drift}}}
extends: base.yaml
spec:
  network: {{mode: none}}
  enforcement: {{on_drift: {drift}}}
"""
INVENTORY = """apiVersion: vmguard/v1
kind: Inventory
connections:
  - {name: vbox, driver: virtualbox}
vms:
  - {name: vb-pause, connection: vbox, policy: pause.yaml}
  - {name: vb-reapply, connection: vbox, policy: reapply.yaml}
"""
PAUSED, RUNNING = lib.MachineState(6), lib.MachineState(5)


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    from pathlib import Path

    base = Path(__file__).parents[2] / "policy" / "base.yaml"
    (tmp_path / "base.yaml").write_text(base.read_text())
    for drift in ("pause", "reapply"):
        (tmp_path / f"{drift}.yaml").write_text(POLICY.format(drift=drift))
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    vbox = fake.FakeVirtualBox()
    for name in ("vb-pause", "vb-reapply"):
        vbox._add(fake.FakeMachine(name))
    monkeypatch.setattr(
        VirtualBoxDriver, "connect", classmethod(lambda cls: cls(vbox, fake.FakeSession, lib))
    )
    return tmp_path, vbox


@pytest.fixture
def watching(world):
    """watch (with or without --enforce) in a thread, for a few seconds."""
    tmp, vbox = world
    out = io.StringIO()
    runs: list[threading.Thread] = []

    def start(enforce: bool) -> VirtualBoxDriver:
        run = threading.Thread(
            target=watch,
            args=(load_inventory(tmp / "inv.yaml"),),
            kwargs={"duration": 4.0, "out": out, "enforce": enforce, "events": EventLog.from_environment()},
        )
        run.start()
        runs.append(run)
        wait_for(lambda: "watching" in out.getvalue(), timeout=10)
        return VirtualBoxDriver(vbox, fake.FakeSession, lib)  # the admin's own handle

    yield start, vbox, out
    for run in runs:
        run.join(timeout=10)


def _set_clipboard(vbox, name: str, mode: int) -> None:
    """An admin turns the clipboard on (shared lock on a running VM, then save)."""
    session = fake.FakeSession()
    machine = vbox.find_machine(name)
    machine.lock_machine(
        session, lib.LockType.shared if str(machine.state) == "Running" else lib.LockType.write
    )
    session.machine.clipboard_mode = lib.ClipboardMode(mode)
    session.machine.save_settings()
    session.unlock_machine()


def _events(tmp) -> list[dict]:
    path = tmp / "events.jsonl"
    return [json.loads(line)["data"] for line in path.read_text().splitlines() if '"enforce"' in line]


def test_a_vm_started_out_of_policy_is_paused_within_a_second(watching, world):
    start, vbox, out = watching
    _set_clipboard(vbox, "vb-pause", 3)  # off: pause leaves a stopped VM alone
    admin = start(enforce=True)
    admin.start("vb-pause")
    took = wait_for(lambda: vbox.find_machine("vb-pause").state == PAUSED, timeout=5)
    assert took < 1.0, out.getvalue()
    wait_for(lambda: "ENFORCE pause vb-pause: paused (VMG-DEV-001)" in out.getvalue(), timeout=2)
    assert any(e["vm"] == "vb-pause" and e["result"] == "paused" for e in _events(world[0]))


def test_a_running_vm_given_the_clipboard_gets_it_taken_back_live(watching, world):
    start, vbox, out = watching
    admin = start(enforce=True)
    admin.start("vb-reapply")
    _set_clipboard(vbox, "vb-reapply", 3)
    took = wait_for(lambda: int(vbox.find_machine("vb-reapply").clipboard_mode) == 0, timeout=5)
    assert took < 1.0, out.getvalue()
    assert vbox.find_machine("vb-reapply").state == RUNNING  # taken back live, not stopped
    wait_for(lambda: "ENFORCE reapply vb-reapply: re-applied 1 change(s)" in out.getvalue(), timeout=2)


def test_control_without_enforce_the_vm_keeps_running_out_of_policy(watching, world):
    start, vbox, out = watching
    admin = start(enforce=False)
    admin.start("vb-reapply")
    _set_clipboard(vbox, "vb-reapply", 3)
    wait_for(lambda: "NEW high VMG-DEV-001 vb-reapply" in out.getvalue(), timeout=5)  # the event came
    time.sleep(0.5)
    machine = vbox.find_machine("vb-reapply")
    assert machine.state == RUNNING and int(machine.clipboard_mode) == 3 and "ENFORCE" not in out.getvalue()
