"""The staging writes of a vet, on their own thread, in the order they were asked for.

The copy reads, hashes and hands each file's bytes to a worker on the main thread; the
writes to staging (creating a small file and writing it whole, a large file's chunks)
run here meanwhile, so the disk works while the next bytes are read and checked. What
is written is always bytes the copy already holds and no longer changes: an immutable
`bytes` for a small file, a buffer that is read into again only once its write is done
(`wait(ticket)`). Every job runs, even after one failed (a job may close a descriptor);
the first failure (ENOSPC, EIO, ...) is raised on the main thread at its next call, and
the copy phase waits for every write before anything is committed.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable

WRITE_AHEAD = 32 << 20  # bytes of small files queued before the copy waits for the disk


class Writer:
    """`ticket = writer.submit(fn, *args)`; `writer.wait(ticket)`; `writer.close()`."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.submitted = self.done = 0
        self.error: BaseException | None = None
        self.changed = threading.Condition()
        self.queued: deque[tuple[int, int]] = deque()  # (ticket, bytes) of queued copies
        self.queued_bytes = 0
        self.thread = threading.Thread(target=self._run, name="vmguard-stage", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., object], *args: object, size: int = 0) -> int:
        """Queue a job; `size`: bytes it holds, counted against WRITE_AHEAD."""
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
        self.submitted += 1
        self.jobs.put((os.close, (fd,)))

    def wait(self, ticket: int | None = None) -> None:
        """Until job `ticket` (default: every job so far) is done; raises a failed job's error."""
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
        self.jobs.put(None)
        self.thread.join()

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
