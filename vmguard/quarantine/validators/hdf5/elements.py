"""What each byte of one element of a datatype is: a compound's members at their offsets
and an array's items (nested at any depth), variable-length values (16 bytes pointing
into a global heap: vlen.py) wherever they lie, and padding: the bytes of a compound
that no member covers. No reader returns padding, and libhdf5 writes there whatever
the writer's memory held (h5py: numpy's gaps of an aligned dtype, uninitialised unless
the array was zeroed), so padding must be zeros (vlen.check)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import sizes

if TYPE_CHECKING:
    from .ledger import File

MAX_PARTS = 4096  # variable-length values and padding runs in one element
ELEMENT = 16  # a variable-length value in the file: length, heap collection, object index
_COMPOUND, _VLEN, _ARRAY = 6, 9, 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Element:
    size: int
    vlens: tuple[tuple[int, int], ...] = ()  # (offset, item size of its sequence) of each value
    pads: tuple[tuple[int, int], ...] = ()  # [start, end) of each run of padding

    @property
    def checked(self) -> bool:
        """Whether any byte of the element is more than data (a value, or padding)."""
        return bool(self.vlens or self.pads)

    def mask(self) -> bytes:
        """One element's bytes: 0xFF where padding lies, else 0."""
        out = bytearray(self.size)
        for start, end in self.pads:
            out[start:end] = b"\xff" * (end - start)
        return bytes(out)


def element(f: File, at: int, what: str, depth: int = 0) -> Element:
    """The element of the datatype at `at` (`f` ends where its message does)."""
    if depth > sizes.MAX_NESTING:
        raise Invalid(f"hdf5: the datatype of {what} nests more than {sizes.MAX_NESTING} deep")
    head, bits, _, size = f.unpack("BHBI", at, f"the datatype of {what}")
    cls, version = head & 0x0F, head >> 4
    if cls == _VLEN:
        return _vlen(f, at, size, what, depth)
    if cls == _COMPOUND:
        parts = [
            (offset, element(f, pos, what, depth + 1))
            for offset, pos, _ in sizes.members(f, at, (version, bits, size), what, depth)
        ]
        return _compound(size, parts, what)
    if cls == _ARRAY:
        base = element(f, sizes.array_base(f, at, version, what), what, depth + 1)
        count = prod(sizes.array_dims(f, at, what))
        if base.size * count != size:
            raise Invalid(
                f"hdf5: an array datatype of {what} is {size} bytes, its items {count} x {base.size}"
            )
        return _repeated(base, count, what) if base.checked else Element(size=size)
    return Element(size=size)


def _vlen(f: File, at: int, size: int, what: str, depth: int) -> Element:
    base = element(f, at + 8, what, depth + 1)
    if base.vlens:
        raise Invalid(f"hdf5: a variable-length type of variable-length values ({what}) is not supported")
    if base.pads:
        raise Invalid(
            f"hdf5: a variable-length sequence of compounds with padding ({what}) is not supported "
            "(the padding of heap objects is not checked)"
        )
    if size != ELEMENT:
        raise Invalid(f"hdf5: a variable-length datatype of {what} is {size} bytes, not {ELEMENT}")
    return Element(size=ELEMENT, vlens=((0, base.size),))


def _compound(size: int, parts: list[tuple[int, Element]], what: str) -> Element:
    """Members in offset order, none overlapping another or the element's end; the gaps
    between them and after the last are padding, with the members' own."""
    vlens: list[tuple[int, int]] = []
    pads: list[tuple[int, int]] = []
    pos = 0
    for offset, part in sorted(parts, key=lambda p: p[0]):
        if offset < pos or offset + part.size > size:
            raise Invalid(f"hdf5: the members of a compound datatype of {what} overlap or overrun it")
        pads.append((pos, offset))
        vlens += [(offset + o, base) for o, base in part.vlens]
        pads += [(offset + s, offset + e) for s, e in part.pads]
        pos = offset + part.size
        _bounded(len(vlens) + len(pads), what)  # as it grows: a nesting of arrays is no bomb
    pads.append((pos, size))
    return Element(size=size, vlens=tuple(vlens), pads=_merged(pads))


def _repeated(base: Element, count: int, what: str) -> Element:
    _bounded(count * (len(base.vlens) + len(base.pads)), what)
    step = base.size
    vlens = tuple((i * step + o, b) for i in range(count) for o, b in base.vlens)
    pads = _merged([(i * step + s, i * step + e) for i in range(count) for s, e in base.pads])
    return Element(size=step * count, vlens=vlens, pads=pads)


def _merged(runs: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The non-empty runs, in order, adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in runs if r[0] < r[1]):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)


def _bounded(parts: int, what: str) -> None:
    if parts > MAX_PARTS:
        raise Invalid(f"hdf5: an element of {what} holds more than {MAX_PARTS} values and padding runs")
