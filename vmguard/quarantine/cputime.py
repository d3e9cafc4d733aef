"""The CPU time a process used so far: what the deadlines of vmguard's sandboxed
processes count (the libmagic workers, detect.py; the HDF5 structure walk,
structure.py), not the clock's, so a process a loaded machine does not run never runs
out of time, while one that computes forever (a file made to be slow) does."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat's unit of CPU time


def cpu_seconds(pid: int) -> float | None:
    """The user and system CPU seconds process `pid` used so far; None when it cannot
    be read (no /proc, or the process was reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()  # the name may hold spaces
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS
