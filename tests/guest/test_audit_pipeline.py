"""The audit's path for a libvirt VM: driver facts -> guest inspection -> guest rules."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from tests.guest.test_offline import POLICY
from tests.guest.test_planted import EXPECTED
from vmguard.checks.registry import vm_checks
from vmguard.cli import main
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.guest import inspect

pytestmark = [pytest.mark.root, pytest.mark.slow]
DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""


def test_libvirt_vm_disk_found_by_the_driver_and_inspected(tcg_domain, inspected, guest_cache):
    image = inspected["rpm"].image
    domain = tcg_domain.define(extra_devices=DISK_XML.format(path=image))  # defined, not started
    driver = LibvirtDriver("qemu:///system")
    try:
        facts = driver.read_facts(domain.name)
    finally:
        driver.close()
    assert [(d.path, d.format) for d in facts.disks] == [(str(image), "raw")]
    # Same image content as the session's inspection: answered from the cache.
    guest = inspect(facts, cache=guest_cache, scan_files=True, timeout=1)
    assert guest == inspected["rpm"].facts
    facts = dataclasses.replace(facts, guest=guest)
    found = [
        f
        for rule, check in vm_checks().items()
        if rule.startswith(("VMG-USR", "VMG-SW"))
        for f in check(POLICY, facts)
    ]
    assert {f.subject for f in found} == {domain.name}
    planted = {"VMG-SW-001", "VMG-SW-002", "VMG-USR-001", "VMG-USR-002", "VMG-USR-003"}
    assert {f.rule for f in found} == planted | set(EXPECTED["rpm"])


INVENTORY = """\
apiVersion: vmguard/v1
kind: Inventory
connections: [{{name: kvm, driver: libvirt, uri: "qemu:///system"}}]
vms: [{{name: {name}, connection: kvm, policy: policy.yaml}}]
"""
GUEST_POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: batch}}
spec:
  users: {{interactive_login: [vmadmin1]}}
  software:
    forbid: [firefox, thunderbird, evolution, mutt, sendmail, postfix, exim4]
    allowed_services: [ssh, sshd, cron, crond, rsyslog, xinetd]
{file_scan}"""
QCOW2_DISK_XML = DISK_XML.replace("type='raw'", "type='qcow2'")


def _audit(tmp_path, name: str, guest: str, file_scan: bool = True) -> tuple[int, list[dict]]:
    scan = "" if file_scan else "    file_scan: false\n"  # the default is to scan
    (tmp_path / "policy.yaml").write_text(GUEST_POLICY.format(file_scan=scan))
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(name=name))
    out = tmp_path / f"reports-{guest}"
    code = main(
        ["audit", "-i", str(tmp_path / "inv.yaml"), "--out", str(out), "--format", "json", "--guest", guest]
    )
    report = json.loads((out / "latest/report.json").read_text())
    [vm] = [v for v in report["vms"] if v["name"] == name]
    return code, vm["findings"]


def test_cli_audit_reports_guest_findings_from_the_disk(
    tcg_domain, inspected, guest_cache, tmp_path, monkeypatch
):
    """`vmguard audit` on a libvirt VM: users and software read from its disk image; the
    policy's file_scan: false reaches the inspection (the session's scan-less inspection
    answers from the cache: a scan would have added a cache entry)."""
    image = inspected["rpm-sqlite"].image  # qcow2, inspected without the file scan
    domain = tcg_domain.define(extra_devices=QCOW2_DISK_XML.format(path=image))
    monkeypatch.setenv("VMGUARD_CACHE", str(guest_cache.folder.parent))  # the session's inspection
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    entries = set(guest_cache.folder.iterdir())
    code, found = _audit(tmp_path, domain.name, "offline", file_scan=False)
    assert set(guest_cache.folder.iterdir()) == entries
    rules = {f["rule"] for f in found}
    assert {"VMG-USR-001", "VMG-USR-002", "VMG-SW-001", "VMG-SW-002"} <= rules, rules
    assert code == 1
    assert any("/etc/ssh/sshd_config" in f["evidence"] for f in found if f["rule"] == "VMG-USR-002")
    _, without = _audit(tmp_path, domain.name, "off")
    assert not {f["rule"] for f in without} & {"VMG-USR-001", "VMG-USR-002", "VMG-SW-001"}


def test_cli_audit_scans_files_by_default(tcg_domain, inspected, guest_cache, tmp_path, monkeypatch):
    """No file_scan in the policy: the audit scans, and the planted RHEL 6 guest's
    world-writable and stray set-id files are in the report with issue #22's other rules."""
    domain = tcg_domain.define(extra_devices=DISK_XML.format(path=inspected["rpm"].image))
    monkeypatch.setenv("VMGUARD_CACHE", str(guest_cache.folder.parent))  # the session's scanned inspection
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    code, found = _audit(tmp_path, domain.name, "offline")
    assert code == 1
    assert set(EXPECTED["rpm"]) <= {f["rule"] for f in found}
    setuid = {f["evidence"] for f in found if f["rule"] == "VMG-SW-005"}
    assert setuid == EXPECTED["rpm"]["VMG-SW-005"]


def test_cli_audit_guest_that_cannot_be_read_is_incomplete_whatever_fail_on(
    tcg_domain, tmp_path, monkeypatch
):
    missing = tmp_path / "gone.img"
    domain = tcg_domain.define(extra_devices=DISK_XML.format(path=missing))
    monkeypatch.setenv("VMGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    (tmp_path / "policy.yaml").write_text(GUEST_POLICY.format(file_scan=""))
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(name=domain.name))
    out = tmp_path / "reports"
    code = main(
        [
            "audit",
            "-i",
            str(tmp_path / "inv.yaml"),
            "--out",
            str(out),
            "--format",
            "json",
            "--guest",
            "offline",
            "--fail-on",
            "critical",
        ]
    )
    report = json.loads((out / "latest/report.json").read_text())
    [vm] = [v for v in report["vms"] if v["name"] == domain.name]
    assert code == 3 and report["summary"]["exit_code"] == 3
    [why] = vm["incomplete"]
    assert "guest not inspected" in why and "gone.img" in why
    assert any(why in u for u in report["summary"]["unreachable"])
    assert not any(f["rule"] == "VMG-SW-006" for f in vm["findings"])  # not a mere finding
    assert any(f["rule"].startswith("VMG-DEV") for f in vm["findings"])  # host-side checks still ran


def test_pool_volume_disk_is_resolved_and_inspected(
    tcg_domain, inspected, guest_cache, libvirt_conn, tmp_path, monkeypatch
):
    """<disk type='volume'>: a transient dir pool over the session's image folder (created
    and removed here; removing a dir pool leaves its files), the volume read through it."""
    image = inspected["rpm-sqlite"].image  # qcow2, inspected without the file scan
    pool = libvirt_conn.storagePoolCreateXML(
        f"<pool type='dir'><name>vmg-test-pool-{os.getpid()}</name>"
        f"<target><path>{image.parent}</path></target></pool>",
        0,
    )
    try:
        volume_xml = (
            f"<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source pool='{pool.name()}' volume='{image.name}'/>"
            "<target dev='vda' bus='virtio'/></disk>\n"
        )
        domain = tcg_domain.define(extra_devices=volume_xml)
        driver = LibvirtDriver("qemu:///system")
        try:
            facts = driver.read_facts(domain.name)
        finally:
            driver.close()
        assert [(d.path, d.format, d.problem) for d in facts.disks] == [(str(image), "qcow2", "")]
        # the session inspected this image without the file scan: a cache hit, not a launch
        assert inspect(facts, cache=guest_cache, timeout=1, scan_files=False) == inspected["rpm-sqlite"].facts
        # the CLI adds "guest" to VMGUARD_CACHE: the folder itself was a miss, a second boot
        monkeypatch.setenv("VMGUARD_CACHE", str(guest_cache.folder.parent))
        monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
        entries = set(guest_cache.folder.iterdir())
        code, found = _audit(tmp_path, domain.name, "offline", file_scan=False)
        assert code == 1 and "VMG-USR-001" in {f["rule"] for f in found}  # read, and complete
        assert set(guest_cache.folder.iterdir()) == entries  # from the cache: no appliance boot
    finally:
        pool.destroy()
    assert image.exists()
