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
    r = s["rules"]
    lines = [
        f"# vmguard audit {esc(doc['run'])}",
        "",
        f"- score: {s['score']} of 100; rules checked: {r['checked']}, passed: {r['passed']}, "
        f"failed: {r['failed']}, waived: {r['waived']}",
        f"- inventory: {esc(doc['inventory'])}",
        f"- VMs: {s['vms']}; failing findings: {s['failing']} ({by}); waived: {s['waived']}",
        f"- since the previous run: {drift}",
        f"- host: {esc(doc['host']['note'])}",
    ]
    lines += [f"- **not audited**: {esc(u)}" for u in s["unreachable"]]
    if s["apply_fixes"]:
        lines.append(f"- `vmguard apply` fixes {s['apply_fixes']} of the failing findings (per VM below)")
    return lines


def _vm_head(vm: dict) -> list[str]:
    r = vm["rules"]
    lines = [
        f"{esc(vm['hypervisor'] or 'hypervisor unknown')}: score {vm['score']}; "
        f"rules checked {r['checked']}, "
        f"passed {r['passed']}, failed {r['failed']}, waived {r['waived']}",
        "",
    ]
    if vm["apply"]:
        lines += [f"`{esc(vm['apply']['command'])}` fixes {vm['apply']['findings']} of these.", ""]
    return lines


def _references(doc: Document) -> list[str]:
    """Each cited rule's references, as text: the report makes no link (esc() keeps
    addresses from becoming autolinks)."""
    cited = {f["rule"]: f for part in [doc["host"], *doc["vms"]] for f in part["findings"]}
    lines = ["**References** (of the rules with findings)", ""] if cited else []
    for rule, f in sorted(cited.items()):
        refs = "; ".join(f"{esc(r['title'])}: {esc(r['url'])}" for r in f["references"])
        lines.append(f"- {rule} {f['title']}: {refs}")
    return [*lines, ""] if cited else []


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
            f"| {state} | {f['fix']} |"
        )
    return [*rows, ""]


def render(doc: Document) -> str:
    lines = [*_summary(doc), "", "## Host", "", *_table(doc["host"]["findings"])]
    for vm in doc["vms"]:
        policy = f"policy {esc(vm['policy'])}" if vm["policy"] else "unmanaged"
        lines += [f"## VM {esc(vm['name'])} ({policy}, {esc(vm['connection'])})", "", *_vm_head(vm)]
        if vm["error"]:
            lines += [f"**Not audited**: {esc(vm['error'])}", ""]
        lines += [f"**Not seen**: {esc(why)}\n" for why in vm.get("incomplete", ())]
        lines += _table(vm["findings"])
    lines += _references(doc)
    if doc["resolved"]:
        lines += ["## Resolved since the previous run", ""]
        lines += [f"- {f['rule']} on {esc(f['subject'])}: {esc(f['message'])}" for f in doc["resolved"]]
    return "\n".join(lines) + "\n"


FORMAT = Format("markdown", "report.md", render)
