"""`vmguard inventory check`: validate an inventory and the policies it names."""

from __future__ import annotations

import argparse
import sys

from vmguard.cli.output import add_format, print_json
from vmguard.errors import ExitCode
from vmguard.inventory_loader import check_inventory


def register(sub: argparse._SubParsersAction) -> None:
    inventory = sub.add_parser("inventory", help="check an inventory file")
    cmds = inventory.add_subparsers(dest="inventory_command", metavar="SUBCOMMAND", required=True)
    check = cmds.add_parser("check", help="validate an inventory and every policy it names")
    check.add_argument("file", metavar="FILE")
    add_format(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    checked = check_inventory(args.file)
    inv = checked.inventory
    if args.format == "json":
        print_json(
            {
                "file": args.file,
                "ok": inv is not None,
                "problems": [p.to_dict() for p in checked.problems],
                "vms": [
                    {"name": e.pattern, "connection": e.connection, "policy": e.policy.name}
                    for e in (inv.vms if inv else ())
                ],
            }
        )
    else:
        for problem in checked.problems:
            print(problem, file=sys.stderr)
        if inv is not None:
            print(
                f"{args.file}: ok ({len(inv.vms)} VM entries, {len(inv.connections)} "
                f"connections, policies: {', '.join(p.name for p in inv.policies)})"
            )
    return ExitCode.OK if inv is not None else ExitCode.BAD_INPUT
