"""What a global heap object holds, by what names it (vlen.py): the items of a
variable-length sequence (their pinned bits: vlen.check), a variable-length string (no
NUL: a reader returns a string up to its first NUL, libhdf5 writes none), or the
selection of a dataset region reference (h5py's regionref): the address of a dataset the
walk reached, then its serialized selection (H5S_select_serialize) parsed to its last
byte: every header field the only value libhdf5 writes, the rank the dataset's,
every coordinate inside the dataset's extent (so no byte of a coordinate is free), a
regular hyperslab's stride 1 when its count is 1, blocks and points as many as declared."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..stream import Invalid
from .elements import TEXT, Element
from .fields import stored_string
from .vlen import REGION, check

if TYPE_CHECKING:
    from .objects import Walker

_NONE, _POINTS, _HYPERSLABS, _ALL = 0, 1, 2, 3
_WIDTHS = {2: "H", 4: "I", 8: "Q"}


def content(w: Walker, extent: tuple[int, int], kind: Element | str, what: str) -> None:
    """The heap object at `extent` (address, size) holds what `kind` says."""
    if isinstance(kind, Element) and not (kind.mask or kind.pairs or kind.refs or kind.texts):
        return  # a sequence of plain data: nothing to read
    raw = w.file.bytes(*extent, what)
    if kind == TEXT:
        stored_string(raw, f"a variable-length string of {what}")
    elif kind == REGION:
        _region(w, raw, what)
    else:  # object references (a dimension scale's DIMENSION_LIST) resolved with the others
        check(w if kind.refs else None, raw, kind, what)


def _region(w: Walker, raw: bytes, what: str) -> None:
    if len(raw) < 16:
        raise Invalid(f"hdf5: the dataset region reference of {what} is too short")
    dataset, kind, version = struct.unpack_from("<QII", raw)
    dims = w.shapes.get(dataset)
    if dims is None:
        raise Invalid(f"hdf5: the dataset region reference of {what} names no dataset of the file")
    r = _Reader(raw, 16, what)
    if kind in (_NONE, _ALL) and version == 1:
        r.fields("II", (0, 0))  # reserved, length
    elif kind == _HYPERSLABS and version == 1:
        _blocks_v1(r, dims)
    elif kind == _HYPERSLABS and version == 2:
        _hyperslab_v2(r, dims)
    elif kind == _HYPERSLABS and version == 3:
        _hyperslab_v3(r, dims)
    elif kind == _POINTS and version in (1, 2):
        _points(r, dims, version)
    else:
        raise Invalid(
            f"hdf5: a region reference's selection of type {kind} version {version} of {what} "
            "is not supported"
        )
    if r.pos != len(raw):
        raise Invalid(f"hdf5: the dataset region reference of {what} holds bytes after its selection")


class _Reader:
    """Fields of a serialized selection, read in order, every read bounded."""

    def __init__(self, raw: bytes, pos: int, what: str) -> None:
        self.raw, self.pos, self.what = raw, pos, what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.raw):
            raise Invalid(f"hdf5: the selection of the dataset region reference of {self.what} is cut short")
        self.pos += size
        return struct.unpack_from("<" + fmt, self.raw, self.pos - size)

    def fields(self, fmt: str, want: tuple) -> None:
        """Fields that hold one value only."""
        if self.take(fmt) != want:
            raise Invalid(
                f"hdf5: a field of the dataset region reference of {self.what} is not what libhdf5 writes"
            )

    def length(self, start: int, declared: int) -> None:
        """A length field: the bytes that follow it, from `start`."""
        if declared != len(self.raw) - start:
            raise Invalid(
                f"hdf5: the selection of the dataset region reference of {self.what} is not its "
                "declared length"
            )

    def coords(self, fmt: str, dims: tuple[int, ...], count: int) -> list[tuple[int, ...]]:
        """`count` points, each inside `dims`."""
        out = [self.take(fmt * len(dims)) for _ in range(count)]
        if any(c >= d for point in out for c, d in zip(point, dims, strict=True)):
            raise Invalid(f"hdf5: the dataset region reference of {self.what} selects outside its dataset")
        return out


def _rank(r: _Reader, dims: tuple[int, ...], rank: int) -> None:
    if rank != len(dims) or not dims:
        raise Invalid(
            f"hdf5: the dataset region reference of {r.what} has rank {rank}, its dataset {len(dims)}"
        )


def _blocks_v1(r: _Reader, dims: tuple[int, ...]) -> None:
    """Reserved, length, rank, block count, each block's start and end (4 bytes each)."""
    reserved, length, rank, count = r.take("IIII")
    r.length(r.pos - 8, length)
    _rank(r, dims, rank)
    if reserved or not count:
        raise Invalid(f"hdf5: the hyperslab selection of {r.what} has reserved bytes set or no block")
    _ordered(r, r.coords("I", dims, 2 * count))


def _ordered(r: _Reader, corners: list[tuple[int, ...]]) -> None:
    """Blocks as libhdf5 writes them: each start not past its end, in increasing order;
    along one dimension apart (libhdf5 merges blocks that touch into one)."""
    starts, ends = corners[0::2], corners[1::2]
    if any(s > e for start, end in zip(starts, ends, strict=True) for s, e in zip(start, end, strict=True)):
        raise Invalid(f"hdf5: a block of the hyperslab selection of {r.what} ends before it starts")
    gap = 2 if len(starts[0]) == 1 else 0  # a 1-D block starts past the one before and a gap
    if any(a >= b for a, b in zip(starts, starts[1:], strict=False)) or any(
        b[0] < e[0] + gap for e, b in zip(ends, starts[1:], strict=False) if gap
    ):
        raise Invalid(f"hdf5: the blocks of the hyperslab selection of {r.what} are not in order and apart")


def _hyperslab_v3(r: _Reader, dims: tuple[int, ...]) -> None:
    """Flags (1: regular), the width of its numbers, rank; a regular one's start, stride,
    count and block per dimension; else its block count and blocks."""
    flags, width, rank = r.take("BBI")
    _rank(r, dims, rank)
    if flags > 1 or width not in _WIDTHS:
        raise Invalid(f"hdf5: the hyperslab selection of {r.what} has flags {flags} or width {width}")
    fmt = _WIDTHS[width]
    if not flags:
        count = r.take(fmt)[0]
        if not count:
            raise Invalid(f"hdf5: the hyperslab selection of {r.what} has no block")
        _ordered(r, r.coords(fmt, dims, 2 * count))
        return
    _regular(r, dims, fmt)


def _hyperslab_v2(r: _Reader, dims: tuple[int, ...]) -> None:
    """Flags (regular only), length, rank, then start, stride, count and block per
    dimension in 8 bytes each."""
    flags, length, rank = r.take("BII")
    r.length(r.pos - 4, length)
    _rank(r, dims, rank)
    if flags != 1:
        raise Invalid(f"hdf5: the hyperslab selection of {r.what} has flags {flags}")
    _regular(r, dims, "Q")


def _regular(r: _Reader, dims: tuple[int, ...], fmt: str) -> None:
    """Start, stride, count and block of each dimension: blocks apart (libhdf5 merges
    blocks that touch into one), the last inside the extent; a single block's stride 1
    (as libhdf5 normalises it)."""
    for extent in dims:
        start, stride, count, block = r.take(fmt * 4)
        if not count or not block or (count == 1 and stride != 1) or (count > 1 and stride <= block):
            raise Invalid(f"hdf5: the regular hyperslab selection of {r.what} is not one libhdf5 writes")
        if start + (count - 1) * stride + block > extent:
            raise Invalid(f"hdf5: the dataset region reference of {r.what} selects outside its dataset")


def _points(r: _Reader, dims: tuple[int, ...], version: int) -> None:
    """v1: reserved, length, rank, count, coordinates (4 bytes); v2: the width of its
    numbers, rank, count and coordinates in that width."""
    if version == 1:
        reserved, length, rank, count = r.take("IIII")
        r.length(r.pos - 8, length)
        fmt = "I"
        if reserved:
            raise Invalid(f"hdf5: the point selection of {r.what} has reserved bytes set")
    else:
        width, rank = r.take("BI")
        if width not in _WIDTHS:
            raise Invalid(f"hdf5: the point selection of {r.what} has width {width}")
        fmt = _WIDTHS[width]
        count = r.take(fmt)[0]
    _rank(r, dims, rank)
    if not count:
        raise Invalid(f"hdf5: the point selection of {r.what} has no point")
    r.coords(fmt, dims, count)
