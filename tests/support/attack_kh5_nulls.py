"""Null-message attacks for attack k (session 36) on docs/quarantine.md's HDF5 bound:
a null message of a header whose messages moved may hold pieces of that header's own
messages (slices of 6+ bytes, a message's last 1-5 bytes, a continuation length, one
stale checksum), at most 2 a message + 1 a held link or attribute + 4 in all.

Base: /g (track_order, libver='latest') given 6 long-named subgroups and 3 float
attributes in each of 2 sessions (its links went dense, its attributes moved into
continuation blocks: a null of 118 bytes holds strips of them), the root given an
attribute of pi's multiples in the first. Each attack rewrites null bodies only (the
null's header and size stay libhdf5's) and recomputes the block's checksum."""

from __future__ import annotations

import io
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import (
    PAYLOAD,
    Header,
    Msg,
    _v2_messages,
    header,
    lookup3,
    resum,
)

G, ROOT, SUB = "/g", "/", "/g/run_0_0_long_name_padding"
ATTR, NULL = 12, 0


def _step(s: int) -> Callable[[h5py.File], None]:
    def run(f: h5py.File) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=True)
        if s == 0:
            f.attrs["pi"] = np.pi * np.arange(1, 12)
        for i in range(6):
            g.create_group(f"run_{s}_{i}_long_name_padding")
        for i in range(3):
            g.attrs[f"a_{s}_{i}"] = np.linspace(0, 1, 60 + 40 * i)
    return run


def base() -> bytes:
    return sessions([_step(s) for s in range(2)], libver="latest")


def _header(buf: bytes, path: str) -> Header:
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return header(buf, h5py.h5o.get_info(f[path].id).addr)


def _nulls(hdr: Header) -> list[Msg]:
    return sorted((m for m in hdr.msgs if m.type == NULL), key=lambda m: -m.size)


def _body(buf: bytes, m: Msg) -> bytes:
    return bytes(buf[m.body:m.body + m.size])


def _fill(buf: bytes, path: str, make: Callable[[bytes, Header, Msg], bytes],
          nth: int = 0) -> bytes:
    """The nth largest null of path's header given make's bytes (padded with zeros)."""
    out = bytearray(buf)
    hdr = _header(buf, path)
    null = _nulls(hdr)[nth]
    data = make(buf, hdr, null)[:null.size]
    out[null.body:null.body + null.size] = data.ljust(null.size, b"\0")
    resum(out, hdr)
    return bytes(out)


def _bits(data: bytes) -> list[int]:
    return [(byte >> k) & 1 for byte in data for k in range(7, -1, -1)]


def _tails(_buf: bytes, _hdr: Header, null: Msg) -> bytes:
    """Payload spelled by piece choice: one bit a 2-byte piece, each the last 2 bytes of
    one of /g's messages (an attribute ends in 1.0's f0 3f, the attribute info message
    in ff ff): 59 pieces, more than 2 x 13 messages + 8 held + 4."""
    bits = _bits(PAYLOAD * 2)
    return b"".join(b"\xf0\x3f" if b else b"\xff\xff" for b in bits)[:null.size]


def _tails_short(buf: bytes, hdr: Header, null: Msg) -> bytes:
    """As _tails, 1-byte pieces: the last byte of an attribute (3f) or of the attribute
    info message (ff), one bit each, 118 pieces."""
    bits = _bits(PAYLOAD * 4)
    return bytes(0x3F if b else 0xFF for b in bits)[:null.size]


def _slices(buf: bytes, hdr: Header, null: Msg) -> bytes:
    """Payload spelled by slice choice: 6-byte slices of /g's own attribute values,
    each starting at one of 256 offsets of the first attribute the payload byte names
    (19 pieces: within the count, so within the docs if admitted; a control of the
    other attacks' premise that slices are admitted)."""
    attr = next(m for m in hdr.msgs if m.type == ATTR)
    src = _body(buf, attr)
    start = len(src) - 480
    return b"".join(src[start + 8 * (c % 32) + 2:][:6] for c in PAYLOAD * 5)


def _other_header(buf: bytes, _hdr: Header, _null: Msg) -> bytes:
    """Slices of the ROOT's attribute (pi's multiples, in no message of /g)."""
    pi = (np.pi * np.arange(1, 12)).tobytes()
    return pi[8:8 + 48]


def _own_unmoved(buf: bytes, hdr: Header, _null: Msg) -> bytes:
    """The root's null (nothing moved from the root: its one link and pi attribute were
    only added) given slices of the root's own attribute."""
    attr = next(m for m in hdr.msgs if m.type == ATTR)
    return _body(buf, attr)[-30:]


def _sub_own(buf: bytes, hdr: Header, _null: Msg) -> bytes:
    """A subgroup that was never touched again: its zero null given its own link info
    message's undefined addresses (ff x 16) and group info: its own bytes."""
    return b"".join(_body(buf, m) for m in hdr.msgs if m.type != NULL)


def _sub_from_g(buf: bytes, _hdr: Header, _null: Msg) -> bytes:
    """The same subgroup's null given strips of /g's attributes (another header)."""
    g = _header(buf, G)
    nulls = _nulls(g)
    return _body(buf, nulls[0])


def _two_checksums(buf: bytes) -> bytes:
    """A 4-byte PAYLOAD as a 'stale checksum' at the start of each of /g's two nulls
    holding data (the docs allow one stale checksum a header)."""
    def one(b: bytes, _h: Header, null: Msg) -> bytes:
        return PAYLOAD + _body(b, null)[4:]
    return _fill(_fill(buf, G, one, 0), G, one, 1)


def _cont_length(buf: bytes, _hdr: Header, null: Msg) -> bytes:
    """The largest null given 4 payload bytes at its start, zeros after (admitted as
    the one stale checksum a header with dense storage may keep)."""
    return PAYLOAD + bytes(null.size - 4)


def _payload(_buf: bytes, _hdr: Header, null: Msg) -> bytes:
    return (PAYLOAD * 64)[:null.size]


def one_session() -> bytes:
    """ONE session, no flush, no reopen, libver='latest': four datasets each given a
    38-double and a string attribute; the last one's header outgrew its block, so
    libhdf5 put a continuation block there with a null message of zeros."""
    with tempfile.TemporaryDirectory(prefix="attackkh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver="latest") as f:
            for k in range(4):
                ds = f.create_dataset(f"d{k}", data=np.arange(10.0))
                ds.attrs["calib"] = np.sqrt(np.arange(2, 40) + k)
                ds.attrs["units"] = "mV"
        return path.read_bytes()


def _one_chosen(buf: bytes, hdr: Header, _null: Msg) -> bytes:
    """12 six-byte slices of /d3's own calib attribute, each at one of 36 doubles the
    payload byte names: 12 x 5.2 bits spelled by choice in a null libhdf5 left zero."""
    attr = max((m for m in hdr.msgs if m.type == ATTR), key=lambda m: m.size)
    src = _body(buf, attr)[-300:]
    return b"".join(src[8 * (c % 36):][:6] for c in PAYLOAD * 3)


def _own_tail(buf: bytes, hdr: Header, null: Msg) -> bytes:
    attr = max((m for m in hdr.msgs if m.type == ATTR), key=lambda m: m.size)
    return _body(buf, attr)[-null.size:]


def _stale_checksum(_buf: bytes, _hdr: Header, _null: Msg) -> bytes:
    return PAYLOAD


ONE = "/d3"


def one_session_many(k: int = 20) -> bytes:
    """ONE session, no flush, libver='latest': k datasets created, then each given the
    same two attributes (no double with zero mantissa bytes); every header outgrows its
    block: k continuation blocks, each
    with a null message of 75 zeros as libhdf5 writes them."""
    with tempfile.TemporaryDirectory(prefix="attackkh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver="latest") as f:
            for n in range(k):
                f.create_dataset(f"d{n}", data=np.arange(10.0))
            for n in range(k):
                f[f"d{n}"].attrs["calib"] = np.sqrt(np.arange(2, 40) + n) * np.pi
                f[f"d{n}"].attrs["units"] = "mV"
        return path.read_bytes()


def _every_null(buf: bytes, k: int = 20) -> bytes:
    """Every dataset's null given 12 slices of its own calib attribute chosen by the
    payload (as _one_chosen): 20 x 12 x 5.2 bits in a file nothing was moved in."""
    for n in range(k):
        buf = _fill(buf, f"/d{n}", _one_chosen)
    return buf


FREED = 1104  # a continuation block of /g freed in session 2: continuation, null, link


def _freed_block(buf: bytes) -> tuple[list[Msg], int]:
    """The messages of the freed block at FREED and where its checksum is."""
    msgs: list[Msg] = []
    _v2_messages(buf, FREED + 4, FREED + 96, buf[_header(buf, G).start + 5], msgs, [])
    end = msgs[2].body + msgs[2].size
    assert struct.unpack_from("<I", buf, end)[0] == lookup3(buf[FREED:end]), "not freed block"
    return msgs[:3], end


def _freed_null(buf: bytes, data: bytes) -> bytes:
    """The freed block's null (12 zeros, not its last message) given data, the block's
    checksum recomputed as libhdf5 would have written it."""
    msgs, end = _freed_block(buf)
    out = bytearray(buf)
    out[msgs[1].body:msgs[1].body + msgs[1].size] = data[:msgs[1].size].ljust(msgs[1].size, b"\0")
    struct.pack_into("<I", out, end, lookup3(bytes(out[FREED:end])))
    return bytes(out)


def _stale_link(buf: bytes, change: Callable[[bytes], bytes], checksum_spent: bool) -> bytes:
    """/g's largest null given the freed block's link message (header and body: a dense
    link of /g) changed by change; with checksum_spent the second null's first 4 bytes
    are PAYLOAD (the one stale checksum a header may keep is spent there)."""
    msgs, _ = _freed_block(buf)
    link = bytes(buf[msgs[2].head:msgs[2].body + msgs[2].size])
    hdr = _header(buf, G)
    big, small = _nulls(hdr)[:2]
    out = bytearray(buf)
    out[big.body:big.body + big.size] = change(link).ljust(big.size, b"\0")
    if checksum_spent:
        out[small.body:small.body + 4] = PAYLOAD
    resum(out, hdr)
    return bytes(out)


def _rename(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    return lambda link: link.replace(old, new)


def _readdress(link: bytes) -> bytes:
    return link[:-8] + struct.pack("<Q", struct.unpack("<Q", link[-8:])[0] + 0x229)


def hostile(b: bytes, one: bytes, many: bytes) -> dict[str, bytes]:
    """Attacks expected refused (a HOLE where published)."""
    return {
        "kh5-g-null-payload.h5": _fill(b, G, _payload),
        "kh5-g-null-tails-2byte-59pieces.h5": _fill(b, G, _tails),
        "kh5-g-null-tails-1byte-118pieces.h5": _fill(b, G, _tails_short),
        "kh5-g-null-slices-from-root-attr.h5": _fill(b, G, _other_header),
        "kh5-g-null-two-stale-checksums.h5": _two_checksums(b),
        "kh5-root-null-stale-checksum-no-dense.h5": _fill(b, ROOT, _stale_checksum),
        "kh5-root-null-own-attr-unmoved.h5": _fill(b, ROOT, _own_unmoved),
        "kh5-sub-null-own-messages-unmoved.h5": _fill(b, SUB, _sub_own),
        "kh5-sub-null-strips-of-g.h5": _fill(b, SUB, _sub_from_g),
        "kh5-one-session-null-own-attr.h5": _fill(one, ONE, _own_tail),
        "kh5-one-session-null-chosen-slices.h5": _fill(one, ONE, _one_chosen),
        "kh5-one-session-null-stale-checksum.h5": _fill(one, ONE, _stale_checksum),
        "kh5-one-session-20-datasets-every-null.h5": _every_null(many),
        "kh5-freed-nonlast-null-slice.h5": _freed_null(b, _body(b, _nulls(_header(b, G))[0])),
        "kh5-freed-nonlast-null-checksum.h5": _freed_null(b, PAYLOAD),
        "kh5-g-null-link-renamed-PWN.h5": _stale_link(b, _rename(b"run_0_3", b"PWN_0_3"), True),
        "kh5-g-null-link-name-shuffled.h5": _stale_link(b, _rename(b"run_0_3", b"run_3_0"),
                                                        True),
        "kh5-g-null-link-readdressed.h5": _stale_link(b, _readdress, True),
    }


def within_bound(b: bytes) -> dict[str, bytes]:
    """Documented capacity (admitted, measured): /g (dense links) may hold one stale
    checksum (32 free bits, here at a null's start) and slices of its own messages in
    any order (19 slices x about 5 bits of choice here)."""
    return {
        "kh5-g-null-one-stale-checksum.h5": _fill(b, G, _cont_length),
        "kh5-g-null-slices-chosen.h5": _fill(b, G, _slices),
        "kh5-g-null-link-verbatim.h5": _stale_link(b, lambda link: link, True),
        "kh5-g-null-link-renamed-PWN-via-checksum.h5": _stale_link(
            b, _rename(b"run_0_3", b"PWN_0_3"), False),
    }


HOSTILE_NAMES = sorted([
    "kh5-g-null-payload.h5", "kh5-g-null-tails-2byte-59pieces.h5",
    "kh5-g-null-tails-1byte-118pieces.h5", "kh5-g-null-slices-from-root-attr.h5",
    "kh5-g-null-two-stale-checksums.h5", "kh5-root-null-stale-checksum-no-dense.h5",
    "kh5-root-null-own-attr-unmoved.h5", "kh5-sub-null-own-messages-unmoved.h5",
    "kh5-sub-null-strips-of-g.h5", "kh5-one-session-null-own-attr.h5",
    "kh5-one-session-null-chosen-slices.h5", "kh5-one-session-null-stale-checksum.h5",
    "kh5-freed-nonlast-null-slice.h5", "kh5-freed-nonlast-null-checksum.h5",
    "kh5-one-session-20-datasets-every-null.h5", "kh5-g-null-link-renamed-PWN.h5", "kh5-g-null-link-name-shuffled.h5",
    "kh5-g-null-link-readdressed.h5"])
WITHIN_NAMES = sorted(["kh5-g-null-one-stale-checksum.h5", "kh5-g-null-slices-chosen.h5",
                       "kh5-g-null-link-verbatim.h5",
                       "kh5-g-null-link-renamed-PWN-via-checksum.h5"])
