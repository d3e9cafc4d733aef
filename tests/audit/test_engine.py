"""The audit engine on libvirt's test driver: unmanaged and missing VMs, unreachable
connections, waivers, exit codes, and that auditing changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from tests.audit.conftest import good
from tests.audit.factory import EVERY_ADDRESS
from vmguard.audit.engine import audit
from vmguard.audit.run import run_audit
from vmguard.core.errors import ExitCode
from vmguard.core.findings import Level
from vmguard.demo.lab import DomainSpec
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import Connection, DriverKind
from vmguard.policy.model import Waiver


def rules_of(result, vm: str) -> set[str]:
    return {o.finding.rule for r in result.vms if r.name == vm for o in r.outcomes}


def test_clean_lab_exits_zero(lab, tmp_path, events):
    run = run_audit(load_inventory(lab.inventory), tmp_path / "out", events=events)
    assert run.result.outcomes == ()
    assert run.exit_code == ExitCode.OK
    assert run.result.host.note.startswith("firewall not audited")


def test_misconfigured_vm_fails_at_threshold(lab, tmp_path, events):
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", audio=True)])
    inventory = load_inventory(lab.inventory)
    assert run_audit(inventory, tmp_path / "a", fail_on=Level.HIGH, events=events).exit_code == ExitCode.OK
    assert (
        run_audit(inventory, tmp_path / "b", fail_on=Level.LOW, events=events).exit_code == ExitCode.FINDINGS
    )


def test_unmanaged_and_missing_vms(lab):
    lab.write_domains([good("vm1", lab.root), good("intruder", lab.root)])
    result = audit(load_inventory(lab.inventory))
    assert rules_of(result, "intruder") == {"VMG-INV-001"}
    assert rules_of(result, "vm2") == {"VMG-INV-002"}
    assert next(v for v in result.vms if v.name == "intruder").policy == ""


def test_unreachable_connection_is_exit_3_and_others_are_audited(lab, tmp_path, events):
    inventory = load_inventory(lab.inventory)
    dead = Connection("dead", DriverKind.LIBVIRT, f"test://{tmp_path}/no-such-node.xml")
    entry = dataclasses.replace(inventory.vms[0], pattern="far", connection="dead")
    inventory = dataclasses.replace(
        inventory, connections=(*inventory.connections, dead), vms=(*inventory.vms, entry)
    )
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", network="bridge")])
    run = run_audit(inventory, tmp_path / "out", events=events)
    assert run.exit_code == ExitCode.CANNOT_RUN
    assert "VMG-NET-001" in rules_of(run.result, "vm2")
    far = next(v for v in run.result.vms if v.name == "far")
    assert far.error and "dead" in run.result.errors[0]


def _waived_inventory(lab, expires: dt.date):
    inventory = load_inventory(lab.inventory)
    waiver = Waiver("VMG-DEV-005", "vm2", "sound needed for a test", "alice", expires)
    policy = dataclasses.replace(inventory.vms[1].policy, waivers=(waiver,))
    vms = (inventory.vms[0], dataclasses.replace(inventory.vms[1], policy=policy))
    return dataclasses.replace(inventory, vms=vms)


def test_active_waiver_suppresses_and_is_shown(lab, tmp_path, events):
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", audio=True)])
    inventory = _waived_inventory(lab, dt.date.today() + dt.timedelta(days=1))
    run = run_audit(inventory, tmp_path / "out", fail_on=Level.LOW, events=events)
    (outcome,) = run.result.outcomes
    assert outcome.waived and outcome.waiver.owner == "alice"
    assert run.exit_code == ExitCode.OK
    assert "waived until" in (run.run_dir / "report.md").read_text()


def test_expired_waiver_fails_again(lab, tmp_path, events):
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", audio=True)])
    inventory = _waived_inventory(lab, dt.date.today() - dt.timedelta(days=1))
    run = run_audit(inventory, tmp_path / "out", fail_on=Level.LOW, events=events)
    (outcome,) = run.result.outcomes
    assert not outcome.waived and outcome.expired_waiver is not None
    assert run.exit_code == ExitCode.FINDINGS
    assert "waiver expired" in (run.run_dir / "report.md").read_text()


def _snapshot(lab) -> tuple[str, dict[str, str]]:
    import libvirt

    conn = libvirt.open(f"test://{lab.node}")
    try:
        # INACTIVE: the persistent definition (the live one gets a fresh autoport each open)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        xml = {d.name(): d.XMLDesc(flags) for d in conn.listAllDomains()}
    finally:
        conn.close()
    return hashlib.sha256(lab.node.read_bytes()).hexdigest(), xml


def test_audit_is_read_only_on_the_test_driver(lab, tmp_path, events):
    lab.write_domains(
        [good("vm1", lab.root), DomainSpec("vm2", clipboard=True, display_listen=EVERY_ADDRESS)]
    )
    before = _snapshot(lab)
    run_audit(load_inventory(lab.inventory), tmp_path / "out", events=events)
    assert _snapshot(lab) == before


@pytest.mark.parametrize("fmt", ["json,html", "md"])
def test_only_requested_formats_are_written(lab, tmp_path, fmt, events):
    run = run_audit(
        load_inventory(lab.inventory),
        tmp_path / "out",
        formats=fmt.split(","),
        events=events,
    )
    assert sorted(p.suffix for p in run.run_dir.iterdir()) == sorted(
        {"json": ".json", "html": ".html", "md": ".md"}[f] for f in fmt.split(",")
    )
