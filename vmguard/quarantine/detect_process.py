"""One worker process of the detector pool (detect.py): its start in a minimal
environment, the frames on its pipes (a file's chunks in, its answer, a HINT or READY
out), and how long it may go without progress (left). The worker's own side is
magic_worker.py."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from vmguard.quarantine.answer import Answer
from vmguard.quarantine.cputime import cpu_seconds

WORKER = Path(__file__).with_name("magic_worker.py")
START_TIMEOUT = 60.0  # to get ready: loading libmagic's database takes a while on a busy host
QUIET = 1.0  # seconds without progress before a worker's CPU time is looked at
# Clock seconds without progress, whatever its CPU time: a worker that sleeps (an exploited
# libmagic) must not hang the vet; any machine runs a process with work within this.
BACKSTOP = 300.0
RETAIN = 64 << 10  # files up to this size are kept until answered, to hand on
PIPE_SIZE = 1 << 20  # the worker's stdin pipe: one chunk per wake-up
_F_SETPIPE_SZ = 1031
FRAME = struct.Struct("!I")
# A frame header with this bit stands for that many bytes left out: bytes the worker's
# validator said it skips (a HINT from the worker), so they need not cross the pipe.
ELIDED = 0x80000000
HINT = 0xFFFFFFFF  # from the worker, then 8 bytes: its file's offset up to which it skips
_HINT = struct.Struct("!IQ")
READY = b"vmguard libmagic worker ready\n"  # the worker's first words, once confined
REFUSED = b"vmguard libmagic worker refused: "  # its words instead, then why (magic_types.heap_leak)
# glibc gives the worker zeroed memory (and fills freed memory): libmagic 5.44 reads
# bytes it never wrote (one past a search region), and its answer must not depend on
# what the previous file left in the heap. perturb works only without the tcache. A
# worker checks that both took effect (magic_types.heap_leak) before it is ready.
WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.perturb=255",
}




class Request:
    """One file sent to a worker: its frames while small enough to send again (RETAIN)."""


    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.frames: list[bytes] | None = []  # kept while small enough to send again
        self.size = 0
        self.dead = False  # its worker died and it could not be handed on
        self.worker: WorkerProcess | None = None
        self.fed = 0  # bytes of the file fed so far
        self.skip_to = 0  # the worker skips the file's bytes up to here (its HINT)

    def keep(self, frame: bytes) -> None:
        self.size += len(frame)
        if self.frames is not None and self.size <= RETAIN:
            self.frames.append(frame)
        else:
            self.frames = None


class WorkerProcess:
    """A sandboxed magic_worker.py process and what is on its way to and from it."""


    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=WORKER_ENV,
            cwd="/",
        )
        self.fd = self.proc.stdout.fileno()
        self.wfd = self.proc.stdin.fileno()
        os.set_blocking(self.wfd, False)
        with contextlib.suppress(OSError):  # a smaller pipe only means more wake-ups
            fcntl.fcntl(self.wfd, _F_SETPIPE_SZ, PIPE_SIZE)
        self.waiting: deque[Request] = deque()  # oldest first
        self.unsent: list[bytes] = []
        self.unsent_bytes = 0
        self.out = memoryview(b"")  # being written
        self.since = time.monotonic()  # the last progress while something was waiting
        self.mark = (-1.0, 0.0)  # (since, its CPU seconds then) once quiet: see left()
        self.buffer = b""
        self.started = False  # READY was read
        self.broken = False  # its stdin is closed: it is dead or dying

    def receive(self) -> list[tuple[int, Answer | None]] | None:
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
            size = FRAME.unpack_from(self.buffer)[0]
            if size == HINT:
                if not self._take_hint():
                    break
                continue
            if len(self.buffer) < 4 + size:
                break
            answer, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
            answers.append((self.waiting.popleft().ticket, Answer.decode(answer)))
            self.since = time.monotonic()
        return answers

    def _take_hint(self) -> bool:
        """The file being validated (the oldest waiting) is skipped up to an offset."""
        if len(self.buffer) < _HINT.size:
            return False
        until = _HINT.unpack_from(self.buffer)[1]
        self.buffer, self.since = self.buffer[_HINT.size :], time.monotonic()
        if self.waiting:
            self.waiting[0].skip_to = max(self.waiting[0].skip_to, until)
        return True

    def _take_ready(self) -> bool:
        if len(self.buffer) < len(READY):
            return False
        if self.buffer.startswith(REFUSED) and b"\n" in self.buffer:
            why = self.buffer[len(REFUSED) : self.buffer.index(b"\n")][:300].decode("ascii", "replace")
            raise OSError(f"a libmagic worker did not start: {why}")
        if not self.buffer.startswith(READY):
            raise OSError("a libmagic worker did not start: it said something else")
        self.buffer, self.started = self.buffer[len(READY) :], True
        self.since = time.monotonic()  # a slow start is the machine's doing, not a file's
        return True

    def write_some(self) -> bool:
        """Write what the pipe takes now; True when nothing is left unsent."""
        while not self.broken and (self.out or self.unsent):
            if not self.out:  # one frame is written as it is, small ones together
                self.out = memoryview(self.unsent[0] if len(self.unsent) == 1 else b"".join(self.unsent))
                self.unsent, self.unsent_bytes = [], 0
            try:
                written = os.write(self.wfd, self.out)
            except BlockingIOError:
                return False
            except BrokenPipeError:  # dead: _collect sees its end and hands its files on
                self.broken, self.out, self.unsent, self.unsent_bytes = True, memoryview(b""), [], 0
                break
            self.out, self.since = self.out[written:], time.monotonic()
        return True

    def has_unsent(self) -> bool:
        """Bytes wait to be written to a live worker."""
        return not self.broken and bool(self.out or self.unsent)

    def left(self, timeout: float, now: float) -> float:
        """Seconds it may still go without progress (<= 0: out of time). Once quiet for
        QUIET s, its own CPU time is counted from then on, not the clock's: a worker
        starved by a loaded machine (or waiting for the copy) gives no file away, one that
        computes without taking a byte or answering (a file made to be slow) is stopped.
        Starting is not a file's doing."""
        limit = timeout if self.started else max(timeout, START_TIMEOUT)
        quiet = now - self.since
        if quiet < min(QUIET, limit):
            return min(QUIET, limit) - quiet
        cpu = cpu_seconds(self.proc.pid)
        if cpu is None:  # no /proc: the clock's time
            return limit - quiet
        if self.mark[0] != self.since:  # progress since the last look: count from now
            self.mark = (self.since, cpu)
        # It cannot use CPU faster than the clock runs; one that sleeps meets BACKSTOP.
        return min(limit - (cpu - self.mark[1]), BACKSTOP - quiet)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
