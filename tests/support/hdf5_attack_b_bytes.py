"""Byte helpers for the second independent HDF5 attack (issue #13): lookup3 and fletcher32
as libhdf5 computes them, writing a file with h5py and patching it, object header messages.
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
from h5py import h5o

PAYLOAD = b"PWND"
MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & MASK; a ^= _rot(c, 4); c = (c + b) & MASK  # noqa: E702
    b = (b - a) & MASK; b ^= _rot(a, 6); a = (a + c) & MASK  # noqa: E702
    c = (c - b) & MASK; c ^= _rot(b, 8); b = (b + a) & MASK  # noqa: E702
    a = (a - c) & MASK; a ^= _rot(c, 16); c = (c + b) & MASK  # noqa: E702
    b = (b - a) & MASK; b ^= _rot(a, 19); a = (a + c) & MASK  # noqa: E702
    c = (c - b) & MASK; c ^= _rot(b, 4); b = (b + a) & MASK  # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b; c = (c - _rot(b, 14)) & MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & MASK  # noqa: E702
    return c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' hashlittle, as H5_checksum_lookup3 computes it."""
    a = b = c = (0xDEADBEEF + len(data) + initval) & MASK
    pos, n = 0, len(data)
    while n > 12:
        x, y, z = struct.unpack_from("<III", data, pos)
        a, b, c = _mix((a + x) & MASK, (b + y) & MASK, (c + z) & MASK)
        pos, n = pos + 12, n - 12
    if n == 0:
        return c
    tail = data[pos:] + bytes(12 - n)
    x, y, z = struct.unpack("<III", tail)
    return _final((a + x) & MASK, (b + y) & MASK, (c + z) & MASK)


def _fletcher32(data: bytes) -> int:
    """H5_checksum_fletcher32: big-endian 16-bit words, odd length padded."""
    if len(data) % 2:
        data = data + b"\0"
    s1 = s2 = 0
    for (w,) in struct.iter_unpack(">H", data):
        s1 = (s1 + w) % 65535
        s2 = (s2 + s1) % 65535
    return (s2 << 16) | s1


# ------------------------------------------------------------------ writing helpers


def _h5(path: Path, build, **kw) -> bytes:
    with h5py.File(path, "w", **kw) as f:
        build(f)
    return path.read_bytes()


def _craft(path: Path, build, locate, apply, **kw) -> bytes:
    """Write with h5py, `locate(f)` offsets while it is open, then `apply(buf, where)`."""
    with h5py.File(path, "w", **kw) as f:
        build(f)
        f.flush()
        where = locate(f)
    buf = bytearray(path.read_bytes())
    apply(buf, where)
    return bytes(buf)


def _contig(name: str):
    return lambda f: f[name].id.get_offset()


def _chunk(name: str, index: int):
    return lambda f: f[name].id.get_chunk_info(index)


def _oh(name: str):
    return lambda f: h5o.get_info(f[name].id).addr


def _ohdr_fix(buf: bytearray, at: int) -> None:
    """Recompute the checksum of the v2 object header chunk 0 at `at`."""
    flags = buf[at + 5]
    pos = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    size = int.from_bytes(buf[pos : pos + width], "little")
    end = pos + width + size
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[at:end])))


def _ohdr_messages(buf: bytes, at: int):
    """(type, data offset, size) of the messages of a v2 header's chunk 0."""
    flags = buf[at + 5]
    pos = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    size = int.from_bytes(buf[pos : pos + width], "little")
    pos += width
    end = pos + size
    head = 6 if flags & 0x04 else 4
    while pos + head <= end:
        mtype, msize = buf[pos], int.from_bytes(buf[pos + 1 : pos + 3], "little")
        yield mtype, pos + head, msize
        pos += head + msize


def _v1_messages(buf: bytes, at: int):
    """(type, data offset, size) of the messages of a v1 header's first block."""
    count = int.from_bytes(buf[at + 2 : at + 4], "little")
    size = int.from_bytes(buf[at + 8 : at + 12], "little")
    pos, end = at + 16, at + 16 + size
    for _ in range(count):
        if pos + 8 > end:
            return
        mtype, msize = struct.unpack_from("<HH", buf, pos)
        yield mtype, pos + 8, msize
        pos += 8 + msize


def _checksum_end(buf: bytes, at: int) -> int:
    """Where the lookup3 checksum of the structure at `at` lies (found, not computed)."""
    for end in range(at + 8, min(len(buf) - 3, at + 65536)):
        if lookup3(buf[at:end]) == int.from_bytes(buf[end : end + 4], "little"):
            return end
    raise AssertionError("no checksum found")


FRHP_END, EAHD_END, BTHD_END, FSHD_END = 142, 68, 34, 78  # where each header's checksum lies


def _field(sig: bytes, offset: int, end: int, nth: int = 0):
    """Write PAYLOAD at `offset` of the nth structure `sig`, recompute its checksum."""
    def apply(buf: bytearray, _) -> None:
        at = -1
        for _ in range(nth + 1):
            at = bytes(buf).index(sig, at + 1)
        buf[at + offset : at + offset + 4] = PAYLOAD
        struct.pack_into("<I", buf, at + end, lookup3(bytes(buf[at : at + end])))
    return apply


def _superblock0(offset: int):
    def apply(buf: bytearray, _) -> None:
        buf[offset : offset + 4] = PAYLOAD
    return apply
