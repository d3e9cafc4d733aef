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
byte) or, for the gap's first run, whose start one of the structures right before the
gap took; zeros between and after.

The candidates are every deflated chunk the walk claimed, each with its valid elements
along ONE dimension cut to k (1 <= k < today's, the others as today): a stream's zlib
trailer is the Adler-32 of what it inflates to, so a candidate costs a copy and a
checksum, and only one whose Adler-32 the gap shows is deflated (at levels 0-9) and
compared. What is free: which chunk (log2 of the chunks), which dimension and k (log2 of
the sum of the chunk's dimensions), the deflate level (log2 10), where the stream starts
(log2 17): about log2(chunks) + 15 bits a stream; every other byte is a function of the
published values. A chunk whose values were overwritten since, a stream deflated by
another zlib than Python's (zlib-ng writes other streams), or the search past MAX_WORK
bytes stays refused naming h5repack."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .chunkdata import Chunking

MAX_WORK = 256 << 20  # bytes of candidate chunks built and summed in a file
_LEVELS = range(10)


@dataclass(frozen=True, slots=True, kw_only=True)
class Live:
    """A deflated chunk the walk claimed, as its index names it."""

    chunking: Chunking
    address: int
    size: int  # the stream's bytes (without a fletcher32 checksum)
    offsets: tuple[int, ...]  # elements, the element size's 0 last
    shuffled: bool
    summed: bool  # a fletcher32 checksum follows the stream


class OldChunks:
    """The deflated chunks of one file and the work spent on their earlier versions."""

    def __init__(self) -> None:
        self.live: list[Live] = []
        self.work = 0

    def add(self, chunk: Live) -> None:
        self.live.append(chunk)

    def note(self) -> str:
        if self.work <= MAX_WORK:
            return ""
        return f"; matching earlier versions of compressed chunks stopped after {MAX_WORK} bytes"

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the gap is zeros and old streams, the first maybe starting under one
        of the structures `reused` (those right before the gap)."""
        if not self.live:
            return False
        pos, end = gap
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
        for chunk in sorted(self.live, key=lambda c: (c.address < end, abs(c.address - end))):
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
        lowest, shown, first = where
        trailer = zlib.adler32(raw).to_bytes(4, "big")
        at = window.find(trailer)
        while at >= 0:
            stream_end = first + at + 4
            for z in dict.fromkeys(zlib.compress(raw, level) for level in _LEVELS):
                start = stream_end - len(z)
                if (start == first or lowest <= start <= shown) and _shows(buf, z, start, shown):
                    if not chunk.summed:
                        return stream_end
                    if bytes(buf[stream_end : stream_end + 4]) in _fletcher(z):
                        return stream_end + 4
            at = window.find(trailer, at + 1)
        return None

    def _versions(self, buf: bytes | memoryview, chunk: Live) -> Iterator[bytes]:
        """The chunk's bytes as stored before deflate, with the valid elements along one
        dimension cut to each k below today's."""
        c = chunk.chunking
        dims = c.dims[:-1]
        valid = [min(step, top - at) for at, step, top in zip(chunk.offsets, c.dims, c.extent, strict=False)]
        if not any(v > 1 for v in valid[: len(dims)]):
            return
        self.work += c.size
        if self.work > MAX_WORK:
            return
        try:
            data = zlib.decompress(bytes(buf[chunk.address : chunk.address + chunk.size]))
        except zlib.error:
            return
        if len(data) != c.size:
            return
        from .edges import outside  # edges imports what imports the ledger, this module's user

        item = c.dims[-1]
        elements = _unshuffle(data, item) if chunk.shuffled else data
        fill = c.fill or bytes(item)
        for d in range(len(dims)):
            for k in range(1, valid[d]):
                self.work += c.size
                if self.work > MAX_WORK:
                    return
                old = bytearray(elements)
                cut = (*valid[:d], k, *valid[d + 1 : len(dims)])
                for a, b in outside(dims, cut):
                    old[a * item : b * item] = fill * (b - a)
                yield _shuffle(bytes(old), item) if chunk.shuffled else bytes(old)


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
