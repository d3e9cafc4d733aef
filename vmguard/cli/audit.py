"""CLI of the audit area: audit, rules list|show, log verify, watch, demo."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from vmguard.audit import summary
from vmguard.audit.catalog import Rule, load_catalog, rule_ids
from vmguard.audit.engine import GuestMode
from vmguard.audit.reports import FORMATS
from vmguard.audit.run import DEFAULT_FORMATS, DEFAULT_KEEP, run_audit
from vmguard.checks.registry import fixed_by_apply
from vmguard.cli.defaults import add_reports_dir
from vmguard.cli.output import (
    OutputFormat,
    add_fail_on,
    add_format,
    add_inventory,
    enum_option,
    print_document,
)
from vmguard.core.display import shown
from vmguard.core.errors import ExitCode, UsageError
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import did_you_mean


def _audit(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory, rule_ids())
    run = run_audit(
        inventory,
        Path(args.out),
        formats=args.format.split(","),
        fail_on=args.fail_on.level,
        keep=args.keep,
        guest=args.guest,
        events=args.events,
        metrics=Path(args.metrics) if args.metrics else None,
    )
    result = run.result
    print(f"audit {result.run}: {summary.counts_line(result)}")
    print(summary.drift_line(result))
    for line in summary.worst_lines(result):
        print(line)
    print(shown(f"host: {result.host.note}"))
    for problem in summary.problems(result):
        print(f"vmguard: not audited: {problem}", file=sys.stderr)
    print(shown(f"reports: {run.run_dir}/ (also {Path(args.out) / 'latest'})"))
    return run.exit_code


SHOWN_NAME = {"virtualbox": "VirtualBox"}  # the hypervisors as their makers spell them


def _rule_dict(rule: Rule) -> dict[str, object]:
    refs = [{"title": r.title, "url": r.url} for r in rule.references]
    return {
        "id": rule.id,
        "area": rule.area,
        "severity": rule.severity.value,
        "title": rule.title,
        "rationale": rule.rationale,
        "remediation": rule.remediation,
        "remediation_by_hypervisor": dict(rule.by_hypervisor),
        "fixed_by_apply": fixed_by_apply(rule),
        "references": refs,
    }


def _rules_list(args: argparse.Namespace) -> int:
    rules = [rule for rule in load_catalog() if args.area in (None, rule.area)]
    if args.format is OutputFormat.JSON:
        print_document("rules", {"rules": [_rule_dict(rule) for rule in rules]})
        return ExitCode.OK
    for rule in rules:
        print(f"{rule.id:12} {rule.severity.value:8} {rule.title}")
    return ExitCode.OK


def _rules_show(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.id.upper() not in catalog:  # a rule id given by the user: bad input, exit 2
        raise UsageError(
            f"unknown rule {args.id!r}{did_you_mean(args.id.upper(), catalog.ids)}: see `vmguard rules list`"
        )
    rule = catalog.get(args.id.upper())
    if args.format is OutputFormat.JSON:
        print_document("rules", {"rules": [_rule_dict(rule)]})
        return ExitCode.OK
    wrap = textwrap.TextWrapper(width=88, initial_indent="  ", subsequent_indent="  ")
    print(f"{rule.id}  [{rule.severity.value}]  {rule.title}\n")
    print(
        "Why:",
        wrap.fill(rule.rationale),
        "",
        "How to fix:",
        wrap.fill(rule.remediation),
        *[wrap.fill(f"On {SHOWN_NAME.get(name, name)}: {text}") for name, text in rule.by_hypervisor],
        *([wrap.fill("`vmguard apply` makes this change.")] if fixed_by_apply(rule) else []),
        "",
        "References:",
        sep="\n",
    )
    for ref in rule.references:
        print(f"  - {ref.title}: {ref.url}")
    return ExitCode.OK


def _log_verify(args: argparse.Namespace) -> int:
    from vmguard.core.logchain import verify_chain

    path = Path(args.log) if args.log else args.events.path
    verified = verify_chain(path)
    breaks, intact = verified.breaks, not verified.breaks
    if args.format is OutputFormat.JSON:
        events = verified.events if intact else None  # every file's, rotated ones included
        doc = {"log": str(path), "intact": intact, "events": events, "breaks": [str(b) for b in breaks]}
        print_document("log-verify", {**doc, "exit_code": int(ExitCode.OK if intact else ExitCode.FINDINGS)})
        return ExitCode.OK if intact else ExitCode.FINDINGS
    for brk in breaks:
        print(shown(brk))  # a tampered line may be quoted
    if breaks:
        print(f"vmguard: log {path} is NOT intact ({len(breaks)} break(s))", file=sys.stderr)
        return ExitCode.FINDINGS
    files = f" in {verified.files} files, rotated ones included" if verified.files > 1 else ""
    print(f"{path}: intact ({verified.events} events{files}, hash chain verified)")
    return ExitCode.OK


def _watch(args: argparse.Namespace) -> int:
    from vmguard.audit.watch import watch

    return watch(
        load_inventory(args.inventory, rule_ids()),
        firewall_every=args.firewall_every,
        duration=args.duration,
        out=sys.stdout,
        events=args.events,
        enforce=args.enforce,
        jsonl=args.format is OutputFormat.JSON,
    )


def _demo(args: argparse.Namespace) -> int:
    from vmguard.demo.build import LabKind
    from vmguard.demo.run import run_demo

    kind = LabKind(args.lab) if args.lab else None
    return run_demo(Path(args.out), sys.stdout, kind, as_json=args.format is OutputFormat.JSON)


def _register_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="audit every VM of an inventory and the host (read-only)")
    add_inventory(p)
    add_reports_dir(p)
    p.add_argument(
        "--format",
        default=",".join(DEFAULT_FORMATS),
        metavar="FORMAT[,FORMAT...]",
        help=f"report files to write, comma-separated from {','.join(FORMATS)} (default: %(default)s); "
        "report.json follows vmguard/audit/reports/schema/report-v1.json",
    )
    add_fail_on(p)
    p.add_argument(
        "--metrics",
        metavar="FILE",
        help="also write the run's metrics for node_exporter's textfile collector (e.g. "
        "/var/lib/prometheus/node-exporter/vmguard.prom)",
    )
    p.add_argument(
        "--keep", type=int, default=DEFAULT_KEEP, help="report folders to keep (default: %(default)s)"
    )
    p.add_argument(
        "--guest",
        **enum_option(GuestMode),
        default=GuestMode.OFFLINE,
        help="look inside guests: their disk images (offline, the default), also the running "
        "guest's agent (online), or not at all (off)",
    )
    p.set_defaults(func=_audit)


def _register_rules(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="the rule catalog")
    rsub = p.add_subparsers(dest="rules_command", metavar="list|show", required=True)
    lst = rsub.add_parser("list", help="every rule: id, severity, title")
    lst.add_argument(
        "--area", choices=["NET", "FS", "DEV", "USR", "SW", "FW", "VET", "INV"], help="only this area"
    )
    add_format(lst)
    lst.set_defaults(func=_rules_list)
    show = rsub.add_parser("show", help="one rule: why it matters, how to fix, references")
    show.add_argument("id", help="rule id, e.g. VMG-DEV-001")
    add_format(show)
    show.set_defaults(func=_rules_show)


def _register_log(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="vmguard's hash-chained event log")
    lsub = p.add_subparsers(dest="log_command", metavar="verify", required=True)
    verify = lsub.add_parser("verify", help="exit 1 if any line was edited, removed or reordered")
    verify.add_argument("--log", help="log file (default: $VMGUARD_LOG or the system log)")
    add_format(verify)
    verify.set_defaults(func=_log_verify)


def _register_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="re-audit a VM within 2 s of a configuration change")
    add_inventory(p)
    p.add_argument(
        "--firewall-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="re-audit the host firewall this often (default: %(default)s)",
    )
    p.add_argument(
        "--enforce",
        action="store_true",
        help="also act on a VM that drifts out of policy, per its policy's enforcement.on_drift "
        "(reapply, pause, poweroff or report); every action is logged",
    )
    add_format(p)
    p.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_watch)


def _register_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build a small demo lab (no hypervisor) and audit it")
    p.add_argument("--out", default="audit_reports", help="report folder (default: %(default)s)")
    p.add_argument(
        "--lab",
        choices=["libvirt", "vbox-file"],
        help="libvirt's test driver (needs libvirt-python) or VirtualBox settings files "
        "(default: libvirt when libvirt-python is installed)",
    )
    add_format(p)
    p.set_defaults(func=_demo)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    for add in (_register_audit, _register_rules, _register_log, _register_watch, _register_demo):
        add(sub)
