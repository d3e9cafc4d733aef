"""`vmguard watch --enforce` against the lab's real libvirtd: an admin's change that takes
a VM out of policy is undone (reapply) within a second, or the running VM is paused."""

from __future__ import annotations

import time

import pytest

from tests.gate.lab import GOOD, GOOD_NIC, SPARE, SPICE_CLIPBOARD, Watch, domain_xml_with, wait_for
from tests.support.labnet import user_nic
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.policy.model import TransferMode

pytestmark = [pytest.mark.root, pytest.mark.slow]
USER_NIC = user_nic("52:54:00:78:00:77")


@pytest.fixture
def driver(gate_lab):
    drv = LibvirtDriver(gate_lab.plv.uri)
    yield drv
    drv.close()


def _domain(lab, name: str, nic: str = ""):
    if name not in [d.name() for d in lab.conn.listAllDomains()]:
        lab.factory.define(lab.factory.xml(name=name, extra_devices=nic))
    return lab.conn.lookupByName(name)


def _clipboard(driver, name: str) -> TransferMode:
    return driver.read_facts(name).clipboard.value


def test_clipboard_enabled_by_virsh_define_is_back_within_a_second(gate_lab, driver, tmp_path) -> None:
    _domain(gate_lab, SPARE)
    watch = Watch(gate_lab.write_inventory("inv-watch.yaml"), "--enforce")
    try:
        (tmp_path / "d.xml").write_text(domain_xml_with(gate_lab, SPARE, SPICE_CLIPBOARD))
        changed = time.monotonic()
        assert gate_lab.virsh("define", str(tmp_path / "d.xml")).returncode == 0
        wait_for(lambda: _clipboard(driver, SPARE) is TransferMode.DISABLED, timeout=10)
        took = time.monotonic() - changed
        watch.first(f"ENFORCE reapply {SPARE}: re-applied", changed)
    finally:
        out = watch.close()
    assert took < 1.0, out
    assert "NEW high VMG-DEV-001" in out  # noticed as drift, then undone


def test_control_plain_watch_only_reports(gate_lab, driver, tmp_path) -> None:
    """Without --enforce the same change stays: the enforcement above is watch's doing."""
    _domain(gate_lab, SPARE)
    watch = Watch(gate_lab.write_inventory("inv-watch.yaml"))
    try:
        (tmp_path / "d.xml").write_text(domain_xml_with(gate_lab, SPARE, SPICE_CLIPBOARD))
        assert gate_lab.virsh("define", str(tmp_path / "d.xml")).returncode == 0
        watch.first("NEW high VMG-DEV-001", time.monotonic() - 1)
        time.sleep(1.0)
        assert _clipboard(driver, SPARE) is TransferMode.BIDIRECTIONAL
    finally:
        watch.close()
        assert gate_lab.virsh("define", str(tmp_path / "d.xml")).returncode == 0  # leave it as found
        from vmguard.cli import main

        # --no-firewall: this process runs in the machine's namespace
        main(["apply", "--inventory", str(gate_lab.site / "inv.yaml"), "--vm", SPARE, "--no-firewall"])


def test_on_drift_pause_pauses_the_running_vm(gate_lab, tmp_path) -> None:
    dom = _domain(gate_lab, GOOD, GOOD_NIC)
    if not dom.isActive():
        assert gate_lab.virsh("start", GOOD).returncode == 0
    watch = Watch(gate_lab.write_inventory("inv-pause.yaml", on_drift="pause"), "--enforce")
    try:
        (tmp_path / "nic.xml").write_text(USER_NIC)
        changed = time.monotonic()
        assert gate_lab.virsh("attach-device", GOOD, str(tmp_path / "nic.xml"), "--live").returncode == 0
        wait_for(lambda: dom.state()[0] == 3, timeout=10)  # VIR_DOMAIN_PAUSED
        took = time.monotonic() - changed
        watch.first(f"ENFORCE pause {GOOD}: paused", changed)
    finally:
        out = watch.close()
        gate_lab.virsh("destroy", GOOD)
    assert took < 1.0, out


def test_clipboard_defined_into_a_running_vm_is_taken_out_of_its_next_boot(
    gate_lab, driver, tmp_path
) -> None:
    """`virsh define` on a running domain changes only what it boots with next: undone."""
    dom = _domain(gate_lab, GOOD, GOOD_NIC)
    if not dom.isActive():
        assert gate_lab.virsh("start", GOOD).returncode == 0
    watch = Watch(gate_lab.write_inventory("inv-watch.yaml"), "--enforce")
    try:
        (tmp_path / "d.xml").write_text(domain_xml_with(gate_lab, GOOD, SPICE_CLIPBOARD))
        changed = time.monotonic()
        assert gate_lab.virsh("define", str(tmp_path / "d.xml")).returncode == 0
        wait_for(
            lambda: driver.read_next_boot_facts(GOOD).clipboard.value is TransferMode.DISABLED, timeout=10
        )
        took = time.monotonic() - changed
        watch.first(f"ENFORCE reapply {GOOD}: re-applied", changed)
        assert dom.isActive() and dom.state()[0] == 1  # still running, untouched
    finally:
        out = watch.close()
        gate_lab.virsh("destroy", GOOD)
    assert took < 1.0, out
