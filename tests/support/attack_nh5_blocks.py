"""Freed continuation blocks hidden in the unclaimed zeros of real h5py files (attack
nh5, session 38). docs/quarantine.md ("what exactness leaves"): a freed block "starts
where the unclaimed bytes start or right after another freed block, never after zeros"
(oldblocks.py), "at most as many blocks as the header has messages"; the tail of a freed
block that held a header's dense attributes in a row (heldblocks.py): OCHK, optionally
one own message of 16 bytes or more, a run of the dense attributes in heap order, a gap
of zeros shorter than a message header, the lookup3 checksum; "each run of a header
once, at most as many blocks as it has dense objects".

Two ordinary files are forged (no reader reads unclaimed bytes: h5py sees the same file):
- ds6-u-latest: the root, given a dataset and an attribute in each of 6 sessions, has 5
  continuation blocks, each in a 2048-byte metadata block whose rest is zeros up to the
  next session's raw data. Copies of its blocks (valid: OCHK, the root's messages, the
  checksum) are put in the zeros after its first block: at their start (the docs allow
  it), 8 bytes in, flush against the end, two in a row, two with a zero byte between,
  more copies than the root has messages, a message order changed, a continuation
  message naming a chosen address, a null holding a payload.
- attrs55-u-latest: /data given 5 float attributes a session in 5 sessions (25, in dense
  storage); blocks of its attributes as libhdf5 would have held them, in the zeros after
  its header: at their start, after zeros, two in a row, one run twice, the run reversed,
  gaps of 3 and 4 zeros, led by its layout message.
"""

from __future__ import annotations

import io
import struct

import h5py

from tests.support.attack_nh5_nulls import headers
from tests.support.hdf5_attack_c_bytes import lookup3

ROOT_FILE = "ctl-nh5-ds6-u-latest.h5"
DENSE_FILE = "ctl-nh5-attrs55-u-latest.h5"


def _zeros_after(buf: bytes, end: int) -> int:
    """Where the run of zeros starting at end stops."""
    pos = end
    while pos < len(buf) and buf[pos] == 0:
        pos += 1
    return pos


def _seal(body: bytes) -> bytes:
    """OCHK + body + lookup3 checksum: a version 2 continuation block."""
    data = b"OCHK" + body
    return data + struct.pack("<I", lookup3(data))


def _put(buf: bytes, at: int, blocks: list[bytes]) -> bytes:
    out = bytearray(buf)
    for block in blocks:
        assert not any(out[at:at + len(block)]), "forgery over non-zero bytes"
        out[at:at + len(block)] = block
        at += len(block)
    return bytes(out)


def _msgs(buf: bytes, chunk: tuple[int, int], hsize: int = 4) -> list[bytes]:
    """The messages of a v2 continuation block, each header and body."""
    pos, end, out = chunk[0] + 4, chunk[1] - 4, []
    while pos + hsize <= end:
        size = struct.unpack_from("<H", buf, pos + 1)[0]
        out.append(bytes(buf[pos:pos + hsize + size]))
        pos += hsize + size
    return out


def _raw_offsets(buf: bytes) -> list[int]:
    """Where the datasets' contiguous raw data start."""
    out: list[int] = []
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        f.visititems(lambda _, o: out.append(o.id.get_offset() or 0)
                     if isinstance(o, h5py.Dataset) else None)
    return out


def root_blocks(buf: bytes) -> dict[str, bytes]:
    raw = _raw_offsets(buf) + [len(buf)]
    root = headers(buf)["/"]
    first = root.chunks[1]
    at = first[1]
    stop = min(_zeros_after(buf, at), *(o for o in raw if o > at))
    copy = bytes(buf[first[0]:first[1]])
    others = [bytes(buf[s:e]) for s, e in root.chunks[1:]]
    msgs = _msgs(buf, first)
    swapped = _seal(b"".join([msgs[1], msgs[0]] + msgs[2:]))
    cont = bytearray(msgs[0])
    struct.pack_into("<Q", cont, 4, 0x1234567)
    chosen_cont = _seal(bytes(cont) + b"".join(msgs[1:]))
    nil = struct.pack("<BHB", 0, 12, 0) + b"PWNDPWNDPWND"
    payload_nil = _seal(b"".join(msgs[:2]) + nil)
    bad_sum = bytearray(copy)
    bad_sum[-1] ^= 0x01
    fit = (stop - at) // len(copy)
    second = root.chunks[2][1]
    row = [others[i % len(others)] for i in range(fit)]
    out = {
        "start": _put(buf, at, [copy]),
        "at+8": _put(buf, at + 8, [copy]),
        "at-end": _put(buf, stop - len(copy), [copy]),
        "two-in-a-row": _put(buf, at, [copy, others[1]]),
        "two-gap-1": _put(_put(buf, at, [copy]), at + len(copy) + 1, [others[1]]),
        "swapped-order": _put(buf, at, [swapped]),
        "wrong-checksum": _put(buf, at, [bytes(bad_sum)]),
        "cont-chosen-address": _put(buf, at, [chosen_cont]),
        "null-payload": _put(buf, at, [payload_nil]),
        f"row-of-{fit}": _put(buf, at, row),
        f"rows-of-{fit}-twice": _put(_put(buf, at, row), second, row),
        "one-in-each": _put(_put(buf, at, [copy]), second, [copy]),
    }
    return {f"blk-root-{k}.h5": v for k, v in out.items()}


def _dense_objects(buf: bytes, names: list[str]) -> list[bytes]:
    """The fractal heap objects (attribute message bodies, version 3) of the named
    attributes, found by name."""
    out = []
    for name in names:
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
                size = struct.unpack_from("<I", dt, 4)[0] * count
                at = start + 9 + nsz + dtsz + dssz + size
                out.append(bytes(buf[start:at]))
                break
            pos = buf.find(key, pos + 1)
    return out


def _attr_msg(body: bytes) -> bytes:
    return struct.pack("<BHB", 0x0C, len(body), 0) + body


def held(buf: bytes, objs: list[bytes], gap: int = 0, lead: bytes = b"") -> bytes:
    return _seal(lead + b"".join(_attr_msg(o) for o in objs) + bytes(gap))


def dense_blocks(buf: bytes) -> dict[str, bytes]:
    names = [f"c{s}_{i}" for s in range(5) for i in range(5)]
    objs = _dense_objects(buf, names)
    assert len(objs) == 25
    data = headers(buf)["data"]
    at = data.chunks[0][1]
    layout = next(m for m in data.msgs if m.type == 8)
    lead = bytes(buf[layout.head:layout.body + layout.size])
    run = objs[5:10]
    out = {
        "start": _put(buf, at, [held(buf, run)]),
        "at+16": _put(buf, at + 16, [held(buf, run)]),
        "two-runs": _put(buf, at, [held(buf, run), held(buf, objs[10:15])]),
        "same-run-twice": _put(buf, at, [held(buf, run), held(buf, run)]),
        "reversed": _put(buf, at, [held(buf, run[::-1])]),
        "gap-3": _put(buf, at, [held(buf, run, gap=3)]),
        "gap-4": _put(buf, at, [held(buf, run, gap=4)]),
        "lead-layout": _put(buf, at, [held(buf, run, lead=lead)]),
        "skip-one": _put(buf, at, [held(buf, objs[5:7] + objs[8:10])]),
        "one-attr-thrice": _put(buf, at, [held(buf, [objs[6]] * 3)]),
        "ten-shuffled": _put(buf, at, [held(buf, objs[20:] + objs[4::-1])]),
        "after-held-start": _put(buf, at, [held(buf, run), held(buf, objs[:1])]),
    }
    return {f"held-data-{k}.h5": v for k, v in out.items()}


V1_FILE = "ctl-nh5-strings6-u-def.h5"


def v1_blocks(buf: bytes) -> dict[str, bytes]:
    """Default libver (version 1 headers: a continuation block is bare messages, no
    signature or checksum): /events' first continuation block (a string attribute a
    session) copied into the zeros after it, at their start and 8 bytes in."""
    hdr = headers(buf)["events"]
    addr, size = next(struct.unpack_from("<QQ", buf, m.body) for m in hdr.msgs
                      if m.type == 0x10)
    block = bytes(buf[addr:addr + size])
    return {f"blk-v1-events-at+{off}.h5": _put(buf, addr + size + off, [block])
            for off in (0, 8)}
