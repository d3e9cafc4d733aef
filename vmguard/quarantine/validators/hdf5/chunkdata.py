"""One chunk of a chunked dataset, checked to hold exactly what the dataset needs: named
once, inside the dataset's extent, an unfiltered (or only shuffled) chunk exactly its
dimensions x element size, a deflated chunk one zlib stream that ends at the chunk's end
and inflates to the chunk (read in bounded pieces: a bomb stops at the chunk's size),
a fletcher32 checksum recomputed; a chunk of variable-length values or padded
compounds read for the global heap objects they name and their padding as it streams
by (vlen.py). The pipeline is one
shapes.checkable accepts."""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import edges, vlen
from .ledger import UNDEFINED
from .shapes import DEFLATE, FLETCHER32, SHUFFLE

if TYPE_CHECKING:
    from .elements import Element
    from .objects import Walker

_PIECE = 1 << 16  # bytes inflated at a time
_BLOCK = 720  # bytes fletcher32 sums before folding (360 words)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunking:
    what: str  # the dataset
    dims: tuple[int, ...]  # a chunk's dimensions, the element size last
    extent: tuple[int, ...]  # the dataset's dimensions
    filters: tuple[int, ...]  # in the order they were applied (shapes.checkable)
    values: Element | None = None  # elements holding more than data (elements.py)
    fill: bytes = b""  # one element past the extent (edges.fill_value; empty: zeros)
    maxdims: tuple[int, ...] = ()  # the dataset's maximum dimensions (oldchunks.py: which can grow)
    level: int = -1  # the pipeline's deflate level (-1: no deflate)

    @property
    def size(self) -> int:
        return prod(self.dims)

    @property
    def name(self) -> str:  # one string for all its chunks: the ledger keeps it
        return f"a chunk of {self.what}"


def claim(w: Walker, c: Chunking, slot: tuple[int, int, int], offsets: tuple[int, ...]) -> None:
    """Claim the chunk an index names at `offsets` (elements, the element size's 0 last):
    slot is (address, stored size, filter mask)."""
    address, size, mask = slot
    if address == UNDEFINED:
        if size or mask:
            raise Invalid(f"hdf5: the index slot of an unwritten chunk of {c.what} holds data")
        return
    _inside(c, offsets)
    if not w.ledger.claim(address, size, c.name):
        raise Invalid(f"hdf5: the chunk of {c.what} at {address} is named twice by its index")
    applied = [fid for i, fid in enumerate(c.filters) if not mask & (1 << i)]
    if mask >> len(c.filters):
        raise Invalid(f"hdf5: a chunk of {c.what} at {address} skips filters it does not have")
    if applied and applied[-1] == FLETCHER32:  # its checksum ends the chunk
        applied, size = applied[:-1], size - 4
        _checksum(w, c, address, size)
    sinks = _sinks(w, c, offsets, SHUFFLE in applied)
    if DEFLATE not in applied:  # unfiltered, or only shuffled: the chunk's own size
        if size != c.size:
            raise Invalid(f"hdf5: an unfiltered chunk of {c.what} at {address} is {size} bytes, not {c.size}")
        for at in range(address, address + size, _PIECE) if sinks else ():
            _feed(sinks, memoryview(w.file.buf)[at : min(at + _PIECE, address + size)])
    else:
        _inflates(w, c, (address, size), sinks)
    if c.values:
        sinks[-1].close()


def _sinks(w: Walker, c: Chunking, offsets: tuple[int, ...], shuffled: bool) -> list:
    """What reads a chunk's stored bytes: its part past the extent (edges.Edge), its
    variable-length values (vlen.Elements, last)."""
    runs = edges.edge(c.dims[:-1], offsets[:-1], c.extent[:-1])
    fill = c.fill or bytes(c.dims[-1])
    out: list = [] if runs is None else [edges.Edge(runs, (c.size // c.dims[-1], fill, shuffled), c.what)]
    if c.values:
        grid = (offsets[:-1], c.dims[:-1], c.extent[:-1])
        out.append(vlen.Elements(w, c.values, c.what, (shuffled, c.size), grid))
    return out


def _feed(sinks: list, piece: bytes | memoryview) -> None:
    for sink in sinks:
        sink.feed(piece)


def final_key(c: Chunking, most: tuple[int, ...], key: bytes) -> None:
    """The last key of the last chunk B-tree node of a level bounds its chunks and names
    none: no size or filter mask; its offsets on the chunk grid, at most one chunk past
    the dataset's maximum dimensions `most` (the element size's 1 last). HDF5 derives
    them from the order chunks were written in and never lowers them: a shrink prunes
    chunks (H5B_remove slides the final key down onto the removed last chunk's) and
    leaves the key of the largest extent the dataset had, which only its maximum bounds
    (an unlimited dimension: any offset on the grid)."""
    size, mask = struct.unpack_from("<II", key)
    offsets = struct.unpack_from(f"<{len(c.dims)}Q", key, 8)
    bounds = [-(-top // step) * step + step for top, step in zip(most, c.dims, strict=True)]
    grid = zip(offsets, c.dims, bounds, strict=True)
    if size or mask or any(at % step or at > bound for at, step, bound in grid):
        raise Invalid(
            f"hdf5: the final key of a chunk B-tree node of {c.what} holds data (libhdf5 writes "
            "no size or filter mask there, and offsets on the chunk grid within the dataset's "
            "maximum dimensions: h5repack the file)"
        )


def _inside(c: Chunking, offsets: tuple[int, ...]) -> None:
    if len(offsets) != len(c.dims) or offsets[-1] != 0:
        raise Invalid(f"hdf5: a chunk key of {c.what} has the wrong dimensions")
    for at, step, end in zip(offsets, c.dims, c.extent, strict=False):
        if at % step or at >= end:
            raise Invalid(f"hdf5: a chunk of {c.what} lies at {offsets[:-1]}, outside the dataset {c.extent}")


def _inflates(w: Walker, c: Chunking, extent: tuple[int, int], sinks: list) -> None:
    """The chunk is one zlib stream, ending at its end; it inflates to the chunk's size.
    Read and inflated a piece at a time: neither a large chunk nor a bomb is ever held
    whole; the pieces go to `sinks` (_sinks)."""
    address, size = extent
    w.file.inside(address, size, c.name)
    if size <= 0:
        raise Invalid(f"hdf5: the deflated chunk of {c.what} at {address} is empty")
    limit, view = c.size, memoryview(w.file.buf)
    sink = partial(_feed, sinks)
    d, total = zlib.decompressobj(), 0
    try:
        for at in range(address, address + size, _PIECE):
            rest = view[at : min(at + _PIECE, address + size)]
            while rest and not d.eof and total <= limit:
                out = d.decompress(rest, _PIECE)
                total += len(out)
                sink(out)
                rest = d.unconsumed_tail
            if d.eof or total > limit:
                break
        while not d.eof and total <= limit and (out := d.decompress(b"", _PIECE)):
            total += len(out)
            sink(out)
    except zlib.error as exc:
        raise Invalid(f"hdf5: the deflated chunk of {c.what} at {address} is not zlib ({exc})") from None
    if total != c.size:
        raise Invalid(f"hdf5: a deflated chunk of {c.what} at {address} does not inflate to {c.size} bytes")
    if not d.eof or d.unused_data or d.unconsumed_tail or at + _PIECE < address + size:
        raise Invalid(f"hdf5: the deflated chunk of {c.what} at {address} does not end where its stream ends")


def _checksum(w: Walker, c: Chunking, address: int, size: int) -> None:
    """The fletcher32 checksum after a chunk's `size` bytes is theirs (HDF5 before 1.6.3
    stored it byte-reversed: readers accept both)."""
    w.file.inside(address, size + 4, c.name)
    stored = bytes(w.file.buf[address + size : address + size + 4])
    got = fletcher32(memoryview(w.file.buf)[address : address + size]).to_bytes(4, "little")
    if stored not in (got, got[::-1]):
        raise Invalid(f"hdf5: the fletcher32 checksum of a chunk of {c.what} at {address} is not its data's")


def fletcher32(data: memoryview) -> int:
    """H5_checksum_fletcher32: big-endian 16-bit words summed in blocks of 360, each
    block's sums folded to 17 bits (C's loop, its sums accumulated in C here)."""
    s1 = s2 = 0
    for at in range(0, len(data) & ~1, _BLOCK * 256):
        words = array("H")
        words.frombytes(data[at : min(at + _BLOCK * 256, len(data) & ~1)])
        if sys.byteorder == "little":
            words.byteswap()
        for i in range(0, len(words), _BLOCK // 2):
            sums = list(accumulate(words[i : i + _BLOCK // 2], initial=s1))
            s1, s2 = _fold(sums[-1]), _fold(s2 + sum(sums) - sums[0])
    if len(data) % 2:
        s1 += data[-1] << 8
        s1, s2 = _fold(s1), _fold(s2 + s1)
    return (_fold(s2) << 16) | _fold(s1)


def _fold(n: int) -> int:
    return (n & 0xFFFF) + (n >> 16)
