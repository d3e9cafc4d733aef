"""Forgeries for the independent attack oh5 (issue #13, session 39), made from real h5py
files by hand, each checksum recomputed, each hidden from h5py (it returns the same
names, attributes and values):
- a version 3 attribute message's name character set set to values that are neither
  ASCII (0) nor UTF-8 (1): 2, 15, 0x80, 0xff (docs: "an ASCII name is pinned to ASCII",
  "the character set of a name with non-ASCII bytes (ASCII or UTF-8, 1 bit)"), on an
  ASCII name and a UTF-8 name, compact (object header) and dense (fractal heap object);
- the creation order an untracked object's dense attribute carries in its name index
  B-tree record (docs: "65535 or one below its max compact: log2(9) bits per
  attribute"): 8 (= max compact), 9, 1000, 65534, 0x10000, 0xffffffff; and the record's
  message flags byte (not priced anywhere) set to 0x01 (constant) and 0x10.
"""

from __future__ import annotations

import struct

import numpy as np

from tests.support.attack_nh5_nulls import headers
from tests.support.attack_nh5_tools import lookup3, sessions
from tests.support.hdf5_attack_c_bytes import resum

CSETS = (2, 15, 0x80, 0xFF)


def compact_source() -> bytes:
    """'latest', untracked root with an ASCII and a UTF-8 named float attribute."""
    def s1(f):
        f.attrs["plain"] = 1.5
        f.attrs["ünï"] = 2.5
        f.create_dataset("d", data=np.arange(3.0))
    return sessions([s1], libver="latest")


def compact_csets(buf: bytes) -> dict[str, bytes]:
    hdr = headers(buf)["/"]
    attrs = [m for m in hdr.msgs if m.type == 0x0C]
    assert len(attrs) == 2 and all(buf[m.body] == 3 for m in attrs)
    out = {}
    for m in attrs:
        tag = "utf8" if max(buf[m.body + 9:m.body + 9 + buf[m.body + 2]]) > 0x7F else "ascii"
        for value in CSETS:
            forged = bytearray(buf)
            forged[m.body + 8] = value
            resum(forged, hdr)
            out[f"oh5-cset-compact-{tag}-{value}.h5"] = bytes(forged)
    return out


def _heap_block_resum(orig: bytes, buf: bytearray, pos: int) -> None:
    """Recompute the checksum of the fractal heap direct block holding pos: its size is
    the one whose checksum (at 18: 'latest' heaps' block offsets are 5 bytes) matches in
    the original."""
    block = orig.rfind(b"FHDB", 0, pos)
    field = block + 18
    size = next(n for n in (512, 1024, 2048, 4096, 8192, 16384)
                if struct.unpack_from("<I", orig, field)[0]
                == lookup3(orig[block:field] + bytes(4) + orig[field + 4:block + n]))
    buf[field:field + 4] = bytes(4)
    struct.pack_into("<I", buf, field, lookup3(bytes(buf[block:block + size])))


def dense_source() -> bytes:
    """'latest', untracked root with 13 float array attributes (dense), 2 sessions."""
    def s1(f):
        for i in range(4):
            f.attrs[f"a{i}"] = np.arange(i + 1.0)

    def s2(f):
        for i in range(4, 13):
            f.attrs[f"a{i}"] = np.arange(i + 1.0)
        f.attrs["ünï"] = 7.0
    return sessions([s1, s2], libver="latest")


def _leaf(buf: bytes) -> tuple[int, int, int]:
    """The root's attribute name index: its one leaf node, record size and count."""
    hdr = headers(buf)["/"]
    info = next(m for m in hdr.msgs if m.type == 0x15)
    flags = buf[info.body + 1]
    at = info.body + 2 + (2 if flags & 1 else 0) + 8
    bthd = struct.unpack_from("<Q", buf, at)[0]
    assert buf[bthd:bthd + 4] == b"BTHD" and buf[bthd + 5] == 8
    rec_size, depth = struct.unpack_from("<HH", buf, bthd + 10)
    root, nrec = struct.unpack_from("<QH", buf, bthd + 16)
    assert depth == 0 and buf[root:root + 4] == b"BTLF"
    return root, rec_size, nrec


def _relf(buf: bytearray, leaf: int, rec: int, nrec: int) -> None:
    end = leaf + 6 + rec * nrec
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[leaf:end])))


def dense_orders(buf: bytes) -> dict[str, bytes]:
    leaf, rec, nrec = _leaf(buf)
    assert rec == 17
    orders = [struct.unpack_from("<I", buf, leaf + 6 + k * rec + 9)[0] for k in range(nrec)]
    k = orders.index(0xFFFF)
    out = {}
    for value in (8, 9, 1000, 65534, 0x10000, 0xFFFFFFFF):
        forged = bytearray(buf)
        struct.pack_into("<I", forged, leaf + 6 + k * rec + 9, value)
        _relf(forged, leaf, rec, nrec)
        out[f"oh5-dense-order-{value}.h5"] = bytes(forged)
    for value in (0x01, 0x10):
        forged = bytearray(buf)
        forged[leaf + 6 + k * rec + 8] = value
        _relf(forged, leaf, rec, nrec)
        out[f"oh5-dense-recflags-{value}.h5"] = bytes(forged)
    return out


def dense_csets(buf: bytes) -> dict[str, bytes]:
    out = {}
    for name, tag in ((b"a11\x00", "ascii"), ("ünï".encode() + b"\x00", "utf8")):
        obj = buf.find(name) - 9  # a version 3 attribute message: the name from byte 9
        assert buf[obj] == 3 and buf[obj + 8] in (0, 1), (tag, obj)
        for value in (2, 0xFF):
            forged = bytearray(buf)
            forged[obj + 8] = value
            _heap_block_resum(buf, forged, obj)
            out[f"oh5-cset-dense-{tag}-{value}.h5"] = bytes(forged)
    return out


def stale_source() -> bytes:
    """'latest', untracked root given float array attributes over 3 sessions (2, 3, 7)
    with a dataset created after each of the first two: the root's header grew into
    continuation blocks, which libhdf5 freed when the attributes moved to dense storage
    (two freed OCHK blocks stay in the file), and its null holds what moved."""
    def step(lo: int, hi: int, name: str | None):
        def run(f):
            for i in range(lo, hi):
                f.attrs[f"attr{i:02d}"] = np.arange(float(i % 5 + 1))
            if name:
                f.create_dataset(name, data=np.arange(4.0))
        return run
    return sessions([step(0, 2, "d"), step(2, 5, "e"), step(5, 12, None)], libver="latest")


def _block_len(buf: bytes, at: int) -> int:
    """The length of the OCHK block at `at`: where its lookup3 checksum is."""
    return next(n for n in range(12, 4096)
                if struct.unpack_from("<I", buf, at + n - 4)[0] == lookup3(buf[at:at + n - 4]))


def stale_conts(buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Stale continuation data put in the zeros ending the root's null (20 bytes free
    there): a continuation message header (type 0x10, size 16) and/or its (address,
    length). Returns (within the docs, hostile)."""
    blocks = [i for i in range(len(buf)) if buf.startswith(b"OCHK", i)]
    assert len(blocks) == 2
    hdr = headers(buf)["/"]
    nul = hdr.msgs[-1]
    assert nul.type == 0 and nul.body + nul.size + 4 == hdr.chunks[0][1]
    body = buf[nul.body:nul.body + nul.size]
    free = max(i for i, c in enumerate(body) if c) + 1
    assert nul.size - free >= 20

    def forged(at: int, data: bytes) -> bytes:
        out = bytearray(buf)
        out[nul.body + at:nul.body + at + len(data)] = data
        resum(out, hdr)
        return bytes(out)

    first, second = blocks
    size1 = _block_len(buf, first)
    head = struct.pack("<BHB", 0x10, 16, 0)
    within, hostile = {}, {}
    for tag, addr, size in (("freed1", first, size1), ("freed2", second,
                                                        _block_len(buf, second))):
        within[f"oh5-stale-{tag}-msg.h5"] = forged(free, head + struct.pack("<QQ", addr, size))
        within[f"oh5-stale-{tag}-bare.h5"] = forged(free, struct.pack("<QQ", addr, size))
    # read another way the docs price: 4 bytes as the header's one stale checksum and
    # the next non-zero byte as the last byte of a float attribute (0x40) or so
    within["oh5-stale-addr1000-len64-msg.h5"] = forged(free, head + struct.pack("<QQ", 1000, 64))
    within["oh5-stale-freed1-len0-bare.h5"] = forged(free, struct.pack("<QQ", first, 0))
    for tag, addr, size in (("len+1", first, size1 + 1), ("len-chosen", first, 0x41424344),
                            ("addr+4", first + 4, size1),
                            ("chosen", 0x4847464544434241, 0x5050505050505050)):
        hostile[f"oh5-stale-{tag}-msg.h5"] = forged(free, head + struct.pack("<QQ", addr, size))
        hostile[f"oh5-stale-{tag}-bare.h5"] = forged(nul.size - 16, struct.pack("<QQ", addr, size))
    return within, hostile


def grown_source() -> bytes:
    """'latest', one session: 5 float root attributes and a dataset /d, whose header
    ends with a 176-byte null of zeros (nothing of /d ever moved)."""
    def step(f):
        for i in range(5):
            f.attrs[f"x{i}"] = float(i)
        f.create_dataset("d", data=np.arange(3.0))
    return sessions([step], libver="latest")


def grown_nulls(buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """A stale null header at the start of /d's null ("in any null, from its start, the
    null's own header as libhdf5 last flushed it (type 0, the size it had then, its
    flags and order) ... then zeros", slid.grown): (within, hostile)."""
    hdr = headers(buf)["d"]
    nul = hdr.msgs[-1]
    assert nul.type == 0 and nul.size == 176 and not any(buf[nul.body:nul.body + 176])

    def forged(data: bytes, at: int = 0) -> bytes:
        out = bytearray(buf)
        out[nul.body + at:nul.body + at + len(data)] = data
        resum(out, hdr)
        return bytes(out)

    def old(size: int, mtype: int = 0, flags: int = 0) -> bytes:
        return struct.pack("<BHB", mtype, size, flags)

    within = {"oh5-grown-d-minus4.h5": forged(old(172))}
    hostile = {f"oh5-grown-d-minus{k}.h5": forged(old(176 - k))
               for k in (1, 3, 5, 8, 16, 40, 100)}
    hostile |= {
        "oh5-grown-d-plus4.h5": forged(old(180)),
        "oh5-grown-d-flags1.h5": forged(old(172, flags=1)),
        "oh5-grown-d-type12.h5": forged(old(172, mtype=12)),
        "oh5-grown-d-then-chosen.h5": forged(old(168) + b"PW"),
        "oh5-grown-d-at1.h5": forged(old(172), 1),
        "oh5-grown-d-two-old.h5": forged(old(172) + old(168)),
    }
    return within, hostile


def _with_phase(buf: bytes, max_compact: int, min_dense: int,
                orders: list[tuple[int, int]]) -> bytes:
    """dense_source()'s root header given an attribute phase change (flags bit 4: the 4
    bytes after the flags; its last null 4 bytes shorter, the chunk the same length),
    and its name index records k the creation orders given."""
    hdr = headers(buf)["/"]
    start, end = hdr.chunks[0]
    nul = hdr.msgs[-1]
    assert (start, buf[start + 5]) == (48, 0x01) and nul.type == 0 and nul.head == 106
    assert not any(buf[nul.body + nul.size - 4:nul.body + nul.size])
    msgs = bytearray(buf[start + 8:end - 8])
    struct.pack_into("<H", msgs, nul.head - start - 8 + 1, nul.size - 4)
    size = struct.unpack_from("<H", buf, start + 6)[0]
    new = (buf[start:start + 5] + bytes([buf[start + 5] | 0x10])
           + struct.pack("<HHH", max_compact, min_dense, size - 4) + bytes(msgs))
    out = bytearray(buf)
    out[start:end - 4] = new
    struct.pack_into("<I", out, end - 4, lookup3(bytes(out[start:end - 4])))
    leaf, rec, nrec = _leaf(bytes(out))
    for k, value in orders:
        struct.pack_into("<I", out, leaf + 6 + k * rec + 9, value)
    _relf(out, leaf, rec, nrec)
    return bytes(out)


def phase_orders(buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The attribute phase change stored in dense_source()'s root (14 small dense
    attributes, untracked; h5py cannot set it, "32,895 pairs, 15.006 bits") and the
    orders its dense attributes carry ("65535 or one below its max compact"):
    (within, hostile). Without deletions libhdf5 moves attributes to dense storage only
    once they outnumber max compact, so this root's max compact is below 14 and an
    order (an index among at most max compact messages) below 13."""
    leaf, rec, nrec = _leaf(buf)
    free = [k for k in range(nrec)
            if struct.unpack_from("<I", buf, leaf + 6 + k * rec + 9)[0] == 0xFFFF]
    within = {
        "oh5-phase-13-6.h5": _with_phase(buf, 13, 6, []),
        "oh5-phase-12-6-order-11.h5": _with_phase(buf, 12, 6, [(free[0], 11)]),
        "oh5-phase-255-6.h5": _with_phase(buf, 255, 6, []),
    }
    hostile = {
        "oh5-phase-255-6-orders-200-204.h5": _with_phase(
            buf, 255, 6, [(k, 200 + i) for i, k in enumerate(free[:5])]),
        "oh5-phase-255-6-orders-all.h5": _with_phase(
            buf, 255, 6, [(k, 0x41 + i) for i, k in enumerate(free)]),
        "oh5-phase-20-6-order-15.h5": _with_phase(buf, 20, 6, [(free[0], 15)]),
        "oh5-phase-8-6-default.h5": _with_phase(buf, 8, 6, []),
    }
    return within, hostile
