"""CLI of the audit area: audit, rules list|show, log verify, watch, demo."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from vmguard.audit import summary
from vmguard.audit.catalog import load_catalog, rule_ids
from vmguard.audit.engine import GuestMode
from vmguard.audit.run import DEFAULT_KEEP, run_audit
from vmguard.core import eventlog as log
from vmguard.core.display import shown
from vmguard.core.errors import ExitCode, UsageError
from vmguard.core.findings import Level
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import did_you_mean

LEVELS = [level.value for level in Level]


def _audit(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory, rule_ids())
    run = run_audit(
        inventory,
        Path(args.out),
        formats=args.format.split(","),
        fail_on=Level(args.fail_on),
        keep=args.keep,
        guest=GuestMode(args.guest),
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


def _rules_list(args: argparse.Namespace) -> int:
    for rule in load_catalog():
        if args.area in (None, rule.area):
            print(f"{rule.id:12} {rule.severity.value:8} {rule.title}")
    return ExitCode.OK


def _rules_show(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.id.upper() not in catalog:  # a rule id given by the user: bad input, exit 2
        raise UsageError(
            f"unknown rule {args.id!r}{did_you_mean(args.id.upper(), catalog.ids)}: see `vmguard rules list`"
        )
    rule = catalog.get(args.id.upper())
    wrap = textwrap.TextWrapper(width=88, initial_indent="  ", subsequent_indent="  ")
    print(f"{rule.id}  [{rule.severity.value}]  {rule.title}\n")
    print(
        "Why:",
        wrap.fill(rule.rationale),
        "",
        "How to fix:",
        wrap.fill(rule.remediation),
        "",
        "References:",
        sep="\n",
    )
    for ref in rule.references:
        print(f"  - {ref.title}: {ref.url}")
    return ExitCode.OK


def _log_verify(args: argparse.Namespace) -> int:
    path = Path(args.log) if args.log else log.default_path()
    breaks = log.verify(path)
    for brk in breaks:
        print(shown(f"{path}: {brk}"))  # a tampered line may be quoted
    if breaks:
        print(f"vmguard: log {path} is NOT intact ({len(breaks)} break(s))", file=sys.stderr)
        return ExitCode.FINDINGS
    lines = len(path.read_bytes().splitlines())
    print(f"{path}: intact ({lines} events, hash chain verified)")
    return ExitCode.OK


def _watch(args: argparse.Namespace) -> int:
    from vmguard.audit.watch import watch

    return watch(
        load_inventory(args.inventory, rule_ids()),
        firewall_every=args.firewall_every,
        duration=args.duration,
        out=sys.stdout,
    )


def _demo(args: argparse.Namespace) -> int:
    from vmguard.demo.run import run_demo

    return run_demo(Path(args.out), sys.stdout)


def _register_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="audit every VM of an inventory and the host (read-only)")
    p.add_argument("--inventory", "-i", required=True, help="inventory YAML file")
    p.add_argument("--out", default="audit_reports", help="report folder (default: %(default)s)")
    p.add_argument("--format", default="json,html,md", help="comma-separated: json,html,md")
    p.add_argument(
        "--fail-on",
        default="high",
        choices=LEVELS,
        help="exit 1 for failing findings at or above this severity (default: high)",
    )
    p.add_argument(
        "--keep", type=int, default=DEFAULT_KEEP, help="report folders to keep (default: %(default)s)"
    )
    p.add_argument(
        "--guest",
        choices=[m.value for m in GuestMode],
        default=GuestMode.OFFLINE.value,
        help="look inside guests: their disk images (offline, the default), also the running "
        "guest's agent (online), or not at all (off)",
    )
    p.set_defaults(func=_audit)


def _register_rules(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="the rule catalog")
    rsub = p.add_subparsers(dest="rules_command", metavar="list|show", required=True)
    lst = rsub.add_parser("list", help="every rule: id, severity, title")
    lst.add_argument("--area", choices=["NET", "FS", "DEV", "USR", "SW", "FW", "VET", "INV"])
    lst.set_defaults(func=_rules_list)
    show = rsub.add_parser("show", help="one rule: why it matters, how to fix, references")
    show.add_argument("id", help="rule id, e.g. VMG-DEV-001")
    show.set_defaults(func=_rules_show)


def _register_log(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="vmguard's hash-chained event log")
    lsub = p.add_subparsers(dest="log_command", metavar="verify", required=True)
    verify = lsub.add_parser("verify", help="exit 1 if any line was edited, removed or reordered")
    verify.add_argument("--log", help="log file (default: $VMGUARD_LOG or the system log)")
    verify.set_defaults(func=_log_verify)


def _register_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="re-audit a VM within 2 s of a configuration change")
    p.add_argument("--inventory", "-i", required=True, help="inventory YAML file")
    p.add_argument(
        "--firewall-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="re-audit the host firewall this often (default: %(default)s)",
    )
    p.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_watch)


def _register_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build a small demo lab (no hypervisor) and audit it")
    p.add_argument("--out", default="audit_reports", help="report folder (default: %(default)s)")
    p.set_defaults(func=_demo)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    for add in (_register_audit, _register_rules, _register_log, _register_watch, _register_demo):
        add(sub)
