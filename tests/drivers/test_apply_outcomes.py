"""`apply` on a running libvirt VM: every outcome logged, the VM left as it was or fully
applied, and a run killed with SIGKILL while the VM is powered off finished by the next
`apply` or `rollback`. Real qemu:///system, TCG guests (whose init ignores ACPI, so the
shutdown wait is cut short here)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.drivers.conftest import batch_policy, no_network
from vmguard.core import eventlog as log
from vmguard.core.errors import DriverError
from vmguard.core.modes import Toggle
from vmguard.drivers.libvirt import driver as libvirt_driver
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.enforce.apply import BackupStore, apply_vm
from vmguard.enforce.plan import make_plan
from vmguard.facts.vm import PowerState

pytestmark = [pytest.mark.root, pytest.mark.slow]
REPO = Path(__file__).parents[2]
# The CLI with the ACPI wait shortened, as the test guest never powers itself off.
CLI = (
    "import sys, vmguard.drivers.libvirt.driver as d; d.SHUTDOWN_WAIT = 1.0; "
    "from vmguard.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def driver(libvirt_uri: str, monkeypatch):
    monkeypatch.setattr(libvirt_driver, "SHUTDOWN_WAIT", 1.0)
    drv = LibvirtDriver(libvirt_uri)
    yield drv
    drv.close()


def _hash(driver: LibvirtDriver, name: str) -> str:
    return hashlib.sha256(driver.persistent_xml(name).encode()).hexdigest()


def _events(path: Path) -> list[tuple[str, str | None]]:
    return [(e["kind"], e["data"].get("status")) for e in map(json.loads, path.read_text().splitlines())]


UDP_NIC = """<interface type='udp'>
  <mac address='52:54:00:7e:57:02'/>
  <source address='127.0.0.1' port='{port}'><local address='127.0.0.1' port='{local}'/></source>
  <model type='e1000'/>
</interface>"""


def _firmware_only(tcg_domain, monkeypatch):
    """A running VM that never boots an OS (SeaBIOS finds nothing to boot): it never
    acknowledges a NIC unplug, as a guest without ACPI hotplug support would not, so the
    unplug falls back to the next boot. It has the forbidden serial console too."""
    monkeypatch.setattr(libvirt_driver, "UNPLUG_WAIT", 1.0)
    port = 20000 + os.getpid() % 20000
    root = etree.fromstring(tcg_domain.xml(extra_devices=UDP_NIC.format(port=port, local=port + 1)))
    os_el = root.find("os")
    for tag in ("kernel", "initrd", "cmdline"):
        os_el.remove(os_el.find(tag))
    return tcg_domain.start(etree.tostring(root, encoding="unicode"), wait_agent=False)


def test_next_boot_then_power_off_ok_power_cycles_and_applies(
    driver, tcg_domain, log_path, monkeypatch, events
) -> None:
    """The sequence that used to power-cycle the VM and then fail with 'no NIC ... changed
    since the plan was made': the second apply re-plans once the VM is off."""
    made = _firmware_only(tcg_domain, monkeypatch)
    policy = no_network(batch_policy())  # the serial console is forbidden too: it needs power-off
    first = apply_vm(driver, "kvm", made.name, policy, next_boot=True, events=events)
    assert first.result and {c.action.value for c in first.result.next_boot} >= {"detach-nic"}
    assert "<interface" not in driver.persistent_xml(made.name)
    assert not make_plan(policy, driver.read_facts(made.name), driver.capabilities).empty  # live has both
    second = apply_vm(driver, "kvm", made.name, policy, power_off_ok=True, events=events)
    assert second.result and second.result.applied and not second.result.next_boot
    facts = driver.read_facts(made.name)
    assert facts.power_state is PowerState.RUNNING and not facts.ports and not facts.nics
    assert make_plan(policy, facts, driver.capabilities).empty
    assert _events(log_path) == [("apply", "partly-applied"), ("apply", "applied")]
    assert log.verify(log_path) == []


def test_power_off_ok_completes_a_live_change_the_guest_did_not_take(
    driver, tcg_domain, log_path, monkeypatch, events
) -> None:
    made = _firmware_only(tcg_domain, monkeypatch)
    policy = no_network(batch_policy(serial_ports=Toggle.ENABLED))  # only the NIC, a change made live
    first = apply_vm(driver, "kvm", made.name, policy, events=events)
    assert first.result and [c.action.value for c in first.result.next_boot] == ["detach-nic"]
    second = apply_vm(
        driver, "kvm", made.name, policy, power_off_ok=True, events=events
    )  # used to fail: no NIC
    assert second.result and [c.action.value for c in second.result.applied] == ["detach-nic"]
    facts = driver.read_facts(made.name)
    assert facts.power_state is PowerState.RUNNING and not facts.nics
    assert _events(log_path) == [("apply", "partly-applied"), ("apply", "applied")]


class _FailingDriver(LibvirtDriver):
    """The real driver with one injected fault: the hypervisor refuses the new definition."""

    def apply(self, name, plan, *, dry_run):
        if not dry_run:
            raise DriverError(f"{self.uri}: define: injected refusal")
        return super().apply(name, plan, dry_run=dry_run)


def test_a_failed_apply_after_power_off_is_logged_and_the_vm_runs_as_it_was(
    libvirt_uri, tcg_domain, log_path, monkeypatch, events
) -> None:
    monkeypatch.setattr(libvirt_driver, "SHUTDOWN_WAIT", 1.0)
    made = tcg_domain.start(wait_agent=False)
    failing = _FailingDriver(libvirt_uri)
    try:
        before = _hash(failing, made.name)
        with pytest.raises(DriverError, match="injected refusal"):
            apply_vm(
                failing,
                "kvm",
                made.name,
                batch_policy(),
                power_off_ok=True,
                events=events,
            )
        assert failing.read_facts(made.name).power_state is PowerState.RUNNING
        assert _hash(failing, made.name) == before
    finally:
        failing.close()
    [event] = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert event["kind"] == "apply-failed" and event["data"]["power_cycled"] is True
    assert "injected refusal" in event["data"]["reason"]
    assert not BackupStore().restart_pending("kvm", made.name)


def test_refusal_is_logged(driver, tcg_domain, log_path, events) -> None:
    made = tcg_domain.start(wait_agent=False)
    assert apply_vm(driver, "kvm", made.name, batch_policy(), events=events).refused
    assert _events(log_path) == [("apply-refused", None)]


@pytest.fixture
def inventory(tmp_path: Path, libvirt_uri: str) -> Path:
    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: kill-test}\n"
        f"connections:\n  - {{name: kvm, driver: libvirt, uri: '{libvirt_uri}'}}\n"
        "vms:\n  - {name: 'vmg-test-*', connection: kvm, policy: batch.yaml}\n"
    )
    return path


def _killed_while_off(dom, inventory: Path) -> None:
    """Start `apply --power-off-ok` and SIGKILL it the moment the VM is off."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "apply",
            "--inventory",
            str(inventory),
            "--vm",
            dom.name(),
            "--power-off-ok",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 120
        while dom.isActive() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("resolver", ["apply", "rollback"])
def test_kill_9_while_powered_off_is_finished_by_the_next_run(
    resolver, driver, tcg_domain, inventory, log_path
) -> None:
    made = tcg_domain.start(wait_agent=False)
    before = _hash(driver, made.name)
    _killed_while_off(made.dom, inventory)
    assert not made.dom.isActive(), "the kill came after vmguard had started the VM again"
    assert BackupStore().restart_pending("kvm", made.name)  # what the next run reads

    done = _cli(
        resolver,
        *([made.name] if resolver == "rollback" else []),
        "--inventory",
        str(inventory),
        *(["--vm", made.name] if resolver == "apply" else []),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    facts = driver.read_facts(made.name)
    assert facts.power_state is PowerState.RUNNING and not BackupStore().restart_pending("kvm", made.name)
    if resolver == "apply":  # fully applied: nothing left that apply could change
        plan = _cli("plan", "--inventory", str(inventory), "--vm", made.name)
        assert plan.returncode in (0, 4) and not facts.ports, plan.stdout + plan.stderr
    else:  # as it was
        assert _hash(driver, made.name) == before and facts.ports
    assert log.verify(log_path) == []
