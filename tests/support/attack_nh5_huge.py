"""Slices of dense attributes in the null message of a header with dense storage
(docs/quarantine.md: a null may hold "slices of at least 6 bytes (3 non-zero) of ...
its dense links and attributes (those under 64 KiB: a larger one never was a message;
session 37 ...)"). Forged from real h5py files whose headers keep dense attributes of
80 KB (huge heap objects) and small ones: 48 bytes of a huge attribute's values put in
the header's null (refused by the claim) and, as a control of the forging, 12 bytes of
a small one's (admitted as documented). Checksums recomputed; h5py sees the same file."""

from __future__ import annotations

import struct

from tests.support.attack_nh5_nulls import headers
from tests.support.hdf5_attack_c_bytes import resum


def _object(buf: bytes, name: str) -> bytes:
    """The attribute message body (version 3) of the named attribute."""
    key = name.encode() + b"\0"
    pos = buf.find(key)
    while pos >= 0:
        start = pos - 9
        ver, _, nsz, dtsz, dssz = struct.unpack_from("<BBHHH", buf, start)
        if ver == 3 and nsz == len(key):
            dt = buf[pos + nsz:pos + nsz + dtsz]
            ds = buf[pos + nsz + dtsz:pos + nsz + dtsz + dssz]
            count = 1
            for r in range(ds[1]):
                count *= struct.unpack_from("<Q", ds, 4 + 8 * r)[0]
            end = pos + nsz + dtsz + dssz + struct.unpack_from("<I", dt, 4)[0] * count
            return bytes(buf[start:end])
        pos = buf.find(key, pos + 1)
    raise LookupError(name)


def in_null(buf: bytes, path: str, piece: bytes, skip: int | None = None) -> bytes:
    """piece written into the header's largest null message, 8 bytes after what it
    holds (libhdf5's stale message headers)."""
    hdr = headers(buf)[path]
    nil = max((m for m in hdr.msgs if m.type == 0), key=lambda m: m.size)
    body = buf[nil.body:nil.body + nil.size]
    if skip is None:
        skip = len(body.rstrip(b"\0")) + 8 if any(body) else 0
    at = nil.body + skip
    assert not any(buf[at:at + len(piece)]) and len(piece) + skip <= nil.size
    out = bytearray(buf)
    out[at:at + len(piece)] = piece
    resum(out, hdr)
    return bytes(out)


def _replace_checksum(buf: bytes, value: bytes) -> bytes:
    """The 4 bytes after the root null's last stale message header (libhdf5's stale
    checksum, measured: 58 32 2d 04) set to value."""
    hdr = headers(buf)["/"]
    nil = max((m for m in hdr.msgs if m.type == 0), key=lambda m: m.size)
    body = buf[nil.body:nil.body + nil.size]
    at = nil.body + len(body.rstrip(b"\0")) - 4
    out = bytearray(buf)
    out[at:at + 4] = value
    resum(out, hdr)
    return bytes(out)


BIG_FILE = "ctl-nh5-bigattrs4-u-latest.h5"
RAND_FILE = "ctl-nh5-mixedrand9-u-latest.h5"


def forged(big: bytes, rand: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(within the docs, hostile) forgeries of bigattrs4 (/calib: map0..3 of 80 KB,
    gain0..3) and mixedrand9 (/: m*_* int64 scalars, map2/5/8 of 72 KB random)."""
    within = {
        "huge-calib-small-slice.h5": in_null(big, "calib", _object(big, "gain1")[-12:]),
        "huge-root-small-slice.h5": in_null(rand, "/", _object(rand, "m4_1")[-12:]),
        # "one stale checksum (32 bits) in a header with dense storage": the one libhdf5
        # left in the root's null replaced by chosen bytes
        "huge-root-checksum-chosen.h5": _replace_checksum(rand, bytes.fromhex("deadbeef")),
    }
    hostile = {
        "huge-calib-map-slice.h5": in_null(big, "calib", _object(big, "map2")[800:848]),
        "huge-calib-map-head.h5": in_null(big, "calib", _object(big, "map0")[:48]),
        "huge-root-map-slice.h5": in_null(rand, "/", _object(rand, "map5")[4000:4048]),
        "huge-root-map-tail.h5": in_null(rand, "/", _object(rand, "map8")[-24:]),
        "huge-root-map-head.h5": in_null(rand, "/", _object(rand, "map2")[:40]),
        # three chosen in-bounds pairs: within the docs as attack nh5 read them ("the
        # address and length of a stale continuation message's freed block (up to 2 x
        # log2(file size) bits each)"); since session 38 (h5marks) a pair must name a block
        # the file shows freed, and these name none
        "huge-root-cont-pairs.h5": in_null(rand, "/", b"".join(
            struct.pack("<QQ", a, n) + bytes(4) for a, n in
            ((0x1234, 0x56), (0x2345, 0x67), (0x3456, 0x78))), 252),
        # stale continuation data "a freed block of the file": blocks no allocator freed
        "huge-root-cont-superblock.h5": in_null(rand, "/", struct.pack("<QQ", 0, 48), 0),
        "huge-root-cont-own-header.h5": in_null(rand, "/", struct.pack("<QQ", 48, 86), 0),
        "huge-root-cont-1-at-1.h5": in_null(rand, "/", struct.pack("<QQ", 1, 1), 0),
        # a second stale checksum ("one stale checksum")
        "huge-root-checksum-second.h5": in_null(rand, "/", bytes.fromhex("9a7b3c1d"), 252),
        "huge-root-checksum-second-at0.h5": in_null(rand, "/", bytes.fromhex("9a7b3c1d"), 0),
        "huge-root-cont-past-eof.h5": in_null(rand, "/", struct.pack("<QQ", len(rand) - 1,
                                                                     0x80), 0),
    }
    return within, hostile
