"""Random multi-session h5py workflows (session 37): objects made, attributes added,
rewritten (other shapes and types), modified in place and deleted, objects deleted, under
the default libver, 'latest' and ('earliest', 'v110'), tracked or not, 1 to 9 sessions;
and a plain reading of where each object header's messages lie, block by block."""

from __future__ import annotations

import io
import random
import struct
import tempfile
from pathlib import Path

import h5py
import numpy as np

LIBVERS = (None, "latest", ("earliest", "v110"))
CONT, NULL = 0x10, 0x00


def _value(rng: random.Random) -> object:
    """An attribute value of one of the sizes and types a job writes."""
    return rng.choice((
        lambda: rng.random(),
        lambda: np.int32(rng.randrange(1000)),
        lambda: np.arange(rng.randrange(1, 60), dtype="f8") * rng.random(),
        lambda: "s" * rng.randrange(1, 40),
        lambda: np.arange(rng.randrange(1, 200), dtype="i4"),
        lambda: np.float32(rng.random()),
        lambda: np.linspace(0, 1, rng.randrange(1, 12)),
    ))()


def _make(f: h5py.File, rng: random.Random, track: bool) -> None:
    name = f"o{rng.randrange(50)}"
    if name in f:
        return
    order = track if rng.random() < 0.8 else None
    if rng.random() < 0.7:
        grow = {"chunks": True, "maxshape": (None,)} if rng.random() < 0.3 else {}
        f.create_dataset(name, data=np.arange(float(rng.randrange(1, 50))), track_order=order, **grow)
    else:
        f.create_group(name, track_order=order)


def _step(f: h5py.File, rng: random.Random, track: bool) -> None:
    """One change: an object made or deleted, attributes added, rewritten, deleted, modified."""
    objs = ["/", *f]
    op = rng.random()
    if op < 0.15 or len(objs) < 2:
        return _make(f, rng, track)
    if op >= 0.9:
        if rng.random() < 0.5:
            del f[rng.choice(objs[1:])]
        return None
    o = f[rng.choice(objs)]
    names = list(o.attrs)
    if op < 0.6 or not names:
        for _ in range(rng.randrange(1, 6)):
            o.attrs[f"a{rng.randrange(30)}"] = _value(rng)
    elif op < 0.75:
        o.attrs[rng.choice(names)] = _value(rng)
    elif op < 0.85:
        del o.attrs[rng.choice(names)]
    else:
        name = rng.choice(names)
        o.attrs.modify(name, o.attrs[name])
    return None


def workflow(seed: int) -> bytes:
    rng = random.Random(seed)
    libver, track = rng.choice(LIBVERS), rng.random() < 0.4
    kw = {"libver": libver} if libver else {}
    with tempfile.TemporaryDirectory(prefix="nullplaces-") as where:
        path = Path(where) / "f.h5"
        for s in range(rng.randrange(1, 10)):
            extra = {"track_order": track} if s == 0 else {}
            with h5py.File(path, "w" if s == 0 else "a", **kw, **extra) as f:
                for _ in range(rng.randrange(1, 8)):
                    _step(f, rng, track)
        return path.read_bytes()


def headers(buf: bytes) -> list[int]:
    """The address of every object header reached from the root."""
    found = set()
    with h5py.File(io.BytesIO(buf), "r") as f:
        found.add(h5py.h5o.get_info(f["/"].id).addr)
        f.visititems(lambda _, obj: found.add(h5py.h5o.get_info(obj.id).addr))
    return sorted(found)


def layout(buf: bytes, addr: int) -> tuple[int, list[list[tuple[int, int, int]]], dict[int, int]]:
    """(message header size, each block's (type, size, head), the block each
    continuation message (by its head) names) of the object header at addr."""
    blocks: list[list[tuple[int, int, int]]] = []
    named: dict[int, int] = {}
    v2 = buf[addr:addr + 4] == b"OHDR"
    if v2:
        flags = buf[addr + 5]
        pos = addr + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        size = int.from_bytes(buf[pos:pos + width], "little")
        hs, first = (6 if flags & 0x04 else 4), (pos + width, pos + width + size)
    else:
        hs, first = 8, (addr + 16, addr + 16 + struct.unpack_from("<I", buf, addr + 8)[0])
    spans = [first]
    while spans:
        start, end = spans.pop(0)
        seq, pos = [], start
        while end - pos >= hs:
            kind, size = struct.unpack_from("<BH" if v2 else "<HH", buf, pos)
            seq.append((kind, size, pos))
            if kind == CONT:
                at, length = struct.unpack_from("<QQ", buf, pos + hs)
                named[pos] = len(blocks) + len(spans) + 1
                spans.append((at + 4, at + length - 4) if v2 else (at, at + length))
            pos += hs + size
        blocks.append(seq)
    return hs, blocks, named
