"""Free-space section lists (FSSE) of a dense storage's fractal heap, moved and copied in
the unclaimed zeros of real h5py files (attack nh5, session 38). docs/quarantine.md:
"An unclaimed FSSE list is claimed when it is exactly libhdf5's serialization ... of
such tails ...; a state not listed before, fewer lists than the heap has objects (each
later session added one at least; the live list is the state of all of them) ... A
section no state had, a payload, a state listed twice ... is refused"; what is free of
an older list: "which blocks have a section ..., fewer lists than the heap has objects,
and for a list whose start a later structure took, where it started (8 bits)" (a WHOLE
list's place is not among them; a freed continuation block's is pinned: "never after
zeros").

attrs55 (/data given 5 float attributes a session, 5 sessions, 'latest', tracked or
not) keeps two older lists (at 4448 and 6526) and the live one (7641, named by FSHD).
Forged (no reader reads them: h5py sees the same file):
- move: an older list moved from its place into the zeros after /data's header (the
  rest of a 2048-byte metadata block, 1300 bytes), 8, 100 or 1000 bytes in: its place
  carries ~10 chosen bits; drop: an older list zeroed (which states are listed: free);
- live: a copy of the live list (the state of all objects, listed again) in those
  zeros, at their start or 100 bytes in; two copies (refused: a control).
"""

from __future__ import annotations

import struct

from tests.support.attack_nh5_tools import lookup3

FILES = {"ctl-nh5-attrs55-u-latest.h5": 739, "ctl-nh5-attrs55-t-latest.h5": 799}
OLD = (4448, 6526)


def extent(buf: bytes, start: int) -> int:
    """The end of the checksummed structure at start (its lookup3 checksum found)."""
    for end in range(start + 9, min(len(buf) - 3, start + 2000)):
        if struct.unpack_from("<I", buf, end)[0] == lookup3(bytes(buf[start:end])):
            return end + 4
    raise LookupError(start)


def live_list(buf: bytes) -> int:
    """The section list the free-space manager header names (FSHD: format spec)."""
    at = buf.find(b"FSHD")
    return struct.unpack_from("<Q", buf, at + 4 + 2 + 8 * 4 + 2 * 4 + 8)[0]


def _put(buf: bytearray, at: int, data: bytes) -> None:
    assert not any(buf[at:at + len(data)]), "forgery over non-zero bytes"
    buf[at:at + len(data)] = data


def forged(name: str, buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(within the docs, hostile) forgeries of one attrs55 file."""
    zeros = FILES[name]
    tag = name[len("ctl-nh5-"):-len(".h5")]
    within: dict[str, bytes] = {}
    hostile: dict[str, bytes] = {}
    for src in OLD:
        end = extent(buf, src)
        assert buf[src:src + 4] == b"FSSE" and src != live_list(buf)
        dropped = bytearray(buf)
        dropped[src:end] = bytes(end - src)
        within[f"lst-{tag}-drop-{src}.h5"] = bytes(dropped)
        for off in (8, 100, 1000):
            moved = bytearray(dropped)
            _put(moved, zeros + off, buf[src:end])
            hostile[f"lst-{tag}-move-{src}-to+{off}.h5"] = bytes(moved)
    live = live_list(buf)
    copy = buf[live:extent(buf, live)]
    for offs, kind in (((0,), "live-copy-at+0"), ((100,), "live-copy-at+100"),
                       ((0, 100), "live-copy-twice")):
        out = bytearray(buf)
        for off in offs:
            _put(out, zeros + off, copy)
        hostile[f"lst-{tag}-{kind}.h5"] = bytes(out)
    return within, hostile


def list_then_block(buf: bytes) -> dict[str, bytes]:
    """attrs55-u-latest: the older list at 4448 moved 8 or 300 bytes into the zeros after
    /data's header and, right after it, a block of 5 of /data's dense attributes (a
    freed continuation block as oldblocks/heldblocks recompute it): the block then
    stands after zeros, which the docs refuse for a block ("never after zeros")."""
    from tests.support.attack_nh5_blocks import _dense_objects, held

    zeros = FILES["ctl-nh5-attrs55-u-latest.h5"]
    objs = _dense_objects(buf, [f"c{s}_{i}" for s in range(5) for i in range(5)])
    block = held(buf, objs[5:10])
    end = extent(buf, OLD[0])
    out = {}
    for off in (0, 8, 300):
        forged = bytearray(buf)
        forged[OLD[0]:end] = bytes(end - OLD[0])
        _put(forged, zeros + off, buf[OLD[0]:end] + block)
        out[f"lst-attrs55-u-latest-list-then-block-at+{off}.h5"] = bytes(forged)
    return out


def all_three(buf: bytes) -> dict[str, bytes]:
    """attrs55-u-latest: both older lists moved (300 and 700 bytes into the zeros after
    /data's header, or swapped) and a copy of the live list 1000 bytes in: three chosen
    places, about 30 bits in one 1300-byte stretch."""
    zeros = FILES["ctl-nh5-attrs55-u-latest.h5"]
    live = live_list(buf)
    pieces = [buf[a:extent(buf, a)] for a in (*OLD, live)]
    out = {}
    for tag, places in (("all3", (300, 700, 1000)), ("swapped", (700, 300, None))):
        forged = bytearray(buf)
        for src in OLD:
            forged[src:extent(buf, src)] = bytes(extent(buf, src) - src)
        for piece, off in zip(pieces, places, strict=True):
            if off is not None:
                _put(forged, zeros + off, piece)
        out[f"lst-attrs55-u-latest-{tag}.h5"] = bytes(forged)
    return out
