"""Freed space of real h5py files forged (attack oh5, issue #13, session 39); h5py reads
none of these bytes, so every forgery reads the same as its source.

- A freed continuation block's null (docs: "a freed block's null holding data is its
  last message, one per block", holding "what a live header's null may hold", "in a
  freed block's null also one whose start a later structure took: log2(structures) +
  log2(file size), its length free"): in attack_oh5_forge.stale_source()'s freed block
  at 2080 (the root's attribute info and attributes 02-04, 306 bytes), attribute 04's
  slot made a null holding zeros, a 4-byte payload, 8 bytes, two 4-byte pieces, a stale
  continuation (address, length) pair of chosen values; a middle slot made a null
  holding data; several nulls holding data. The block's checksum is recomputed.
- Old free-space section lists ("a whole list starts where the unclaimed bytes start:
  right after a structure, another old list ..."; "a state not listed before"): a
  'latest' group given 9 float array attributes in each of 3 sessions has old lists at
  1899 and 2950 and the live one at 4061, each followed by a direct block; lists
  appended at the file's end (the end-of-file address raised, the superblock's checksum
  recomputed; libhdf5 never leaves a freed block at the end, it shrinks the file): an
  old list moved there, a copy of one, of the live list, states never listed (block
  tails from other object boundaries), a section that is no block's tail, after zeros.
"""

from __future__ import annotations

import re
import struct

import numpy as np

from tests.support.attack_nh5_tools import lookup3, sessions
from tests.support.hdf5_attack_c_bytes import resum_superblock

FREED, FREED_LEN = 2080, 306
SLOTS = {"ainfo": (2084, 18), "a02": (2106, 80), "a03": (2190, 88), "a04": (2282, 96)}
_CONT = struct.pack("<BHB", 0x10, 16, 0)


def _nulls(buf: bytes, spec: list[tuple[str, bytes]]) -> bytes:
    assert buf[FREED:FREED + 4] == b"OCHK"
    out = bytearray(buf)
    for slot, body in spec:
        at, size = SLOTS[slot]
        assert buf[at] in (0x15, 0x0C) and struct.unpack_from("<H", buf, at + 1)[0] == size
        out[at:at + 4] = struct.pack("<BHB", 0, size, 0)
        out[at + 4:at + 4 + size] = body.ljust(size, b"\0")
    end = FREED + FREED_LEN - 4
    assert struct.unpack_from("<I", buf, end)[0] == lookup3(buf[FREED:end])
    struct.pack_into("<I", out, end, lookup3(bytes(out[FREED:end])))
    return bytes(out)


def pair(addr: int, size: int) -> bytes:
    """A stale continuation message: its header (type 0x10, size 16) and data."""
    return _CONT + struct.pack("<QQ", addr, size)


def freed_nulls(buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(within the docs, hostile) forgeries of the freed block's nulls."""
    within = {
        "oh5-fb-last-null-zeros.h5": _nulls(buf, [("a04", b"")]),
        "oh5-fb-mid-null-zeros.h5": _nulls(buf, [("a02", b"")]),
        # one 4-byte piece: the null's one stale checksum (32 bits)
        "oh5-fb-last-null-4-chosen.h5": _nulls(buf, [("a04", b"PWND")]),
        "oh5-fb-last-null-4-chosen-at40.h5": _nulls(buf, [("a04", bytes(40) + b"PWND")]),
        # a stale continuation pair: any address up to the file's size (not only a
        # structure's start: 1001 and 3333 lie in zeros) and 4 chosen length bytes pass,
        # log2(6220) + 32 = 44.6 bits, as the docs' checksum + address + length allow
        "oh5-fb-pair-1001-chosen4.h5": _nulls(buf, [("a04", pair(1001, 0x41424344))]),
        "oh5-fb-pair-3333-chosen4.h5": _nulls(buf, [("a04", pair(3333, 0x91929394))]),
        "oh5-fb-pair-superblock-46.h5": _nulls(buf, [("a04", pair(0, 46))]),
        "oh5-fb-pair-own-header-46.h5": _nulls(buf, [("a04", pair(48, 46))]),
    }
    hostile = {
        "oh5-fb-last-null-8-chosen.h5": _nulls(buf, [("a04", b"PWNDPWND")]),
        "oh5-fb-last-null-2x4-chosen.h5": _nulls(buf, [("a04", b"PWND" + bytes(4) + b"ABCD")]),
        "oh5-fb-mid-null-4-chosen.h5": _nulls(buf, [("a02", b"PWND")]),
        "oh5-fb-two-nulls-4-chosen.h5": _nulls(buf, [("a03", b"PWND"), ("a04", b"ABCD")]),
        "oh5-fb-ainfo-null-4-chosen.h5": _nulls(buf, [("ainfo", b"PWND")]),
        "oh5-fb-pair-past-eof-chosen4.h5": _nulls(buf, [("a04", pair(len(buf) + 1,
                                                                        0x41424344))]),
        "oh5-fb-pair-chosen5.h5": _nulls(buf, [("a04", pair(1000, 0x4142434445))]),
        "oh5-fb-pair-chosen8.h5": _nulls(buf, [("a04", pair(2386, 0x4142434445464748))]),
        "oh5-fb-pair-and-4-chosen.h5": _nulls(buf, [("a04", pair(1000, 46) + b"PWND")]),
        "oh5-fb-two-pairs.h5": _nulls(buf, [("a04", pair(0x1842, 0x4142434445)
                                            + pair(0x1000, 0x4142434445))]),
    }
    return within, hostile


def lists_source() -> bytes:
    """A 'latest' group given 9 float array attributes in each of 3 sessions."""
    def step(k: int):
        def run(f):
            g = f.require_group("g")
            for i in range(9):
                g.attrs[f"s{k}a{i}"] = np.arange(float(i + 3))
        return run
    return sessions([step(k) for k in range(3)], libver="latest")


def _fsse(fshd: int, groups: dict[int, list[int]]) -> bytes:
    """A free-space section list as libhdf5 serializes this heap's: version 0, the
    manager's address, per size (ascending) a 1-byte count and 3-byte size, each section
    a 5-byte heap offset and type 0 ("single"), then lookup3."""
    body = b"FSSE\x00" + struct.pack("<Q", fshd)
    for size, offsets in sorted(groups.items()):
        body += bytes([len(offsets)]) + size.to_bytes(3, "little")
        for offset in sorted(offsets):
            body += offset.to_bytes(5, "little") + b"\x00"
    return body + struct.pack("<I", lookup3(body))


def old_lists(buf: bytes) -> dict[str, bytes]:
    """Lists appended at the file's end (all hostile: a list libhdf5 freed at the end of
    the file shrinks it)."""
    fshd, old1, old2, live = 1305, 1899, 2950, 4061
    assert buf[fshd:fshd + 4] == b"FSHD" and len(buf) == 5124
    assert _fsse(fshd, {12: [1012]}) == buf[old1:old1 + 27]
    assert _fsse(fshd, {12: [1012, 2036, 3060]}) == buf[live:live + 39]
    block2 = buf.rfind(b"FHDB", 0, old2 + 40)
    starts = sorted(m.start() - 9 for m in re.finditer(rb"s1a[0-9]\x00", buf))
    partial = [1024 + s - block2 for s in starts[-3:]]

    def appended(data: bytes, gap: int = 0, zero_old1: bool = False) -> bytes:
        out = bytearray(buf)
        if zero_old1:
            out[old1:old1 + 27] = bytes(27)
        out += bytes(gap) + data
        struct.pack_into("<Q", out, 28, len(out))  # v3 superblock's end-of-file address
        resum_superblock(out)
        return bytes(out)

    cases = {
        "oh5-lst-eof-moved-old.h5": appended(buf[old1:old1 + 27], zero_old1=True),
        "oh5-lst-eof-copy-old.h5": appended(buf[old1:old1 + 27]),
        "oh5-lst-eof-copy-live.h5": appended(buf[live:live + 39]),
        "oh5-lst-eof-tails-1-3.h5": appended(_fsse(fshd, {12: [1012, 3060]})),
        "oh5-lst-eof-tail-3.h5": appended(_fsse(fshd, {12: [3060]})),
        "oh5-lst-eof-two-states.h5": appended(_fsse(fshd, {12: [3060]})
                                             + _fsse(fshd, {12: [1012, 3060]})),
        "oh5-lst-eof-after-zeros.h5": appended(_fsse(fshd, {12: [1012, 3060]}), gap=8),
        "oh5-lst-eof-not-a-tail.h5": appended(_fsse(fshd, {12: [500]})),
    }
    def replaced(data: bytes, at: int = old1) -> bytes:
        out = bytearray(buf)
        out[old1:old1 + 27] = bytes(27)
        out[at:at + len(data)] = data
        return bytes(out)

    # in place of the old list of {1012}: lists of one later block's tail (block 1's
    # tail, free today, missing: no state libhdf5 passes through; within the docs'
    # "which blocks have a section" price), and the real list one byte early
    cases["oh5-lst-inplace-tail-2-only.h5"] = replaced(_fsse(fshd, {12: [2036]}))
    cases["oh5-lst-inplace-tail-3-only.h5"] = replaced(_fsse(fshd, {12: [3060]}))
    cases["oh5-lst-inplace-one-byte-early.h5"] = replaced(buf[old1:old1 + 27], old1 - 1)
    for k, offset in enumerate(partial):
        cases[f"oh5-lst-eof-partial-{k}.h5"] = appended(
            _fsse(fshd, {12: [1012], 2048 - offset: [offset]}))
    return cases
