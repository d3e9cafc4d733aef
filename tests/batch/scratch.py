"""Scratch folders for the batch and fleet tests that a killed test run cannot leak.

A run stopped by SIGKILL or a timeout never reaches its `finally`: its folder and the
daemons it started (munged, slurmctld, slurmd) would stay. Each folder carries the
creating process id; the next run removes folders of dead processes and kills the
daemons listed in them, after checking each pid still runs a command from that folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

TMP = Path(tempfile.gettempdir())


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _ours(pid: str, root: Path) -> bool:
    """Whether `pid` still runs with `root` in its command line or environment."""
    try:
        proc = Path("/proc") / pid
        return any(str(root).encode() in (proc / f).read_bytes() for f in ("cmdline", "environ"))
    except OSError:
        return False


def _kill_listed(root: Path) -> None:
    for pids in root.rglob("pids"):
        for pid in pids.read_text().split():
            if pid.isdigit() and _ours(pid, root):  # not a reused pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)


def reap(prefix: str) -> None:
    """Remove `prefix<pid>-*` folders whose creating process is gone."""
    for root in TMP.glob(f"{prefix}*-*"):
        match = re.match(rf"{re.escape(prefix)}(\d+)-", root.name)
        if match and not _alive(int(match.group(1))):
            _kill_listed(root)
            shutil.rmtree(root, ignore_errors=True)


def scratch(prefix: str) -> Path:
    """A fresh folder /tmp/<prefix><pid>-XXXX, after reaping dead runs' folders."""
    reap(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def note_pid(folder: Path, pid: int) -> None:
    """Record a daemon this run started, in a folder inside its scratch folder."""
    with open(folder / "pids", "a") as out:
        out.write(f"{pid}\n")
