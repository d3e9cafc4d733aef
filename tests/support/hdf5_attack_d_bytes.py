"""Byte tools for the fourth independent HDF5 attack (issue #13, session 31).

Written from the HDF5 file format specification, not from vmguard's validator. The
third attack's tools (lookup3, header walking, h5file, readable) are reused; this adds
what the fourth needs: the root group's address, a global heap collection's objects,
and a permutation codec for the write-order channel.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import h5py

from tests.support.hdf5_attack_c_bytes import header, resum


def root_address(buf: bytes) -> int:
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return h5py.h5o.get_info(f.id).addr


def patch_root(buf: bytearray, offset: int, data: bytes) -> None:
    """Overwrite bytes inside the root group's header and fix its checksums (the header
    is read before the patch: afterwards libhdf5 would refuse its checksum)."""
    hdr = header(buf, root_address(buf))
    buf[offset:offset + len(data)] = data
    resum(buf, hdr)


def data_offset(buf: bytes, path: str) -> int:
    """Where a contiguous dataset's elements start."""
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return f[path].id.get_offset()


@dataclass(frozen=True)
class HeapObject:
    at: int  # its header: index (2), reference count (2), reserved (4), size (8)
    index: int
    size: int


def gcol_objects(buf: bytes, at: int) -> list[HeapObject]:
    """The objects of the global heap collection at `at`, up to the free-space object 0."""
    size = struct.unpack_from("<Q", buf, at + 8)[0]
    pos, out = at + 16, []
    while pos + 16 <= at + size:
        index, _, _, osize = struct.unpack_from("<HHIQ", buf, pos)
        out.append(HeapObject(pos, index, osize))
        if index == 0:
            break
        pos += 16 + osize + (-osize % 8)
    return out


def permutation(n: int, value: int) -> list[int]:
    """The value-th permutation of range(n) (Lehmer code)."""
    items, out = list(range(n)), []
    for i in range(n, 0, -1):
        k, value = divmod(value, math.factorial(i - 1))
        out.append(items.pop(k))
    return out


def rank(perm: list[int]) -> int:
    """The inverse of permutation()."""
    items, value = sorted(perm), 0
    for i, p in enumerate(perm):
        k = items.index(p)
        value += k * math.factorial(len(perm) - 1 - i)
        items.pop(k)
    return value
