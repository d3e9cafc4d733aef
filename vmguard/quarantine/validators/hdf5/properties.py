"""The version of a datatype and the properties of an atomic one (integer, float, time,
string, bitfield, opaque, reference) are what libhdf5 writes, or the datatype is
refused. They tell a reader how to convert the stored bits; none is returned as a
value, so a choice libhdf5 never makes would be a channel no reader sees.

Version: libhdf5 writes every atomic datatype as version 1, under any libver (only
compound, enum, array and variable-length types get later versions, up to 5; an array
is at least version 2); the others decode alike. Time (class 2, no reader maps it to a
number): its precision is its size in bits. Floating point: bit offset, precision,
sign location, exponent and mantissa locations and sizes, exponent bias,
normalisation and pad flags (H5Tset_fields, H5Tset_ebias...: the bias alone is 4 bytes
that every value decodes through) are one of the layouts libhdf5 and h5py write: IEEE
754 binary16, binary32, binary64 and binary128 (h5py's float16, float32, float64 and
128-bit types) and the x87 80-bit extended precision that numpy's long double is (in
12 or 16 bytes; its spare bytes are atoms.py's padding bits), in either byte order,
with zero pad flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .ledger import File

_IMPLIED, _NONE = 0x20, 0x00  # mantissa normalisation in the class bits (bits 4-5)
_ORDER = 0x01  # class bit 0: big-endian (bits 1-3 pad flags, bit 6 VAX order: zero)

# (size, class bits without the byte order, bit offset, precision, exponent location,
# exponent size, mantissa location, mantissa size, bias): the sign bit is the class
# bits' high byte, so the bits carry it
_LAYOUTS = frozenset(
    {
        (2, _IMPLIED | 15 << 8, 0, 16, 10, 5, 0, 10, 15),
        (4, _IMPLIED | 31 << 8, 0, 32, 23, 8, 0, 23, 127),
        (8, _IMPLIED | 63 << 8, 0, 64, 52, 11, 0, 52, 1023),
        (16, _IMPLIED | 127 << 8, 0, 128, 112, 15, 0, 112, 16383),
        (12, _NONE | 79 << 8, 0, 80, 64, 15, 0, 64, 16383),
        (16, _NONE | 79 << 8, 0, 80, 64, 15, 0, 64, 16383),
    }
)


_ATOMIC = (0, 1, 2, 3, 4, 5, 7)
_TIME, _FLOAT, _ARRAY = 2, 1, 10
_LATEST = 5  # the latest datatype version libhdf5 writes (and reads)


def check(f: File, at: int, what: str) -> None:
    """The datatype at `at` has a version libhdf5 writes and, if atomic, its properties."""
    head = f.unpack("B", at, f"the datatype of {what}")[0]
    cls, version = head & 0x0F, head >> 4
    if cls in _ATOMIC and version != 1:
        raise Invalid(f"hdf5: an atomic datatype of {what} has version {version} (libhdf5 writes 1)")
    if not (2 if cls == _ARRAY else 1) <= version <= _LATEST:
        raise Invalid(
            f"hdf5: a datatype of class {cls} of {what} has version {version}, which libhdf5 never writes"
        )
    if cls == _FLOAT:
        _float(f, at, what)
    elif cls == _TIME:
        _time(f, at, what)


def _time(f: File, at: int, what: str) -> None:
    size, precision = f.unpack("4xIH", at, f"the datatype of {what}")
    if precision != 8 * size:
        raise Invalid(f"hdf5: a time datatype of {what} has {precision} bits of precision in {size} bytes")


def _float(f: File, at: int, what: str) -> None:
    """The floating-point datatype at `at` is one of _LAYOUTS."""
    bits, size = f.unpack("xHxI", at, f"the datatype of {what}")
    offset, precision, epos, esize, mpos, msize, bias = f.unpack("HHBBBBI", at + 8, f"the datatype of {what}")
    layout = (size, bits & ~_ORDER, offset, precision, epos, esize, mpos, msize, bias)
    if layout not in _LAYOUTS:
        raise Invalid(
            f"hdf5: a floating-point datatype of {what} is not supported: non-IEEE float ({size} bytes, "
            f"sign at bit {bits >> 8}, exponent {esize} bits at {epos}, mantissa {msize} bits at {mpos}, "
            f"bias {bias}, precision {precision} at bit {offset}, class bits {bits & 0xFF:#04x}; libhdf5 "
            "writes IEEE binary16/32/64/128 and the x87 80-bit long double)"
        )
