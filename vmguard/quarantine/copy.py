"""Read each file once, from the descriptor that was checked: hash, sniff and copy together.

The source is looked at relative to its directory's descriptor with O_PATH (nothing is
opened: a FIFO or device swapped in is refused, never opened, see opening.py), compared
with what the walk saw, and only then opened for reading. A small file is read whole
into one immutable `bytes`; a larger one in chunks into a ring of buffers. Those very
bytes are hashed, streamed to the worker that types and validates them, and written to
staging (on the writer thread, writer.py): what is published is what was hashed and
validated, and the quarantine, which the guest can write, is never read twice. If the
file grows, shrinks or is rewritten while we read it, the copy is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmguard.policy.model import FileKind
from vmguard.quarantine import hooks
from vmguard.quarantine.holes import pieces, written_runs
from vmguard.quarantine.model import Reason
from vmguard.quarantine.opening import Opener, Refused
from vmguard.quarantine.sysio import _set_direct, start_writeback, write_all, write_chunks
from vmguard.quarantine.walk import Node, mode_reasons
from vmguard.quarantine.writer import Writer

if TYPE_CHECKING:
    from vmguard.quarantine.destination import Destination

BUFFER_SIZE = 1 << 20  # a chunk; files smaller than this are read whole, in one read
RING = 32  # chunk buffers: hashing, writing and reading the next overlap. 4 groups: up
# to 3 direct writes queued behind the one running, so the disk keeps writing while the
# reading and hashing threads wait for a core (16, at load 13: the writer idle 3.6-7.1 s
# of a 2 GiB vet; 32: 2.5-4.0 s; 64: 1.6-2.6 s for 32 MiB more memory)
GROUP = 8  # chunks written by one system call: an 8 MiB direct write is several requests
# the disk works on at once (the kernel splits it); one 1 MiB write at a time left a
# virtual disk idle between them. A buffer is read into again only when written (_free).
THREADED_HASH_MIN = 8 << 20  # smaller files: a thread hand-off costs more than it saves
WRITEBACK_EVERY = 8 << 20  # large files through the cache: hand each 8 MiB to the disk at once
DIRECT_MIN = 8 << 20  # files at least this large are written with O_DIRECT
HEAD_SIZE = 512  # what the type detector sees; formats are identified by their start
_ZEROS = memoryview(bytes(BUFFER_SIZE))  # what a hole reads as

Validate = Callable[[bytes | memoryview], None]


@dataclass(frozen=True, slots=True)
class Content:
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Place:
    """Where one file is staged: a new name in an open staging directory."""

    dest: Destination
    dir_fd: int
    name: str
    mode: int

    def create(self) -> int:
        fd = self.dest.create_file(self.dir_fd, self.name)
        try:
            self.dest.normalise(fd, self.mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def stage(self, data: bytes) -> None:
        """Create the file and write it (on the writer thread): all but its aligned blocks
        of zeros, which stay holes (holes.written_runs)."""
        fd = self.create()
        try:
            view, end = memoryview(data), 0
            for start, end in written_runs(data, len(data)):
                if start:
                    os.lseek(fd, start, os.SEEK_SET)
                write_all(fd, view[start:end])
            if end < len(data):  # zeros at the end: a hole (one more call only then)
                os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def remove(self) -> None:
        os.unlink(self.name, dir_fd=self.dir_fd)


def open_source(
    opener: Opener, dir_fd: int, node: Node, forbid: frozenset[FileKind]
) -> tuple[int, os.stat_result]:
    """Open a quarantine file for reading only if it is what the walk saw."""
    fd, st = opener.open_checked(node.parts[-1], dir_fd, node.kind, node.dev, node.ino)
    try:
        _check_same(node, st, forbid)
    except Refused:
        os.close(fd)
        raise
    return fd, st


def _check_same(node: Node, st: os.stat_result, forbid: frozenset[FileKind]) -> None:
    if (st.st_size, st.st_mtime_ns) != (node.size, node.mtime_ns):
        raise Refused([Reason.CHANGED_DURING_VET], "modified during the vet")
    reasons = mode_reasons(st, forbid)
    if reasons:
        raise Refused(reasons, "mode or links changed during the vet")
    if st.st_ctime_ns != node.ctime_ns:  # rewritten with its size and mtime put back, say
        raise Refused([Reason.CHANGED_DURING_VET], "changed during the vet (its ctime moved)")


class Copier:
    """Copies the files of one vet, one at a time; owns the chunk buffers and the hash
    thread. `writer` is None for a dry run (nothing is staged)."""

    def __init__(self, writer: Writer | None, opener: Opener) -> None:
        self.writer, self.opener = writer, opener
        # page-aligned, as O_DIRECT writes need them
        self.buffers = tuple(mmap.mmap(-1, BUFFER_SIZE) for _ in range(RING))
        self.hash_pool = ThreadPoolExecutor(1, thread_name_prefix="vmguard-sha256")

    def close(self) -> None:
        self.hash_pool.shutdown()

    def copy(
        self,
        src: int,
        before: os.stat_result,
        place: Place | None,
        path: tuple[str, ...],
        validate: Validate,
        ranges: list[tuple[int, int]] | None = None,
        keep: bool | Callable[[bytes], bool] = False,
    ) -> tuple[Content, bytes, int]:
        """Read src once: hash every byte, hand it to validate (the worker that types and
        validates the file) and stage it at `place` (unless dry run).

        keep: also return a read-only descriptor of vmguard's own copy of those bytes (for
        the scanners and the structure walk: the guest cannot rewrite it), else -1; or a
        test of the file's first HEAD_SIZE bytes that decides it. A small file's copy is a sealed
        memfd (its staging is still queued); a large one's is the staged file, reopened
        once written. A dry run stages nothing: its own copy is the source.

        `ranges` are the data of a sparse file (holes.data_ranges): its holes are hashed as
        the zeros they read as, never read. The copy's holes are its aligned blocks of
        zeros, whatever the source's were (holes.written_runs). Returns the content's summary
        and its first HEAD_SIZE bytes (for the detectors). Reading stops at the size
        fstat gave; growth after that shows in the final fstat.
        """
        if ranges is None and before.st_size < BUFFER_SIZE:
            return self._whole(src, before, place, path, validate, keep)
        return self._chunked(src, before, place, path, validate, ranges, keep)

    def _whole(
        self,
        src: int,
        before: os.stat_result,
        place: Place | None,
        path: tuple[str, ...],
        validate: Validate,
        keep: bool | Callable[[bytes], bool],
    ) -> tuple[Content, bytes, int]:
        """A small file: one read, and its staging queued only once all of it passed."""
        data = os.pread(src, before.st_size + 1, 0)
        if len(data) > before.st_size:
            raise Refused([Reason.CHANGED_DURING_VET], "grew during the copy")
        hooks.reach("copy-chunk", path)
        digest = hashlib.sha256(data).hexdigest()
        validate(data)
        _check_unchanged(src, before, len(data))
        if place is not None:
            self.writer.add(place.stage, data, size=len(data))
        own = sealed_copy(data) if _wanted(keep, data[:HEAD_SIZE]) else -1
        return Content(len(data), digest), data[:HEAD_SIZE], own

    def _chunked(
        self,
        src: int,
        before: os.stat_result,
        place: Place | None,
        path: tuple[str, ...],
        validate: Validate,
        ranges: list[tuple[int, int]] | None,
        keep: bool | Callable[[bytes], bool],
    ) -> tuple[Content, bytes, int]:
        dst = None if place is None else place.create()
        own = -1
        stream = _Stream(self, src, before.st_size, dst, path, validate)
        try:
            try:
                for start, end, is_data in pieces(ranges, before.st_size):
                    (stream.data if is_data else stream.hole)(start, end)
                if dst is not None:
                    self.writer.submit(os.ftruncate, dst, before.st_size)  # zeros at the end
            finally:
                stream.finish()  # never leave a thread with a buffer the next file fills
            _check_unchanged(src, before, stream.total)
            # written whole by now (finish waited for the writer); a new, non-direct open.
            # A dry run's own copy is the source: reopened as every quarantine entry is
            if _wanted(keep, stream.head):
                own = (
                    self.opener.reopen_file(src)
                    if dst is None
                    else os.open(f"/proc/self/fd/{dst}", os.O_RDONLY | os.O_CLOEXEC)
                )
        except Refused:
            if place is not None:
                place.remove()  # the partial copy
            raise
        finally:
            if dst is not None:
                os.close(dst)
        return Content(stream.total, stream.digest.hexdigest()), stream.head, own


def _wanted(keep: bool | Callable[[bytes], bool], head: bytes) -> bool:
    return keep(head) if callable(keep) else keep


def sealed_copy(data: bytes) -> int:
    """A read-only, sealed in-memory file holding `data`: nobody can change it any more."""
    fd = os.memfd_create("vmguard-scan", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        write_all(fd, memoryview(data))
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Sink:
    """A staged large file as the writer thread writes it, chunk after chunk."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.pos = fd, 0
        self.direct = size >= DIRECT_MIN and _set_direct(fd, True)

    def write(self, pos: int, chunks: list[memoryview]) -> None:
        """Write contiguous chunks at pos (past a hole: after the blocks of zeros before)."""
        if pos != self.pos:
            os.lseek(self.fd, pos, os.SEEK_SET)
            self.pos = pos
        self.direct = write_chunks(self.fd, chunks, self.direct)
        before, self.pos = self.pos, self.pos + sum(len(c) for c in chunks)
        if not self.direct and before // WRITEBACK_EVERY != self.pos // WRITEBACK_EVERY:
            start_writeback(self.fd, self.pos - self.pos % WRITEBACK_EVERY - WRITEBACK_EVERY, WRITEBACK_EVERY)


class _Stream:
    """One file's bytes in order, through the ring of buffers: hashed (on the hash thread
    for a large file), validated, and written at their offsets by the writer thread, up
    to GROUP chunks by one write (holes of a sparse file are hashed and validated as the
    zeros they read as; aligned blocks of zeros, wherever they are, are never written).
    A buffer is read into again only when its hash and write are done."""

    def __init__(
        self, copier: Copier, src: int, size: int, dst: int | None, path: tuple[str, ...], validate: Validate
    ) -> None:
        self.src, self.size, self.path, self.validate = src, size, path, validate
        self.buffers, self.writer = copier.buffers, copier.writer
        self.pool = copier.hash_pool if size >= THREADED_HASH_MIN else None
        self.sink = None if dst is None else _Sink(dst, size)
        self.digest = hashlib.sha256()
        self.busy: list[tuple[Future | None, int]] = [(None, 0)] * len(self.buffers)
        self.unwritten: list[tuple[int, int, memoryview]] = []  # (buffer, offset, bytes) not handed over
        self.grouped = 0  # buffers with bytes in `unwritten`
        self.queued: set[int] = set()  # their numbers: such a buffer is handed over before reuse
        self.hashing: Future | None = None  # the last chunk handed to the hash thread
        self.total, self.head, self.turn = 0, b"", 0

    def data(self, start: int, end: int) -> None:
        while start < end:
            i, self.turn = self.turn, (self.turn + 1) % len(self.buffers)
            self._free(i)
            buffer = memoryview(self.buffers[i])
            # up to a hole, exactly; at the end, a whole buffer: more would be growth
            want = BUFFER_SIZE if end == self.size else min(BUFFER_SIZE, end - start)
            if not (n := os.preadv(self.src, [buffer[:want]], start)):
                break
            if start + n > end:
                raise Refused([Reason.CHANGED_DURING_VET], "grew during the copy")
            self.busy[i] = (self._take(buffer[:n]), 0)
            if self.sink is not None:
                self._stage(i, start, n)
            start += n
            hooks.reach("copy-chunk", self.path)
        self._write()  # up to a hole, or the end

    def _stage(self, i: int, start: int, n: int) -> None:
        """Queue buffer i's bytes but its blocks of zeros; write once GROUP buffers wait."""
        runs = written_runs(self.buffers[i], n, start, self.size)
        view = memoryview(self.buffers[i])
        self.unwritten += [(i, start + a, view[a:b]) for a, b in runs]
        self.grouped += bool(runs)
        self.queued.update([i] if runs else [])
        if self.grouped >= GROUP:
            self._write()

    def _write(self) -> None:
        """Hand the chunks read so far to the writer thread: one write per contiguous run."""
        if not self.unwritten:
            return
        runs: list[tuple[int, list[memoryview]]] = []
        end = -1
        for _, pos, view in self.unwritten:
            if pos == end:
                runs[-1][1].append(view)
            else:
                runs.append((pos, [view]))
            end = pos + len(view)
        ticket = self.writer.submit(self._write_runs, runs)
        for i, _, _ in self.unwritten:
            self.busy[i] = (self.busy[i][0], ticket)
        self.unwritten, self.grouped, self.queued = [], 0, set()

    def _write_runs(self, runs: list[tuple[int, list[memoryview]]]) -> None:
        for pos, chunks in runs:
            self.sink.write(pos, chunks)

    def hole(self, start: int, end: int) -> None:
        while start < end:
            n = min(end - start, BUFFER_SIZE)
            self._take(_ZEROS[:n])
            start += n

    def _take(self, chunk: memoryview) -> Future | None:
        self.total += len(chunk)
        if len(self.head) < HEAD_SIZE:
            self.head += bytes(chunk[: HEAD_SIZE - len(self.head)])
        self.validate(chunk)
        if self.pool is None:
            self.digest.update(chunk)
            return None
        self.hashing = self.pool.submit(self.digest.update, chunk)  # one thread: in order
        return self.hashing

    def _free(self, i: int) -> None:
        if i in self.queued:  # its bytes wait for GROUP buffers of data, and a run of zero
            self._write()  # buffers (never written) went round the whole ring meanwhile
        hashed, written = self.busy[i]
        self.busy[i] = (None, 0)
        if hashed is not None:
            hashed.result()
        if written:
            self.writer.wait(written)

    def finish(self) -> None:
        self.unwritten, self.grouped, self.queued = [], 0, set()  # after a failure: never written
        for i in range(len(self.buffers)):
            self._free(i)
        if self.hashing is not None:
            self.hashing.result()
        if self.writer is not None and self.sink is not None:
            self.writer.wait()


def _check_unchanged(src: int, before: os.stat_result, total: int) -> None:
    if total < before.st_size:
        raise Refused([Reason.CHANGED_DURING_VET], "shrank during the copy")
    after = os.fstat(src)
    if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
        before.st_size,
        before.st_mtime_ns,
        before.st_ctime_ns,
    ):
        raise Refused([Reason.CHANGED_DURING_VET], "rewritten during the copy")
