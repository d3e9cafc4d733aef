"""What each bit of an atomic element may hold (elements.py composes them). An integer
or bitfield of fewer bits of precision than its bytes, or at a bit offset, and a float
whose sign, exponent and mantissa leave bits over: the bits outside those fields are
the datatype's padding, which libhdf5 writes as its pad flags say (zeros unless a pad
bit is set; not sign-extended: H5T__conv_i_i, H5T__conv_f_f) and no reader returns. A
fixed-length NULLTERM string ends at its first NUL (libhdf5 pads with NULs, readers
stop there); NULLPAD and SPACEPAD strings are returned whole by h5py, NULs inside
included, so they hold nothing hidden. References: an object reference is an object
header's address; a dataset region reference names a global heap object (regions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .ledger import File

FIXED, FLOAT, STRING, BITFIELD, REFERENCE, ENUM = 0, 1, 3, 4, 7, 8
OBJECT_REF, REGION_REF = 8, 12  # the sizes of an object and a dataset region reference
_NULLTERM = 0


def pinned(f: File, at: int, head: tuple[int, int, int]) -> tuple[int, int] | None:
    """(mask, value): the bits of one element (an integer, little-endian) of the atomic
    datatype at `at` that hold the only value libhdf5 writes there, and that value; None
    when every bit is data. head is (class, class bits, size)."""
    cls, bits, size = head
    if cls not in (FIXED, BITFIELD, FLOAT) or not size:
        return None
    offset, precision = f.unpack("HH", at + 8, "a datatype")
    if not 0 < precision <= 8 * size - offset:
        raise Invalid(
            f"hdf5: a datatype of {precision} bits at bit offset {offset} does not fit its {size} bytes"
        )
    pads = (bits >> 1 & 1, bits >> 2 & 1, bits >> 3 & 1 if cls == FLOAT else 0)
    used = (
        _ones(offset, offset + precision) if cls != FLOAT else _float_fields(f, at, bits, (offset, precision))
    )
    spare = _ones(0, 8 * size) & ~used
    if not spare:
        return None
    value = (_ones(0, offset) * pads[0]) | (_ones(offset + precision, 8 * size) * pads[1])
    value |= spare & _ones(offset, offset + precision) * pads[2]
    if bits & 0x01:  # big-endian: the same bits, their bytes reversed
        spare, value = (_swapped(x, size) for x in (spare, value))
    return spare, value & spare


def _ones(start: int, end: int) -> int:
    return (1 << end) - (1 << start) if end > start else 0


def _swapped(x: int, size: int) -> int:
    return int.from_bytes(x.to_bytes(size, "little"), "big")


def _float_fields(f: File, at: int, bits: int, field: tuple[int, int]) -> int:
    """The bits a float's sign, exponent and mantissa take: inside its precision, not
    overlapping (else refused: a reader would read one bit twice)."""
    if bits & 0x40:
        raise Invalid("hdf5: a floating-point datatype in VAX byte order is not supported")
    epos, esize, mpos, msize = f.unpack("BBBB", at + 12, "a datatype")
    parts = [_ones(bits >> 8, (bits >> 8) + 1), _ones(epos, epos + esize), _ones(mpos, mpos + msize)]
    used = parts[0] | parts[1] | parts[2]
    if bin(used).count("1") != 1 + esize + msize or used & ~_ones(field[0], field[0] + field[1]):
        raise Invalid("hdf5: a floating-point datatype whose fields overlap or leave its precision")
    return used


def nullterm(cls: int, bits: int) -> bool:
    """Whether elements of this class are NULLTERM strings."""
    return cls == STRING and bits & 0x0F == _NULLTERM


def reference(cls: int, bits: int, size: int) -> int | None:
    """OBJECT_REF or REGION_REF for a reference datatype (None for other classes);
    refused: the newer reference types (h5py writes the two old ones)."""
    if cls != REFERENCE:
        return None
    kind = {0: OBJECT_REF, 1: REGION_REF}.get(bits & 0x0F)
    if kind is None or size != kind:
        raise Invalid(f"hdf5: a reference datatype of type {bits & 0x0F} and {size} bytes is not supported")
    return kind
