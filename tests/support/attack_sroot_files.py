"""Files for independent attack s root (session 40): fields inside a live TTree, its branches
and leaves, and a histogram's TNamed that no structure rule pins, beside real uproot controls.

Every hostile file is an uproot file (uncompressed: uproot writes a TTree so anyway) with
bytes of one field replaced in place, so its records, keys, lists and free space stay as
uproot wrote them; what differs is only the field's value.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import uproot

PAYLOAD = b"#!/bin/sh\nexec id"  # what a guest would hide, 8 bytes at a time


def _tree_file(path: Path, extends: int = 1, compression=None) -> bytes:
    with uproot.recreate(path, compression=compression) as f:
        tree = f.mktree("tr", {"xx": np.float64, "nn": np.int32}, title="events")
        for k in range(extends):
            tree.extend({"xx": np.arange(5, dtype=np.float64) + k,
                         "nn": np.arange(5, dtype=np.int32)})
    return path.read_bytes()


def _hist_file(path: Path, compression=None) -> bytes:
    with uproot.recreate(path, compression=compression) as f:
        f["ctrlhist"] = np.histogram(np.arange(10.0), bins=4)
    return path.read_bytes()


def tree_payload_start(data: bytes, name: str = "tr") -> int:
    """Where the live TTree's object starts (its key's position plus KeyLen), through uproot."""
    import io
    with uproot.open(io.BytesIO(data)) as f:
        key = f.key(name)
        return key.data_cursor.index


def _swap_after(data: bytes, start: int, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert len(old) == len(new)
    out = bytearray(data)
    at = start
    for _ in range(count):
        at = bytes(out).index(old, at)
        out[at:at + len(old)] = new
        at += len(old)
    return bytes(out)


def hostile(made: Path) -> dict[str, bytes]:
    """name -> bytes of every hostile case."""
    base = _tree_file(made / "base.root")
    start = tree_payload_start(base)
    cases: dict[str, bytes] = {}
    # TTree fMaxEntries and fMaxEntryLoop (1e12 as uproot writes both): 16 bytes of script.
    cases["h-maxentries.root"] = _swap_after(
        base, start, struct.pack(">q", 10**12) * 2 + b"", PAYLOAD[:16])
    # TLeafD fMinimum/fMaximum (0.0, 0.0 as uproot writes them): 16 bytes.
    leaf = b"\x02xx\x02xx" + struct.pack(">iii??i", 1, 8, 0, False, False, 0)
    at = base.index(leaf, start) + len(leaf)
    assert base[at:at + 16] == bytes(16)
    cases["h-leafminmax.root"] = base[:at] + PAYLOAD[:16] + base[at + 16:]
    # TTree fTotBytes/fZipBytes and each TBranch's: int64 byte counts.
    tot = struct.pack(">q", uproot.open(made / "base.root")["tr"].member("fTotBytes"))
    out = bytearray(base)
    for k, at in enumerate(_all(base, tot, start)):
        out[at:at + 8] = (PAYLOAD + bytes(64))[8 * k:8 * k + 8] if k < 2 else b"\x00\x00\x7fPAY%d" % k
    cases["h-totbytes.root"] = bytes(out)
    # TTree fEstimate 1000000 -> other 8 bytes (read by nothing but TTree::Draw's buffer).
    cases["h-estimate.root"] = _swap_after(base, start, struct.pack(">q", 1000000), b"\x00sh -c;\x00")
    # TTree fEntries above what its baskets hold ("the last at most fEntries").
    entries = struct.pack(">q", 5)
    cases["h-entries.root"] = _swap_after(base, start, entries, struct.pack(">q", 0x41414141))
    # The first branch's fEntryNumber and fEntries (the 2nd and 3rd int64 5 in the tree).
    five, big = struct.pack(">q", 5), struct.pack(">q", 0x7A7A7A7A)
    cases["h-branch-entries.root"] = _nth(_nth(base, start, five, 2, big), start, five, 2, big)
    # A histogram whose payload fName is not its key's name (uproot's h.name, ROOT's GetName).
    hist = _hist_file(made / "hist.root")
    cases["h-hist-name.root"] = _swap_after(
        hist, tree_payload_start(hist, "ctrlhist"), b"\x08ctrlhist", b"\x08SIGNAL!!")
    # A TTree whose payload fName is not its key's name.
    cases["h-tree-name.root"] = _swap_after(base, start, b"\x02tr", b"\x02zz")
    return cases


def _nth(data: bytes, start: int, old: bytes, nth: int, new: bytes) -> bytes:
    at = _all(data, old, start)[nth - 1]
    return data[:at] + new + data[at + len(new):]


def _all(data: bytes, needle: bytes, start: int) -> list[int]:
    found, at = [], data.find(needle, start)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


def controls(made: Path) -> dict[str, bytes]:
    """Real uproot output: trees extended over several writes, every codec, histograms."""
    out: dict[str, bytes] = {}
    for codec in (None, uproot.ZLIB(4), uproot.LZMA(4), uproot.LZ4(4), uproot.ZSTD(4)):
        tag = "none" if codec is None else type(codec).__name__.lower()
        out[f"ctl-tree-{tag}.root"] = _tree_file(made / f"t-{tag}.root", 12, codec)
        out[f"ctl-hist-{tag}.root"] = _hist_file(made / f"h-{tag}.root", codec)
    return out


def refused(made: Path) -> dict[str, bytes]:
    """Hostile edits of one field each: `r-` ones the documented rules refuse (the claims hold),
    `h-entries-low` one they should (fEntries below the baskets' last fBasketEntry)."""
    base = _tree_file(made / "base-r.root")
    start = tree_payload_start(base)
    branch = uproot.open(made / "base-r.root")["tr"]["xx"]
    seek = struct.pack(">q", int(branch.member("fBasketSeek")[0]))
    at = base.index(seek, start) + 8
    assert base[at:at + 8] == bytes(8)
    cases = {"r-slot-unused.root": base[:at] + PAYLOAD[:8] + base[at + 8:]}
    ends = struct.pack(">qq", 0, 5)
    at = base.index(ends, start) + 8
    cases["r-entry-end.root"] = base[:at] + struct.pack(">q", 6) + base[at + 8:]
    cases["h-entries-low.root"] = _swap_after(base, start, struct.pack(">q", 5),
                                              struct.pack(">q", 3))  # fmt: skip
    cases["r-leaf-title.root"] = _swap_after(base, start, b"\x02xx\x02xx", b"\x02xx\x02\x1b[")
    cases["r-tree-title.root"] = _swap_after(base, start, b"\x06events", b"\x06EVENTS")
    hist = _hist_file(made / "hist-r.root")
    hstart = tree_payload_start(hist, "ctrlhist")
    cases["r-hist-axis.root"] = _swap_after(hist, hstart, b"\x05xaxis", b"\x05\x1b[9Ax")
    return cases


def _updated(path: Path, codec, jobs: int) -> bytes:
    """A tree of a jagged, a string and an int64 branch made by one job, extended by `jobs`
    later jobs through `uproot.update` (3 rows each), as a lab's nightly append does."""
    import awkward as ak

    with uproot.recreate(path, compression=codec) as f:
        f.mktree("ev", {"pt": "var * float64", "tag": "string", "n": np.int64})
    for job in range(jobs):
        with uproot.update(path) as f:
            f["ev"].extend({"pt": ak.Array([[1.0, 2.0], [], [3.5 + job]]),
                            "tag": ["a", "bb", "\u03bc"], "n": np.arange(3) + job})  # fmt: skip
    return path.read_bytes()


def sessions(made: Path) -> dict[str, bytes]:
    """Real uproot output over several jobs, every codec: 3 update jobs (`fr-`), 2 and 5
    (`ctl-`)."""
    out: dict[str, bytes] = {}
    for codec in (None, uproot.ZLIB(1), uproot.LZMA(1), uproot.LZ4(1), uproot.ZSTD(1)):
        tag = "none" if codec is None else type(codec).__name__.lower()
        out[f"fr-update3-{tag}.root"] = _updated(made / f"u3-{tag}.root", codec, 3)
        out[f"ctl-update2-{tag}.root"] = _updated(made / f"u2-{tag}.root", codec, 2)
        out[f"ctl-update5-{tag}.root"] = _updated(made / f"u5-{tag}.root", codec, 5)
    return out
