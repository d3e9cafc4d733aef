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
extents, and only along the dimensions it can grow along (its maximum above its size, or
unlimited); extents only grow and each earlier extent of a chunk was written once, so a
chunk's versions are distinct and each two ordered, one keeping at least as much as the
other along every dimension (a chain: at most the sum over those dimensions of the
chunk's size there less 1; where each lies is not ordered: libhdf5 puts a version where
it finds room, before or after an older one). libhdf5 frees the old place before it
allocates the new one: a version that grew goes elsewhere, after it, as space that ends
the file is given back (the end-of-file address drops, at the free and at close: a gap no
structure follows holds none); one that shrank, or took space merged with space freed
before, starts at or before the old stream's start, whose tail stays after it. So the
chunk is one after the gap, or one right before it under which the stream starts.

The candidates are those chunks (found in the ledger's extents when a gap is searched:
the walk keeps nothing more per chunk), each cut along the growable dimensions to each
earlier extent. A stream's zlib trailer is the Adler-32 of what it inflates to, so a
candidate costs a copy and a checksum (built once a file), and only one whose Adler-32
the run shows within zlib's bound on the chunk's stream (or its last 1-3 bytes, where the
rest lies under a structure before the gap: every candidate the gap's first run may be is
tried) is deflated and compared; a trailer shown in part only is kept out of the chain.
What is free: which versions of the chain a file holds (1 bit each, at most the bound
above a chunk: 15 for chunks of 16 rows), their order (log2(n!) for n versions of a
chunk), and where each starts (log2 of the span it may start in); every other byte is a
function of the
published values. A chunk whose values were overwritten since, a stream deflated by
another zlib than Python's (zlib-ng writes other streams) or at another level, or the
search past MAX_WORK bytes stays refused naming h5repack."""

from __future__ import annotations

import zlib
from itertools import product
from typing import TYPE_CHECKING, NamedTuple

from .shapes import DEFLATE, FLETCHER32, SHUFFLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .chunkdata import Chunking

MAX_WORK = 256 << 20  # bytes of candidate chunks built, deflated and searched in a file
Placed = tuple[tuple[int, ...], int, int]  # a version admitted: its cut, where its stream starts and ends
Versions = dict[int, tuple[Placed, ...]]  # by live chunk address


class Live(NamedTuple):
    """A deflated chunk the walk claimed (made only when a gap is searched, from the
    ledger's extents: the walk keeps nothing more per chunk)."""

    chunking: Chunking
    address: int
    size: int  # stored, a fletcher32 checksum included


class Cut(NamedTuple):
    """One earlier version of a live chunk: its first valid[d] elements along each
    dimension d kept, the rest the fill value."""

    trailer: bytes  # the zlib trailer its stream ends with (Adler-32, big-endian)
    valid: tuple[int, ...]


class OldChunks:
    """The deflated datasets of one file, the earlier versions of their chunks admitted
    so far and the work spent finding them."""

    def __init__(self, extents: dict[int, tuple[int, str]]) -> None:
        self.extents = extents  # the ledger's: start -> (end, name)
        self.datasets: dict[str, Chunking] = {}  # by the name their chunks' extents carry
        self.work = 0
        self.gap_start = -1  # of the gap being searched
        self.cuts: dict[int, list[Cut]] = {}  # by live chunk address, built once
        self.last: Versions = {}

    def add(self, c: Chunking) -> None:
        """A chunked dataset (once, when its layout is read): only a deflated one that can
        grow along a dimension has earlier versions of its chunks."""
        if DEFLATE in c.filters and _growable(c):
            self.datasets[c.name] = c

    def _live(self, under: tuple[int, int], after: int) -> list[Live]:
        """The deflated chunks at or after `after` (the gap's end), nearest first, then
        those starting in `under` (right before the run: a stream's start may lie under
        them). libhdf5 frees a chunk's old place before it allocates the new one: a
        version that grew goes elsewhere, after it (space that ends the file is given
        back, so an old copy that stays lies before the new one); or it takes free space
        that holds the old place's start (the old place, or it merged with space freed
        before it), where the old stream's tail stays after it."""
        named, (lowest, shown) = self.datasets, under
        found = [
            Live(named[w], s, e - s)
            for s, (e, w) in self.extents.items()
            if w in named and (s >= after or lowest <= s < shown)
        ]
        return sorted(found, key=lambda c: (c.address < after, c.address))

    def note(self) -> str:
        if self.work <= MAX_WORK:
            return ""
        return f"; matching earlier versions of compressed chunks stopped after {MAX_WORK} bytes"

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the gap is zeros and old streams, the first maybe starting under one
        of the structures `reused` (those right before the gap). A gap no structure
        follows holds none: libhdf5 gives freed space that ends the file back (the
        end-of-file address drops), so nothing it freed lies after the last structure.
        Each stream the first run may be is tried (its trailer may show 1-3 bytes only,
        which other candidates share by chance); the later ones are taken as found."""
        if not self.datasets or gap[1] not in self.extents:
            return False
        pos, end = gap
        self.gap_start = pos
        starts = [s for s in reused if s < pos]  # a stream may start under these
        first = _nonzero(buf, pos, end)
        if first == end:
            return True
        where = (min([*starts, first]), pos, first, end)
        for stream_end, address, cut in self._streams(buf, where, self.last):
            last = self._rest(buf, (stream_end, end), [*starts, first], {**self.last, address: cut})
            if last is not None:
                self.last = last
                return True
            if self.work > MAX_WORK:
                break
        return False

    def _rest(
        self, buf: bytes | memoryview, span: tuple[int, int], starts: list[int], last: Versions
    ) -> Versions | None:
        """The versions admitted (`last`, updated) if the bytes from span's start are zeros
        and old streams, each older one's tail after a newer one; None if not."""
        pos, end = span
        while (first := _nonzero(buf, pos, end)) < end:
            got = next(self._streams(buf, (min([*starts, first]), pos, first, end), last), None)
            if got is None:
                return None
            pos, address, last[address] = got
            starts.append(first)  # an older stream's tail may follow, its start under this one
        return last

    def _streams(
        self, buf: bytes | memoryview, where: tuple[int, int, int, int], last: Versions
    ) -> Iterator[tuple[int, int, tuple[Placed, ...]]]:
        """(its end, its chunk, its chunk's versions with it) of each old stream showing
        from `first` (it starts at `first`, or from `lowest` up to `shown` when later
        structures or streams took its start) that the versions `last` admitted allow."""
        lowest, shown, _, end = where
        for chunk in self._live((lowest, shown), end):
            admitted = last.get(chunk.address, ())
            for stream_end, placed in self._placed(buf, chunk, where, admitted):
                yield stream_end, chunk.address, (*admitted, placed) if placed else admitted
            if self.work > MAX_WORK:
                return

    def _placed(
        self,
        buf: bytes | memoryview,
        chunk: Live,
        where: tuple[int, int, int, int],
        admitted: tuple[Placed, ...],
    ) -> Iterator[tuple[int, Placed | None]]:
        """(the end, the version) of each earlier version of `chunk` the versions admitted
        allow (_fits; deflated at the pipeline's level, and its fletcher32 checksum if the
        pipeline has one) whose trailer the run shows."""
        lowest, shown, first, end = where
        c = chunk.chunking
        # a stream ends within zlib's bound on a chunk's stream from the run's start
        window = bytes(buf[first : min(end, first + _bound(c.size) + 4)])
        # a trailer shown in part only for the gap's first run (one such stream a gap: its
        # 1-3 bytes are as free as the choice of candidate)
        partly = shown == self.gap_start and lowest < shown
        for stream_end, cut in self._ends(buf, chunk, window, (first, partly)):
            partial = stream_end - first <= 3  # a trailer's last bytes: kept out of the chain (_fits)
            if not partial and any(cut.valid == old for old, _, _ in admitted):
                continue  # each earlier extent of a chunk written once
            self.work += c.size
            z = zlib.compress(self._version(buf, chunk, cut), c.level)
            start = stream_end - len(z)
            if not ((start == first or lowest <= start <= shown) and _shows(buf, z, start, shown)):
                continue
            if chunk.address < end and not chunk.address <= start < chunk.address + chunk.size:
                continue  # a chunk before the gap took free space holding the old one's start
            placed = None if partial else (cut.valid, start, stream_end)
            if placed and not _fits(placed, admitted):
                continue
            if FLETCHER32 not in c.filters:
                yield stream_end, placed
            elif bytes(buf[stream_end : stream_end + 4]) in _fletcher(z):
                yield stream_end + 4, placed

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
                Cut(zlib.adler32(raw).to_bytes(4, "big"), valid) for valid, raw in self._versions(c, elements)
            ]
        return self.cuts[chunk.address]

    def _version(self, buf: bytes | memoryview, chunk: Live, cut: Cut) -> bytes:
        """The bytes one cut of the chunk deflates (built again for a trailer that matched)."""
        elements = self._inflated(buf, chunk) or b""
        return next(raw for _, raw in self._versions(chunk.chunking, elements, cut.valid))

    def _versions(
        self, c: Chunking, elements: bytes, only: tuple[int, ...] | None = None
    ) -> Iterator[tuple[tuple[int, ...], bytes]]:
        """The chunk's bytes as stored before deflate, cut along the dimensions that can
        grow to each earlier extent (`only`: that one): the elements past it the fill
        value (those of an edge chunk past the extent already are; a cut that changes
        nothing is today's chunk)."""
        from .edges import outside  # edges imports what imports the ledger, this module's user

        dims, item = c.dims[:-1], c.dims[-1]
        fill = c.fill or bytes(item)
        growable = _dimensions(c)
        ranges = [range(1, n + 1) if d in growable else (n,) for d, n in enumerate(dims)]
        for valid in product(*ranges) if only is None else (only,):
            self.work += c.size
            if self.work > MAX_WORK:
                return
            old = bytearray(elements)
            for a, b in outside(dims, valid):
                old[a * item : b * item] = fill * (b - a)
            if old != elements:
                yield valid, _shuffle(bytes(old), item) if SHUFFLE in c.filters else bytes(old)

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


def _nonzero(buf: bytes | memoryview, pos: int, end: int) -> int:
    """The first byte from pos up to end that is not zero (end if none)."""
    window = bytes(buf[pos:end])
    return pos + len(window) - len(window.lstrip(b"\0"))


def _fits(version: Placed, admitted: tuple[Placed, ...]) -> bool:
    """Whether a version of a chunk fits the chunk's versions admitted before it. Extents
    only grow, so each two versions are ordered: one keeps at least as much as the other
    along every dimension (a chain: at most the sum over the growable dimensions of the
    chunk's size there less 1). Where each lies is not (a newer version goes wherever
    libhdf5 finds free space: before or after an older one, over its start or not)."""
    cut = version[0]
    pairs = [list(zip(old, cut, strict=True)) for old, _, _ in admitted]
    return all(all(k >= j for k, j in pair) or all(k <= j for k, j in pair) for pair in pairs)


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
