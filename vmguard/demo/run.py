"""`vmguard demo`: build the lab in a temporary folder, then plan, audit and vet it.

Everything the demo does is an ordinary library call a newcomer can make on their own
VMs; the output names the command behind each step and where the reports are.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from vmguard.audit import summary
from vmguard.audit.reports.json import document as report_document
from vmguard.audit.result import AuditResult
from vmguard.audit.run import run_audit
from vmguard.core import eventlog
from vmguard.core.errors import ExitCode
from vmguard.demo import scenario
from vmguard.demo.build import Lab, LabKind, write_lab
from vmguard.drivers import facts_of, open_driver
from vmguard.enforce.plan import Plan, make_plan
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import Inventory
from vmguard.quarantine.model import VetResult

WIDTH = 100


def _clip(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


@dataclass(frozen=True)
class DemoRun:
    """What the demo found, before it is shown as text or JSON."""

    kind: LabKind
    plans: tuple[Plan, ...]
    audit: AuditResult
    reports: Path  # the run's report folder's `latest`
    vet: VetResult
    promote_mode: str
    log: Path


def _plans(inventory: Inventory) -> tuple[Plan, ...]:
    conn = inventory.connections[0]
    driver = open_driver(conn)
    try:
        return tuple(
            make_plan(
                inventory.entry_for(name).policy, facts_of(driver, name, conn.host_only), driver.capabilities
            )
            for name in scenario.MANAGED
        )
    finally:
        driver.close()


def _vet(lab: Lab, inventory: Inventory, events: eventlog.EventLog) -> tuple[VetResult, str]:
    from vmguard import vet

    quarantine = lab.quarantine("gleam-batch-01") / scenario.JOB
    scenario.fill_quarantine(quarantine)
    policy = inventory.entry_for("gleam-batch-01").policy
    result = vet(quarantine, policy, to=lab.root / "public" / scenario.JOB, events=events)
    return result, policy.quarantine.promote.mode.value


def _plan_lines(plans: tuple[Plan, ...]) -> list[str]:
    lines = []
    for plan in plans:
        changes = [f"{c.subject} {c.current}->{c.wanted}" for c in plan.changes + plan.manual]
        what = f"{len(changes)} to change: " + "; ".join(changes) if changes else "as wanted"
        lines.append(f"   {plan.vm:15} {what}")
    return lines


def _vet_lines(result: VetResult, promote_mode: str) -> list[str]:
    rejected = ", ".join(f"{e.path} ({', '.join(r.value for r in e.reasons)})" for e in result.rejected)
    published = f"published to {result.output}" if result.output else "nothing published"
    return [
        f"   {scenario.JOB}: {len(result.accepted)} accepted, {len(result.rejected)} rejected: "
        f"{result.status.value}, {published} (promote mode {promote_mode})",
        f"   rejected: {rejected}",
    ]


def _audit_lines(result: AuditResult) -> list[str]:
    return [
        f"   {summary.counts_line(result)}",
        *(f" {line}" for line in summary.worst_lines(result, limit=6)),
        f"   ... and {scenario.UNMANAGED!r} is on the hypervisor, in no inventory (VMG-INV-001)",
    ]


def demo_log(out: Path, events: eventlog.EventLog | None) -> eventlog.EventLog:
    """The demo's events go next to its reports, never into the host's real event log
    (unless the caller chose a log: `events`, or $VMGUARD_LOG)."""
    if events is None and os.environ.get("VMGUARD_LOG"):
        events = eventlog.EventLog.from_environment()
    return events or eventlog.EventLog(out / "demo-events.jsonl", syslog=None)


INTRO = {
    LabKind.LIBVIRT: ["vmguard demo: 5 VMs on libvirt's test driver (no hypervisor needed), one policy"],
    LabKind.VBOX_FILE: [
        "vmguard demo: 5 VMs as VirtualBox settings files (.vbox, read offline), one policy",
        "(libvirt-python adds the libvirt lab, where apply changes VMs: pip install 'vmguard[libvirt]',",
        "or Debian's python3-libvirt in a --system-site-packages virtualenv: docs/install.md)",
    ],
}


def lab_kind() -> LabKind:
    """The libvirt lab where libvirt-python can be imported, else the .vbox lab."""
    return LabKind.LIBVIRT if importlib.util.find_spec("libvirt") else LabKind.VBOX_FILE


def run_demo(
    out: Path,
    stream: TextIO,
    kind: LabKind | None = None,
    events: eventlog.EventLog | None = None,
    as_json: bool = False,
) -> int:
    """Build the lab, plan, audit and vet it; print one screen of text (or, as_json, the
    vmguard/demo/v1 document). Lab paths, removed afterwards, are shown as $LAB."""
    kind = kind or lab_kind()
    events = demo_log(out, events)
    with tempfile.TemporaryDirectory(prefix="vmguard-demo-") as tmp:
        lab = write_lab(Path(tmp), scenario.domains(Path(tmp)), scenario.MANAGED, kind)
        inventory = load_inventory(lab.inventory)
        plans = _plans(inventory)
        audited = run_audit(inventory, out, events=events).result
        vetted, mode = _vet(lab, inventory, events)
        found = DemoRun(kind, plans, audited, out / "latest", vetted, mode, events.path)
        text = _json_text(found) if as_json else "".join(f"{_clip(line)}\n" for line in _lines(found))
        stream.write(text.replace(tmp, "$LAB"))
    return ExitCode.OK


def _lines(found: DemoRun) -> list[str]:
    """One screen: lab paths shortened to $LAB (by the caller), long lines clipped."""
    return [
        *INTRO[found.kind],
        "and one finished job's quarantine, in $LAB (removed afterwards).",
        "",
        "1. plan   `vmguard plan`: what `vmguard apply` would change in each VM",
        *_plan_lines(found.plans),
        "",
        "2. audit  `vmguard audit` (hourly from cron): what does not hold, worst first",
        *_audit_lines(found.audit),
        "",
        "3. vet    `vmguard vet`: what may leave a job's quarantine for public space",
        *_vet_lines(found.vet, found.promote_mode),
        "",
        f"reports: {found.reports / 'report.html'} (and report.json, report.md)",
        f"log:     vmguard log verify --log {found.log}",
        "next:    vmguard rules show VMG-DEV-006 | vmguard audit --inventory YOURS.yaml",
        "         (docs/audit.md has cron and systemd timer examples)",
    ]


def _json_text(found: DemoRun) -> str:
    doc = {
        "schema": "vmguard/demo/v1",
        "lab": found.kind.value,
        "plans": [plan.to_dict() for plan in found.plans],
        "audit": {**report_document(found.audit)["summary"], "reports": str(found.reports)},
        "vet": {**found.vet.summary(), "promote_mode": found.promote_mode},
        "log": str(found.log),
        "exit_code": int(ExitCode.OK),
    }
    return json.dumps(doc, indent=2, default=str) + "\n"
