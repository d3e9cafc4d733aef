"""Byte-level tools for the third independent HDF5 attack (issue #13, session 30).

Written from the HDF5 file format specification, not from vmguard's validator: find an
object's header messages, rewrite or move a message, recompute the lookup3 checksums of
version 2 headers and superblocks. Only what the attack cases in hdf5_attack_c.py need.
"""

from __future__ import annotations

import io
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

PAYLOAD = b"PWND"
NIL = 0


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    m = 0xFFFFFFFF
    a = (a - c) & m; a ^= _rot(c, 4); c = (c + b) & m  # noqa: E702
    b = (b - a) & m; b ^= _rot(a, 6); a = (a + c) & m  # noqa: E702
    c = (c - b) & m; c ^= _rot(b, 8); b = (b + a) & m  # noqa: E702
    a = (a - c) & m; a ^= _rot(c, 16); c = (c + b) & m  # noqa: E702
    b = (b - a) & m; b ^= _rot(a, 19); a = (a + c) & m  # noqa: E702
    c = (c - b) & m; c ^= _rot(b, 4); b = (b + a) & m  # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    m = 0xFFFFFFFF
    c ^= b; c = (c - _rot(b, 14)) & m  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & m  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & m  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & m  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & m  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & m  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & m  # noqa: E702
    return c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' hashlittle, the checksum of HDF5's newer metadata."""
    m = 0xFFFFFFFF
    a = b = c = (0xDEADBEEF + len(data) + initval) & m
    rest = data
    while len(rest) > 12:
        x, y, z = struct.unpack_from("<3I", rest)
        a, b, c = _mix((a + x) & m, (b + y) & m, (c + z) & m)
        rest = rest[12:]
    if not rest:
        return c
    x, y, z = struct.unpack("<3I", rest.ljust(12, b"\0"))
    return _final((a + x) & m, (b + y) & m, (c + z) & m)


@dataclass(frozen=True)
class Msg:
    """One header message: its type, flags, where its header and body start, body size."""

    type: int
    flags: int
    head: int
    body: int
    size: int


@dataclass(frozen=True)
class Header:
    version: int
    start: int
    msgs: tuple[Msg, ...]
    chunks: tuple[tuple[int, int], ...]  # v2: (start, end) of OHDR/OCHK incl. checksum


def _v1_messages(buf: bytes, start: int, size: int, out: list, todo: list) -> None:
    pos, end = start, start + size
    while pos + 8 <= end:
        mtype, msize, flags = struct.unpack_from("<HHB", buf, pos)
        out.append(Msg(mtype, flags, pos, pos + 8, msize))
        if mtype == 0x10:
            todo.append(struct.unpack_from("<QQ", buf, pos + 8))
        pos += 8 + msize


def _v2_messages(buf: bytes, start: int, end: int, hflags: int, out: list, todo: list) -> None:
    pos, hsize = start, 6 if hflags & 0x04 else 4
    while pos + hsize <= end:
        mtype, msize, flags = struct.unpack_from("<BHB", buf, pos)
        out.append(Msg(mtype, flags, pos, pos + hsize, msize))
        if mtype == 0x10:
            todo.append(struct.unpack_from("<QQ", buf, pos + hsize))
        pos += hsize + msize


def header(buf: bytes, addr: int) -> Header:
    """Every message of the object header at addr, continuation blocks followed."""
    msgs: list[Msg] = []
    todo: list = []
    chunks: list[tuple[int, int]] = []
    if buf[addr:addr + 4] == b"OHDR":
        hflags = buf[addr + 5]
        pos = addr + 6 + (16 if hflags & 0x20 else 0) + (4 if hflags & 0x10 else 0)
        width = 1 << (hflags & 3)
        size = int.from_bytes(buf[pos:pos + width], "little")
        pos += width
        chunks.append((addr, pos + size + 4))
        _v2_messages(buf, pos, pos + size, hflags, msgs, todo)
        while todo:
            caddr, clen = todo.pop(0)
            chunks.append((caddr, caddr + clen))
            _v2_messages(buf, caddr + 4, caddr + clen - 4, hflags, msgs, todo)
        return Header(2, addr, tuple(msgs), tuple(chunks))
    size = struct.unpack_from("<I", buf, addr + 8)[0]
    _v1_messages(buf, addr + 16, size, msgs, todo)
    while todo:
        caddr, clen = todo.pop(0)
        _v1_messages(buf, caddr, clen, msgs, todo)
    return Header(1, addr, tuple(msgs), ())


def resum(buf: bytearray, hdr: Header) -> None:
    """Recompute the lookup3 checksum of every chunk of a version 2 header."""
    for start, end in hdr.chunks:
        struct.pack_into("<I", buf, end - 4, lookup3(bytes(buf[start:end - 4])))


def resum_superblock(buf: bytearray) -> None:
    if buf[8] in (2, 3):
        struct.pack_into("<I", buf, 44, lookup3(bytes(buf[:44])))


def addr_of(buf: bytes, path: str) -> int:
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return h5py.h5o.get_info(f[path].id).addr


def find(buf: bytes, path: str, mtype: int, nth: int = 0) -> tuple[Header, Msg]:
    hdr = header(buf, addr_of(buf, path))
    return hdr, [m for m in hdr.msgs if m.type == mtype][nth]


def put(buf: bytearray, hdr: Header, offset: int, data: bytes) -> None:
    """Overwrite bytes inside a header and fix its checksums."""
    buf[offset:offset + len(data)] = data
    resum(buf, hdr)


def set_size(buf: bytearray, hdr: Header, msg: Msg, size: int) -> None:
    if hdr.version == 1:
        struct.pack_into("<H", buf, msg.head + 2, size)
    else:
        struct.pack_into("<H", buf, msg.head + 1, size)


def nil_out(buf: bytearray, hdr: Header, msg: Msg) -> None:
    """Make msg a NIL message of zeros (room for move_into_nil)."""
    buf[msg.body:msg.body + msg.size] = bytes(msg.size)
    if hdr.version == 1:
        buf[msg.head:msg.head + 2] = b"\0\0"
        buf[msg.head + 4] = 0
    else:
        buf[msg.head] = 0
        buf[msg.head + 3] = 0
    resum(buf, hdr)


def move_into_nil(buf: bytearray, hdr: Header, msg: Msg, body: bytes) -> None:
    """Rewrite msg with a longer body in the largest NIL message of the header; the old
    slot becomes a NIL message of zeros. v1 bodies are padded to 8 (the NIL keeps the
    rest); the NIL must be big enough to keep a NIL header after the moved message."""
    hsize = msg.body - msg.head
    nil = max((m for m in hdr.msgs if m.type == NIL), key=lambda m: m.size)
    need = len(body) + (-len(body) % 8 if hdr.version == 1 else 0)
    rest = nil.size - need - hsize
    assert rest >= 0, (nil.size, need)
    head = bytearray(buf[msg.head:msg.body])
    buf[msg.body:msg.body + msg.size] = bytes(msg.size)
    buf[msg.head:msg.head + 1] = b"\0"
    if hdr.version == 1:
        buf[msg.head + 1:msg.head + 2] = b"\0"
        buf[msg.head + 4:msg.head + 5] = b"\0"
    else:
        buf[msg.head + 3:msg.head + 4] = b"\0"
        if hsize == 6:
            buf[msg.head + 4:msg.head + 6] = b"\0\0"
    buf[nil.head:nil.body + nil.size] = bytes(nil.body + nil.size - nil.head)
    buf[nil.head:nil.body] = head
    set_size(buf, hdr, Msg(0, 0, nil.head, 0, 0), need)
    buf[nil.body:nil.body + len(body)] = body
    tail = nil.body + need
    if hdr.version == 1:
        struct.pack_into("<HH", buf, tail, NIL, rest)
        count = struct.unpack_from("<H", buf, hdr.start + 2)[0]
        struct.pack_into("<H", buf, hdr.start + 2, count + 1)
    else:
        struct.pack_into("<BH", buf, tail, NIL, rest)
    resum(buf, hdr)


def h5file(build, **kw) -> bytearray:
    """The bytes of a file written by h5py on disk (the sec2 driver, as the lab writes:
    an in-memory file object leaves the file short of a paged file's end-of-file
    address): build(f) fills it."""
    with tempfile.TemporaryDirectory(prefix="attackh5c-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", **kw) as f:
            build(f)
        return bytearray(path.read_bytes())


def read_dataset(obj) -> bytes:
    """The dataset's values: through h5py's dtype, or (an opaque tag, a float numpy cannot
    hold) raw in the file's own datatype, as libhdf5 returns them."""
    try:
        return np.asarray(obj[()]).tobytes()
    except (OSError, TypeError, ValueError):
        ftype = obj.id.get_type()
        raw = np.zeros(max(obj.size, 1) * ftype.get_size(), np.uint8)
        obj.id.read(h5py.h5s.ALL, h5py.h5s.ALL, raw, mtype=ftype)
        return raw.tobytes()


def read_attr(obj, name: str) -> bytes:
    """An attribute's value, like read_dataset."""
    try:
        return np.asarray(obj.attrs[name]).tobytes()
    except (OSError, TypeError, ValueError):
        aid = obj.attrs.get_id(name)
        raw = np.zeros(max(aid.get_storage_size(), 1), np.uint8)
        aid.read(raw, mtype=aid.get_type())
        return raw.tobytes()


def readable(buf: bytes) -> bool:
    """libhdf5 opens the file and reads every dataset and attribute."""
    try:
        with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
            def visit(_, obj):
                if isinstance(obj, h5py.Dataset):
                    read_dataset(obj)
                for name in obj.attrs:
                    read_attr(obj, name)
            visit(None, f)
            f.visititems(visit)
        return True
    except Exception:  # noqa: BLE001 - any failure means libhdf5 refuses it
        return False


def dump(buf: bytes, path: str) -> None:
    """Debug aid: the messages of an object."""
    hdr = header(buf, addr_of(buf, path))
    for m in hdr.msgs:
        print(hex(m.type), m.flags, m.head, m.size, bytes(buf[m.body:m.body + m.size]).hex())
