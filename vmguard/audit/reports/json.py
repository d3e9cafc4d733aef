"""The JSON report, and the document every other format renders from.

Schema: vmguard/audit/reports/schema/report-v1.json (`schema` key "vmguard/audit-report/v1").
Additive changes keep v1; removing or retyping a key makes v2.
"""

from __future__ import annotations

import json
from typing import Any

from vmguard import __version__
from vmguard.audit import scoring
from vmguard.audit.catalog import Catalog, load_catalog
from vmguard.audit.reports.interface import Document, Format
from vmguard.audit.result import AuditResult, Drift, Outcome, TrendPoint, VmReport
from vmguard.checks.registry import fixed_by_apply
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


def _finding(outcome: Outcome, hypervisor: str = "") -> dict[str, Any]:
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
        "fix": rule.fix_for(hypervisor),  # the VM's own hypervisor's fix first
        "fixed_by_apply": fixed_by_apply(rule),
        "references": [{"title": r.title, "url": r.url} for r in rule.references],
        "drift": outcome.drift.value,
        "waived": outcome.waived,
        "waiver": _waiver(outcome.waiver),
        "expired_waiver": _waiver(outcome.expired_waiver),
    }


def _sorted(outcomes: tuple[Outcome, ...], hypervisor: str = "") -> list[dict[str, Any]]:
    ordered = sorted(outcomes, key=lambda o: (-o.severity.rank, o.finding.rule, o.finding.evidence))
    return [_finding(o, hypervisor) for o in ordered]


def _apply_fixes(vm: VmReport) -> dict[str, Any] | None:
    """The one command that fixes what vmguard can fix on this VM, and how many findings."""
    fixable = [
        o for o in vm.outcomes if not o.waived and fixed_by_apply(o.rule) and o.rule.area in vm.apply_areas
    ]
    if not vm.policy or vm.error or not fixable:
        return None
    return {"command": f"vmguard apply --vm {vm.name}", "findings": len(fixable)}


def _vm(vm: VmReport, catalog: Catalog) -> dict[str, Any]:
    t = scoring.tally(vm.checked, vm.outcomes)
    return {
        "name": vm.name,
        "connection": vm.connection,
        "hypervisor": vm.hypervisor,
        "policy": vm.policy,
        "error": vm.error,
        "incomplete": list(vm.incomplete),
        "rules": t.to_dict(),
        "checked_rules": list(t.checked),
        "score": scoring.score([t], catalog),
        "apply": _apply_fixes(vm),
        "findings": _sorted(vm.outcomes, vm.hypervisor),
    }


def _trend(point: TrendPoint) -> dict[str, Any]:
    started = point.started.isoformat(timespec="seconds") if point.started else None
    return {"run": point.run, "started": started, "incomplete": point.incomplete, "counts": point.counts}


def _worst_first(vm: VmReport) -> tuple[bool, int, str]:
    """Readers start at the top: VMs not audited, then by their worst failing finding."""
    worst = max((o.severity.rank for o in vm.outcomes if not o.waived), default=-1)
    return (not (vm.error or vm.incomplete), -worst, vm.name)


def _summary(result: AuditResult, fail_on: Level | None) -> dict[str, Any]:
    tallies = scoring.run_tallies(result)
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
        "rules": scoring.total(tallies),
        "score": scoring.score(tallies, load_catalog()),
        "apply_fixes": sum(a["findings"] for vm in result.vms if (a := _apply_fixes(vm))),
        "fail_on": fail_on.value if fail_on else "never",
        "exit_code": int(result.exit_code(fail_on)),
    }


def document(result: AuditResult, fail_on: Level | None = Level.HIGH) -> Document:
    catalog = load_catalog()
    host = scoring.tally(result.host.checked, result.host.outcomes)
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
            "rules": host.to_dict(),
            "checked_rules": list(host.checked),
            "findings": _sorted(result.host.outcomes),
        },
        "vms": [_vm(vm, catalog) for vm in sorted(result.vms, key=_worst_first)],
        "resolved": _sorted(result.resolved),
        "trend": [_trend(p) for p in result.trend],
    }


def render(doc: Document) -> str:
    # Compact: the C encoder (indent forces the pure-Python one, 10x slower on 1,000 VMs).
    # `python -m json.tool report.json` pretty-prints it for a human.
    return json.dumps(doc, separators=(",", ":")) + "\n"


FORMAT = Format("json", "report.json", render)
