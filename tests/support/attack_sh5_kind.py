"""A group of both kinds (attack sh5): an old-style group's version 1 header (its symbol
table names 'pub' and 'secret') given a link info and group info message over its
attribute message, so libhdf5 reads it as the new kind (H5G__obj_get_linfo) and h5py lists
only its link messages ('pub', or none): 'secret' (chosen bytes) reaches no reader."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np

SECRET = b"PAYLOAD!SECRET!!"
_UNDEF = b"\xff" * 8


def _messages(data: bytes, header: int) -> list[tuple[int, int, int]]:
    """(type, size, place) of each message of a version 1 header, continuations followed."""
    size = struct.unpack_from("<I", data, header + 8)[0]
    spans, out = [(header + 16, header + 16 + size)], []
    while spans:
        at, end = spans.pop()
        while at < end:
            kind, length = struct.unpack_from("<HH", data, at)
            out.append((kind, length, at))
            if kind == 0x10:
                addr, span = struct.unpack_from("<QQ", data, at + 8)
                spans.append((addr, addr + span))
            at += 8 + length
    return out


def _message(kind: int, body: bytes, flags: int) -> bytes:
    return struct.pack("<HHB3x", kind, len(body), flags) + body


def _write(path: Path) -> tuple[bytearray, int, int]:
    with h5py.File(path, "w", libver="earliest") as f:
        g = f.create_group("grp")
        g["pub"] = np.arange(3.0)
        g["secret"] = np.frombuffer(SECRET, "u1")
        g.attrs["pad"] = np.zeros(12)  # room in the header, taken by the forged messages
        group = h5py.h5o.get_info(g.id).addr
        pub = h5py.h5o.get_info(g["pub"].id).addr
    return bytearray(path.read_bytes()), group, pub


def both_kinds(path: Path, with_link: bool) -> bytes:
    """The group with LINFO + GINFO (+ a LINK 'pub') over its attribute message."""
    data, group, pub = _write(path)
    kind, length, at = next(m for m in _messages(data, group) if m[0] == 0x0C)
    body = _message(0x02, b"\0\0" + _UNDEF * 2 + b"\0" * 6, 0)
    body += _message(0x0A, b"\0" * 8, 1)
    added = 2
    if with_link:
        body += _message(0x06, b"\x01\x00\x03pub" + struct.pack("<Q", pub) + b"\0\0", 0)
        added = 3
    rest = length + 8 - len(body)
    body += _message(0x00, b"\0" * (rest - 8), 0)
    data[at : at + length + 8] = body
    count = struct.unpack_from("<H", data, group + 2)[0]
    struct.pack_into("<H", data, group + 2, count + added)  # one message became added + a null
    return bytes(data)


def cases(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {
        "kind/both-no-links.h5": both_kinds(made / "a.h5", with_link=False),
        "kind/both-link-pub.h5": both_kinds(made / "b.h5", with_link=True),
    }
