"""Drift across runs (new, open, resolved, regressed), the run lock, retention, `latest`."""

from __future__ import annotations

import json
import os

import pytest

from tests.audit.conftest import good
from vmguard.audit.lock import run_lock
from vmguard.audit.result import Drift
from vmguard.audit.run import run_audit
from vmguard.core.errors import AuditError
from vmguard.core.eventlog import EventLog
from vmguard.demo.lab import DomainSpec
from vmguard.inventory.loader import load_inventory


def drift_of(run) -> dict[tuple[str, str], Drift]:
    found = {(o.finding.subject, o.finding.rule): o.drift for o in run.result.outcomes}
    found |= {(o.finding.subject, o.finding.rule): o.drift for o in run.result.resolved}
    return found


def audit_with(lab, out, vm1: DomainSpec, vm2: DomainSpec):
    lab.write_domains([vm1, vm2])
    return run_audit(load_inventory(lab.inventory), out, events=EventLog.from_environment())


def test_fix_one_break_another_gives_one_resolved_one_new(lab, tmp_path):
    out = tmp_path / "out"
    first = audit_with(
        lab,
        out,
        DomainSpec("vm1", clipboard=True, display_listen="127.0.0.1", display_password="pw"),
        DomainSpec("vm2", network="bridge"),
    )
    assert set(drift_of(first).values()) == {Drift.NEW}
    # fix vm1's clipboard (display stays), break vm2's audio
    second = audit_with(
        lab,
        out,
        DomainSpec("vm1", display_listen="127.0.0.1", display_password="pw"),
        DomainSpec("vm2", network="bridge", audio=True),
    )
    drift = drift_of(second)
    assert drift[("vm1", "VMG-DEV-001")] is Drift.RESOLVED
    assert drift[("vm2", "VMG-DEV-005")] is Drift.NEW
    assert drift[("vm1", "VMG-DEV-008")] is Drift.OPEN
    assert drift[("vm2", "VMG-NET-001")] is Drift.OPEN
    assert [d for d in drift.values() if d is Drift.RESOLVED] == [Drift.RESOLVED]
    assert [d for d in drift.values() if d is Drift.NEW] == [Drift.NEW]
    summary = json.loads((second.run_dir / "report.json").read_text())["summary"]["drift"]
    assert summary["resolved"] == 1 and summary["new"] == 1
    # the clipboard comes back: regressed, not new
    third = audit_with(
        lab,
        out,
        DomainSpec("vm1", clipboard=True, display_listen="127.0.0.1", display_password="pw"),
        DomainSpec("vm2", network="bridge", audio=True),
    )
    assert drift_of(third)[("vm1", "VMG-DEV-001")] is Drift.REGRESSED


def test_latest_points_at_the_newest_run(lab, tmp_path, events):
    out = tmp_path / "out"
    runs = [run_audit(load_inventory(lab.inventory), out, events=events) for _ in range(3)]
    assert len({r.run_dir for r in runs}) == 3
    assert (out / "latest").is_symlink()
    assert os.readlink(out / "latest") == runs[-1].run_dir.name
    assert json.loads((out / "latest" / "report.json").read_text())["run"] == runs[-1].run_dir.name


def test_retention_prunes_old_runs_and_history(lab, tmp_path, events):
    out = tmp_path / "out"
    runs = [run_audit(load_inventory(lab.inventory), out, keep=2, events=events) for _ in range(4)]
    kept = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink())
    assert kept == [r.run_dir.name for r in runs[-2:]]
    assert len((out / "history.jsonl").read_text().splitlines()) == 2
    trend = json.loads((runs[-1].run_dir / "report.json").read_text())["trend"]
    assert [t["run"] for t in trend][-2:] == kept  # the trend may reach one run further back


def test_overlapping_run_is_refused(lab, tmp_path, events):
    out = tmp_path / "out"
    out.mkdir()
    with run_lock(out), pytest.raises(AuditError, match="another audit is running"):
        run_audit(load_inventory(lab.inventory), out, events=events)
    run_audit(load_inventory(lab.inventory), out, events=events)  # released: runs again


def test_lock_held_by_another_process(lab, tmp_path, events):
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib, time\n"
            "from vmguard.audit.lock import run_lock\n"
            "with run_lock(pathlib.Path(sys.argv[1])):\n print('held', flush=True); time.sleep(30)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AuditError, match=f"pid {holder.pid}"):
            run_audit(load_inventory(lab.inventory), out, events=events)
    finally:
        holder.kill()
        holder.wait()
    run_audit(load_inventory(lab.inventory), out, events=events)  # the kernel dropped the dead holder's lock


def test_torn_history_line_does_not_break_the_next_run(lab, tmp_path, events):
    out = tmp_path / "out"
    run_audit(load_inventory(lab.inventory), out, events=events)
    with open(out / "history.jsonl", "a") as fh:
        fh.write('{"run": "torn')
    assert run_audit(load_inventory(lab.inventory), out, events=events).exit_code == 0


def test_every_run_is_logged(lab, tmp_path, event_log, events):
    from vmguard.core import eventlog as log

    run = run_audit(load_inventory(lab.inventory), tmp_path / "out", events=events)
    (event,) = [json.loads(line) for line in event_log.read_text().splitlines()]
    assert event["kind"] == "audit" and event["data"]["run"] == run.run_dir.name
    assert log.verify(event_log) == []


def test_good_vm_helper_is_clean(lab):
    assert good("x", lab.root).shares


def test_unreachable_run_neither_resolves_nor_renews(lab, tmp_path, events):
    out = tmp_path / "out"
    vm2 = DomainSpec("vm2", network="bridge")
    audit_with(lab, out, good("vm1", lab.root), vm2)
    node = lab.node.read_text()
    lab.node.unlink()  # the hypervisor is away for one run
    away = run_audit(load_inventory(lab.inventory), out, events=events)
    assert away.exit_code == 3 and away.result.resolved == ()
    lab.node.write_text(node)
    back = run_audit(load_inventory(lab.inventory), out, events=events)
    assert drift_of(back)[("vm2", "VMG-NET-001")] is Drift.OPEN


def test_host_not_audited_keeps_its_previous_findings(tmp_path):
    import datetime as dt

    from vmguard.audit import history
    from vmguard.audit.catalog import load_catalog
    from vmguard.audit.result import AuditResult, HostReport, Outcome
    from vmguard.core.findings import Finding

    catalog = load_catalog()
    flushed = Outcome(
        Finding(rule="VMG-FW-001", subject="host", message="table missing", evidence="nftables: vmguard"),
        catalog.get("VMG-FW-001"),
    )

    def result(run: str, host: HostReport) -> AuditResult:
        return AuditResult(run, dt.datetime.now(dt.UTC), "inv.yaml", (), host)

    first = result("r1", HostReport(True, "audited", (flushed,)))
    history.record(history.annotate(first, tmp_path, catalog), tmp_path, keep=5)
    blind = history.annotate(result("r2", HostReport(False, "not root")), tmp_path, catalog)
    assert blind.resolved == ()
    history.record(blind, tmp_path, keep=5)
    again = history.annotate(result("r3", HostReport(True, "audited", (flushed,))), tmp_path, catalog)
    assert again.host.outcomes[0].drift is Drift.OPEN
