"""One audit run as cron runs it: lock, audit, drift, reports, latest pointer, retention, log.

The library entry point behind `vmguard audit`; a job runner can call run_audit() directly.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vmguard.audit import history, store
from vmguard.audit.catalog import load_catalog
from vmguard.audit.engine import GuestMode, Opener, audit
from vmguard.audit.lock import run_lock
from vmguard.audit.reports import FORMATS, format_named
from vmguard.audit.reports.json import document
from vmguard.audit.reports.metrics import write as write_metrics
from vmguard.audit.result import AuditResult
from vmguard.core import eventlog as log
from vmguard.core.errors import AuditError, ExitCode, UsageError
from vmguard.core.findings import Level
from vmguard.drivers import open_driver
from vmguard.inventory.model import Inventory

DEFAULT_FORMATS = ("json", "html", "markdown")
DEFAULT_KEEP = 48  # two days of hourly runs


@dataclass(frozen=True)
class AuditRun:
    result: AuditResult
    run_dir: Path
    exit_code: ExitCode
    pruned: int = 0

    def report(self, fmt: str) -> Path:
        return self.run_dir / format_named(fmt).filename


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    unknown = [f for f in formats if format_named(f) is None]
    if unknown or not formats:
        raise UsageError(
            f"--format: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(FORMATS)}"
        )
    return tuple(dict.fromkeys(format_named(f).name for f in formats))


def _write(run_dir: Path, result: AuditResult, formats: tuple[str, ...], fail_on: Level | None) -> dict:
    doc = document(result, fail_on)
    for name in formats:
        path = run_dir / FORMATS[name].filename
        try:
            path.write_text(FORMATS[name].render(doc), encoding="utf-8")
        except OSError as err:
            raise AuditError(f"cannot write {path}: {err.strerror}") from err
    return doc


def run_audit(
    inventory: Inventory,
    out: Path,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    fail_on: Level | None = Level.HIGH,  # None: never fail on findings
    keep: int = DEFAULT_KEEP,
    opener: Opener = open_driver,
    guest: GuestMode = GuestMode.OFF,
    events: log.EventLog,
    metrics: Path | None = None,
) -> AuditRun:
    """Audit, write the reports into a new run folder under `out`, and log the run to
    `events`."""
    formats = check_formats(formats)
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    store.prepare(out)
    with run_lock(out):
        store.sweep(out)
        name = store.run_name(out, dt.datetime.now(dt.UTC))
        with store.staged_run_dir(out, name) as staged:
            result = history.annotate(audit(inventory, name, opener, guest=guest), out, load_catalog())
            doc = _write(staged, result, formats, fail_on)
        run_dir = store.publish_run_dir(staged, name)
        history.record(result, out, keep)
        store.point_latest(out, run_dir)
        pruned = store.prune(out, keep)
        if metrics is not None:  # for node_exporter's textfile collector
            write_metrics(doc, metrics)
    code = result.exit_code(fail_on)
    events.append(
        "audit",
        inventory=inventory.source,
        run=run_dir.name,
        report=os.fspath(run_dir),
        counts=result.counts(),
        unreachable=len(result.errors),
        exit_code=int(code),
    )
    return AuditRun(result, run_dir, code, len(pruned))
