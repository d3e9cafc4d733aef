"""The JSON report, and the document every other format renders from.

Schema: vmguard/audit/reports/schema/report-v1.json (`schema` key "vmguard/audit-report/v1").
Additive changes keep v1; removing or retyping a key makes v2.
"""

from __future__ import annotations

import json
from typing import Any

from vmguard import __version__
from vmguard.audit.reports.interface import Document, Format
from vmguard.audit.result import AuditResult, Drift, Outcome, VmReport
from vmguard.core.findings import Level
from vmguard.policy.model import Waiver

SCHEMA_ID = "vmguard/audit-report/v1"


def _waiver(waiver: Waiver | None) -> dict[str, str] | None:
    if waiver is None:
        return None
    return {
        "rule": waiver.rule,
        "vm": waiver.vm,
        "justification": waiver.justification,
        "owner": waiver.owner,
        "expires": waiver.expires.isoformat(),
    }


def _finding(outcome: Outcome) -> dict[str, Any]:
    f, rule = outcome.finding, outcome.rule
    return {
        "rule": f.rule,
        "title": rule.title,
        "severity": rule.severity.value,
        "subject": f.subject,
        "message": f.message,
        "evidence": f.evidence,
        "wanted": f.wanted,
        "remediation": rule.remediation,
        "drift": outcome.drift.value,
        "waived": outcome.waived,
        "waiver": _waiver(outcome.waiver),
        "expired_waiver": _waiver(outcome.expired_waiver),
    }


def _sorted(outcomes: tuple[Outcome, ...]) -> list[dict[str, Any]]:
    ordered = sorted(outcomes, key=lambda o: (-o.severity.rank, o.finding.rule, o.finding.evidence))
    return [_finding(o) for o in ordered]


def _worst_first(vm: VmReport) -> tuple[bool, int, str]:
    """Readers start at the top: VMs not audited, then by their worst failing finding."""
    worst = max((o.severity.rank for o in vm.outcomes if not o.waived), default=-1)
    return (not (vm.error or vm.incomplete), -worst, vm.name)


def _summary(result: AuditResult, fail_on: Level | None) -> dict[str, Any]:
    drift = {d.value: 0 for d in Drift}
    for outcome in result.outcomes:
        drift[outcome.drift.value] += 1
    drift[Drift.RESOLVED.value] = len(result.resolved)
    return {
        "vms": len(result.vms),
        "failing": len(result.failing),
        "waived": len(result.outcomes) - len(result.failing),
        "by_severity": result.counts(),
        "drift": drift,
        "unreachable": list(result.not_covered),
        "fail_on": fail_on.value if fail_on else "never",
        "exit_code": int(result.exit_code(fail_on)),
    }


def document(result: AuditResult, fail_on: Level | None = Level.HIGH) -> Document:
    return {
        "schema": SCHEMA_ID,
        "vmguard_version": __version__,
        "run": result.run,
        "started": result.started.isoformat(timespec="seconds"),
        "inventory": result.inventory,
        "severities": [level.value for level in Level],
        "summary": _summary(result, fail_on),
        "host": {
            "audited": result.host.audited,
            "note": result.host.note,
            "error": result.host.error,
            "findings": _sorted(result.host.outcomes),
        },
        "vms": [
            {
                "name": vm.name,
                "connection": vm.connection,
                "policy": vm.policy,
                "error": vm.error,
                "incomplete": list(vm.incomplete),
                "findings": _sorted(vm.outcomes),
            }
            for vm in sorted(result.vms, key=_worst_first)
        ],
        "resolved": _sorted(result.resolved),
        "trend": [{"run": p.run, "counts": p.counts} for p in result.trend],
    }


def render(doc: Document) -> str:
    # Compact: the C encoder (indent forces the pure-Python one, 10x slower on 1,000 VMs).
    # `python -m json.tool report.json` pretty-prints it for a human.
    return json.dumps(doc, separators=(",", ":")) + "\n"


FORMAT = Format("json", "report.json", render)
