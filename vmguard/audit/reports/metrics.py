"""Metrics for monitoring: the last audit as a node_exporter textfile (Prometheus text
exposition format), rendered from the same report document as every other format.

`vmguard audit --metrics FILE` writes it atomically where node_exporter's textfile
collector reads (--collector.textfile.directory), e.g.
/var/lib/prometheus/node-exporter/vmguard.prom.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from vmguard.audit.reports.interface import Document
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import AuditError


def _label(value: str) -> str:
    """A label value as the exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(name: str, kind: str, doc: str, samples: list[tuple[str, object]]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    return lines + [f"{name}{labels} {value}" for labels, value in samples]


def render(doc: Document) -> str:
    s = doc["summary"]
    started = dt.datetime.fromisoformat(doc["started"]).timestamp()
    inventory = f'inventory="{_label(doc["inventory"])}"'
    by_severity = [(f'{{{inventory},severity="{sev}"}}', n) for sev, n in s["by_severity"].items()]
    rules = [(f'{{{inventory},state="{state}"}}', n) for state, n in s["rules"].items()]
    runs = [r for r in doc["trend"] if r.get("incomplete")]
    one = f"{{{inventory}}}"
    lines = [
        *_metric(
            "vmguard_audit_findings", "gauge", "Failing findings of the last audit by severity.", by_severity
        ),
        *_metric(
            "vmguard_audit_waived_findings",
            "gauge",
            "Waived findings of the last audit.",
            [(one, s["waived"])],
        ),
        *_metric("vmguard_audit_rules", "gauge", "Rules checked on the VMs and host, by outcome.", rules),
        *_metric(
            "vmguard_audit_score",
            "gauge",
            "Severity-weighted share of rules not failing (0-100).",
            [(one, s["score"])],
        ),
        *_metric(
            "vmguard_audit_last_run_timestamp_seconds",
            "gauge",
            "When the last audit started.",
            [(one, started)],
        ),
        *_metric(
            "vmguard_audit_incomplete",
            "gauge",
            "1 when the last audit could not see everything (exit 3).",
            [(one, int(bool(s["unreachable"])))],
        ),
        *_metric(
            "vmguard_audit_not_covered",
            "gauge",
            "What the last audit was asked to cover and could not.",
            [(one, len(s["unreachable"]))],
        ),
        *_metric(
            "vmguard_audit_incomplete_runs",
            "gauge",
            "Incomplete runs among the retained runs.",
            [(one, len(runs))],
        ),
        *_metric(
            "vmguard_audit_exit_code", "gauge", "The last audit's exit code.", [(one, s.get("exit_code", 0))]
        ),
    ]
    return "\n".join(lines) + "\n"


def write(doc: Document, path: Path) -> None:
    """Replace `path` at once: node_exporter never reads half a file."""
    write_atomic(path, render(doc).encode("utf-8"), 0o644, AuditError)
