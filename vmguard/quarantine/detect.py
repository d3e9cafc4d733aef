"""Content-type detection through a pool of sandboxed libmagic workers (magic_worker.py).

Each worker is a separate process started with close_fds (it never sees the
destination), a minimal environment, and its own rlimits. Requests are pipelined: the
copy loop writes a file's head to the least busy worker and goes on copying; answers
are collected whenever they are ready, without threads. A worker that keeps one request
longer than the deadline (or dies) is killed; that file's type is unknown (None), and
the worker's other requests go to a fresh worker.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

WORKER = Path(__file__).with_name("magic_worker.py")
TIMEOUT = 10.0  # seconds per file; libmagic on a few hundred bytes takes milliseconds
IN_FLIGHT = 64  # requests per worker: 64 x (512 + 4) bytes stays below a pipe's buffer
BATCH = 16  # requests written to a worker at once
_FRAME = struct.Struct("!I")
READY = b"vmguard libmagic worker ready\n"  # the worker's first words, once confined
# glibc gives the worker zeroed memory (and fills freed memory): libmagic 5.44 reads
# bytes it never wrote (one past a search region), and its answer must not depend on
# what the previous file left in the heap. perturb works only without the tcache.
_WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.perturb=255",
}


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, env=_WORKER_ENV, cwd="/",
        )
        self.fd = self.proc.stdout.fileno()
        self.waiting: deque[tuple[int, bytes]] = deque()  # (ticket, head), oldest first
        self.unsent: list[bytes] = []  # requests waiting to be written, in BATCH
        self.since = time.monotonic()  # when the oldest request started to wait
        self.buffer = b""
        self.started = False  # READY was read

    def send(self, ticket: int, head: bytes) -> None:
        self.waiting.append((ticket, head))
        self.unsent.append(_FRAME.pack(len(head)) + head)
        if len(self.unsent) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if len(self.unsent) == len(self.waiting):  # none was in flight: the clock starts now
            self.since = time.monotonic()
        data = memoryview(b"".join(self.unsent))
        self.unsent = []
        try:
            while data:  # never more than the pipe holds (IN_FLIGHT): this never blocks
                data = data[os.write(self.proc.stdin.fileno(), data):]
        except BrokenPipeError:
            pass  # a dead worker: _collect sees its end and hands its requests on

    def receive(self) -> list[tuple[int, str | None]] | None:
        """Answers that arrived (call when readable); None if the worker died."""
        chunk = os.read(self.fd, 65536)
        if not chunk and not self.started:
            # Not a hostile file's doing (none was read yet): every file would fail alike.
            raise OSError(f"a libmagic worker did not start (exit status {self.proc.wait()})")
        if not chunk:
            return None
        self.buffer += chunk
        if not self.started and not self._take_ready():
            return []
        answers = []
        while len(self.buffer) >= 4:
            size = _FRAME.unpack_from(self.buffer)[0]
            if len(self.buffer) < 4 + size:
                break
            answer, self.buffer = self.buffer[4:4 + size], self.buffer[4 + size:]
            answers.append((self.waiting.popleft()[0], answer.decode("ascii", "replace") or None))
            self.since = time.monotonic()
        return answers

    def _take_ready(self) -> bool:
        if len(self.buffer) < len(READY):
            return False
        if not self.buffer.startswith(READY):
            raise OSError("a libmagic worker did not start: it said something else")
        self.buffer, self.started = self.buffer[len(READY):], True
        return True

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


class Pending:
    """The type of one submitted head, once the pool has it."""

    def __init__(self, detector: Detector, ticket: int) -> None:
        self.detector, self.ticket = detector, ticket

    def ready(self) -> bool:
        return self.ticket in self.detector.answers

    def result(self) -> str | None:
        return self.detector.result(self.ticket)


class Detector:
    """`with Detector() as d: pending = d.submit(head); ...; pending.result()`."""

    def __init__(self, workers: int | None = None, timeout: float = TIMEOUT) -> None:
        self.size = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.workers: list[_Worker] = []
        self.answers: dict[int, str | None] = {}
        self.tickets = 0

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []

    def submit(self, head: bytes) -> Pending:
        # Answers are collected only when a worker has a full pipeline: one select per
        # batch of answers, not one per file.
        if len(self.workers) < self.size:
            self.workers.append(_Worker())
        worker = min(self.workers, key=lambda w: len(w.waiting))
        while len(worker.waiting) >= IN_FLIGHT:
            self._collect()
            worker = min(self.workers, key=lambda w: len(w.waiting))
        self.tickets += 1
        worker.send(self.tickets, head)
        return Pending(self, self.tickets)

    def result(self, ticket: int) -> str | None:
        while ticket not in self.answers:
            self._collect()
        return self.answers.pop(ticket)

    def _collect(self) -> None:
        """Wait for answers (or a deadline) and take all that arrived."""
        busy = [w for w in self.workers if w.waiting]
        if not busy:
            return
        for worker in busy:
            worker.flush()
        wait = max(0.0, min(w.since for w in busy) + self.timeout - time.monotonic())
        ready = select.select([w.fd for w in busy], [], [], wait)[0]
        for worker in busy:
            if worker.fd in ready:
                answers = worker.receive()
                if answers is None:
                    self._replace(worker)
                else:
                    self.answers.update(answers)
            elif time.monotonic() - worker.since >= self.timeout:
                self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill a stuck or dead worker: its oldest request gets no type, the rest go on."""
        worker.close()
        self.workers.remove(worker)
        ticket, _ = worker.waiting.popleft()
        self.answers[ticket] = None
        fresh = _Worker()
        self.workers.append(fresh)
        for ticket, head in worker.waiting:
            fresh.send(ticket, head)
