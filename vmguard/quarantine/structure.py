"""Format rules that need random access, checked on vmguard's own copy of the bytes.

HDF5's addresses point anywhere in the file, backwards too, so its walk (every byte
belongs to a structure reached from the root group, or is zero) cannot run on the
stream the worker sees, except for a file small enough for the worker to hold whole
(hdf5.WALKED_HERE). A larger one is walked here, on the copy the copier keeps (a sealed memfd for a
small file, the staged file for a large one: Copier.copy keep), which a sandboxed
process (walk_worker.py: the libmagic workers' confinement) maps read-only: the guest's
file is never read again, and memory is the page cache's. The walk counts objects,
messages and extents and detects loops; its answer joins the worker's: the file is
refused unless both pass. It runs while the next files are copied (the copy waits for
the disk, not for the walk), at most pipeline.MAX_WALKS at once. Its deadline counts
its own CPU time (cputime.py), as the libmagic workers' does: a walk a loaded machine
does not run gives no good file away; one that runs out of time (or sleeps past the
clock's BACKSTOP) is stopped and its file is `detector-timeout`, not invalid-format:
no rule of the format was found broken.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

from vmguard.quarantine.answer import Answer
from vmguard.quarantine.cputime import cpu_seconds
from vmguard.quarantine.detect_process import WORKER_ENV
from vmguard.quarantine.model import Reason
from vmguard.quarantine.validators import hdf5

WALKER = Path(__file__).with_name("walk_worker.py")
TIMEOUT = 300.0  # CPU seconds of the walk's own for one file (a million chunks take about a minute)
# Clock seconds, whatever its CPU time: a walk that sleeps (an exploited walker) must not
# hang the vet; a loaded machine gives a walk its TIMEOUT of CPU within this.
BACKSTOP = 3600.0
_TIMED_OUT = "hdf5: the structure walk used {:g} s of its CPU time or ran {:g} s in all without finishing"


def needs_walk(head: bytes, size: int) -> bool:
    """Whether a file of `size` bytes that starts with `head` is walked here (its own
    copy is kept for it): HDF5 too large for the worker to walk it."""
    return head.startswith(hdf5.SIGNATURE) and hdf5.walked_elsewhere(size)


def walk(own: int, head: bytes, size: int) -> Walking | None:
    """Start the walk of the file whose own copy is `own` (its answer: Walking.result);
    None when it is not walked here (not HDF5, or small enough for the worker to walk it).
    The walk runs beside the copy of the next files: the disk and the copy do not wait
    for it (a 256 MiB file's walk takes 0.1-0.5 s)."""
    if not needs_walk(head, size):
        return None
    if own == -1:
        return Walking(None, "hdf5: the structure walk could not run (no copy of the file to read)")
    proc = subprocess.Popen(  # noqa: S603 - our own script, by path, no shell
        [sys.executable, "-I", str(WALKER)],
        stdin=own,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=WORKER_ENV,
        cwd="/",
    )
    return Walking(proc)


class Walking:
    """One file's walk, running in its sandbox until result() is asked for."""

    def __init__(self, proc: subprocess.Popen | None, answer: str | None = None) -> None:
        self.proc, self.answer = proc, answer
        self.started = time.monotonic()
        self.reason = Reason.INVALID_FORMAT  # of a broken rule; a walk out of time is no rule

    def ready(self) -> bool:
        return self.answer is not None or self.proc.poll() is not None or self.left() <= 0

    def left(self) -> float:
        """Seconds it may still run (<= 0: out of time): TIMEOUT of its own CPU time, at
        most BACKSTOP of the clock's."""
        clock = time.monotonic() - self.started
        cpu = cpu_seconds(self.proc.pid)
        return min(TIMEOUT - (clock if cpu is None else cpu), BACKSTOP - clock)  # no /proc: the clock's

    def result(self) -> str:
        """The broken rule, "" when none (waits for the walk, at most until its deadline)."""
        if self.answer is None:
            self.answer = self._wait()
        return self.answer

    def _wait(self) -> str:
        while True:
            try:  # it cannot use CPU faster than the clock runs: no need to look sooner
                out, _ = self.proc.communicate(timeout=max(0.01, self.left()))
                break
            except subprocess.TimeoutExpired:
                if self.left() > 0:
                    continue
            self.proc.kill()
            out, _ = self.proc.communicate()
            if self.proc.returncode == -signal.SIGKILL:  # ours (it may have just finished)
                self.reason = Reason.DETECTOR_TIMEOUT
                return _TIMED_OUT.format(TIMEOUT, BACKSTOP)
            break
        if self.proc.returncode != 0:
            return f"hdf5: the structure walk did not finish (exit status {self.proc.returncode})"
        return out.decode("utf-8", "replace")

    def close(self) -> None:
        """Stop a walk whose answer is no longer wanted (the vet stops)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.proc.communicate()


def judged(answer: Answer | None, walking: Walking | None, size: int) -> Answer | None:
    """The worker's answer with the walk's (waited for): a file of `size` bytes the worker
    validated as HDF5 is invalid if the walk found a broken rule, or did not run where it
    had to; `detector-timeout` if the walk ran out of time."""
    walked = None if walking is None else walking.result()
    if answer is None or answer.problem is not None or not answer.parts or answer.parts[0][1] != hdf5.FMT:
        return answer
    if walking is None and hdf5.walked_elsewhere(size):
        walked = "hdf5: the structure walk did not run (the file does not start with the HDF5 signature)"
    reason = Reason.INVALID_FORMAT if walking is None else walking.reason
    return dataclasses.replace(answer, problem=(reason.value, walked)) if walked else answer
