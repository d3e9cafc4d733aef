"""A chunk's elements past the dataset's extent (an edge chunk): no reader returns them,
so they hold the only value libhdf5 writes there. A chunk is initialised with the fill
value when the fill time is not "never" and a value is defined (H5D__chunk_lock; the
default fill value is zeros), else with zeros; shrinking a dataset refills the cut-off
elements the same way. Checked on the chunk's stored bytes as they stream by (inflated,
not unshuffled: a shuffled chunk keeps each byte of an element in its own plane). The
deprecated fill value message, where libhdf5 writes one, repeats the fill value exactly."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from .vlen import one

if TYPE_CHECKING:
    from .elements import Element
    from .ledger import File
    from .objects import Message, Walker

Runs = Callable[[], Iterator[tuple[int, int]]]  # runs of elements, afresh at each call
_NEVER = 1  # fill time H5D_FILL_TIME_NEVER


def fill_value(f: File, first: dict[int, Message], shape: tuple[int, Element | None], what: str) -> bytes:
    """The bytes of one element past the extent of `what`; shape is (element size, what
    an element holds besides data: elements.py)."""
    item, base = shape
    value = _defined(f, first, what)
    if not value.strip(b"\0"):
        return bytes(item)
    if len(value) != item:
        raise Invalid(f"hdf5: the fill value of {what} is {len(value)} bytes, its elements {item}")
    if base is not None:
        one(value, base, f"the fill value of {what}")
    return value


def _defined(f: File, first: dict[int, Message], what: str) -> bytes:
    """The fill value written into new chunks (empty: zeros) by the fill value message."""
    if 0x05 not in first:
        return b""
    _, time, value = _new_fill(f, first[0x05].at, f"the fill value of {what}")
    return b"" if time == _NEVER or value is None else value


def _new_fill(f: File, at: int, name: str) -> tuple[int, int, bytes | None]:
    """(version, fill time, the value: None when none is defined) of the fill value
    message (type 5) at `at`; an empty value is the default (zeros)."""
    version, flags = f.unpack("BB", at, name)
    if version == 3:
        time, defined, at = (flags >> 2) & 0x03, flags & 0x20, at + 2
    else:
        time, defined, at = f.unpack("2xB", at, name)[0], f.unpack("3xB", at, name)[0], at + 4
    if not defined:
        return version, time, None
    return version, time, f.bytes(at + 4, f.unpack("I", at, name)[0], name)


def old_fill_value(w: Walker, m: Message, what: str, first: dict[int, Message]) -> None:
    """The deprecated fill value message (type 4): libhdf5 writes it only beside a fill
    value message of version 1 or 2 (the earliest format) that defines a value, and
    then that value, byte for byte (H5D__update_oh_info); readers use the new one."""
    f, name = w.file, f"the old fill value message of {what}"
    new = _new_fill(f, first[0x05].at, name) if 0x05 in first else (3, 0, None)
    if new[0] >= 3 or not new[2]:
        raise Invalid(
            f"hdf5: {what} has an old fill value message (type 4) where libhdf5 writes none (it "
            "writes one only beside an earliest-format fill value message that defines a value)"
        )
    if f.bytes(m.at, 4 + len(new[2]), name) != struct.pack("<I", len(new[2])) + new[2]:
        raise Invalid(f"hdf5: {name} is not the value of its fill value message, as libhdf5 writes it")


def outside(dims: tuple[int, ...], valid: tuple[int, ...], base: int = 0) -> Iterator[tuple[int, int]]:
    """[start, end) runs, in element order, of a chunk of `dims` elements whose first
    `valid` along each dimension lie inside the dataset."""
    if not dims:
        return
    stride = prod(dims[1:])
    if valid[1:] != dims[1:]:
        for i in range(valid[0]):
            yield from outside(dims[1:], valid[1:], base + i * stride)
    if valid[0] < dims[0]:
        yield base + valid[0] * stride, base + dims[0] * stride


class Edge:
    """The bytes past the extent of one edge chunk, checked as the chunk's stored bytes
    are fed in order: each run of elements holds the fill value."""

    def __init__(self, runs: Runs, shape: tuple[int, bytes, bool], what: str) -> None:
        """shape: (elements in the chunk, one element's fill, shuffled)."""
        self.regions, self.pos, self.what = _regions(runs, shape), 0, what
        self.current = next(self.regions, None)

    def feed(self, piece: bytes | memoryview) -> None:
        start, end = self.pos, self.pos + len(piece)
        while self.current is not None and self.current[0] < end:
            first, last, pattern = self.current
            s, e = max(first, start), min(last, end)
            if s < e and piece[s - start : e - start] != _pattern(pattern, s - first, e - s):
                raise Invalid(
                    f"hdf5: a chunk of {self.what} holds data past the dataset's extent "
                    "(elements no reader returns must be the fill value)"
                )
            if last > end:
                break
            self.current = next(self.regions, None)
        self.pos = end


def _regions(runs: Runs, shape: tuple[int, bytes, bool]) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, the fill repeated there) of the runs' bytes in the stored chunk of
    `count` elements: byte j of element i lies at j * count + i when shuffled."""
    count, fill, shuffled = shape
    if not shuffled or len(fill) == 1:
        return ((a * len(fill), b * len(fill), fill) for a, b in runs())
    return ((j * count + a, j * count + b, fill[j : j + 1]) for j in range(len(fill)) for a, b in runs())


def _pattern(fill: bytes, phase: int, size: int) -> bytes:
    """`size` bytes of `fill` repeated, starting `phase` bytes into it."""
    phase %= len(fill)
    return (fill * ((phase + size) // len(fill) + 1))[phase : phase + size]


def edge(dims: tuple[int, ...], offsets: tuple[int, ...], extent: tuple[int, ...]) -> Runs | None:
    """The runs of elements of the chunk of `dims` at `offsets` past `extent` (a
    callable giving them afresh), or None when the chunk lies inside."""
    valid = tuple(min(step, end - at) for at, step, end in zip(offsets, dims, extent, strict=False))
    return None if valid == dims else (lambda: outside(dims, valid))
