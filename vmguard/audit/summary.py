"""The few lines `vmguard audit` (and the demo) print: counts, drift, where the reports are.

Subjects, messages and errors name VMs, paths and guest strings: each line is shown
through display.shown(), so one finding stays one line of inert text.
"""

from __future__ import annotations

from vmguard.audit import scoring
from vmguard.audit.catalog import load_catalog
from vmguard.audit.result import AuditResult, Drift
from vmguard.core.display import shown


def counts_line(result: AuditResult) -> str:
    by = ", ".join(f"{n} {sev}" for sev, n in result.counts().items() if n) or "none"
    waived = len(result.outcomes) - len(result.failing)
    score = scoring.score(scoring.run_tallies(result), load_catalog())
    counts = f"{len(result.vms)} VMs, {len(result.failing)} failing findings ({by}), {waived} waived"
    return f"{counts}; score {score}/100"


def drift_line(result: AuditResult) -> str:
    counts = {d: 0 for d in Drift}
    for outcome in result.outcomes:
        counts[outcome.drift] += 1
    counts[Drift.RESOLVED] = len(result.resolved)
    return "since the previous run: " + ", ".join(f"{n} {d.value}" for d, n in counts.items())


def worst_lines(result: AuditResult, limit: int = 5) -> list[str]:
    """The most severe failing findings, one line each."""
    ordered = sorted(result.failing, key=lambda o: -o.severity.rank)[:limit]
    return [
        shown(f"  {o.severity.value:8} {o.finding.rule}  {o.finding.subject}: {o.finding.message}")
        for o in ordered
    ]


def problems(result: AuditResult) -> list[str]:
    """What could not be audited (these make the exit code 3)."""
    return [shown(problem) for problem in result.not_covered]
