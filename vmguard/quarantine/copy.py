"""Read each file once, from the descriptor that was checked: hash, sniff and copy together.

The source is looked at relative to its directory's descriptor with O_PATH (nothing is
opened: a FIFO or device swapped in is refused, never opened, see opening.py), compared
with what the walk saw, and only then opened for reading; that descriptor is read to
the end in large chunks, each chunk hashed and written to the staged copy. If the file
grows, shrinks or is rewritten while we read it, the copy is refused: what was checked
is exactly what is published.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vmguard.policy.model import FileKind
from vmguard.quarantine import hooks
from vmguard.quarantine.holes import pieces
from vmguard.quarantine.model import Reason
from vmguard.quarantine.opening import Opener, Refused
from vmguard.quarantine.sysio import start_writeback
from vmguard.quarantine.walk import Node, mode_reasons

BUFFER_SIZE = 1 << 20
THREADED_HASH_MIN = 8 << 20  # smaller files: a thread hand-off costs more than it saves
WRITEBACK_EVERY = 8 << 20  # large files through the cache: hand each 8 MiB to the disk at once
DIRECT_MIN = 8 << 20  # files at least this large are written with O_DIRECT
ALIGN = 4096  # what O_DIRECT wants of lengths, offsets and memory (any block size up to 4 KiB)
HEAD_SIZE = 512  # what the type detector sees; formats are identified by their start
_ZEROS = memoryview(bytes(BUFFER_SIZE))  # what a hole reads as


@dataclass(frozen=True, slots=True)
class Content:
    size: int
    sha256: str


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


class _Hasher:
    """SHA-256 of the chunks in order. For a large file the hashing runs on a second
    thread (hashlib releases the GIL), so hashing one chunk overlaps writing it and
    reading the next: that needs two buffers, taken in turn."""

    def __init__(self, pool: ThreadPoolExecutor | None) -> None:
        self.digest = hashlib.sha256()
        self.pool = pool
        self.pending: Future | None = None

    def update(self, chunk: memoryview) -> None:
        self.wait()
        if self.pool is None:
            self.digest.update(chunk)
        else:
            self.pending = self.pool.submit(self.digest.update, chunk)

    def wait(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None


def new_buffers() -> tuple[mmap.mmap, mmap.mmap]:
    """The two read buffers, page-aligned as O_DIRECT writes need them."""
    return mmap.mmap(-1, BUFFER_SIZE), mmap.mmap(-1, BUFFER_SIZE)


def copy_fd(
    src: int,
    before: os.stat_result,
    dst: int | None,
    path: tuple[str, ...],
    buffers: tuple[mmap.mmap, mmap.mmap],
    pool: ThreadPoolExecutor | None,
    validate: Callable[[memoryview], None] = lambda chunk: None,
    ranges: list[tuple[int, int]] | None = None,
) -> tuple[Content, bytes]:
    """Read src once: hash every byte, hand it to validate (the worker that types and
    validates the file) and write it to dst (unless dry run).

    `ranges` are the data of a sparse file (holes.data_ranges): its holes are hashed as
    the zeros they read as, and left holes in dst. Returns the content's summary and
    its first HEAD_SIZE bytes (for the detectors). Reading stops at the size fstat
    gave; growth after that shows in the final fstat.
    """
    stream = _Stream(
        src,
        before.st_size,
        dst,
        path,
        buffers,
        _Hasher(pool if before.st_size >= THREADED_HASH_MIN else None),
        validate,
    )
    try:
        for start, end, is_data in pieces(ranges, before.st_size):
            (stream.data if is_data else stream.hole)(start, end)
        if dst is not None and ranges is not None:
            os.ftruncate(dst, before.st_size)  # a hole at the end has nothing to write
    finally:
        stream.hasher.wait()  # never leave a thread reading a buffer the next file will fill
    _check_unchanged(src, before, stream.total)
    return Content(stream.total, stream.hasher.digest.hexdigest()), stream.head


class _Stream:
    """One file's bytes in order: hashed, validated, written at their offsets (holes of
    a sparse file are hashed and validated as the zeros they read as, never written)."""

    def __init__(
        self,
        src: int,
        size: int,
        dst: int | None,
        path: tuple[str, ...],
        buffers: tuple[mmap.mmap, mmap.mmap],
        hasher: _Hasher,
        validate: Callable[[memoryview], None],
    ) -> None:
        self.src, self.size, self.dst, self.path = src, size, dst, path
        self.buffers, self.hasher, self.validate = buffers, hasher, validate
        self.direct = dst is not None and size >= DIRECT_MIN and _set_direct(dst, True)
        self.total, self.head, self.turn = 0, b"", 0

    def data(self, start: int, end: int) -> None:
        if self.dst is not None and start:
            os.lseek(self.dst, start, os.SEEK_SET)
        while start < end:
            buffer, self.turn = self.buffers[self.turn], self.turn ^ 1
            # up to a hole, exactly; at the end, a whole buffer: more would be growth
            want = BUFFER_SIZE if end == self.size else min(BUFFER_SIZE, end - start)
            if not (n := os.preadv(self.src, [memoryview(buffer)[:want]], start)):
                break
            if start + n > end:
                raise Refused([Reason.CHANGED_DURING_VET], "grew during the copy")
            start += n
            chunk = memoryview(buffer)[:n]
            self._take(chunk)
            if self.dst is not None:
                self.direct = _write(self.dst, chunk, start, self.direct)
            hooks.reach("copy-chunk", self.path)

    def hole(self, start: int, end: int) -> None:
        while start < end:
            n = min(end - start, BUFFER_SIZE)
            self._take(_ZEROS[:n])
            start += n

    def _take(self, chunk: memoryview) -> None:
        self.total += len(chunk)
        if len(self.head) < HEAD_SIZE:
            self.head += bytes(chunk[: HEAD_SIZE - len(self.head)])
        self.hasher.update(chunk)
        self.validate(chunk)


def _set_direct(fd: int, on: bool) -> bool:
    """Large files bypass the page cache: written from our buffer straight to the disk.
    No cache page is allocated and filled for them (on a busy or virtualised host that
    copy costs more than the disk) and the public copy evicts nothing useful. Returns
    whether the descriptor is in direct mode: some filesystems refuse it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


def _write(dst: int, chunk: memoryview, total: int, direct: bool) -> bool:
    """Write one chunk; returns whether dst is still in direct mode."""
    direct = write_all(dst, chunk, direct)
    if not direct and total % WRITEBACK_EVERY < len(chunk):
        start_writeback(dst, total - total % WRITEBACK_EVERY - WRITEBACK_EVERY, WRITEBACK_EVERY)
    return direct


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


def write_all(fd: int, data: memoryview, direct: bool = False) -> bool:
    """Direct I/O takes whole blocks only: the file's tail, or what follows a short read
    or a filesystem's EINVAL, goes through the cache (and the rest of the file with it)."""
    while data:
        if direct and len(data) % ALIGN:
            direct = _set_direct(fd, False)
        try:
            written = os.write(fd, data)
        except OSError as err:
            if not (direct and err.errno == errno.EINVAL):
                raise
            direct = _set_direct(fd, False)
            continue
        if written == 0:
            raise OSError(errno.ENOSPC, "short write")
        data = data[written:]
    return direct
