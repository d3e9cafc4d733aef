"""`vmguard scanners setup`: make the host's clamd ready for vet (offline too)."""

from __future__ import annotations

import argparse

from vmguard.core.errors import ExitCode


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
    setup.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    from vmguard.quarantine.scanners import ScanError
    from vmguard.quarantine.scanners.setup import setup

    try:
        for step in setup(args.config, restart=not args.no_restart):
            print(step, flush=True)
    except OSError as err:  # not root, no clamd.conf, an unwritable database directory
        raise ScanError(f"{err.filename or 'clamd set-up'}: {err.strerror or err}") from err
    return ExitCode.OK
