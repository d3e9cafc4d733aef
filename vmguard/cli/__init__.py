"""The `vmguard` command: argument parsing and exit codes only; the library does the work.

Each area registers its subcommands from its own module (vmguard.cli.<area>) with a
`register(subparsers)` function. Errors are caught once here and mapped to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from vmguard import __version__
from vmguard.errors import ExitCode, InputError, VmguardError

AREAS = ("policy", "inventory", "vm", "firewall", "vet", "audit", "batch")

EPILOG = """\
exit codes:
  0  all good
  1  findings at or above the threshold, or files rejected by vet
  2  bad input: policy, inventory or arguments (every problem is listed as file:line:col)
  3  could not run: hypervisor unreachable, no permission, a required tool missing
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.BAD_INPUT, f"vmguard: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vmguard",
        description="Enforce and audit security policy on virtual machines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for area in AREAS:
        importlib.import_module(f"vmguard.cli.{area}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        return int(args.func(args))
    except InputError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return err.exit_code
    except VmguardError as err:
        print(f"vmguard: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vmguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `vmguard vms | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's final flush cannot raise again, and exit as a shell would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
