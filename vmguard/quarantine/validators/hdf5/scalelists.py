"""A dimension scale's REFERENCE_LIST, as the Dimension Scales API rewrites it: each
H5DSattach_scale after the first reads the list, deletes the attribute and creates it
anew one entry longer (its size changes), so in an object tracking attribute creation
order each attach after the first leaves one order no attribute carries, below the
list's own. netCDF-C tracks creation order on every object and attaches each variable
to its dimensions' scales, so almost every netCDF-4 file shows such gaps (session 39,
attack oh5's ctl-oh5-nc-two-vars: /x's orders 0, 1, 2, 4, next 5). Only these gaps are
admitted (dense.creation_orders): at most one fewer than the list's entries, all below
its order; any other attribute deleted or renamed still leaves a refused gap."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .shapes import attribute_places, dataspace

if TYPE_CHECKING:
    from .ledger import File

NAME = b"REFERENCE_LIST"  # H5DS's DIMENSION_SCALE back-reference attribute
MAX_COPIES = 256  # earlier copies of one list offered to freed blocks (its entries: 16 bytes each)


def attribute_name(f: File, at: int, what: str) -> bytes:
    """The name of the attribute message at `at` (storage.attribute checked its NUL)."""
    version, _, size = f.unpack("BBH", at, f"an attribute of {what}")
    return f.bytes(at + (9 if version == 3 else 8), size, f"an attribute of {what}").rstrip(b"\0")


def rewrites(f: File, attributes: list[tuple[int, int | None]], what: str) -> tuple[int, int]:
    """(how many creation orders may be missing, the order they lie below) for an
    object's attributes (where each message lies, its creation order): the list's
    entries less one and its order, (0, 0) without a list."""
    for at, order in attributes:
        if order is not None and attribute_name(f, at, what) == NAME:
            return max(0, dataspace(f, attribute_places(f, at, what)[2], what).elements - 1), order
    return 0, 0


def earlier(
    f: File, at: int, size: int, missing: list[int], what: str
) -> list[tuple[tuple[bytes, ...], int]]:
    """The copies of the list at `at` (`size` bytes) H5DSattach_scale deleted, as a freed
    continuation block may still hold them: (message body in each encoding it may have,
    creation order) for 1 to n-1 entries (each attach appends one; the list's dataspace
    is simple of rank 1, maximum its size), the k-th pinned to the k-th missing order:
    only where every attach after the first left its order missing (len(missing) ==
    n - 1), at most MAX_COPIES. The encodings: the live list's, and where its datatype
    is of version 3 the other libver bound's (_reencoded: session 40, h5netcdf appending
    to netCDF4-python's file writes the list as a version 1 message where netCDF-C's
    deleted copies are version 3 ones)."""
    found = _list(f, at, size, what)
    if found is None or len(missing) != found.n - 1:
        return []
    heads = [found.live, *_reencoded(f, at, what)]
    return [(tuple(found.copy(head, k) for head in heads), order)
            for k, order in zip(range(1, found.n), sorted(missing), strict=True)]


def bodies(f: File, at: int, size: int, what: str, only: int | None = None) -> list[bytes]:
    """The message bodies, in the live list's encoding, the list at `at` (`size` bytes)
    had before its last attaches: its first k entries, dimensions k, for k = 1 to n-1, at
    most MAX_COPIES (oldlists.py: a version 1 header's freed continuation block); `only`:
    just the one of that many bytes, if any."""
    found = _list(f, at, size, what)
    if found is None:
        return []
    ks = range(1, found.n)
    if only is not None:
        head_size = len(found.live[0])
        k, extra = divmod(only - head_size, found.entry) if found.entry else (0, 1)
        ks = range(k, k + 1) if not extra and 1 <= k < found.n else range(0)
    return [found.copy(found.live, k) for k in ks]


@dataclass(frozen=True)
class _List:
    """A live REFERENCE_LIST: its n entries' value, each entry's size, and its message up
    to the value with where its dimension lies (the live encoding)."""

    n: int
    entry: int
    value: bytes
    live: tuple[bytes, int]

    def copy(self, head: tuple[bytes, int], k: int) -> bytes:
        return _copy(head[0], head[1], k, self.value[: k * self.entry])


def _list(f: File, at: int, size: int, what: str) -> _List | None:
    """The list at `at` if it is one attaches grew (simple, rank 1, 2 to MAX_COPIES + 1
    entries), else None."""
    space_at, data_at = attribute_places(f, at, what)[2:]
    space = dataspace(f, space_at, what)
    n = space.elements
    if len(space.dims) != 1 or not 1 < n <= MAX_COPIES + 1:
        return None
    version = f.unpack("B", space_at, what)[0]
    live = (f.bytes(at, data_at - at, what), space_at + (4 if version == 2 else 8) - at)
    value = f.bytes(data_at, at + size - data_at, what)
    return _List(n, len(value) // n, value, live)


def _copy(head: bytes, dims: int, k: int, value: bytes) -> bytes:
    """The list's message of `k` entries: its dimension and maximum k, then the value."""
    copy = bytearray(head)
    copy[dims : dims + 8] = copy[dims + 8 : dims + 16] = k.to_bytes(8, "little")
    return bytes(copy) + value


def _reencoded(f: File, at: int, what: str) -> list[tuple[bytes, int]]:
    """The list's message up to its value as libhdf5 writes it under the other libver
    bound (H5DSattach_scale creates the new list with the old one's datatype, which keeps
    its version; the message and dataspace versions are the bound's: 1 and 1 under
    'earliest', h5py's default, 3 and 2 under netCDF-C's v18), and where its dimension
    lies; none for a datatype below version 3 (netCDF-C's bound would upgrade it)."""
    version, _, name_size, type_size, _ = f.unpack("BBHHH", at, what)
    start, type_at, space_at, _ = attribute_places(f, at, what)
    if f.unpack("B", type_at, what)[0] >> 4 != 3 or (version == 3 and f.unpack("B", at + 8, what)[0]):
        return []  # (a UTF-8 name: h5py writes no such list)
    space_version, rank, flags = f.unpack("BBB", space_at, what)
    extents = f.bytes(space_at + (4 if space_version == 2 else 8), 8 * rank * (2 if flags & 1 else 1), what)
    name, datatype = f.bytes(start, name_size, what), f.bytes(type_at, type_size, what)
    if version == 1:
        space = bytes((2, rank, flags, 1)) + extents
        head = struct.pack("<BBHHHB", 3, 0, name_size, type_size, len(space), 0) + name + datatype
        return [(head + space, len(head) + 4)]
    space = bytes((1, rank, flags, 0)) + bytes(4) + extents
    head = struct.pack("<BBHHH", 1, 0, name_size, type_size, len(space)) + _pad(name) + _pad(datatype)
    return [(head + _pad(space), len(head) + 8)]


def _pad(field: bytes) -> bytes:
    """A version 1 attribute message's field, padded to 8 bytes."""
    return field + bytes(-len(field) % 8)


def deleted(
    f: File, held: list[tuple[int, int, int | None]], following: int, what: str,
    other: frozenset[int] = frozenset(),
) -> tuple[tuple[bytes, ...], ...]:
    """The bodies of the deleted copies (earlier) of the list among an object's attributes
    (where each lies, its size, its creation order; `following` the next order; `other`
    orders missing for another reason: dimids.py)."""
    if not 0 < following - len(held) <= MAX_COPIES + len(other):
        return ()
    missing = sorted(set(range(following)) - {order for _, _, order in held} - other)
    for at, size, order in held if missing else ():
        if order is not None and attribute_name(f, at, what) == NAME:
            return tuple(bodies for bodies, _ in earlier(f, at, size, missing, what))
    return ()
