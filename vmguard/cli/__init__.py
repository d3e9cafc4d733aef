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
from vmguard.cli.output import safe_streams
from vmguard.core import eventlog, progress
from vmguard.core.display import shown
from vmguard.core.errors import ExitCode, InputError, VmguardError

AREAS = ("policy", "inventory", "vm", "firewall", "vet", "scanners", "audit", "batch", "system", "gate")
# The area that registers each command: a command imports only its own area (a vet run
# by a job epilog does not load the drivers, the audit engine or the firewall).
COMMANDS = {
    "policy": "policy",
    "inventory": "inventory",
    "vms": "vm",
    "plan": "vm",
    "apply": "vm",
    "rollback": "vm",
    "firewall": "firewall",
    "vet": "vet",
    "scanners": "scanners",
    "audit": "audit",
    "rules": "audit",
    "log": "audit",
    "watch": "audit",
    "demo": "audit",
    "batch": "batch",
    "report": "batch",
    "system": "system",
    "hook": "gate",
}

EPILOG = """\
exit codes:
  0  all good (plan: nothing to change)
  1  findings at or above the threshold, or files rejected by vet (plan: changes to make)
  2  bad input: policy, inventory or arguments (every problem is listed as file:line:col)
  3  could not run, or incomplete: something asked for was not seen (a hypervisor
     unreachable, a VM missing, a guest or disk not read, the firewall unreadable);
     vet: also done as its report says, but not logged, not cleared as asked, or its
     staging not removed
  4  plan: only changes to make by hand are left
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.BAD_INPUT, f"vmguard: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for argv's command, or for all commands (help, no or unknown command)."""
    parser = _Parser(
        prog="vmguard",
        description="Enforce and audit security policy on virtual machines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for area in _areas(sys.argv[1:] if argv is None else argv):
        importlib.import_module(f"vmguard.cli.{area}").register(sub)
    _add_global_options(parser, top=True)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """-q/-v on every command and subcommand, before or after its name (`vmguard -q
    audit` and `vmguard audit -q`); a subcommand's parser leaves them unset unless given,
    so an option before the command name is not reset by the subcommand's default."""
    unset = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("output")
    group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display or step lines on stderr", **unset
    )
    group.add_argument(
        "-v", "--verbose", action="count", help="say each step (-vv: also debug details)", **unset
    )
    if top:
        parser.set_defaults(verbose=0)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _add_global_options(child, top=False)


def _areas(argv: Sequence[str]) -> tuple[str, ...]:
    command = next((a for a in argv if not a.startswith("-")), None)
    return (COMMANDS[command],) if command in COMMANDS else AREAS


def main(argv: Sequence[str] | None = None) -> int:
    # The run's one event log, made here from the environment and passed down to every
    # command (args.events) and from there to whatever logs.
    events = eventlog.EventLog.from_environment()
    with safe_streams():
        return _main(argv, events)


def _main(argv: Sequence[str] | None, events: eventlog.EventLog) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args.events = events
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return ExitCode.BAD_INPUT
    progress.configure(progress.verbosity_of(args.quiet, args.verbose), sys.stderr)
    try:
        return int(args.func(args))
    except InputError as err:
        for problem in err.problems:  # may quote a value from a host's report
            print(shown(problem), file=sys.stderr)
        return err.exit_code
    except VmguardError as err:
        print(f"vmguard: {shown(err)}", file=sys.stderr)  # may quote a VM's name or path
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
