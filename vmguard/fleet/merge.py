"""Merge many hosts' audit JSON (vmguard/audit-report/v1) into one fleet document.

Each input file is one host's report.json; the host is named by the file's stem
(the Ansible role fetches them as <inventory_hostname>.json). Findings of all hosts
are listed once, worst first: failing before waived, then by severity, host, VM, rule.
Rules checked, passed, failed and the score are counted by audit/scoring.py from each
subject's checked_rules and findings, the same way as one host's report counts them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from vmguard.audit import scoring
from vmguard.audit.catalog import Catalog, load_catalog
from vmguard.core.errors import ExitCode, InputError, Problem
from vmguard.core.findings import Level

AUDIT_SCHEMA = "vmguard/audit-report/v1"
FLEET_SCHEMA = "vmguard/fleet-report/v1"
SEVERITIES = [level.value for level in Level]
_RANK = {level.value: level.rank for level in Level}


@dataclass(frozen=True)
class FleetHost:
    host: str
    source: str
    document: dict[str, Any]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = resources.files("vmguard.audit.reports").joinpath("schema/report-v1.json")
    return jsonschema.Draft202012Validator(json.loads(schema.read_text()))


def _problem(path: Path, message: str) -> Problem:
    return Problem(str(path), 0, 0, "", message)


def _check(path: Path, data: object) -> list[Problem]:
    if not isinstance(data, dict) or data.get("schema") != AUDIT_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        return [
            _problem(
                path,
                f"not a vmguard audit report (schema {found!r}, "
                f"want {AUDIT_SCHEMA!r}): pass each host's report.json",
            )
        ]
    return [
        _problem(path, f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}")
        for e in _validator().iter_errors(data)
    ]


def load_host_report(path: Path) -> tuple[FleetHost | None, list[Problem]]:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        return None, [_problem(path, f"cannot read: {err.strerror}")]
    except ValueError as err:
        return None, [_problem(path, f"not JSON: {err}")]
    except RecursionError:
        return None, [_problem(path, "not JSON vmguard reads: nested deeper than a report is")]
    problems = _check(path, data)
    return (None if problems else FleetHost(path.stem, str(path), data)), problems


def load_host_reports(paths: list[Path]) -> list[FleetHost]:
    """Every file's report, or InputError listing every problem of every file."""
    reports, problems = [], []
    for path in paths:
        report, found = load_host_report(path)
        problems += found
        reports += [report] if report else []
    seen: dict[str, str] = {}
    for report in reports:
        if report.host in seen:
            problems.append(
                _problem(
                    Path(report.source),
                    f"host {report.host!r} also comes from {seen[report.host]}: name files by host",
                )
            )
        seen[report.host] = report.source
    if problems:
        raise InputError(problems)
    return reports


def _host_findings(report: FleetHost) -> list[dict[str, Any]]:
    doc = report.document
    rows = [{"host": report.host, "vm": "", **f} for f in doc["host"]["findings"]]
    for vm in doc["vms"]:
        rows += [{"host": report.host, "vm": vm["name"], **f} for f in vm["findings"]]
    return rows


def _worst_first(row: dict[str, Any]) -> tuple:
    return (row["waived"], -_RANK[row["severity"]], row["host"], row["vm"], row["rule"], row["evidence"])


def _subject_tally(subject: dict[str, Any]) -> scoring.Tally | None:
    """A VM's or the host's rules from its report; None from a writer before checked_rules."""
    if "checked_rules" not in subject:
        return None
    failing = [f["rule"] for f in subject["findings"] if not f["waived"]]
    waived = [f["rule"] for f in subject["findings"] if f["waived"]]
    return scoring.tally_rules(subject["checked_rules"], failing, waived)


def host_tallies(report: FleetHost) -> list[scoring.Tally] | None:
    """Every VM's tally and the host's, as one host's own report counts them (None: its
    report does not name the rules it checked, so the host gets no score)."""
    doc = report.document
    tallies = [_subject_tally(subject) for subject in (*doc["vms"], doc["host"])]
    return None if None in tallies else tallies  # type: ignore[return-value]


def _rules_and_score(tallies: list[scoring.Tally] | None, catalog: Catalog) -> dict[str, Any]:
    if tallies is None:
        return {"rules": None, "score": None}
    return {"rules": scoring.total(tallies), "score": scoring.score(tallies, catalog)}


def _host_summary(
    report: FleetHost, findings: list[dict[str, Any]], tallies: list[scoring.Tally] | None, catalog: Catalog
) -> dict[str, Any]:
    doc, summary = report.document, report.document["summary"]
    failing = [f["severity"] for f in findings if not f["waived"]]
    return {
        "host": report.host,
        "source": report.source,
        "run": doc["run"],
        "started": doc["started"],
        "inventory": doc["inventory"],
        "vms": summary["vms"],
        "failing": summary["failing"],
        "waived": summary["waived"],
        "by_severity": summary["by_severity"],
        "worst": max(failing, key=_RANK.__getitem__) if failing else None,
        "unreachable": summary["unreachable"],
        **_rules_and_score(tallies, catalog),
    }


def _totals(
    hosts: list[dict[str, Any]], tallies: list[scoring.Tally] | None, catalog: Catalog
) -> dict[str, Any]:
    return {
        **_rules_and_score(tallies, catalog),
        "hosts": len(hosts),
        "vms": sum(h["vms"] for h in hosts),
        "failing": sum(h["failing"] for h in hosts),
        "waived": sum(h["waived"] for h in hosts),
        "by_severity": {s: sum(h["by_severity"][s] for h in hosts) for s in SEVERITIES},
        "unreachable": sum(len(h["unreachable"]) for h in hosts),
    }


def merge(reports: list[FleetHost]) -> dict[str, Any]:
    """The fleet document: totals, one summary per host (worst host first), findings."""
    catalog = load_catalog()
    per_host = {r.host: _host_findings(r) for r in reports}
    tallies = {r.host: host_tallies(r) for r in reports}
    hosts = [_host_summary(r, per_host[r.host], tallies[r.host], catalog) for r in reports]
    every = None if None in tallies.values() else [t for ts in tallies.values() for t in ts]  # type: ignore[union-attr]
    hosts.sort(key=lambda h: (-_RANK.get(h["worst"] or "", -1), -h["failing"], h["host"]))
    findings = sorted((f for rows in per_host.values() for f in rows), key=_worst_first)
    return {
        "schema": FLEET_SCHEMA,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "severities": SEVERITIES,
        "totals": _totals(hosts, every, catalog),
        "hosts": hosts,
        "findings": findings,
    }


def exit_code(fleet: dict[str, Any], fail_on: str) -> ExitCode:
    """1 when a failing finding is at least `fail_on` ("never": only 3 applies), 3 when a
    host could not audit everything, else 0 — the same rule as `vmguard audit`."""
    if fleet["totals"]["unreachable"]:
        return ExitCode.CANNOT_RUN
    if fail_on == "never":
        return ExitCode.OK
    threshold = _RANK[fail_on]
    failing = (f for f in fleet["findings"] if not f["waived"])
    return ExitCode.FINDINGS if any(_RANK[f["severity"]] >= threshold for f in failing) else ExitCode.OK
