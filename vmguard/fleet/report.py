"""The fleet report in JSON, Markdown and HTML, written like an audit run's reports.

Uses the audit reports' Format type, Markdown escaping and template set-up, so a fleet
report reads and escapes (host and VM names are attacker-influenced) the same way as
one host's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from vmguard.audit.reports.html import environment
from vmguard.audit.reports.interface import Document, Format
from vmguard.audit.reports.markdown import esc
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import AuditError


def _json(doc: Document) -> str:
    return json.dumps(doc, indent=1) + "\n"


def _counts(by_severity: dict[str, int]) -> str:
    return ", ".join(f"{n} {sev}" for sev, n in by_severity.items() if n) or "none"


def _rules(counted: dict[str, Any]) -> str:
    """Score and rules of a host or the fleet: '-' for a host report that does not name them."""
    r = counted["rules"]
    if r is None:
        return "score -; rules - (its report predates checked_rules)"
    return (
        f"score {counted['score']} of 100; rules checked {r['checked']}, passed {r['passed']}, "
        f"failed {r['failed']}, waived {r['waived']}"
    )


def _host_rows(doc: Document) -> list[str]:
    rows = [
        "| host | VMs | score and rules | failing | worst | by severity | waived | not audited |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in doc["hosts"]:
        rows.append(
            f"| {esc(h['host'])} | {h['vms']} | {_rules(h)} | {h['failing']} | {h['worst'] or '-'} "
            f"| {_counts(h['by_severity'])} | {h['waived']} | {len(h['unreachable'])} |"
        )
    return rows


def _finding_rows(findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return ["No findings."]
    rows = ["| severity | host | VM | rule | finding | how to fix |", "|---|---|---|---|---|---|"]
    for f in findings:
        severity = f"{f['severity']} (waived)" if f["waived"] else f["severity"]
        rows.append(
            f"| {severity} | {esc(f['host'])} | {esc(f['vm'] or 'host')} | {f['rule']} "
            f"| {esc(f['message'])} | {esc(f['remediation'])} |"
        )
    return rows


def _markdown(doc: Document) -> str:
    t = doc["totals"]
    lines = [
        f"# vmguard fleet report {esc(doc['generated'])}",
        "",
        f"- hosts: {t['hosts']}; VMs: {t['vms']}; failing findings: {t['failing']} "
        f"({_counts(t['by_severity'])}); waived: {t['waived']}; "
        f"not audited: {t['unreachable']}",
        f"- {_rules(t)}",
        "",
        "## Hosts, worst first",
        "",
        *_host_rows(doc),
        "",
        "## Findings, worst first",
        "",
        *_finding_rows(doc["findings"]),
    ]
    return "\n".join(lines) + "\n"


def _html(doc: Document) -> str:
    env = environment(jinja2.PackageLoader("vmguard.fleet", "templates"))
    return env.get_template("fleet.html.j2").render(doc=doc, counts=_counts, rules=_rules)


FORMATS = {
    f.name: f
    for f in (
        Format("json", "fleet.json", _json),
        Format("markdown", "fleet.md", _markdown),
        Format("html", "fleet.html", _html),
    )
}


def write_fleet_report(doc: Document, out: Path, formats: list[str] | None = None) -> list[Path]:
    """Write each format into `out` atomically (a reader never sees half a report)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AuditError(f"cannot create the fleet report folder {out}: {err.strerror}") from err
    written = []
    for name in formats or list(FORMATS):
        path = out / FORMATS[name].filename
        write_atomic(path, FORMATS[name].render(doc).encode("utf-8"), 0o644, AuditError)
        written.append(path)
    return written
