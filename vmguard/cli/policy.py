"""`vmguard policy check|show`: validate policy files, print the effective policy."""

from __future__ import annotations

import argparse
import sys

import yaml

from vmguard.audit.catalog import rule_ids
from vmguard.cli.output import OutputFormat, add_format, print_document, print_json
from vmguard.core.errors import ExitCode, PolicyError, Severity
from vmguard.policy.dump import to_data
from vmguard.policy.loader import Checked, check_policy


def register(sub: argparse._SubParsersAction) -> None:
    policy = sub.add_parser("policy", help="check policy files, show the effective policy")
    cmds = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = cmds.add_parser("check", help="validate policy files; every problem as file:line:col")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    add_format(check)
    check.set_defaults(func=run_check)
    show = cmds.add_parser("show", help="print a policy")
    show.add_argument("file", metavar="FILE")
    show.add_argument(
        "--resolved",
        action="store_true",
        help="with its bases merged and every default filled in (the default)",
    )
    add_format(show, OutputFormat.YAML, OutputFormat.JSON)
    show.set_defaults(func=run_show)


def _failed(checked: Checked, strict: bool) -> bool:
    return bool(checked.errors) or (strict and bool(checked.problems))


def run_check(args: argparse.Namespace) -> int:
    results = {f: check_policy(f, rule_ids()) for f in args.files}
    if args.format is OutputFormat.JSON:
        print_document(
            "policy-check",
            {
                "files": [
                    {
                        "file": f,
                        "ok": not _failed(c, args.strict),
                        "policy": c.policy.name if c.policy else None,
                        "problems": [p.to_dict() for p in c.problems],
                    }
                    for f, c in results.items()
                ]
            },
        )
    else:
        for file, checked in results.items():
            for problem in checked.problems:
                print(problem, file=sys.stderr)
            if not _failed(checked, args.strict):
                warned = sum(p.severity is Severity.WARNING for p in checked.problems)
                note = f", {warned} warning(s)" if warned else ""
                print(f"{file}: ok (policy '{checked.policy.name}'{note})")  # type: ignore[union-attr]
    failed = any(_failed(c, args.strict) for c in results.values())
    return ExitCode.BAD_INPUT if failed else ExitCode.OK


def run_show(args: argparse.Namespace) -> int:
    checked = check_policy(args.file, rule_ids())
    if checked.policy is None:
        raise PolicyError(list(checked.errors))
    data = to_data(checked.policy)
    if args.format is OutputFormat.JSON:  # the policy itself (policy/schema's shape)
        print_json(data)
    else:
        sys.stdout.write(f"# effective policy of {args.file} (bases merged, defaults filled in)\n")
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, width=100))
    return ExitCode.OK
