"""How much the command says on stderr besides its results: -q/-v, and a progress
display for long steps (guest inspection, a vet of many files, power cycles).

The library stays silent by default (a job runner calling `vmguard.vet()` sees no
progress); the CLI sets the display up once per run with `configure()`. A live display
is drawn only when stderr is a terminal and the run is not --quiet: under cron, systemd
or a pipe nothing is drawn, and with -v each step is one plain log line instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TextIO

from vmguard.core.display import shown

LOGGER = logging.getLogger("vmguard")


class Verbosity(IntEnum):
    QUIET = 0  # errors only
    NORMAL = 1  # results, warnings, and a progress display on a terminal
    VERBOSE = 2  # also every step and every logged event, one line each
    DEBUG = 3


LOG_LEVELS = {
    Verbosity.QUIET: logging.ERROR,
    Verbosity.NORMAL: logging.WARNING,
    Verbosity.VERBOSE: logging.INFO,
    Verbosity.DEBUG: logging.DEBUG,
}

Advance = Callable[[int], None]


@dataclass(frozen=True)
class ProgressDisplay:
    """Where steps are shown: `live` draws a bar on `stream` (a terminal)."""

    verbosity: Verbosity = Verbosity.NORMAL
    stream: TextIO | None = None
    live: bool = False


_display = ProgressDisplay()  # silent until the CLI configures it


def verbosity_of(quiet: bool, verbose: int) -> Verbosity:
    """-q wins over -v (a cron line with -q stays quiet whatever else it says)."""
    if quiet:
        return Verbosity.QUIET
    return Verbosity(min(Verbosity.NORMAL + verbose, Verbosity.DEBUG))


def configure(verbosity: Verbosity, stream: TextIO) -> ProgressDisplay:
    """Set up stderr output for this run (called once, by the CLI)."""
    global _display
    raw = getattr(stream, "inner", stream)  # the bar's own escapes, not SafeStream's
    live = verbosity >= Verbosity.NORMAL and _isatty(raw)
    _display = ProgressDisplay(verbosity, raw, live)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("vmguard: %(message)s"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(LOG_LEVELS[verbosity])
    LOGGER.propagate = False
    return _display


def current() -> ProgressDisplay:
    return _display


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def step(label: str, total: int | None = None) -> Iterator[Advance]:
    """A long step: yields advance(n) to count done units of `total` (None: unknown)."""
    text = shown(label)  # may name a VM or a file
    LOGGER.info("%s ...", text)
    if not _display.live:
        yield _ignore
        return
    with _bar(text, total) as advance:
        yield advance
    LOGGER.debug("%s done", text)


def _ignore(_n: int = 1) -> None:
    return None


@contextlib.contextmanager
def _bar(text: str, total: int | None) -> Iterator[Advance]:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

    console = Console(file=_display.stream or sys.__stderr__, stderr=True)
    columns = [SpinnerColumn(), "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total is None:
        columns = [SpinnerColumn(), "{task.description}", TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(escape(text), total=total)
        yield lambda n=1: bar.advance(task, n)
