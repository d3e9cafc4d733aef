"""One audit at a time per report folder: overlapping cron runs fail fast instead of racing."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from vmguard.core.errors import AuditError
from vmguard.core.regular import open_regular, why_refused

LOCK = ".lock"


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive flock on <out>/.lock; AuditError (exit 3) if another run holds it.

    flock is released by the kernel when the holder dies, so a killed run leaves no stale lock.
    """
    path = out / LOCK
    try:
        fd = open_regular(path, os.O_RDWR | os.O_CREAT)  # a planted link or FIFO: refused
    except OSError as err:
        raise AuditError(f"cannot open lock {path}: {why_refused(err)}") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise AuditError(f"another audit is running on {out} (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
