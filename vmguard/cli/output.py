"""What every CLI area shares: one vocabulary of options (--format, -i/--inventory,
--fail-on, their choices from enums), versioned JSON printing, and the guard on the
command's own output streams."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any

from vmguard.cli.defaults import INVENTORY
from vmguard.core.display import SafeStream
from vmguard.core.findings import Level


class OutputFormat(StrEnum):
    """Every name --format accepts, on every command (a command offers the ones it can)."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    YAML = "yaml"  # `policy show`: the policy's own language


class FailOn(StrEnum):
    """--fail-on: the severities, most severe first, and `never` (only exit 3 applies)."""

    CRITICAL = Level.CRITICAL.value
    HIGH = Level.HIGH.value
    MEDIUM = Level.MEDIUM.value
    LOW = Level.LOW.value
    INFO = Level.INFO.value
    NEVER = "never"

    @property
    def level(self) -> Level | None:
        """The threshold severity; None for `never`."""
        return None if self is FailOn.NEVER else Level(self.value)


def enum_option(enum: type[StrEnum], choices: Sequence[StrEnum] | None = None) -> dict[str, Any]:
    """add_argument() keywords for an option whose values are an enum's (or some of them):
    the value arrives as the enum member, a wrong one is refused naming every choice."""
    allowed = list(choices or enum)

    def convert(text: str) -> StrEnum:
        if text in allowed:
            return enum(text)
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(allowed)})")

    return {"type": convert, "choices": allowed, "metavar": "{" + ",".join(allowed) + "}"}


def add_format(
    parser: argparse.ArgumentParser, *formats: OutputFormat, default: OutputFormat | None = None
) -> None:
    """--format with the formats this command prints (text and json unless told)."""
    formats = formats or (OutputFormat.TEXT, OutputFormat.JSON)
    default = default or formats[0]
    parser.add_argument(
        "--format",
        **enum_option(OutputFormat, formats),
        default=default,
        help=f"output format (default: {default})",
    )


def add_inventory(parser: argparse.ArgumentParser, *, default: str | None = str(INVENTORY)) -> None:
    """-i/--inventory, the same on every command that reads an inventory; it defaults to
    /etc/vmguard/inventory.yaml (None: no default, for commands that also take a FILE)."""
    shown_default = f" (default: {default})" if default else ""
    parser.add_argument(
        "-i",
        "--inventory",
        default=default,
        metavar="FILE",
        help=f"inventory YAML file (hosts, VMs, policies){shown_default}",
    )


def add_fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on",
        **enum_option(FailOn),
        default=FailOn.HIGH,
        help="exit 1 for a failing finding at or above this severity; never: only exit 3 "
        "(default: %(default)s)",
    )


@contextlib.contextmanager
def safe_streams() -> Iterator[None]:
    """stdout and stderr through display.terminal_safe() while a command runs.

    Every renderer shows untrusted text through display.shown() already; this is the
    backstop that keeps a missed path from acting on the admin's terminal.
    """
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def schema_id(kind: str) -> str:
    """The `schema` key of a command's JSON: its schema ships as vmguard/cli/schema/<kind>-v1.json.
    Additive changes keep v1; removing or retyping a key makes v2."""
    return f"vmguard/{kind}/v1"


def print_document(kind: str, data: dict[str, Any]) -> None:
    """A command's JSON result: an object that names its versioned schema first."""
    print_json({"schema": schema_id(kind), **data})
