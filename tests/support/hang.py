"""A read that waits on a planted FIFO fails its test instead of hanging the suite."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Hung(BaseException):
    """Not an OSError (nor an Exception): no reader's `except OSError` can swallow it."""


@contextlib.contextmanager
def no_hang(seconds: float = 10) -> Iterator[None]:
    """Raise Hung in whatever blocks for `seconds`, and again every second after it (a
    reader that swallowed one and blocks again is interrupted too)."""

    def expire(*_args: object) -> None:
        raise Hung(f"blocked for more than {seconds} s: a planted FIFO waited on")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
