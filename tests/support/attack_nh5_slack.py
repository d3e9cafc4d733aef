"""Chosen bytes in heap slack (attack nh5, session 38): the free space at the end of a
dense storage heap's last direct block (FHDB, its lookup3 checksum recomputed with the
checksum field zeroed, as the format says) and the padding after link names in a
group's local heap (default libver). docs/quarantine.md: "a link or attribute deleted
from dense storage leaves its message in the fractal heap: `...are no object and not
zeros`"; a local heap name's padding may hold "a stale free block header's last bytes"
(names of fewer than 15 characters) only where a free block started. h5py reads the
same file: no reader reads free space or padding."""

from __future__ import annotations

import struct

from tests.support.attack_nh5_tools import lookup3

DENSE = "ctl-nh5-attrs55-u-latest.h5"
LOCAL = "ctl-nh5-ds6-u-def.h5"
_BLOCK, _SIZE, _SUM = 7688, 1024, 18  # /data's last direct block: 218 bytes used


def _in_block(buf: bytes, at: int, data: bytes) -> bytes:
    out = bytearray(buf)
    assert buf[_BLOCK:_BLOCK + 4] == b"FHDB" and not any(buf[_BLOCK + at:_BLOCK + at + len(data)])
    out[_BLOCK + at:_BLOCK + at + len(data)] = data
    out[_BLOCK + _SUM:_BLOCK + _SUM + 4] = bytes(4)
    struct.pack_into("<I", out, _BLOCK + _SUM, lookup3(bytes(out[_BLOCK:_BLOCK + _SIZE])))
    return bytes(out)


def dense(buf: bytes) -> dict[str, bytes]:
    first = buf.find(b"\x03\x00\x05\x00\x14\x00\x14\x00\x00c0_0\x00")
    obj = buf[first:first + 70]  # c0_0's attribute message body, as the heap holds it
    return {
        "slack-fhdb-payload.h5": _in_block(buf, 500, b"PWND" * 4),
        "slack-fhdb-last-2.h5": _in_block(buf, _SIZE - 4, b"PW"),
        "slack-fhdb-after-last.h5": _in_block(buf, 218, b"\x03\x00\x05\x00"),
        "slack-fhdb-object-copy.h5": _in_block(buf, 218, obj),
    }


def local(buf: bytes) -> dict[str, bytes]:
    out = {}
    for name in (b"run00", b"run03", b"run05"):
        at = buf.find(name + b"\0") + 6
        for tag, val in (("8", b"\x08\x00"), ("48", b"\x30\x00"), ("7fff", b"\xff\x7f")):
            forged = bytearray(buf)
            forged[at:at + 2] = val
            out[f"slack-lheap-{name.decode()}-{tag}.h5"] = bytes(forged)
    return out
