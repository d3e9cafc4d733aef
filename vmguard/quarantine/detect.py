"""Typing and whole-file validation in a pool of sandboxed workers (magic_worker.py; each
process and its pipes: detect_process.py).

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

import os
import select
import time

from vmguard.quarantine import detect_process
from vmguard.quarantine.answer import Answer
from vmguard.quarantine.detect_process import ELIDED, FRAME

TIMEOUT = 10.0  # CPU seconds without progress; a validator takes a 1 MiB chunk in milliseconds
_STUCK = "made no progress for {:g} s of its CPU time or {:g} s in all"
IN_FLIGHT = 64  # files per worker before the copy waits for answers
FLUSH_BYTES = 64 << 10  # small frames are written together, up to this much
ELIDE_MIN = 64 << 10  # chunks this large are left out when the worker skips them


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

    def __init__(self, detector: Detector, request: detect_process.Request) -> None:
        self.detector, self.request = detector, request

    def feed(self, chunk: bytes | memoryview) -> None:
        request, n = self.request, len(chunk)
        if n >= ELIDE_MIN:
            self.detector.poll(request.worker)  # a HINT may have come
        if n and request.skip_to >= request.fed + n:  # all of it skipped by the validator
            request.frames = None  # never handed on: a fresh worker would need the bytes
            self.detector.send(request, FRAME.pack(ELIDED | n), weight=n)
        elif n:  # one copy: the chunk's buffer is read into again for the next one
            self.detector.send(request, b"".join((FRAME.pack(n), chunk)))
        request.fed += n

    def end(self) -> Pending:
        self.detector.send(self.request, FRAME.pack(0))
        return Pending(self.detector, self.request.ticket)


class Detector:
    """`with Detector() as d: up = d.begin(); up.feed(chunk)...; up.end().result()`."""

    def __init__(self, workers: int | None = None, timeout: float = TIMEOUT) -> None:
        self.size = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.workers: list[detect_process.WorkerProcess] = []
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
            self.workers.append(detect_process.WorkerProcess())

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
            self.workers.append(detect_process.WorkerProcess())
        worker = min(self.workers, key=lambda w: len(w.waiting))
        while len(worker.waiting) >= IN_FLIGHT:
            self._collect()
            worker = min(self.workers, key=lambda w: len(w.waiting))
        self.tickets += 1
        request = detect_process.Request(self.tickets)
        request.worker = worker
        if not worker.waiting:
            worker.since = time.monotonic()  # it was idle: the clock starts now
        worker.waiting.append(request)
        return Upload(self, request)

    def send(self, request: detect_process.Request, frame: bytes, weight: int = 0) -> None:
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

    def _flush(self, worker: detect_process.WorkerProcess) -> None:
        """Write all of a worker's unsent frames, reading answers while the pipe is full."""
        while worker in self.workers and not worker.write_some():
            self._collect(writing=worker)

    def poll(self, worker: detect_process.WorkerProcess | None) -> None:
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

    def _collect(self, writing: detect_process.WorkerProcess | None = None) -> None:
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
                self._replace(worker, _STUCK.format(self.timeout, detect_process.BACKSTOP), timed_out=True)

    def _replace(self, worker: detect_process.WorkerProcess, cause: str, timed_out: bool = False) -> None:
        """Kill a stuck or dead worker: its oldest file gets no answer; the others go to
        a fresh worker if they were kept, else they get none either."""
        worker.close()
        self.workers.remove(worker)
        oldest = worker.waiting.popleft()
        self._fail(oldest, f"the worker with this file {cause}", timed_out)
        fresh = detect_process.WorkerProcess()
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

    def _fail(self, request: detect_process.Request, why: str, timed_out: bool = False) -> None:
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
