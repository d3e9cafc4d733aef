"""A chunked dataset's filter pipeline message, byte for byte what libhdf5 writes
(H5O__pline_encode, H5Pset_shuffle/deflate/fletcher32, H5Z__set_local_shuffle): the
message is re-encoded from the filters it names and compared whole, so its reserved
bytes, names, name padding, flags, client data and their padding hold nothing else.
Only the filters the walk decodes get here (shapes.checkable refuses the others):

- shuffle: optional; one client data value, the element size (H5Z__set_local_shuffle),
  none for a variable-length datatype (libhdf5 sets none there). The walk
  unshuffles by the element size: both agree on which bytes are elements;
- deflate: optional; one value, the compression level 0..9;
- fletcher32: mandatory; no client data.

Version 1 names each filter ('deflate', 'shuffle', 'fletcher32'), NUL-padded to 8, and
pads an odd number of client data values with a zero one; version 2 names none of
them (ids below 256) and pads nothing."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..stream import Invalid
from .shapes import DEFLATE, FILTER_NAMES, FLETCHER32, SHUFFLE, pipeline

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message, Walker

OPTIONAL = 0x0001  # H5Z_FLAG_OPTIONAL
FLAGS = {SHUFFLE: OPTIONAL, DEFLATE: OPTIONAL, FLETCHER32: 0}
MAX_LEVEL = 9  # deflate's highest compression level


def check(f: File, at: int, item: tuple[int, bool], what: str) -> None:
    """The pipeline message at `at` of the dataset `what` (item: its element size, and
    whether its datatype is itself variable-length) is libhdf5's encoding of its
    filters."""
    ids, size = pipeline(f, at, what)
    version = f.unpack("B", at, f"the filter pipeline of {what}")[0]
    if not ids:
        raise Invalid(f"hdf5: the filter pipeline of {what} names no filter (libhdf5 writes none then)")
    level = f.unpack("I", at + _level_at(version, ids, item), what)[0] if DEFLATE in ids else 0
    data = {SHUFFLE: _shuffle(item), DEFLATE: (level,), FLETCHER32: ()}
    wanted = encode(version, [(fid, data[fid]) for fid in ids])
    got = f.bytes(at, size, f"the filter pipeline of {what}")
    if got != wanted or level > MAX_LEVEL:
        differs = next((i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b), len(wanted))
        raise Invalid(
            f"hdf5: the filter pipeline of {what} is not what libhdf5 writes for "
            f"{', '.join(FILTER_NAMES[fid] for fid in ids)} on {item[0]}-byte elements with a deflate "
            f"level 0..{MAX_LEVEL}: byte {differs} differs (its reserved bytes, filter names, "
            "flags and client data are libhdf5's)"
        )


def encode(version: int, filters: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """H5O__pline_encode of (id, client data) filters, each with its default flags."""
    out = bytearray([version, len(filters)]) + bytes(6 if version == 1 else 0)
    for fid, values in filters:
        name = FILTER_NAMES[fid].encode() + b"\0" if version == 1 else b""
        name += bytes(-len(name) % 8)
        out += struct.pack("<H", fid) + (struct.pack("<H", len(name)) if version == 1 else b"")
        out += struct.pack("<HH", FLAGS[fid], len(values)) + name
        out += struct.pack(f"<{len(values)}I", *values)
        out += bytes(4 if version == 1 and len(values) % 2 else 0)
    return bytes(out)


def _shuffle(item: tuple[int, bool]) -> tuple[int, ...]:
    """Shuffle's client data: the element size; none for a variable-length datatype
    (libhdf5 sets none there; its compound members may be: then the size)."""
    size, variable = item
    return () if variable else (size,)


def _level_at(version: int, ids: tuple[int, ...], item: tuple[int, bool]) -> int:
    """Where deflate's level lies in libhdf5's encoding of a pipeline of `ids` (deflate
    follows at most a shuffle: shapes.checkable)."""
    before = [(SHUFFLE, _shuffle(item))][: ids.index(DEFLATE)]
    return len(encode(version, before)) + (16 if version == 1 else 6)


def outside_datasets(_w: Walker, _m: Message, what: str, first: dict[int, Message]) -> None:
    """A filter pipeline in a header without a layout (a group's, filtering its link
    heap: H5Pset_deflate on a group creation property list) is refused; a dataset's is
    checked with its layout (storage.layout)."""
    if 0x08 not in first:
        raise Invalid(f"hdf5: a filter pipeline in {what}, which is not a dataset, is not supported")
