"""Reading and patching HDF5 bytes for the attack tests: the format specification's
structures (superblock 0-3, object headers v1/v2, checksums) as offsets, nothing more."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import h5py

M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    for s1, s2, s3 in ((4, 6, 8), (16, 19, 4)):
        a = ((a - c) & M32) ^ _rot(c, s1)
        c = (c + b) & M32
        b = ((b - a) & M32) ^ _rot(a, s2)
        a = (a + c) & M32
        c = ((c - b) & M32) ^ _rot(b, s3)
        b = (b + a) & M32
    return a, b, c


def lookup3(data: bytes) -> int:
    """Jenkins' lookup3 hashlittle, HDF5's metadata checksum (H5_checksum_lookup3)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n) & M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & M32
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & M32
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & M32
        a, b, c = _mix(a, b, c)
        n, i = n - 12, i + 12
    if n == 0:
        return c
    tail = bytes(data[i : i + n]) + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & M32
    b = (b + int.from_bytes(tail[4:8], "little")) & M32
    c = (c + int.from_bytes(tail[8:12], "little")) & M32
    for x, y, k in ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24)):
        v = [a, b, c]
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], k)) & M32
        a, b, c = v
    return c


def u(data: bytes, off: int, fmt: str = "<Q") -> int:
    return struct.unpack_from(fmt, data, off)[0]


def put(data: bytearray, off: int, value: int, fmt: str = "<Q") -> None:
    struct.pack_into(fmt, data, off, value)


def sb_version(data: bytes) -> int:
    return data[8]


def set_eof(data: bytearray, eof: int) -> None:
    """Raise (or lower) the superblock's end-of-file address, checksum kept valid."""
    version = sb_version(data)
    if version >= 2:
        put(data, 28, eof)
        put(data, 44, lookup3(bytes(data[:44])), "<I")
    else:
        put(data, 40 if version == 0 else 44, eof)


def sig_at(data: bytes, sig: bytes) -> list[int]:
    found, i = [], data.find(sig)
    while i >= 0:
        found.append(i)
        i = data.find(sig, i + 1)
    return found


def v1_messages(data: bytes, addr: int) -> list[tuple[int, int, int, int]]:
    """(type, size, flags, body offset) of a version 1 object header's messages, its
    continuation blocks' included."""
    assert data[addr] == 1, "not a version 1 object header"
    blocks, out = [(addr + 16, u(data, addr + 8, "<I"))], []
    while blocks:
        p, size = blocks.pop(0)
        end = p + size
        while p < end:
            mtype, msize, flags = struct.unpack_from("<HHB", data, p)
            out.append((mtype, msize, flags, p + 8))
            if mtype == 0x10:
                blocks.append((u(data, p + 8), u(data, p + 16)))
            p += 8 + msize
    return out


def v2_header(data: bytes, addr: int) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(start of messages, end of chunk 0, [(type, size, body offset)]) of an OHDR."""
    assert data[addr : addr + 4] == b"OHDR"
    flags, p = data[addr + 5], addr + 6
    p += 16 if flags & 0x20 else 0
    p += 4 if flags & 0x10 else 0
    width = 1 << (flags & 3)
    size = int.from_bytes(data[p : p + width], "little")
    p += width
    start, end, head = p, p + size, 4 + (2 if flags & 4 else 0)
    msgs = []
    while p + head <= end:
        mtype, msize = struct.unpack_from("<BH", data, p)
        msgs.append((mtype, msize, p + head))
        p += head + msize
    return start, end, msgs


def fix_v2_checksum(data: bytearray, addr: int) -> None:
    _, end, _ = v2_header(data, addr)
    put(data, end, lookup3(bytes(data[addr:end])), "<I")


def message(data: bytes, addr: int, mtype: int) -> tuple[int, int]:
    """(body offset, size) of the first message of a type in a v1 object header."""
    for t, size, _, body in v1_messages(data, addr):
        if t == mtype:
            return body, size
    raise AssertionError(f"no message {mtype} at {addr}")


def write_h5(path: Path, build, **kw) -> bytearray:
    with h5py.File(path, "w", **kw) as f:
        build(f)
    return bytearray(path.read_bytes())


def info(path: Path, name: str, what: str = "addr"):
    with h5py.File(path, "r") as f:
        obj = f[name]
        if what == "addr":
            return h5py.h5o.get_info(obj.id).addr
        if what == "offset":
            return obj.id.get_offset()
        return [obj.id.get_chunk_info(i) for i in range(obj.id.get_num_chunks())]


def checksummed_length(data: bytes, start: int, limit: int = 4096) -> int:
    """Length of the checksummed part of a v2 structure at start (its lookup3 follows it)."""
    for n in range(8, limit):
        if lookup3(bytes(data[start : start + n])) == u(data, start + n, "<I"):
            return n
    raise AssertionError(f"no checksum found after {start}")


def zlib_of_zeros(mebibytes: int) -> bytes:
    """A zlib stream of that many MiB of zeros, built without deflating them all: after a
    sync flush each further MiB compresses to the same bytes; Adler-32 of n zeros is
    (n mod 65521) << 16 | 1."""
    comp, block = zlib.compressobj(9), bytes(1 << 20)
    first = comp.compress(block) + comp.flush(zlib.Z_SYNC_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_SYNC_FLUSH)
    final_block = comp.flush()[:2]
    adler = ((mebibytes << 20) % 65521) << 16 | 1
    return first + again * (mebibytes - 1) + final_block + struct.pack(">I", adler)
