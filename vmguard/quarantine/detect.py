"""Content-type detection through a pool of sandboxed libmagic workers (magic_worker.py).

Each worker is a separate process started with close_fds (it never sees the
destination), a minimal environment, and its own rlimits; every answer has a deadline,
and a worker that misses it is killed and replaced. The pool runs beside the copy, so
detection of one file overlaps the copying of the next.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

WORKER = Path(__file__).with_name("magic_worker.py")
TIMEOUT = 10.0  # seconds per file; libmagic on a few hundred bytes takes milliseconds
MAX_PENDING = 512  # bounds the memory held by heads waiting for an answer


class _Worker:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            cwd="/",
        )

    def ask(self, head: bytes) -> str | None:
        """The MIME type of head, or None if the worker failed or ran out of time."""
        try:
            os.write(self.proc.stdin.fileno(), struct.pack("!I", len(head)) + head)
            deadline = time.monotonic() + self.timeout
            size = struct.unpack("!I", self._read(4, deadline))[0]
            return self._read(size, deadline).decode("ascii", "replace") or None
        except (OSError, TimeoutError, EOFError):
            self.close()
            return None

    def _read(self, size: int, deadline: float) -> bytes:
        fd, data = self.proc.stdout.fileno(), b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


class Detector:
    """`with Detector() as d: future = d.submit(head)`; results in submission order."""

    def __init__(self, workers: int | None = None, timeout: float = TIMEOUT) -> None:
        self.size = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.local = threading.local()
        self.workers: list[_Worker] = []
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.size, thread_name_prefix="vmguard-magic")
        self.pending: deque[Future] = deque()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for worker in self.workers:
            if worker.alive:
                worker.close()

    def submit(self, head: bytes) -> Future:
        while len(self.pending) >= MAX_PENDING:
            self.pending.popleft().result()
        future = self.pool.submit(self._detect, head)
        self.pending.append(future)
        return future

    def _detect(self, head: bytes) -> str | None:
        worker = getattr(self.local, "worker", None)
        if worker is None or not worker.alive:
            worker = self.local.worker = _Worker(self.timeout)
            with self.lock:
                self.workers.append(worker)
        return worker.ask(head)
