"""The earlier versions of compressed chunks libhdf5 leaves when it rewrites a chunk,
recomputed.

A dataset appended to over several sessions (resize, then write the new rows) ends each
session with a partly filled edge chunk. The next session fills it: libhdf5 reads it,
writes the new values in, deflates it again, and as the stream is now larger it
allocates a new place and frees the old one (H5D__chunk_file_alloc: a filtered chunk
that no longer fits is reallocated) without clearing it. Freed raw data space is reused
first by later chunks of the same session (they take its start), so what stays, reached
from nothing, is the tail of the old stream, then zeros. That stream is recomputable
from the file as it is now: it is today's chunk with the elements past the dataset's
earlier extent set to the fill value (as libhdf5 initialises an edge chunk), filtered
again as the pipeline says (shuffle, deflate, fletcher32). So a gap's non-zero bytes are
admitted when each run of them is such a stream, whole (starting at the run's first
byte) or with its start under the structures right before the gap or under the streams
found before it in the gap (older streams nest under newer ones: each session's edge
chunk took the freed place of the one before); zeros between and after.

The candidates are every deflated chunk the walk claimed (found in the ledger's extents
when a gap is searched: the walk keeps nothing more per chunk), each cut along ONE
dimension to k (1 <= k < the chunk's size there; the elements past k the fill value,
as an edge chunk's past the extent already are): a stream's zlib trailer is the
Adler-32 of what it inflates to, so a candidate costs a copy and a checksum, and only
one whose Adler-32 the gap shows (its last 1-3 bytes, where the rest lies under a later
structure) is deflated (at levels 0-9) and compared. What is free: which chunk (log2
of the chunks), which dimension and k (log2 of the sum of the chunk's dimensions), the
deflate level (log2 10), where the stream starts (log2 of the span it may start in):
about log2(chunks) + 15 bits a stream; every other byte is a function of the published
values. A chunk whose values were overwritten since, a stream deflated by another zlib
than Python's (zlib-ng writes other streams), or the search past MAX_WORK bytes stays
refused naming h5repack."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, NamedTuple

from .shapes import DEFLATE, FLETCHER32, SHUFFLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .chunkdata import Chunking

MAX_WORK = 256 << 20  # bytes of candidate chunks built and summed in a file
_LEVELS = range(10)


class Live(NamedTuple):
    """A deflated chunk the walk claimed (made only when a gap is searched, from the
    ledger's extents: the walk keeps nothing more per chunk)."""

    chunking: Chunking
    address: int
    size: int  # stored, a fletcher32 checksum included


class OldChunks:
    """The deflated datasets of one file and the work spent on their chunks' earlier
    versions."""

    def __init__(self, extents: dict[int, tuple[int, str]]) -> None:
        self.extents = extents  # the ledger's: start -> (end, name)
        self.datasets: dict[str, Chunking] = {}  # by the name their chunks' extents carry
        self.work = 0
        self.gap_start = -1  # of the gap being searched

    def add(self, c: Chunking) -> None:
        """A chunked dataset (once, when its layout is read)."""
        if DEFLATE in c.filters:
            self.datasets[c.name] = c

    def _live(self) -> list[Live]:
        named = self.datasets
        return [Live(named[w], start, end - start) for start, (end, w) in self.extents.items() if w in named]

    def note(self) -> str:
        if self.work <= MAX_WORK:
            return ""
        return f"; matching earlier versions of compressed chunks stopped after {MAX_WORK} bytes"

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the gap is zeros and old streams, the first maybe starting under one
        of the structures `reused` (those right before the gap)."""
        if not self.datasets:
            return False
        pos, end = gap
        self.gap_start = pos
        starts = [s for s in reused if s < gap[0]]  # a stream may start under these
        while True:
            window = bytes(buf[pos:end])
            first = pos + len(window) - len(window.lstrip(b"\0"))
            if first == end:
                return True
            lowest = min([*starts, first])
            got = self._stream(buf, (lowest, pos, first, end))
            if got is None:
                return False
            starts.append(first)  # an older stream's tail may follow, its start under this one
            pos = got

    def _stream(self, buf: bytes | memoryview, where: tuple[int, int, int, int]) -> int | None:
        """The end of an old stream showing from `first` (it starts at `first`, or from
        `lowest` up to `shown` when later structures or streams took its start)."""
        lowest, shown, first, end = where
        window = bytes(buf[first:end])
        for chunk in sorted(self._live(), key=lambda c: (c.address < end, abs(c.address - end))):
            for raw in self._versions(buf, chunk):
                got = self._placed(buf, chunk, raw, window, (lowest, shown, first))
                if got is not None:
                    return got
            if self.work > MAX_WORK:
                return None
        return None

    def _placed(
        self, buf: bytes | memoryview, chunk: Live, raw: bytes, window: bytes, where: tuple[int, int, int]
    ) -> int | None:
        """The end of the stream `raw` deflates to (and its fletcher32 checksum, if the
        pipeline has one) where the window shows its trailer; None if nowhere."""
        lowest, shown, first = where
        summed = FLETCHER32 in chunk.chunking.filters
        # a trailer shown in part only for the gap's first run (one such stream a gap: its
        # 1-3 bytes are as free as the choice of candidate)
        partly = shown == self.gap_start and lowest < shown
        for stream_end in _ends(window, first, zlib.adler32(raw).to_bytes(4, "big"), partly):
            for z in dict.fromkeys(zlib.compress(raw, level) for level in _LEVELS):
                start = stream_end - len(z)
                if (start == first or lowest <= start <= shown) and _shows(buf, z, start, shown):
                    if not summed:
                        return stream_end
                    if bytes(buf[stream_end : stream_end + 4]) in _fletcher(z):
                        return stream_end + 4
        return None

    def _versions(self, buf: bytes | memoryview, chunk: Live) -> Iterator[bytes]:
        """The chunk's bytes as stored before deflate, cut along one dimension to each
        k below its size: the elements past k the fill value (those of an edge chunk
        past the extent already are; a cut that changes nothing is today's chunk)."""
        c = chunk.chunking
        elements = self._inflated(buf, chunk)
        if elements is None:
            return
        from .edges import outside  # edges imports what imports the ledger, this module's user

        dims, item = c.dims[:-1], c.dims[-1]
        shuffled = SHUFFLE in c.filters
        fill = c.fill or bytes(item)
        for d, step in enumerate(dims):
            for k in range(1, step):
                self.work += c.size
                if self.work > MAX_WORK:
                    return
                old = bytearray(elements)
                for a, b in outside(dims, (*dims[:d], k, *dims[d + 1 :])):
                    old[a * item : b * item] = fill * (b - a)
                if old != elements:
                    yield _shuffle(bytes(old), item) if shuffled else bytes(old)

    def _inflated(self, buf: bytes | memoryview, chunk: Live) -> bytes | None:
        """Today's chunk, its elements in order (unshuffled); None if it is not one
        stream of the chunk's size (a chunk that skipped a filter: no candidate)."""
        c = chunk.chunking
        self.work += c.size
        size = chunk.size - 4 if FLETCHER32 in c.filters else chunk.size
        if self.work > MAX_WORK or not any(step > 1 for step in c.dims[:-1]):
            return None
        try:
            data = zlib.decompress(bytes(buf[chunk.address : chunk.address + size]))
        except zlib.error:
            return None
        if len(data) != c.size:
            return None
        return _unshuffle(data, c.dims[-1]) if SHUFFLE in c.filters else data


def _ends(window: bytes, first: int, trailer: bytes, hidden: bool) -> Iterator[int]:
    """Where a stream with this zlib trailer may end: after each copy of it the window
    (from `first`) shows, and, when its start may lie under a later structure, after
    the trailer's last 1-3 bytes at the window's start (the rest under it)."""
    if hidden:
        yield from (first + j for j in (1, 2, 3) if window[:j] == trailer[4 - j :])
    at = window.find(trailer)
    while at >= 0:
        yield first + at + 4
        at = window.find(trailer, at + 1)


def _shows(buf: bytes | memoryview, z: bytes, start: int, shown: int) -> bool:
    """The stream's bytes from the gap's start on (those before it lie under a later
    structure) are the file's."""
    skip = max(0, shown - start)
    return z[skip:] == bytes(buf[start + skip : start + len(z)])


def _fletcher(z: bytes) -> tuple[bytes, bytes]:
    from .chunkdata import fletcher32  # chunkdata imports the ledger, this module's user

    got = fletcher32(memoryview(z)).to_bytes(4, "little")
    return got, got[::-1]


def _unshuffle(data: bytes, item: int) -> bytes:
    count, out = len(data) // item, bytearray(len(data))
    for j in range(item):
        out[j::item] = data[j * count : (j + 1) * count]
    return bytes(out)


def _shuffle(data: bytes, item: int) -> bytes:
    return b"".join(data[j::item] for j in range(item))
