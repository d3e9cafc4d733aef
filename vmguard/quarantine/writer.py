"""The staging writes of a vet, on their own thread, in the order they were asked for.

The copy reads, hashes and hands each file's bytes to a worker on the main thread; the
writes to staging (creating a small file and writing it whole, a large file's chunks)
run here meanwhile, so the disk works while the next bytes are read and checked. What
is written is always bytes the copy already holds and no longer changes: an immutable
`bytes` for a small file, a buffer that is read into again only once its write is done
(`wait(ticket)`). Every job runs, even after one failed (a job may close a descriptor);
the first failure (ENOSPC, EIO, ...) is raised on the main thread at its next call, and
the copy phase waits for every write before anything is committed.

Small files are handed over in batches (`add`): one job stages many files, so the two
threads meet once per batch instead of once per file (each meeting is a GIL hand-off,
a few futex calls and often a context switch: with one job per file they cost more
than the writes of a 4 KiB file). A batch is handed over when it is full, and before
any other job, so jobs still run in the order they were asked for.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable

WRITE_AHEAD = 32 << 20  # bytes of small files queued before the copy waits for the disk
# A queued small file counts as at least this many bytes against WRITE_AHEAD: it holds
# ~400 B of objects besides its bytes (its Place, its job, the bytes' header), so at most
# 16,384 tiny files wait (not all 100,000 files of 100 bytes, ~40 MB, on a slow disk).
FILE_COST = 2048
BATCH_FILES = 64  # small files per job
BATCH_BYTES = 1 << 20


class Writer:
    """`ticket = writer.submit(fn, *args)`; `writer.wait(ticket)`; `writer.close()`;
    `writer.add(fn, *args, size=n)` for a small file's staging (batched, no ticket)."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.submitted = self.done = 0
        self.error: BaseException | None = None
        self.changed = threading.Condition()
        self.queued: deque[tuple[int, int]] = deque()  # (ticket, bytes) of queued copies
        self.queued_bytes = 0
        self.batch: list[tuple[Callable[..., object], tuple]] = []
        self.batch_bytes = 0
        self.thread = threading.Thread(target=self._run, name="vmguard-stage", daemon=True)
        self.thread.start()

    def add(self, fn: Callable[..., object], *args: object, size: int) -> None:
        """Queue a small job into the current batch; `size`: the bytes it holds."""
        self.batch.append((fn, args))
        self.batch_bytes += max(size, FILE_COST)
        if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        if self.batch:
            batch, size = self.batch, self.batch_bytes
            self.batch, self.batch_bytes = [], 0
            self.submit(_run_all, batch, size=size)

    def submit(self, fn: Callable[..., object], *args: object, size: int = 0) -> int:
        """Queue a job; `size`: bytes it holds, counted against WRITE_AHEAD."""
        self._hand_over()  # the batched jobs were asked for first
        self.check()
        self.submitted += 1
        self.jobs.put((fn, args))
        if size:
            self.queued.append((self.submitted, size))
            self.queued_bytes += size
            while self.queued_bytes > WRITE_AHEAD:
                ticket, held = self.queued.popleft()
                self.queued_bytes -= held
                self.wait(ticket)
        return self.submitted

    def release(self, fd: int) -> None:
        """Close a descriptor once the jobs queued before (which may use it) have run."""
        self._hand_over()
        self.submitted += 1
        self.jobs.put((os.close, (fd,)))

    def wait(self, ticket: int | None = None) -> None:
        """Until job `ticket` (default: every job so far) is done; raises a failed job's error."""
        if ticket is None:
            self._hand_over()
        ticket = self.submitted if ticket is None else ticket
        if self.done < ticket:
            with self.changed:
                self.changed.wait_for(lambda: self.done >= ticket)
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Run what is queued, then stop the thread (raises nothing: see wait)."""
        self._hand_over_quietly()
        self.jobs.put(None)
        self.thread.join()

    def _hand_over_quietly(self) -> None:
        if self.batch:
            self.submitted += 1
            self.jobs.put((_run_all, (self.batch,)))
            self.batch, self.batch_bytes = [], 0

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except BaseException as err:  # noqa: BLE001 - handed to the main thread
                if self.error is None:
                    self.error = err
            with self.changed:
                self.done += 1
                self.changed.notify_all()


def _run_all(jobs: list[tuple[Callable[..., object], tuple]]) -> None:
    """A batch: every job runs, as if queued one by one; the first failure is raised."""
    error: BaseException | None = None
    for fn, args in jobs:
        try:
            fn(*args)
        except BaseException as err:  # noqa: BLE001 - raised below, after the others ran
            error = error or err
    if error is not None:
        raise error
