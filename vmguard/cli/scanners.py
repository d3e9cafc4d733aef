"""`vmguard scanners setup`: make the host's clamd ready for vet (offline too)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmguard.cli.output import OutputFormat, add_format, print_document
from vmguard.core.display import shown_lines
from vmguard.core.errors import ExitCode

if TYPE_CHECKING:
    from vmguard.quarantine.scanners.setup import SetupResult


def register(sub: argparse._SubParsersAction) -> None:
    scanners = sub.add_parser("scanners", help="set up the content scanners vet uses")
    cmds = scanners.add_subparsers(dest="scanners_command", metavar="SUBCOMMAND", required=True)
    setup = cmds.add_parser(
        "setup",
        help="clamd: vmguard's site signatures (enough offline), the settings vet needs, started and checked",
    )
    setup.add_argument("--config", default="/etc/clamav/clamd.conf", help="clamd's configuration file")
    setup.add_argument(
        "--no-restart",
        action="store_true",
        help="do not (re)start clamd: wait for the running one and check it",
    )
    add_format(setup)
    setup.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    from vmguard.quarantine.scanners import ScanError
    from vmguard.quarantine.scanners.setup import setup

    try:
        result = setup(args.config, restart=not args.no_restart)
    except OSError as err:  # not root, no clamd.conf, an unwritable database directory
        raise ScanError(f"{err.filename or 'clamd set-up'}: {err.strerror or err}") from err
    if args.format is OutputFormat.JSON:
        print_document("scanners-setup", {**_document(result), "exit_code": int(ExitCode.OK)})
    else:
        print(shown_lines(_lines(result)))
    return ExitCode.OK


def _lines(result: SetupResult) -> list[str]:
    """The text: what changed (each line starts with `changed: `), then the check."""
    lines = [f"changed: {result.config}: {line}" for line in result.settings]
    lines += [f"changed: installed {result.database}"] if result.database else []
    lines += [f"changed: started: {result.started}"] if result.started else []
    return [*lines, f"clamd on {result.socket} checked: {result.checked}"]


def _document(result: SetupResult) -> dict[str, object]:
    return {
        "config": result.config,
        "settings": list(result.settings),
        "database": result.database,
        "started": result.started,
        "socket": result.socket,
        "checked": result.checked,
        "changed": result.changed,
    }
