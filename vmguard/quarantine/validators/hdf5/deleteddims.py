"""The tail of the dataset netCDF-C wrote for a dimension before its coordinate variable
replaced it, recomputed (session 40, attack qh5's nc4-classic-coord.nc).

netCDF-C stores a dimension without a variable as a "dimension-only" dataset: a
dimension scale of 32-bit floats whose NAME says "This is a netCDF dimension but not a
netCDF variable." and its length in 10 characters, with its `_Netcdf4Dimid`. In the
classic model each define ends with nc_enddef, which writes that dataset and flushes;
defining the coordinate variable of the dimension then deletes it (H5Ldelete frees its
object header unrewritten) and creates the variable, whose header libhdf5 allocates at
the freed header's start. The variable's header is shorter (its NAME is its own name),
so the freed header's last bytes stay right after it: the end of `_Netcdf4Dimid` and
the header's checksum (NETCDF4_CLASSIC, one dimension and its coordinate variable: the
commonest netCDF file).

That header is recomputed whole from the live variable: its length (the variable's one
dimension) and its dimension id (the first of its `_Netcdf4Coordinates`), in the one
form libhdf5 gives it when all its messages fit its first chunk (a header of 324 bytes,
exactly what netCDF-C 4.x with HDF5 1.10 to 2.x writes; its checksum recomputed). So a
gap right after a one-dimensional dataset's header is admitted exactly when it is that
header's tail from the live header's end, zeros after it; no byte of it is free. A
dimension-only header of another form (one libhdf5 gave a continuation block) stays
refused (h5repack)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import scalelists
from .checksum import lookup3
from .shapes import dataspace

if TYPE_CHECKING:
    from .ledger import File

_NAME = b"This is a netCDF dimension but not a netCDF variable.%10d\x00"
# the messages of a dimension-only dataset's header: (type, flags, order, body), {length}
# and {dimid} filled in (dataspace, float32 LE, fill value, contiguous layout not yet
# allocated, attribute info, CLASS, NAME, _Netcdf4Dimid), as netCDF-C has libhdf5 write them
_MESSAGES = (
    (0x01, 0, 0, "02010101{q}{q}"),
    (0x03, 1, 0, "11211f000400000000002000170800177f000000"),
    (0x05, 1, 0, "030a"),
    (0x08, 0, 0, "0301ffffffffffffffff{q4}"),
    (0x15, 4, 0, "00030300" + "ff" * 24),
    (0x0C, 0, 0, "030006000800040000434c4153530013000000100000000200000044494d454e53494f4e5f5343414c4500"),
    (0x0C, 0, 1, "0300050008000400004e414d4500130000004000000002000000{name}"),
    (0x0C, 0, 2, "03000e000c000400005f4e65746364663444696d69640010080000040000000000200002000000{dimid}"),
)
COORDINATES = b"_Netcdf4Coordinates"
_FLAGS = 0x0D  # attribute creation order tracked and indexed, chunk 0's size in 2 bytes


def header(length: int, dimid: int) -> bytes:
    """The dimension-only dataset's object header, checksum included."""
    values = {
        "q": struct.pack("<Q", length).hex(),
        "q4": struct.pack("<Q", 4 * length).hex(),
        "name": (_NAME % length).hex(),
        "dimid": struct.pack("<i", dimid).hex(),
    }
    chunk = b"".join(
        struct.pack("<BHBH", kind, len(body), flags, order) + body
        for kind, flags, order, text in _MESSAGES
        for body in [bytes.fromhex(text.format(**values))]
    )
    image = b"OHDR" + bytes([2, _FLAGS]) + struct.pack("<H", len(chunk)) + chunk
    return image + struct.pack("<I", lookup3(image))


@dataclass(slots=True)
class DeletedDims:
    """The one-dimensional datasets whose header may lie over a deleted dimension-only
    one: header address -> (length, dimension id)."""

    candidates: dict[int, tuple[int, int]] = field(default_factory=dict)

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], run: list[int]) -> bool:
        """Whether the gap is the tail of the dimension-only header that lay where the
        header right before it starts, then zeros."""
        start, end = gap
        at = run[-1] if run else -1
        if at not in self.candidates:
            return False
        old = header(*self.candidates.pop(at))  # each once
        tail = old[start - at :] if start - at < len(old) else b""
        return bool(tail) and bytes(buf[start : start + len(tail)]) == tail and not bytes(
            buf[start + len(tail) : end]
        ).strip(b"\0")


def offer(dims: DeletedDims, f: File, address: int, messages: list, what: str) -> None:
    """The header at `address` just walked (its messages), if it is a one-dimensional
    dataset with `_Netcdf4Coordinates` in its header: a netCDF coordinate variable."""
    space = next((m for m in messages if m.kind == 0x01), None)
    if space is None or len(shape := dataspace(f, space.at, what).dims) != 1:
        return
    for m in messages:
        if m.kind == 0x0C and scalelists.attribute_name(f, m.at, what) == COORDINATES:
            dimid = f.unpack("i", scalelists.places(f, m.at, what)[1], what)[0]
            dims.candidates[address] = (shape[0], dimid)
