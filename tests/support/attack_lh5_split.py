"""A header's one null message of zeros split into several null messages of zeros
whose sizes spell chosen bytes (attack l, session 37): each size is a choice no reader
sees. In a header with a continuation block (one session, libver='latest': a dataset
whose attributes outgrew its first block) and in one without (a tracked group)."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_lh5_forge import (
    ATTR,
    CALIB,
    CONT,
    D0,
    NULL,
    _zero_order,
    displace,
    freed_block,
    hdr,
    named,
    nulls,
    set_order,
)
from tests.support.hdf5_attack_c_bytes import lookup3, resum


def with_cont(libver: str | None = "latest") -> bytes:
    """ONE session, 'latest', 3 datasets made first: /d0's calib attribute (38 doubles) did not fit its first
    block: a continuation block; the first block ends with a null of 75 zeros."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", **({"libver": libver} if libver else {})) as f:
            for n in range(3):
                f.create_dataset(f"d{n}", data=np.arange(10.0))
            for n in range(3):
                f[f"d{n}"].attrs["calib"] = np.sqrt(np.arange(2, 40) + n) * np.pi
                f[f"d{n}"].attrs["units"] = "mV"
        return path.read_bytes()


def split(buf: bytes, path: str, sizes: list[int]) -> bytes:
    """The largest null of path's header (zeros) rewritten as nulls of the given body
    sizes, the last one taking what is left."""
    h = hdr(buf, path)
    null = max(nulls(h), key=lambda m: m.size)
    hs = null.body - null.head
    total = null.body + null.size - null.head
    assert sum(sizes) + hs * (len(sizes) + 1) <= total
    out = bytearray(buf)
    out[null.head:null.body + null.size] = bytes(total)
    pos = null.head
    for size in sizes + [total - sum(sizes) - hs * (len(sizes) + 1)]:
        out[pos] = NULL
        struct.pack_into("<H", out, pos + (2 if h.version == 1 else 1), size)
        pos += hs + size
    if h.version == 1:  # a version 1 header counts its messages
        count = struct.unpack_from("<H", out, h.start + 2)[0]
        struct.pack_into("<H", out, h.start + 2, count + len(sizes))
    resum(out, h)
    return bytes(out)


def cases(group: bytes, b: bytes) -> dict[str, bytes]:
    """Hostile: nulls of zeros whose number, sizes or place are chosen."""
    c = with_cont()
    return {**block_cases(b, c), "lh5-pair-displaced-copy-deleted.h5": displaced_then_gone(b),
        "lh5-split-null-cont-3.h5": split(c, "/d0", [8, 7, 2]),
        "lh5-split-null-cont-5-empty.h5": split(c, "/d0", [0, 0, 0, 0, 0]),
        "lh5-split-null-cont-v1-2.h5": split(with_cont(None), "/d0", [0, 8]),
        "lh5-split-null-group-3.h5": split(group, "/g", [8, 7, 2]),
        "lh5-split-null-group-2-empty.h5": split(group, "/g", [0, 0]),
    }


def _null(size: int) -> bytes:
    return bytes([NULL]) + struct.pack("<HB", size, 0) + bytes(size)


def moved_before(buf: bytes, path: str) -> bytes:
    """The first block's null of zeros moved from the end to before the attribute
    message in front of it (readers take messages in any order)."""
    h = hdr(buf, path)
    null = max(nulls(h), key=lambda m: m.size)
    attr = [m for m in h.msgs if m.type == ATTR and m.head < null.head][-1]
    out = bytearray(buf)
    moved = bytes(buf[null.head:null.body + null.size]) + bytes(buf[attr.head:attr.body + attr.size])
    out[attr.head:attr.head + len(moved)] = moved
    resum(out, h)
    return bytes(out)


def block_cases(b: bytes, c: bytes) -> dict[str, bytes]:
    """A continuation block (forged displacement of /d0's calib in base b) ending with a
    null of zeros of a chosen size, or two; c's null moved in its first block."""
    def block(tail: bytes) -> bytes:
        return bytes(displace(b, D0, named(CALIB), gap=tail)[0])
    return {"lh5-ochk-null-7.h5": block(_null(7)), "lh5-ochk-null-100.h5": block(_null(100)),
            "lh5-ochk-nulls-7-20.h5": block(_null(7) + _null(20)),
            "lh5-null-moved-before-units.h5": moved_before(c, "/d0")}


def displaced_then_gone(b: bytes) -> bytes:
    """A forged displacement of /d0's calib whose moved copy is then made a null of
    zeros (the attribute deleted): the null after the continuation holds the tail of a
    message that is live nowhere."""
    out, pair = displace(b, D0, named(CALIB))
    start = pair.block
    size = struct.unpack_from("<H", out, start + 5)[0]
    out[start + 4] = NULL
    out[start + 8:start + 8 + size] = bytes(size)
    struct.pack_into("<I", out, start + 8 + size, lookup3(bytes(out[start:start + 8 + size])))
    return bytes(out)


def freed_cont(bt: bytes, order: bytes) -> bytes:
    """A freed continuation block of tracked /d0 holding one continuation message (order
    field `order`) naming the header's live block, put before that block."""
    h = hdr(bt, D0)
    m = named(CALIB)(bt, h)
    live = 4 + (m.body - m.head) + m.size + 4
    cont = bytes([CONT]) + struct.pack("<HB", 16, 0) + order
    freed = freed_block(bt, [cont + struct.pack("<QQ", len(bt) + 30, live)])
    assert len(freed) == 30
    out, pair = displace(bt, D0, named(CALIB), freed)
    return _zero_order(out, pair, D0)


def freed_cont_cases(bt: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(within: order 0, hostile: order 'PW') the sibling of the live continuation's."""
    return ({"lh5-freed-cont-order0.h5": freed_cont(bt, b"\0\0")},
            {"lh5-freed-cont-order-PW.h5": freed_cont(bt, b"PW")})


def chunked_tracked() -> bytes:
    """ONE session, default libver: a tracked, resizable, shuffled, deflated and
    fletcher32 dataset with one attribute; its version 2 header has a continuation."""
    with tempfile.TemporaryDirectory(prefix="attacklh5-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            d = f.create_dataset("d", data=np.arange(1000.0), track_order=True,
                                 compression="gzip", shuffle=True, fletcher32=True,
                                 chunks=(100,), maxshape=(None,))
            d.attrs["a"] = 1.0
        return path.read_bytes()


def chunked_cont_order(c: bytes) -> dict[str, bytes]:
    return {"lh5-real-chunked-cont-order-PW.h5": set_order(c, "/d", CONT, b"PW")}
