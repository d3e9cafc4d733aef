"""Forged continuation + null pairs for attack l (session 37) on docs/quarantine.md's
newest HDF5 rule: without dense storage a non-zero null message is admitted only right
after a continuation message, holding exactly the rest of the live message libhdf5 moved
out to make room for it (the continuation takes the displaced message's head, the null
its body from byte 16 + the message header's size on).

Base: ONE session, libver='latest', nothing flushed, nothing moved: datasets whose v2
headers hold a few small attributes in their first block, no continuation block. A
"displacement" is forged exactly where libhdf5 would make it: message M of the first
block becomes a continuation message (to a new block appended at the end of the file,
holding M) followed by a null message over the rest of M's slot, whose body is M's own
bytes from 16 + header size on, left in place. Variants then change the null (its cut,
its flags, its order field, its last bytes, whose tail it holds), or put freed
continuation blocks of the header between the old end of the file and the new block."""

from __future__ import annotations

import io
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import PAYLOAD, Header, Msg, header, lookup3, resum

ATTR, NULL, CONT = 12, 0, 16
EOF_AT = 28  # a version 2/3 superblock's end-of-file address


def _calib(n: int) -> np.ndarray:
    return np.sqrt(np.arange(2, 14) + 3 * n) * np.pi  # 12 doubles, no zero byte pattern


def base(track: bool = False) -> bytes:
    """ONE session, no flush: 3 datasets given 3 attributes each (calib of 12 doubles,
    a gain of 4 doubles, a units string); every header fits its first block."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver="latest") as f:
            for n in range(3):
                d = f.create_dataset(f"d{n}", data=np.arange(10.0) + n, track_order=track)
                d.attrs["calib"] = _calib(n)
                d.attrs["gain"] = np.linspace(1, 2, 4) + n
                d.attrs["units"] = "mV"
        return path.read_bytes()


def hdr(buf: bytes, path: str) -> Header:
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return header(buf, h5py.h5o.get_info(f[path].id).addr)


def attrs(h: Header) -> list[Msg]:
    return [m for m in h.msgs if m.type == ATTR]


def nulls(h: Header) -> list[Msg]:
    return [m for m in h.msgs if m.type == NULL]


@dataclass(frozen=True)
class Pair:
    """Where a forged displacement put its continuation and null messages."""

    cont: int   # head of the continuation message
    null: Msg   # the null message over the rest of the displaced slot
    block: int  # address of the appended block holding the displaced message
    start: int  # the object header's address


def _hsize(m: Msg) -> int:
    return m.body - m.head


def displace(buf: bytes, path: str, pick: Callable[[bytes, Header], Msg],
             freed: bytes = b"", gap: bytes = b"") -> tuple[bytearray, Pair]:
    """Move pick(header)'s message to a new continuation block appended to the file
    (after `freed`, bytes put between the old end and the new block), as libhdf5's
    H5O__alloc_chunk does: the continuation message where the message's head was, a
    null message over the rest of its slot, its body left as the message's bytes."""
    h = hdr(buf, path)
    m = pick(buf, h)
    hs = _hsize(m)
    assert m.size >= 16 + hs, "too small to displace"
    out = bytearray(buf)
    moved = bytes(buf[m.head:m.body + m.size])
    block = len(out) + len(freed)
    ochk = b"OCHK" + moved + gap  # gap: bytes after the last message (fewer than a header)
    ochk += struct.pack("<I", lookup3(ochk))
    out[m.head] = CONT
    struct.pack_into("<HB", out, m.head + 1, 16, 0)
    struct.pack_into("<QQ", out, m.body, block, len(ochk))
    nhead = m.body + 16
    out[nhead] = NULL
    struct.pack_into("<HB", out, nhead + 1, m.size - 16 - hs, 0)
    null = Msg(NULL, 0, nhead, nhead + hs, m.size - 16 - hs)
    out += freed + ochk
    struct.pack_into("<Q", out, EOF_AT, len(out))
    struct.pack_into("<I", out, 44, lookup3(bytes(out[:44])))
    resum(out, Header(h.version, h.start, h.msgs, h.chunks[:1]))
    return out, Pair(m.head, null, block, h.start)


def attr_name(buf: bytes, m: Msg) -> bytes:
    """A version 3 attribute message's name (after 9 bytes, NUL-terminated)."""
    nlen = struct.unpack_from("<H", buf, m.body + 2)[0]
    return bytes(buf[m.body + 9:m.body + 9 + nlen]).rstrip(b"\0")


def named(name: bytes) -> Callable[[bytes, Header], Msg]:
    return lambda buf, h: next(m for m in attrs(h) if attr_name(buf, m) == name)


def refresh(out: bytearray, pair: Pair) -> Header:
    """The header read at its address (h5py refuses it while a checksum is stale)."""
    return header(bytes(out), pair.start)


def rewrite_null(out: bytearray, path: str, pair: Pair, body: bytes | None = None,
                 flags: int | None = None, order: bytes | None = None) -> bytes:
    """The pair's null given another body (same size), flags or order field."""
    if body is not None:
        assert len(body) == pair.null.size, (len(body), pair.null.size)
        out[pair.null.body:pair.null.body + pair.null.size] = body
    if flags is not None:
        out[pair.null.head + 3] = flags
    if order is not None:
        out[pair.null.head + 4:pair.null.head + 6] = order
    resum(out, refresh(out, pair))
    return bytes(out)


def freed_block(buf: bytes, msgs: list[bytes], null_body: bytes = b"",
                hs: int = 4) -> bytes:
    """A freed continuation block as libhdf5 leaves one: OCHK, the given whole messages
    (header and body), then a null message (when null_body is given) as its last
    message, then the checksum."""
    raw = b"OCHK" + b"".join(msgs)
    if null_body:
        raw += bytes([NULL]) + struct.pack("<HB", len(null_body), 0) + bytes(hs - 4)
        raw += null_body
    return raw + struct.pack("<I", lookup3(raw))


def message(buf: bytes, m: Msg) -> bytes:
    return bytes(buf[m.head:m.body + m.size])


def payload(n: int) -> bytes:
    return (PAYLOAD * (n // 4 + 1))[:n]


# ------------------------------------------------------------------------ the cases

D0, D1 = "/d0", "/d1"
CALIB, GAIN, UNITS = b"calib", b"gain", b"units"


def _pair(b: bytes, name: bytes = CALIB, freed: bytes = b"",
          path: str = D0) -> tuple[bytearray, Pair]:
    return displace(b, path, named(name), freed)


def _zero_order(out: bytearray, pair: Pair, path: str) -> bytes:
    """A header tracking attribute order: the forged continuation and null get order 0."""
    if pair.null.body - pair.null.head == 6:
        out[pair.cont + 4:pair.cont + 6] = b"\0\0"
        out[pair.null.head + 4:pair.null.head + 6] = b"\0\0"
    resum(out, refresh(out, pair))
    return bytes(out)


def _body(buf: bytes, path: str, name: bytes) -> bytes:
    h = hdr(buf, path)
    m = named(name)(buf, h)
    return bytes(buf[m.body:m.body + m.size])


def _variant(b: bytes, make: Callable[[bytes, Pair, bytes], dict]) -> bytes:
    out, pair = _pair(b)
    tail = bytes(out[pair.null.body:pair.null.body + pair.null.size])
    return rewrite_null(out, D0, pair, **make(b, pair, tail))


def pairs_within(b: bytes, bt: bytes) -> dict[str, bytes]:
    """Forged displacements exactly as libhdf5 makes them: documented (which message)."""
    out = {f"lh5-pair-{n.decode()}.h5": bytes(_pair(b, n)[0]) for n in (CALIB, GAIN)}
    two, _ = _pair(b, CALIB)
    out["lh5-pair-calib-and-gain.h5"] = bytes(_pair(bytes(two), GAIN)[0])
    every = b
    for path in ("/d0", "/d1", "/d2"):
        for name in (CALIB, GAIN):
            every = bytes(_pair(every, name, path=path)[0])
    out["lh5-pair-6-in-3-headers.h5"] = every
    o, p = _pair(bt)
    out["lh5-pair-tracked-order0.h5"] = _zero_order(o, p, D0)
    o, p = _pair(bt)
    _zero_order(o, p, D0)
    out["lh5-pair-tracked-order-0100.h5"] = rewrite_null(o, D0, p, order=b"\x01\x00")
    out["lh5-pair-flags-04.h5"] = _variant(b, lambda _b, _p, _t: {"flags": 0x04})
    return out


def pairs_hostile(b: bytes, bt: bytes) -> dict[str, bytes]:
    """Displacements whose null is not exactly the displaced message's rest."""
    calib = _body(b, D0, CALIB)
    other = _body(b, D1, CALIB)
    gain = _body(b, D0, GAIN)
    out = {
        "lh5-pair-cut-4-early.h5": _variant(b, lambda _b, p, _t: {"body": calib[16:16 + p.null.size]}),
        "lh5-pair-cut-8-late.h5": _variant(b, lambda _b, p, _t: {
            "body": calib[28:].ljust(p.null.size, b"\0")}),
        "lh5-pair-tail-last4-payload.h5": _variant(b, lambda _b, _p, t: {"body": t[:-4] + PAYLOAD}),
        "lh5-pair-tail-first4-payload.h5": _variant(b, lambda _b, _p, t: {"body": PAYLOAD + t[4:]}),
        "lh5-pair-tail-of-d1-calib.h5": _variant(b, lambda _b, _p, _t: {"body": other[20:]}),
        "lh5-pair-tail-of-gain-padded.h5": _variant(b, lambda _b, p, _t: {
            "body": gain[20:].ljust(p.null.size, b"\0")}),
        "lh5-pair-tail-zeros-then-payload.h5": _variant(b, lambda _b, p, _t: {
            "body": bytes(p.null.size - 8) + PAYLOAD * 2}),
    }
    for flag in (0x01, 0x02, 0x08, 0x10, 0x20, 0x40, 0x80, 0x05, 0x0C):
        out[f"lh5-pair-flags-{flag:02x}.h5"] = _variant(b, lambda _b, _p, _t, f=flag: {"flags": f})
    for order in (b"PW", b"\xff\xff"):
        o, p = _pair(bt)
        _zero_order(o, p, D0)
        out[f"lh5-pair-tracked-order-{order.hex()}.h5"] = rewrite_null(o, D0, p, order=order)
    return out


def gaps(b: bytes, bt: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The new continuation block ending with a gap (fewer bytes than a message header,
    which libhdf5 leaves as a gap): zeros (within), or chosen bytes (hostile)."""
    within = {"lh5-ochk-gap-3-zeros.h5": bytes(displace(b, D0, named(CALIB), gap=bytes(3))[0])}
    o, p = displace(bt, D0, named(CALIB), gap=bytes(5))
    within["lh5-ochk-gap-5-zeros-tracked.h5"] = _zero_order(o, p, D0)
    hostile = {"lh5-ochk-gap-3-PWN.h5": bytes(displace(b, D0, named(CALIB), gap=b"PWN")[0])}
    o, p = displace(bt, D0, named(CALIB), gap=b"PWND!")
    hostile["lh5-ochk-gap-5-PWND!-tracked.h5"] = _zero_order(o, p, D0)
    return within, hostile


def _freed(b: bytes, blocks: list[bytes], path: str = D0) -> bytes:
    return bytes(_pair(b, CALIB, b"".join(blocks), path)[0])


def freed_cases(b: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Freed continuation blocks of a header that now has one, put below its new block:
    (within the docs, hostile)."""
    h = hdr(b, D0)
    msg = {attr_name(b, m): message(b, m) for m in attrs(h)}
    root = hdr(b, "/")
    link = next(message(b, m) for m in root.msgs if m.type == 6)
    d1 = hdr(b, D1)
    d1calib = next(message(b, m) for m in attrs(d1) if attr_name(b, m) == CALIB)
    changed = bytearray(msg[CALIB])
    changed[-8:] = PAYLOAD * 2
    within = {
        "lh5-freed-calib-copy.h5": _freed(b, [freed_block(b, [msg[CALIB]])]),
        "lh5-freed-units-gain-zero-null.h5": _freed(b, [freed_block(b, [msg[UNITS], msg[GAIN]],
                                                                    bytes(40))]),
    }
    hostile = {
        "lh5-freed-null-payload.h5": _freed(b, [freed_block(b, [msg[UNITS]], payload(40))]),
        "lh5-freed-calib-value-changed.h5": _freed(b, [freed_block(b, [bytes(changed)])]),
        "lh5-freed-20-blocks.h5": _freed(b, [freed_block(b, [msg[UNITS]])] * 20),
        "lh5-freed-root-link-copy.h5": _freed(b, [freed_block(b, [link])]),
        "lh5-freed-d1-calib-copy.h5": _freed(b, [freed_block(b, [d1calib])]),
        "lh5-freed-null-tail-of-d1-calib.h5": _freed(
            b, [freed_block(b, [msg[UNITS]], d1calib[24:])]),
        "lh5-freed-gap-payload.h5": _freed(b, [freed_block(b, [msg[UNITS]]), PAYLOAD * 4]),
    }
    return within, hostile


# ------------------------------------------------- order fields of non-attribute messages

def tracked_group() -> bytes:
    """ONE session, default libver: /g tracking creation order with 3 subgroups (its
    v2 header's messages carry a 2-byte order field; no attribute: next order 0)."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            g = f.create_group("g", track_order=True)
            for i in range(3):
                g.create_group(f"s{i}")
        return path.read_bytes()


def set_order(buf: bytes, path: str, mtype: int, order: bytes, nth: int = 0) -> bytes:
    """The order field of path's nth message of type mtype set to order."""
    h = hdr(buf, path)
    m = [m for m in h.msgs if m.type == mtype][nth]
    assert m.body - m.head == 6, "header tracks no order"
    out = bytearray(buf)
    out[m.head + 4:m.head + 6] = order
    resum(out, h)
    return bytes(out)


def orders(bt: bytes, g: bytes) -> dict[str, bytes]:
    """'PW' (22352, far above any attribute order) in the order field of messages that
    are no attribute: the docs allow 0 or an order below the next attribute's."""
    out = {f"lh5-order-PW-d0-type{t:02x}.h5": set_order(bt, D0, t, b"PW")
           for t in (1, 3, 5, 8, 0x15)}
    out.update({f"lh5-order-PW-g-type{t:02x}.h5": set_order(g, "/g", t, b"PW")
                for t in (0, 2, 6, 0x0A)})
    o, p = _pair(bt)
    _zero_order(o, p, D0)
    o[p.cont + 4:p.cont + 6] = b"PW"
    out["lh5-order-PW-d0-forged-cont.h5"] = rewrite_null(o, D0, p)
    return out


def real_cont(track: bool = True) -> bytes:
    """3 sessions, libver='latest': /d given 2 float attributes (20 doubles) a session,
    tracking creation order: its header got a continuation block (the layout message
    displaced) and its first block ends with a 2-byte gap."""
    def step(s: int) -> Callable[[h5py.File], None]:
        def run(f: h5py.File) -> None:
            d = f["d"] if "d" in f else f.create_dataset("d", data=np.arange(10.0),
                                                        track_order=track)
            for i in range(2):
                d.attrs[f"a{s}_{i}"] = np.linspace(0, 1, 20) + s
        return run
    return sessions([step(s) for s in range(3)], libver="latest")


def _gap(buf: bytes, data: bytes) -> bytes:
    """The bytes between the first block's last message and its checksum set to data."""
    h = hdr(buf, "/d")
    start, end = h.chunks[0]
    last = max((m for m in h.msgs if start <= m.head < end), key=lambda m: m.head)
    gap = end - 4 - (last.body + last.size)
    assert gap == len(data), gap
    out = bytearray(buf)
    out[end - 4 - gap:end - 4] = data
    resum(out, h)
    return bytes(out)


def real_orders(rc: bytes) -> dict[str, bytes]:
    return {"lh5-real-cont-order-PW.h5": set_order(rc, "/d", CONT, b"PW"),
            "lh5-real-cont-order-ffff.h5": set_order(rc, "/d", CONT, b"\xff\xff"),
            "lh5-real-gap-PW.h5": _gap(rc, b"PW")}

