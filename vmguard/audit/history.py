"""Drift between audit runs, kept in <out>/history.jsonl (one line per run).

Each line holds the run id, its failing counts by severity (for the trend chart) and
every finding's identity (rule, subject, evidence) with its message and connection.
Drift: a finding is new, still open, regressed (seen in an older run, absent from the
previous one), or resolved (in the previous run, gone now). Findings of a VM, connection
or firewall this run could not look at are carried over, not resolved.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from vmguard.audit.catalog import Catalog
from vmguard.audit.result import AuditResult, Drift, Outcome, TrendPoint
from vmguard.audit.store import run_started
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import AuditError
from vmguard.core.findings import Finding

HISTORY = "history.jsonl"
Key = tuple[str, str, str]


def _read(out: Path) -> list[dict]:
    path = out / HISTORY
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue  # a torn line from a crashed run: drift simply starts over from the rest
    return runs


def _keys(run: dict) -> dict[Key, str]:
    return {(f[0], f[1], f[2]): f[3] for f in run.get("findings", [])}


def _entries(result: AuditResult) -> list[list[str]]:
    """[rule, subject, evidence, message, connection] of every finding ("" for the host)."""
    found = [(vm.connection, o) for vm in result.vms for o in vm.outcomes]
    found += [("", o) for o in result.host.outcomes]
    return [[*o.finding.key, o.finding.message, conn] for conn, o in found]


def _unseen(result: AuditResult, entries: list[list[str]]) -> list[list[str]]:
    """The entries whose subject this run could not look at (so they are not resolved)."""
    errored = {vm.name for vm in result.vms if vm.error}

    def blind(entry: list[str]) -> bool:
        connection = entry[4] if len(entry) > 4 else None
        if connection == "":
            return not result.host.audited
        return connection in result.unreached or entry[1] in errored

    return [e for e in entries if blind(e)]


def _drift(key: Key, previous: dict[Key, str], older: set[Key]) -> Drift:
    if key in previous:
        return Drift.OPEN
    return Drift.REGRESSED if key in older else Drift.NEW


def annotate(result: AuditResult, out: Path, catalog: Catalog) -> AuditResult:
    """The result with each outcome's drift, the resolved findings and the trend."""
    runs = _read(out)
    previous = _keys(runs[-1]) if runs else {}
    older = {k for run in runs[:-1] for k in _keys(run)}

    def mark(outcomes: tuple[Outcome, ...]) -> tuple[Outcome, ...]:
        return tuple(replace(o, drift=_drift(o.finding.key, previous, older)) for o in outcomes)

    vms = tuple(replace(vm, outcomes=mark(vm.outcomes)) for vm in result.vms)
    host = replace(result.host, outcomes=mark(result.host.outcomes))
    current = {o.finding.key for o in result.outcomes}
    unseen = {tuple(e[:3]) for e in _unseen(result, runs[-1]["findings"] if runs else [])}
    resolved = tuple(
        Outcome(
            Finding(rule=key[0], subject=key[1], message=msg, evidence=key[2]),
            catalog.get(key[0]),
            drift=Drift.RESOLVED,
        )
        for key, msg in previous.items()
        if key not in current and key not in unseen and key[0] in catalog
    )
    trend = tuple(
        TrendPoint(r["run"], r["counts"], run_started(r["run"]), r.get("incomplete", False)) for r in runs
    )
    trend += (TrendPoint(result.run, result.counts(), run_started(result.run), result.unreachable),)
    return result.with_drift(vms, host, resolved, trend)


def record(result: AuditResult, out: Path, keep: int) -> None:
    """Append this run and keep only the last `keep` runs (atomic rewrite when pruning)."""
    history = _read(out)
    # What this run could not see is carried over, so it is neither resolved now nor new later.
    carried = _unseen(result, history[-1]["findings"] if history else [])
    line = {"run": result.run, "counts": result.counts(), "findings": _entries(result) + carried}
    line["incomplete"] = result.unreachable
    runs = history[-(keep - 1) :] if keep > 1 else []
    runs.append(line)
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs)
    write_atomic(out / HISTORY, text.encode("utf-8"), 0o644, AuditError)
