"""The Markdown report: summary, findings per VM, what changed since the previous run."""

from __future__ import annotations

import re

from vmguard.audit.reports.interface import Document, Format
from vmguard.core.display import shown

# VM names, paths and messages are attacker-influenced: neutralise inline Markdown and
# HTML (a "#" too: a run of them would close a heading) and the autolinks GitHub-style
# viewers make of "scheme://", "//host", "www." and e-mail addresses. Catalog text (titles,
# remediation) is ours and keeps its `code` spans.
_SPECIAL = re.compile(r"[\\`*_\[\]|<>&~#@]|/(?=/)|(?<=[wW]{3})\.")


def esc(text: object) -> str:
    """Untrusted text for a Markdown line or table cell: display.shown() first, so no
    line break, control or bidi character is left to start a line, forge a row or act
    on a terminal that prints the file, then Markdown's own escaping."""
    return _SPECIAL.sub(r"\\\g<0>", shown(text))


def _summary(doc: Document) -> list[str]:
    s = doc["summary"]
    by = ", ".join(f"{n} {sev}" for sev, n in s["by_severity"].items() if n) or "none"
    drift = ", ".join(f"{n} {d}" for d, n in s["drift"].items())
    lines = [
        f"# vmguard audit {esc(doc['run'])}",
        "",
        f"- inventory: {esc(doc['inventory'])}",
        f"- VMs: {s['vms']}; failing findings: {s['failing']} ({by}); waived: {s['waived']}",
        f"- since the previous run: {drift}",
        f"- host: {esc(doc['host']['note'])}",
    ]
    lines += [f"- **not audited**: {esc(u)}" for u in s["unreachable"]]
    return lines


def _table(findings: list[dict]) -> list[str]:
    if not findings:
        return ["No findings.", ""]
    rows = ["| severity | rule | finding | drift | how to fix |", "|---|---|---|---|---|"]
    for f in findings:
        state = (
            f"waived until {f['waiver']['expires']} ({esc(f['waiver']['owner'])})"
            if f["waived"]
            else f["drift"]
        )
        if f["expired_waiver"]:
            state += f"; waiver expired {f['expired_waiver']['expires']}"
        rows.append(
            f"| {f['severity']} | {f['rule']} | {esc(f['message'])}<br>{esc(f['evidence'])} "
            f"| {state} | {f['remediation']} |"
        )
    return [*rows, ""]


def render(doc: Document) -> str:
    lines = [*_summary(doc), "", "## Host", "", *_table(doc["host"]["findings"])]
    for vm in doc["vms"]:
        policy = f"policy {esc(vm['policy'])}" if vm["policy"] else "unmanaged"
        lines += [f"## VM {esc(vm['name'])} ({policy}, {esc(vm['connection'])})", ""]
        if vm["error"]:
            lines += [f"**Not audited**: {esc(vm['error'])}", ""]
        lines += [f"**Not seen**: {esc(why)}\n" for why in vm.get("incomplete", ())]
        lines += _table(vm["findings"])
    if doc["resolved"]:
        lines += ["## Resolved since the previous run", ""]
        lines += [f"- {f['rule']} on {esc(f['subject'])}: {esc(f['message'])}" for f in doc["resolved"]]
    return "\n".join(lines) + "\n"


FORMAT = Format("markdown", "report.md", render)
