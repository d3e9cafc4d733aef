"""Format rules that need random access, checked on vmguard's own copy of the bytes.

HDF5's addresses point anywhere in the file, backwards too, so its walk (every byte
belongs to a structure reached from the root group, or is zero) cannot run on the
stream the worker sees, except for a file small enough for the worker to hold whole
(hdf5.WALKED_HERE). A larger one is walked here, on the copy the copier keeps (a sealed memfd for a
small file, the staged file for a large one: Copier.copy keep), which a sandboxed
process (walk_worker.py: the libmagic workers' confinement) maps read-only: the guest's
file is never read again, and memory is the page cache's. The walk counts objects,
messages and extents and detects loops; its answer joins the worker's: the file is
refused unless both pass.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from vmguard.quarantine.detect import _WORKER_ENV, Answer
from vmguard.quarantine.validators import hdf5

WALKER = Path(__file__).with_name("walk_worker.py")
TIMEOUT = 300.0  # seconds for one file's walk (a million chunks take about a minute)


def needs_walk(head: bytes, size: int) -> bool:
    """Whether a file of `size` bytes that starts with `head` is walked here (its own
    copy is kept for it): HDF5 too large for the worker to walk it."""
    return head.startswith(hdf5.SIGNATURE) and hdf5.walked_elsewhere(size)


def walk(own: int, head: bytes, size: int) -> str | None:
    """The broken rule ("" when none) of the file whose own copy is `own`; None when
    it is not walked here (not HDF5, or small enough for the worker to walk it)."""
    if not needs_walk(head, size):
        return None
    if own == -1:
        return "hdf5: the structure walk could not run (no copy of the file to read)"
    try:
        proc = subprocess.run(  # noqa: S603 - our own script, by path, no shell
            [sys.executable, "-I", str(WALKER)],
            stdin=own,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_WORKER_ENV,
            cwd="/",
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"hdf5: the structure walk took more than {TIMEOUT:.0f} s"
    if proc.returncode != 0:
        return f"hdf5: the structure walk did not finish (exit status {proc.returncode})"
    return proc.stdout.decode("utf-8", "replace")


def judged(answer: Answer | None, walked: str | None, size: int) -> Answer | None:
    """The worker's answer with the walk's: a file of `size` bytes the worker validated
    as HDF5 is invalid if the walk found a broken rule, or did not run where it had to."""
    if answer is None or answer.problem is not None or not answer.parts or answer.parts[0][1] != hdf5.FMT:
        return answer
    if walked is None and hdf5.walked_elsewhere(size):
        walked = "hdf5: the structure walk did not run (the file does not start with the HDF5 signature)"
    return dataclasses.replace(answer, problem=("invalid-format", walked)) if walked else answer
