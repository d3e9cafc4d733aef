"""Typing and whole-file validation in a pool of sandboxed workers (magic_worker.py).

Each worker is a separate process started with close_fds (it never sees the
destination), a minimal environment, and its own rlimits. The copy streams every
file's bytes to one worker as it reads them (frames on the worker's stdin, an empty
frame ends a file); the worker types the file from its head (vmguard's identification,
else libmagic) and runs that type's validator over all of it, then answers with the
type and what, if anything, breaks the format's rules. Requests are pipelined: the copy
goes on with the next file while a worker works; answers are collected whenever they
are ready, without threads. When a validator skips a data section (ROOT baskets, HDF5
and FITS data) the worker says so (a HINT) and the chunks it skips are left out of the
pipe (ELIDED frames): every byte is still hashed and copied here, and the worker still
reads every byte it judges. A worker that computes for the deadline (its own CPU
time) without progress (takes no bytes, gives no answer), or dies, is killed; its
oldest file gets no answer (None), and the other files it held go to a fresh worker if
they were small enough to keep (RETAIN), else they get None too (rejected: the guest
can only hurt its own job). A worker the machine is too busy to run, or one that waits
for the copy, uses no CPU time: it is never out of time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from vmguard.quarantine.answer import Answer
from vmguard.quarantine.cputime import cpu_seconds

WORKER = Path(__file__).with_name("magic_worker.py")
TIMEOUT = 10.0  # CPU seconds without progress; a validator takes a 1 MiB chunk in milliseconds
START_TIMEOUT = 60.0  # to get ready: loading libmagic's database takes a while on a busy host
QUIET = 1.0  # seconds without progress before a worker's CPU time is looked at
# Clock seconds without progress, whatever its CPU time: a worker that sleeps (an exploited
# libmagic) must not hang the vet; any machine runs a process with work within this.
BACKSTOP = 300.0
_STUCK = "made no progress for {:g} s of its CPU time or {:g} s in all"
IN_FLIGHT = 64  # files per worker before the copy waits for answers
FLUSH_BYTES = 64 << 10  # small frames are written together, up to this much
RETAIN = 64 << 10  # files up to this size are kept until answered, to hand on
PIPE_SIZE = 1 << 20  # the worker's stdin pipe: one chunk per wake-up
ELIDE_MIN = 64 << 10  # chunks this large are left out when the worker skips them
_F_SETPIPE_SZ = 1031
_FRAME = struct.Struct("!I")
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
_WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.perturb=255",
}


class _Request:
    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.frames: list[bytes] | None = []  # kept while small enough to send again
        self.size = 0
        self.dead = False  # its worker died and it could not be handed on
        self.worker: _Worker | None = None
        self.fed = 0  # bytes of the file fed so far
        self.skip_to = 0  # the worker skips the file's bytes up to here (its HINT)

    def keep(self, frame: bytes) -> None:
        self.size += len(frame)
        if self.frames is not None and self.size <= RETAIN:
            self.frames.append(frame)
        else:
            self.frames = None


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=_WORKER_ENV,
            cwd="/",
        )
        self.fd = self.proc.stdout.fileno()
        self.wfd = self.proc.stdin.fileno()
        os.set_blocking(self.wfd, False)
        with contextlib.suppress(OSError):  # a smaller pipe only means more wake-ups
            fcntl.fcntl(self.wfd, _F_SETPIPE_SZ, PIPE_SIZE)
        self.waiting: deque[_Request] = deque()  # oldest first
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
            size = _FRAME.unpack_from(self.buffer)[0]
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


class Pending:
    """The answer for one file, once the pool has it."""

    def __init__(self, detector: Detector, ticket: int) -> None:
        self.detector, self.ticket = detector, ticket

    def ready(self) -> bool:
        return self.ticket in self.detector.answers

    def result(self) -> Answer | None:
        return self.detector.result(self.ticket)

    def discard(self) -> None:
        """Its answer will not be asked for (the copy was refused): drop it on arrival."""
        if self.detector.answers.pop(self.ticket, 0) == 0:
            self.detector.unwanted.add(self.ticket)
        self.detector.failures.pop(self.ticket, None)
        self.detector.timeouts.discard(self.ticket)

    def why_none(self) -> str:
        """Why result() is None."""
        return self.detector.failures.get(self.ticket, "the worker's answer could not be read")

    def timed_out(self) -> bool:
        """Whether result() is None because a worker ran out of CPU time (this file's
        or an earlier one's), not because it crashed or its answer was unreadable."""
        return self.ticket in self.detector.timeouts


class Upload:
    """One file on its way to a worker: feed() every chunk in order, then end()."""

    def __init__(self, detector: Detector, request: _Request) -> None:
        self.detector, self.request = detector, request

    def feed(self, chunk: bytes | memoryview) -> None:
        request, n = self.request, len(chunk)
        if n >= ELIDE_MIN:
            self.detector.poll(request.worker)  # a HINT may have come
        if n and request.skip_to >= request.fed + n:  # all of it skipped by the validator
            request.frames = None  # never handed on: a fresh worker would need the bytes
            self.detector.send(request, _FRAME.pack(ELIDED | n), weight=n)
        elif n:  # one copy: the chunk's buffer is read into again for the next one
            self.detector.send(request, b"".join((_FRAME.pack(n), chunk)))
        request.fed += n

    def end(self) -> Pending:
        self.detector.send(self.request, _FRAME.pack(0))
        return Pending(self.detector, self.request.ticket)


class Detector:
    """`with Detector() as d: up = d.begin(); up.feed(chunk)...; up.end().result()`."""

    def __init__(self, workers: int | None = None, timeout: float = TIMEOUT) -> None:
        self.size = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.workers: list[_Worker] = []
        self.answers: dict[int, Answer | None] = {}
        self.failures: dict[int, str] = {}  # why a ticket's answer is None
        self.timeouts: set[int] = set()  # tickets given up for a worker out of time
        self.unwanted: set[int] = set()
        self.tickets = 0

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, count: int | None = None) -> None:
        """Start workers now (every one, or `count`): they load libmagic while the caller
        walks the tree."""
        while len(self.workers) < min(self.size, count or self.size):
            self.workers.append(_Worker())

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []

    def submit(self, data: bytes) -> Pending:
        """A whole (small) file at once."""
        upload = self.begin()
        upload.feed(data)
        return upload.end()

    def begin(self) -> Upload:
        # Another worker only when every one has a file waiting: a vet whose files one
        # worker keeps up with (a single file, say) starts no other (each costs about
        # 0.1 s of CPU to start: Python, libmagic's database, the validators).
        if len(self.workers) < self.size and all(w.waiting for w in self.workers):
            self.workers.append(_Worker())
        worker = min(self.workers, key=lambda w: len(w.waiting))
        while len(worker.waiting) >= IN_FLIGHT:
            self._collect()
            worker = min(self.workers, key=lambda w: len(w.waiting))
        self.tickets += 1
        request = _Request(self.tickets)
        request.worker = worker
        if not worker.waiting:
            worker.since = time.monotonic()  # it was idle: the clock starts now
        worker.waiting.append(request)
        return Upload(self, request)

    def send(self, request: _Request, frame: bytes, weight: int = 0) -> None:
        """Queue a frame; `weight`: the bytes a left-out frame stands for (written as
        promptly as if they were sent)."""
        request.keep(frame)
        worker = request.worker
        if request.dead or worker is None or worker.broken:
            return  # nothing is kept for a dead worker: the request is handed on from its frames
        worker.unsent.append(frame)
        worker.unsent_bytes += weight or len(frame)
        if worker.unsent_bytes >= FLUSH_BYTES:
            self._flush(worker)

    def _flush(self, worker: _Worker) -> None:
        """Write all of a worker's unsent frames, reading answers while the pipe is full."""
        while worker in self.workers and not worker.write_some():
            self._collect(writing=worker)

    def poll(self, worker: _Worker | None) -> None:
        """Take what a worker said so far (answers, hints), without waiting."""
        if worker is None or worker.broken or worker not in self.workers:
            return
        if select.select([worker.fd], [], [], 0)[0]:
            answers = worker.receive()
            if answers is None:
                self._replace(worker, f"ended (status {worker.proc.wait()})")
            else:
                self._keep(answers)

    def result(self, ticket: int) -> Answer | None:
        while ticket not in self.answers:
            self._collect()
        return self.answers.pop(ticket)

    def _collect(self, writing: _Worker | None = None) -> None:
        """Wait for answers, room in the pipe of any worker with bytes to send, or a
        deadline; take what came. A worker may need its file's last bytes (or its end
        frame) before it can answer: waiting for its answer alone would wait forever."""
        busy = [w for w in self.workers if w.waiting]
        if not busy:
            return
        for worker in busy:
            if worker is not writing and worker.has_unsent():
                worker.write_some()  # without waiting: the rest goes when there is room
        wait = max(0.0, min(w.left(self.timeout, time.monotonic()) for w in busy))
        room = [w.wfd for w in busy if w.has_unsent()]
        readable, writable, _ = select.select([w.fd for w in busy], room, [], wait)
        for worker in busy:
            if worker.fd in readable:
                answers = worker.receive()
                if answers is None:
                    self._replace(worker, f"ended (status {worker.proc.wait()})")
                else:
                    self._keep(answers)
            elif worker.wfd in writable:
                if worker is not writing:  # `writing`'s bytes are written by _flush
                    worker.write_some()
            elif worker.left(self.timeout, time.monotonic()) <= 0:
                self._replace(worker, _STUCK.format(self.timeout, BACKSTOP), timed_out=True)

    def _replace(self, worker: _Worker, cause: str, timed_out: bool = False) -> None:
        """Kill a stuck or dead worker: its oldest file gets no answer; the others go to
        a fresh worker if they were kept, else they get none either."""
        worker.close()
        self.workers.remove(worker)
        oldest = worker.waiting.popleft()
        self._fail(oldest, f"the worker with this file {cause}", timed_out)
        fresh = _Worker()
        self.workers.append(fresh)
        for request in worker.waiting:
            if request.frames is None:
                why = f"the worker with an earlier file {cause}; this one was too large to hand on"
                self._fail(request, why, timed_out)
                continue
            request.worker = fresh
            fresh.waiting.append(request)
            fresh.unsent += request.frames
            fresh.unsent_bytes += request.size
        fresh.since = time.monotonic()

    def _fail(self, request: _Request, why: str, timed_out: bool = False) -> None:
        request.dead, self.answers[request.ticket] = True, None
        self.failures[request.ticket] = why
        if timed_out:
            self.timeouts.add(request.ticket)

    def _keep(self, answers: list[tuple[int, Answer | None]]) -> None:
        for ticket, answer in answers:
            if ticket in self.unwanted:
                self.unwanted.discard(ticket)
            else:
                self.answers[ticket] = answer
