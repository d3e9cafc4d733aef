"""An attribute name's character set (attack nh5, session 38). A version 3 attribute
message says whether its name is ASCII (0) or UTF-8 (1); an ASCII name is the same
string either way, and h5py returns the same names. The walk admits "a version 3
attribute's name character set ASCII or UTF-8" (the hdf5 row); "HDF5: what exactness
leaves" does not price it. Forged, checksums recomputed: in ds6-u-latest (6 root float
attributes in the root's header and continuation blocks) one and all six marked UTF-8;
in attrs55-u-latest one dense attribute (the heap object's byte, the direct block's
checksum recomputed with its field zeroed). A link message says the same with a
character set field (flags bit 4; the row: "a character set field only for UTF-8"):
the root's link 'data' given one saying UTF-8 (and, refused, one saying ASCII)."""

from __future__ import annotations

import struct

from tests.support.attack_nh5_nulls import headers
from tests.support.attack_nh5_tools import lookup3
from tests.support.hdf5_attack_c_bytes import resum

COMPACT = "ctl-nh5-ds6-u-latest.h5"
DENSE = "ctl-nh5-attrs55-u-latest.h5"


def compact(buf: bytes) -> dict[str, bytes]:
    hdr = headers(buf)["/"]
    attrs = [m for m in hdr.msgs if m.type == 0x0C and buf[m.body] == 3]
    assert len(attrs) == 6 and all(buf[m.body + 8] == 0 for m in attrs)
    out = {}
    for tag, chosen in (("one", attrs[2:3]), ("all6", attrs)):
        forged = bytearray(buf)
        for m in chosen:
            forged[m.body + 8] = 1
        resum(forged, hdr)
        out[f"cset-root-{tag}-utf8.h5"] = bytes(forged)
    return out


def dense(buf: bytes) -> dict[str, bytes]:
    block, size, field = 5502, 1024, 18  # /data's first direct block, checksum at 18
    obj = buf.find(b"\x03\x00\x05\x00\x14\x00\x14\x00\x00c0_0\x00")
    assert block < obj < block + size and buf[block:block + 4] == b"FHDB"
    forged = bytearray(buf)
    forged[obj + 8] = 1
    forged[block + field:block + field + 4] = bytes(4)
    struct.pack_into("<I", forged, block + field, lookup3(bytes(forged[block:block + size])))
    return {"cset-data-dense-utf8.h5": bytes(forged)}


def link(buf: bytes, value: int = 1) -> bytes:
    """attrs55-u-latest's root link 'data' given a character set field (flags bit 4)
    saying value (1: UTF-8), the byte taken from the null message after it."""
    hdr = headers(buf)["/"]
    i = next(k for k, m in enumerate(hdr.msgs) if m.type == 6)
    msg, nil = hdr.msgs[i], hdr.msgs[i + 1]
    assert nil.type == 0 and nil.head == msg.body + msg.size and buf[msg.body + 1] == 0
    body = bytes(buf[msg.body:msg.body + msg.size])
    new = body[:1] + bytes([0x10, value]) + body[2:]
    forged = bytearray(buf)
    struct.pack_into("<H", forged, msg.head + 1, len(new))
    forged[msg.body:msg.body + len(new)] = new
    at = msg.body + len(new)
    forged[at:nil.body + nil.size] = struct.pack("<BHB", 0, nil.size - 1, 0) + bytes(
        nil.body + nil.size - at - 4)
    resum(forged, hdr)
    return bytes(forged)


def links(buf: bytes) -> dict[str, bytes]:
    return {"cset-link-utf8.h5": link(buf, 1), "cset-link-ascii-field.h5": link(buf, 0)}
