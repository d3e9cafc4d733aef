"""`vmguard inventory check`: validate an inventory, the policies it names and, unless
--offline, that each VM it names exactly exists on its connection."""

from __future__ import annotations

import argparse
import sys

from vmguard.audit.catalog import rule_ids
from vmguard.cli.output import OutputFormat, add_format, add_inventory, print_document
from vmguard.core.errors import ExitCode, Problem, Severity, UsageError
from vmguard.drivers.session import Session
from vmguard.inventory.loader import check_inventory
from vmguard.inventory.model import Inventory


def register(sub: argparse._SubParsersAction) -> None:
    inventory = sub.add_parser("inventory", help="check an inventory file")
    cmds = inventory.add_subparsers(dest="inventory_command", metavar="SUBCOMMAND", required=True)
    check = cmds.add_parser(
        "check",
        help="validate an inventory, every policy it names, and that its VMs exist "
        "(exit 2 a problem, 3 a hypervisor could not be asked)",
    )
    check.add_argument("file", metavar="FILE", nargs="?", help="the inventory (or give it with -i)")
    add_inventory(check, default=None)
    check.add_argument(
        "--offline",
        action="store_true",
        help="check the files only, not that the VMs exist on their hypervisors (says so)",
    )
    add_format(check)
    check.set_defaults(func=run_check)


def _hosts(inv: Inventory | None, offline: bool) -> tuple[list[Problem], list[str]]:
    """VMs the hypervisors lack (problems), and the connections that could not be asked."""
    if inv is None or offline:
        return [], []
    with Session(inv) as session:
        return session.absent_problems(), [str(e) for e in session.errors]


def _status(inv: Inventory | None, offline: bool, unasked: list[str]) -> str:
    if offline:
        return "VM names not checked against the hypervisors (--offline)"
    if unasked:
        return "VM names not checked on every connection"
    return f"every exactly named VM exists on its connection ({len(inv.connections)} asked)" if inv else ""


def run_check(args: argparse.Namespace) -> int:
    args.file = args.file or args.inventory
    if not args.file or args.inventory not in (None, args.file):
        raise UsageError("inventory check: name one inventory, as FILE or with -i")
    checked = check_inventory(args.file, rule_ids())
    inv = checked.inventory
    missing, unasked = _hosts(inv, args.offline)
    problems = [*checked.problems, *missing]
    ok = inv is not None and not any(p.severity is Severity.ERROR for p in missing)
    code = ExitCode.BAD_INPUT if not ok else ExitCode.CANNOT_RUN if unasked else ExitCode.OK
    if args.format is OutputFormat.JSON:
        print_document(
            "inventory-check",
            {
                "file": args.file,
                "ok": ok,
                "problems": [p.to_dict() for p in problems],
                "hosts_checked": not args.offline and not unasked,
                "incomplete": unasked,
                "exit_code": int(code),
                "vms": [
                    {"name": e.pattern, "connection": e.connection, "policy": e.policy.name}
                    for e in (inv.vms if inv else ())
                ],
            },
        )
        return code
    for problem in problems:
        print(problem, file=sys.stderr)
    for why in unasked:
        print(f"vmguard: incomplete: {why}", file=sys.stderr)
    if ok:
        print(
            f"{args.file}: {'incomplete' if unasked else 'ok'} ({len(inv.vms)} VM entries, "
            f"{len(inv.connections)} connections, policies: {', '.join(p.name for p in inv.policies)}); "
            f"{_status(inv, args.offline, unasked)}"
        )
    return code
