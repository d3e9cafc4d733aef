"""Against a real libvirtd (qemu:///system): auditing changes no domain, and `vmguard
watch` reports a clipboard switched on by a redefine within 2 seconds."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.support.watch import read_until, watching
from vmguard.audit.run import run_audit
from vmguard.demo.build import write_lab
from vmguard.inventory.loader import load_inventory

QEMU = "qemu:///system"


def domain_xml(name: str, uid: str, clipboard: bool) -> str:
    copypaste = "yes" if clipboard else "no"
    return f"""<domain type='qemu'>
  <name>{name}</name><uuid>{uid}</uuid>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <controller type='usb' model='none'/>
    <graphics type='spice' autoport='yes' listen='127.0.0.1'>
      <clipboard copypaste='{copypaste}'/><filetransfer enable='no'/>
    </graphics>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <memballoon model='none'/>
  </devices>
</domain>"""


@pytest.fixture
def live_domain(libvirt_conn):
    name = f"vmg-audit-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    uid = str(uuid.uuid4())
    dom = libvirt_conn.defineXML(domain_xml(name, uid, clipboard=False))
    try:
        yield name, uid
    finally:
        dom.undefine()


def live_inventory(tmp_path: Path, name: str) -> Path:
    lab = write_lab(tmp_path / "lab", [], [])
    text = (
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: live}\n"
        f'connections:\n  - {{name: kvm, driver: libvirt, uri: "{QEMU}"}}\n'
        f"vms:\n  - {{name: {name}, connection: kvm, policy: {lab.policy}}}\n"
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def config_hashes(conn) -> dict[str, str]:
    import libvirt

    flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
    return {d.name(): hashlib.sha256(d.XMLDesc(flags).encode()).hexdigest() for d in conn.listAllDomains()}


def test_audit_is_read_only_on_libvirtd(libvirt_conn, live_domain, tmp_path, events):
    name, _ = live_domain
    before = config_hashes(libvirt_conn)
    run = run_audit(load_inventory(live_inventory(tmp_path, name)), tmp_path / "out", events=events)
    mine = next(vm for vm in run.result.vms if vm.name == name)
    assert not mine.error
    # a loopback SPICE display without password, which the policy disables
    assert {o.finding.rule for o in mine.outcomes} == {"VMG-DEV-006", "VMG-DEV-008"}
    after = config_hashes(libvirt_conn)
    assert after[name] == before[name]
    assert {k: v for k, v in after.items() if k in before} == {
        k: v for k, v in before.items() if k in after
    }  # other tests' domains may come and go, but none changed


def test_watch_reports_changes_within_two_seconds(libvirt_conn, live_domain, tmp_path):
    name, uid = live_domain
    env = {**os.environ, "VMGUARD_LOG": str(tmp_path / "events.jsonl")}
    inventory = str(live_inventory(tmp_path, name))
    intruder = None
    with watching(inventory, env) as (proc, _):
        try:
            changed = time.monotonic()
            libvirt_conn.defineXML(domain_xml(name, uid, clipboard=True))
            line, seen = read_until(proc, "VMG-DEV-001")
            assert name in line and line.split()[1] == "NEW"
            print(f"watch: clipboard finding {seen - changed:.3f}s after the redefine")
            assert seen - changed < 2.0, f"finding after {seen - changed:.2f}s"
            libvirt_conn.defineXML(domain_xml(name, uid, clipboard=False))
            read_until(proc, f"resolved VMG-DEV-001 {name}")
            intruder = libvirt_conn.defineXML(domain_xml(name + "-x", str(uuid.uuid4()), False))
            line, _ = read_until(proc, "VMG-INV-001")
            assert name + "-x" in line
        finally:
            if intruder is not None:
                intruder.undefine()
    events = (tmp_path / "events.jsonl").read_text()
    assert '"kind": "watch"' in events and "VMG-DEV-001" in events
