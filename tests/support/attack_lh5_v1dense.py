"""Version 1 headers and headers with dense storage from birth for attack l (session
37), and every forged case of tests/support/attack_lh5_forge.py gathered (build)."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_lh5_forge import (
    CALIB,
    CONT,
    D0,
    D1,
    NULL,
    PAYLOAD,
    _calib,
    attrs,
    base,
    freed_cases,
    gaps,
    hdr,
    nulls,
    orders,
    pairs_hostile,
    pairs_within,
    payload,
    real_cont,
    real_orders,
    tracked_group,
)
from tests.support.hdf5_attack_c_bytes import Header, Msg, resum

# ------------------------------------------------------ version 1 headers (default libver)

V1_EOF_AT = 40  # a version 0 superblock's end-of-file address


def base_v1() -> bytes:
    """As base() under the default libver: version 1 object headers (8-byte message
    headers, bodies padded to 8, continuation blocks with no signature or checksum)."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            for n in range(3):
                d = f.create_dataset(f"d{n}", data=np.arange(10.0) + n)
                d.attrs["calib"] = _calib(n)
                d.attrs["gain"] = np.linspace(1, 2, 4) + n
                d.attrs["units"] = "mV"
        return path.read_bytes()


def _v1_name(buf: bytes, m: Msg) -> bytes:
    nlen = struct.unpack_from("<H", buf, m.body + 2)[0]
    return bytes(buf[m.body + 8:m.body + 8 + nlen]).rstrip(b"\0")


def displace_v1(buf: bytes, path: str, name: bytes,
                tail: Callable[[bytes], bytes] | None = None) -> bytes:
    """A version 1 displacement: the continuation (8 + 16 bytes) where attribute name's
    message was, a null over the rest (its body the message's bytes from 24 on, or
    tail(those bytes)), the message in a continuation block appended at the end."""
    h = hdr(buf, path)
    m = next(m for m in attrs(h) if _v1_name(buf, m) == name)
    out = bytearray(buf)
    block = len(out)
    out += buf[m.head:m.body + m.size]
    struct.pack_into("<HHB3x", out, m.head, CONT, 16, 0)
    struct.pack_into("<QQ", out, m.body, block, 8 + m.size)
    struct.pack_into("<HHB3x", out, m.body + 16, NULL, m.size - 24, 0)
    rest = m.body + 24
    if tail is not None:
        out[rest:m.body + m.size] = tail(bytes(out[rest:m.body + m.size]))
    count = struct.unpack_from("<H", out, h.start + 2)[0]
    struct.pack_into("<H", out, h.start + 2, count + 2)
    struct.pack_into("<Q", out, V1_EOF_AT, len(out))
    return bytes(out)


def v1_cases() -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(control, hostile, within) for version 1 headers."""
    b = base_v1()
    other = _v1_body(b, D1)
    within: dict[str, bytes] = {}
    hostile = {  # the exact pair too: refused in a version 1 header (a safe refusal)
        "lh5-v1-pair-calib-exact.h5": displace_v1(b, D0, CALIB),
        "lh5-v1-pair-last4-payload.h5": displace_v1(b, D0, CALIB, lambda t: t[:-4] + PAYLOAD),
        "lh5-v1-pair-tail-of-d1.h5": displace_v1(b, D0, CALIB, lambda t: other[24:]),
        "lh5-v1-pair-payload.h5": displace_v1(b, D0, CALIB, lambda t: payload(len(t))),
    }
    return {"ctl-lh5-base-v1.h5": b}, hostile, within


def _v1_body(buf: bytes, path: str) -> bytes:
    h = hdr(buf, path)
    m = next(m for m in attrs(h) if _v1_name(buf, m) == CALIB)
    return bytes(buf[m.body:m.body + m.size])


# ------------------------------------------- dense storage from birth (nothing ever moved)

def dense_born(libver: str | None, track: bool) -> bytes:
    """ONE session: /d given a 72 KB attribute (too large for a header: libhdf5 puts it,
    and the short one after it, in dense storage at once). Nothing ever moved; the
    header's null is zeros."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", **({"libver": libver} if libver else {})) as f:
            d = f.create_dataset("d", data=np.arange(10.0), track_order=track)
            d.attrs["big"] = np.sqrt(np.arange(9000.0))
            d.attrs["units"] = "mV"
        return path.read_bytes()


def _fill_null(buf: bytes, path: str, make: Callable[[bytes, Header, Msg], bytes]) -> bytes:
    h = hdr(buf, path)
    null = max(nulls(h), key=lambda m: m.size)
    assert not any(buf[null.body:null.body + null.size])
    out = bytearray(buf)
    out[null.body:null.body + null.size] = make(buf, h, null)[:null.size].ljust(null.size, b"\0")
    resum(out, h)
    return bytes(out)


def _own_slices(buf: bytes, h: Header, _null: Msg) -> bytes:
    """Chosen 6-byte slices of the header's own datatype and dataspace messages."""
    src = b"".join(bytes(buf[m.body:m.body + m.size]) for m in h.msgs if m.type in (1, 3))
    return b"".join(src[k:k + 6] for k in (0, 6, 3, 9, 1, 4))


def dense_born_cases() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(controls, hostile): the null of a header with dense storage nothing moved from
    given one 'stale checksum' (PAYLOAD), chosen slices of its own messages, both."""
    ctl, hostile = {}, {}
    for lv, track, tag in (("latest", False, "latest"), (None, True, "def-tracked")):
        b = dense_born(lv, track)
        ctl[f"ctl-lh5-dense-born-{tag}.h5"] = b
        hostile[f"lh5-dense-born-{tag}-checksum.h5"] = _fill_null(
            b, "/d", lambda _b, _h, _n: PAYLOAD)
        hostile[f"lh5-dense-born-{tag}-slices.h5"] = _fill_null(b, "/d", _own_slices)
        hostile[f"lh5-dense-born-{tag}-checksum-slices.h5"] = _fill_null(
            b, "/d", lambda b_, h_, n_: PAYLOAD + _own_slices(b_, h_, n_))
    return ctl, hostile


def build() -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(controls, hostile, within the docs): every forged file from its real base."""
    b, bt, g, rc = base(), base(track=True), tracked_group(), real_cont()
    fw, fh = freed_cases(b)
    gw, gh = gaps(b, bt)
    vc, vh, vw = v1_cases()
    dc, dh = dense_born_cases()
    ctl = {"ctl-lh5-base.h5": b, "ctl-lh5-base-tracked.h5": bt,
           "ctl-lh5-tracked-group.h5": g, "ctl-lh5-real-cont.h5": rc, **vc, **dc}
    hostile = {**pairs_hostile(b, bt), **fh, **gh, **orders(bt, g), **real_orders(rc), **vh,
               **dh}
    return ctl, hostile, {**pairs_within(b, bt), **fw, **gw, **vw}

