"""Small helpers shared by the CLI areas: the --format option, JSON printing, and the
guard on the command's own output streams."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from vmguard.core.display import SafeStream


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    choices = choices or ("text", "json")
    parser.add_argument(
        "--format", choices=choices, default=choices[0], help=f"output format (default {choices[0]})"
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
