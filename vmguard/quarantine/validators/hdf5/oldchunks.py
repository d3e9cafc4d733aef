"""The earlier versions of compressed chunks libhdf5 leaves when it rewrites a chunk,
recomputed, each where and as often as the file's history allows.

A dataset appended to over several sessions (resize, then write the new rows) ends each
session with a partly filled edge chunk. The next session fills it: libhdf5 reads it,
writes the new values in, deflates it again, and as the stream's size changed it frees
the old place and allocates a new one (H5D__chunk_file_alloc) without clearing the old.
A SWMR writer flushing after each append does the same within one session (and frees
nothing). Freed raw data space is reused first by later chunks of the same session (they
take its start), so what stays, reached from nothing, is the tail of the old stream, then
zeros. That stream is recomputable from the file as it is now: today's chunk with the
elements past the dataset's earlier extent set to the fill value (as libhdf5 initialises
an edge chunk), filtered again as the pipeline says (shuffle, deflate at the pipeline's
level, fletcher32). So a gap's non-zero bytes are admitted when each run of them is such
a stream, whole (starting at the run's first byte) or with its start under the
structures right before the gap or under the streams found before it in the gap (older
streams nest under newer ones: each session's edge chunk took the freed place of the one
before); zeros between and after.

What the history allows (session 35, attack i): only a dataset that can grow has earlier
extents, and only along a dimension it can grow along (its maximum above its size, or
unlimited); each earlier extent of a chunk was written once, and each version allocated
after the one before it was freed, so along a dimension a chunk's versions are admitted in
the order of their addresses with k rising, each (chunk, dimension, k) at most once, and
today's chunk lies after the gap; and libhdf5 gives freed space that ends the file back (the end-of-file
address drops, at the free and at close), so a gap no structure follows holds none.

The candidates are the live deflated chunks after the gap (found in the ledger's
extents when a gap is searched: the walk keeps nothing more per chunk), each cut along
one growable dimension to k (1 <= k < the chunk's size there). A stream's zlib trailer
is the Adler-32 of what it inflates to, so a candidate costs a copy and a checksum (built
once a file), and only one whose Adler-32 the run shows within zlib's bound on the
chunk's stream (its last 1-3 bytes, where the rest lies under a later structure) is
deflated and compared. What is free: which of the (chunk, dimension, k) a file may hold
are present (at most one stream each: for a chunk of c elements along a dimension,
c - 1), and where each starts (log2 of the span it may start in); every other byte is a
function of the published values. A chunk whose values were overwritten since, a stream
deflated by another zlib than Python's (zlib-ng writes other streams) or at another
level, or the search past MAX_WORK bytes stays refused naming h5repack."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, NamedTuple

from .shapes import DEFLATE, FLETCHER32, SHUFFLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .chunkdata import Chunking

MAX_WORK = 256 << 20  # bytes of candidate chunks built, deflated and searched in a file


class Live(NamedTuple):
    """A deflated chunk the walk claimed (made only when a gap is searched, from the
    ledger's extents: the walk keeps nothing more per chunk)."""

    chunking: Chunking
    address: int
    size: int  # stored, a fletcher32 checksum included


class Cut(NamedTuple):
    """One earlier version of a live chunk: cut along `dim` to its first k elements."""

    trailer: bytes  # the zlib trailer its stream ends with (Adler-32, big-endian)
    dim: int
    k: int


class OldChunks:
    """The deflated datasets of one file, the earlier versions of their chunks admitted
    so far and the work spent finding them."""

    def __init__(self, extents: dict[int, tuple[int, str]]) -> None:
        self.extents = extents  # the ledger's: start -> (end, name)
        self.datasets: dict[str, Chunking] = {}  # by the name their chunks' extents carry
        self.work = 0
        self.gap_start = -1  # of the gap being searched
        self.cuts: dict[int, list[Cut]] = {}  # by live chunk address, built once
        # by (live chunk address, dimension): the k of the last earlier version admitted
        self.last: dict[tuple[int, int], int] = {}

    def add(self, c: Chunking) -> None:
        """A chunked dataset (once, when its layout is read): only a deflated one that can
        grow along a dimension has earlier versions of its chunks."""
        if DEFLATE in c.filters and _growable(c):
            self.datasets[c.name] = c

    def _live(self, after: int) -> list[Live]:
        """The deflated chunks at or after `after`, nearest first: libhdf5 frees a chunk's
        old place before it allocates the new, larger one, and that space is given back
        where it ends the file, so an old copy that stays lies before the new one."""
        named = self.datasets
        found = [Live(named[w], s, e - s) for s, (e, w) in self.extents.items() if w in named and s >= after]
        return sorted(found, key=lambda c: c.address)

    def note(self) -> str:
        if self.work <= MAX_WORK:
            return ""
        return f"; matching earlier versions of compressed chunks stopped after {MAX_WORK} bytes"

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the gap is zeros and old streams, the first maybe starting under one
        of the structures `reused` (those right before the gap). A gap no structure
        follows holds none: libhdf5 gives freed space that ends the file back (the
        end-of-file address drops), so nothing it freed lies after the last structure."""
        if not self.datasets or gap[1] not in self.extents:
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
        end = where[3]
        for chunk in self._live(end):
            got = self._placed(buf, chunk, where)
            if got is not None or self.work > MAX_WORK:
                return got
        return None

    def _placed(self, buf: bytes | memoryview, chunk: Live, where: tuple[int, int, int, int]) -> int | None:
        """The end of an earlier version of `chunk` (deflated at the pipeline's level, and
        its fletcher32 checksum if the pipeline has one) whose trailer the run shows; None
        if none, or each such version was admitted already."""
        lowest, shown, first, end = where
        c = chunk.chunking
        # a stream ends within zlib's bound on a chunk's stream from the run's start
        window = bytes(buf[first : min(end, first + _bound(c.size) + 4)])
        # a trailer shown in part only for the gap's first run (one such stream a gap: its
        # 1-3 bytes are as free as the choice of candidate)
        partly = shown == self.gap_start and lowest < shown
        for stream_end, cut in self._ends(buf, chunk, window, (first, partly)):
            if cut.k <= self.last.get((chunk.address, cut.dim), 0):
                continue  # each earlier extent written once, older ones before newer (gaps in order)
            self.work += c.size
            z = zlib.compress(self._version(buf, chunk, cut), c.level)
            start = stream_end - len(z)
            if not ((start == first or lowest <= start <= shown) and _shows(buf, z, start, shown)):
                continue
            if FLETCHER32 in c.filters:
                if bytes(buf[stream_end : stream_end + 4]) not in _fletcher(z):
                    continue
                stream_end += 4
            self.last[chunk.address, cut.dim] = cut.k
            return stream_end
        return None

    def _ends(
        self, buf: bytes | memoryview, chunk: Live, window: bytes, run: tuple[int, bool]
    ) -> Iterator[tuple[int, Cut]]:
        """(where a stream would end, the cut) for each earlier version whose trailer the
        window (from `first`) shows; with `hidden`, also after the trailer's last 1-3
        bytes at the window's start (the rest under a later structure)."""
        first, hidden = run
        for cut in self._cuts(buf, chunk):
            self.work += len(window)
            if self.work > MAX_WORK:
                return
            if hidden:
                yield from ((first + j, cut) for j in (1, 2, 3) if window[:j] == cut.trailer[4 - j :])
            at = window.find(cut.trailer)
            while at >= 0:
                yield first + at + 4, cut
                at = window.find(cut.trailer, at + 1)

    def _cuts(self, buf: bytes | memoryview, chunk: Live) -> list[Cut]:
        """The chunk's earlier versions (built once a file): cut along each dimension
        that can grow to each k below its size, each summed."""
        if chunk.address not in self.cuts:
            c = chunk.chunking
            elements = self._inflated(buf, chunk)
            self.cuts[chunk.address] = [] if elements is None else [
                Cut(zlib.adler32(raw).to_bytes(4, "big"), d, k) for d, k, raw in self._versions(c, elements)
            ]
        return self.cuts[chunk.address]

    def _version(self, buf: bytes | memoryview, chunk: Live, cut: Cut) -> bytes:
        """The bytes one cut of the chunk deflates (built again for a trailer that matched)."""
        elements = self._inflated(buf, chunk) or b""
        return next(raw for d, k, raw in self._versions(chunk.chunking, elements, cut) if (d, k) == cut[1:])

    def _versions(
        self, c: Chunking, elements: bytes, only: Cut | None = None
    ) -> Iterator[tuple[int, int, bytes]]:
        """The chunk's bytes as stored before deflate, cut along a dimension that can grow
        to each k below its size (`only`: that one): the elements past k the fill value
        (those of an edge chunk past the extent already are; a cut that changes nothing
        is today's chunk)."""
        from .edges import outside  # edges imports what imports the ledger, this module's user

        dims, item = c.dims[:-1], c.dims[-1]
        fill = c.fill or bytes(item)
        for d in _dimensions(c):
            for k in range(1, dims[d]) if only is None else (only.k,):
                self.work += c.size
                if self.work > MAX_WORK:
                    return
                old = bytearray(elements)
                for a, b in outside(dims, (*dims[:d], k, *dims[d + 1 :])):
                    old[a * item : b * item] = fill * (b - a)
                if old != elements:
                    yield d, k, _shuffle(bytes(old), item) if SHUFFLE in c.filters else bytes(old)

    def _inflated(self, buf: bytes | memoryview, chunk: Live) -> bytes | None:
        """Today's chunk, its elements in order (unshuffled); None if it is not one
        stream of the chunk's size (a chunk that skipped a filter: no candidate)."""
        c = chunk.chunking
        self.work += c.size
        size = chunk.size - 4 if FLETCHER32 in c.filters else chunk.size
        if self.work > MAX_WORK:
            return None
        try:
            data = zlib.decompress(bytes(buf[chunk.address : chunk.address + size]))
        except zlib.error:
            return None
        if len(data) != c.size:
            return None
        return _unshuffle(data, c.dims[-1]) if SHUFFLE in c.filters else data


def _dimensions(c: Chunking) -> list[int]:
    """The dimensions an earlier extent may be shorter along: those the dataset can grow
    along (its maximum above its size, or unlimited) and its chunks span more than one
    element of. A dimension at its maximum, or a dataset without one, never had a
    smaller extent libhdf5 wrote a chunk of."""
    tops = zip(c.extent[:-1], c.maxdims, strict=False)
    return [d for d, (size, top) in enumerate(tops) if top > size and c.dims[d] > 1]


def _growable(c: Chunking) -> bool:
    return bool(_dimensions(c))


def _bound(size: int) -> int:
    """zlib's compressBound: the longest stream deflate makes of `size` bytes."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


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
