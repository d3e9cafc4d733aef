"""ROOT files for the independent binary attack f (session 33).

Written by uproot 5.7 itself; a hostile file either hands uproot a codec whose streams
carry the payload where no reader returns it (an instance's `compress` replaced: uproot
still writes every header, key and checksum) or patches bytes after writing. Every file
stays readable by uproot but where the case says a reader fails on the patched block.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import xxhash

from tests.support.attack_dcontent_root import (
    _base,
    _directory,
    _free_segments,
    _header,
    _key_at,
    _lengths,
    _put,
)

PAYLOAD = b"PWND"
PAY_INT = struct.unpack("<I", PAYLOAD)[0]
BASKET_X = 20000  # bytes of the int32 branch's basket: 5000 entries


def _hist() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(400, dtype=np.float64) % 7, np.linspace(0, 1, 401)


def _hist_and_tree(f) -> None:
    rng = np.random.default_rng(1)
    f["h"] = _hist()
    f["t"] = {"x": np.arange(5000, dtype=np.int32), "y": rng.random(5000)}
    f["t"].extend({"x": np.arange(5000, dtype=np.int32), "y": rng.random(5000)})


def _codec(codec: uproot.compression.Compression, fn: Callable[[bytes], bytes]):
    codec.compress = fn  # the instance's: uproot's type checks still see its class
    return codec


def _write(path: Path, codec, steps=(_hist_and_tree,)) -> bytes:
    with uproot.recreate(path, compression=codec) as f:
        for step in steps:
            step(f)
    return path.read_bytes()


def _tree_record(d: bytes) -> tuple[int, int, int]:
    """(key start, fNbytes, fKeylen) of the live TTree `t` (uproot writes it uncompressed)."""
    ats, at = [], d.find(b"\x05TTree\x01t")
    while at >= 0:
        ats += [at - 26, at - 34]  # the class name after fSeekKey, fSeekPdir: 4 or 8 bytes
        at = d.find(b"\x05TTree\x01t", at + 1)
    key = [p for p in ats if _key_at(d, p)][-1]
    nbytes, keylen = _lengths(d, key)
    return key, nbytes, keylen


def _moved_tree(made: Path) -> bytes:
    """8 branches extended 16 times by 2000 entries: the tree outgrows its basket arrays and moves; the
    older copy stays in free space."""
    path = made / "moved.root"
    rng = np.random.default_rng(3)
    with uproot.recreate(path, compression=uproot.ZLIB(1)) as f:
        f.mktree("t", {f"b{i}": np.float64 for i in range(8)})
        for _ in range(16):
            f["t"].extend({f"b{i}": rng.random(2000) for i in range(8)})
    return path.read_bytes()


def _loose_bound(d: bytes) -> int:
    """The docs' bound on loose bytes in free space: 24, one more per 128 bytes of live
    uncompressed TTree payload."""
    _, nbytes, keylen = _tree_record(d)
    return 24 + (nbytes - keylen) // 128


def _moved_tree_loose(made: Path, extra: int) -> bytes:
    """PAYLOAD over `bound + extra` bytes in the middle of the largest free stretch that
    holds the older tree's remains (past its first 96 bytes)."""
    d = _moved_tree(made)
    h = _header(d)
    segs = [s for s in _free_segments(d) if s[1] < h["end"] and any(d[s[0] : s[1] + 1])]
    first, last = max(segs, key=lambda s: s[1] - s[0])
    n = _loose_bound(d) + extra
    assert last - first > n + 400, (first, last, n)
    return _put(d, first + 200, (PAYLOAD * n)[:n])


def _forged_record(made: Path) -> bytes:
    """A TH1D key naming its own position (version 4, cycle 1, parent the top directory)
    forged over a zero free gap of a file where nothing was deleted, PAYLOAD its payload,
    dated a year before the file was made (its top key's datime less a year: no host's
    clock; the fixed 2026-12-05 00:01:40 it had lay within root_trees.CLOCKS of a file
    made that day, session 38, and one dated so is published as the docs say)."""
    d = _base(made)
    h = _header(d)
    first, last = next(s for s in _free_segments(d) if s[1] < h["end"] and not any(d[s[0] : s[1] + 1]))
    nbytes = last - first + 1
    tail = b"\x04TH1D\x01h\x00"
    keylen = 26 + len(tail)
    datime = struct.unpack_from(">I", d, 100 + 10)[0] - (1 << 26)  # the year field: 6 bits from 26
    key = struct.pack(">ihiIhhii", nbytes, 4, nbytes - keylen, datime, keylen, 1, first, 100)
    room = nbytes - keylen
    return _put(d, first, key + tail + (PAYLOAD * room)[:room])


def _jagged_uncompressed(made: Path) -> bytes:
    """A jagged branch in an uncompressed file (or any basket uproot stores uncompressed
    because it does not shrink): its basket's entries, then the offsets array."""
    path = made / "jagged.root"
    rng = np.random.default_rng(6)
    counts = rng.integers(0, 5, 300)
    with uproot.recreate(path, compression=None) as f:
        f.mktree("t", {"p": "var * float64"})
        f["t"].extend({"p": ak.unflatten(rng.random(int(counts.sum())), counts)})
    return path.read_bytes()


def _offsets(d: bytes) -> tuple[int, int]:
    """(where the offsets array of branch p's basket starts: its count, fNevBuf)."""
    at = d.find(b"\x07TBasket\x01p\x01t")
    key = next(k for k in (at - 26, at - 34) if _key_at(d, k))
    _, keylen = _lengths(d, key)
    nevbuf, last = struct.unpack(">ii", d[key + keylen - 9 : key + keylen - 1])
    return key + last, nevbuf


def _offsets_patch(made: Path, which: str) -> bytes:
    """PAYLOAD over the offsets array's count (fNevBuf + 1), its first or its last entry."""
    d = _jagged_uncompressed(made)
    at, nevbuf = _offsets(d)
    assert struct.unpack(">i", d[at : at + 4])[0] == nevbuf + 1
    where = {"count": at, "first": at + 4, "last": at + 4 * (nevbuf + 1)}[which]
    return _put(d, where, PAYLOAD)


def _rntuple_uncompressed(made: Path) -> tuple[bytes, int]:
    """An RNTuple uproot writes uncompressed, and where its anchor's fields start (after
    the anchor record's key, byte count and version)."""
    path = made / "rntuple.root"
    with uproot.recreate(path, compression=None) as f:
        f["n"] = {"x": np.arange(100, dtype=np.int32), "y": np.linspace(0, 1, 100)}
    d = path.read_bytes()
    at = d.find(b"\rROOT::RNTuple\x01n")
    while not _key_at(d, at - 26):  # the keys list's copy of its key comes first
        at = d.find(b"\rROOT::RNTuple\x01n", at + 1)
    _, keylen = _lengths(d, at - 26)
    return d, at - 26 + keylen + 6


def _anchor(made: Path, which: str) -> bytes:
    """PAYLOAD in the RNTuple anchor: fMaxKeySize (uproot writes 0; the anchor's xxh3
    checksum recomputed), the anchor's checksum, or the footer envelope's checksum."""
    d, a = _rntuple_uncompressed(made)
    if which == "anchor-max-key-size":
        d = _put(d, a + 56, PAYLOAD * 2)
        return _put(d, a + 64, struct.pack(">Q", xxhash.xxh3_64_intdigest(d[a : a + 64])))
    if which == "anchor-checksum":
        return _put(d, a + 64, PAYLOAD * 2)
    seek, nbytes = struct.unpack(">QQ", d[a + 32 : a + 48])
    return _put(d, seek + nbytes - 8, PAYLOAD * 2)


def _events(made: Path) -> bytes:
    """An uncompressed tree `events` of one branch `energies`, three baskets."""
    path = made / "events.root"
    with uproot.recreate(path, compression=None) as f:
        f.mktree("events", {"energies": np.float64})
        for _ in range(3):
            f["events"].extend({"energies": np.arange(100.0)})
    return path.read_bytes()


def _own_key(d: bytes, tail: bytes) -> tuple[int, int]:
    """(key start, where its class name starts) of the first record whose own key (one
    naming its position) has a class, name and title starting with tail."""
    at = d.find(tail)
    while not any(_key_at(d, k) for k in (at - 26, at - 34)):
        at = d.find(tail, at + 1)
    return next(k for k in (at - 26, at - 34) if _key_at(d, k)), at


def _basket_key(made: Path, field: str) -> bytes:
    """PAYLOAD in the first basket's key where uproot writes the branch's name, the tree's
    name as title, cycle 1 and the top directory as parent (no keys list holds the key)."""
    d = _events(made)
    key, cls = _own_key(d, b"\x07TBasket\x08energies\x06events")
    big = cls == key + 34
    where = {"name": (cls + 9, PAYLOAD * 2), "title": (cls + 18, PAYLOAD + PAYLOAD[:2]),
             "cycle": (key + 16, PAYLOAD[:2]), "parent": (key + (30 if big else 22), PAYLOAD)}
    return _put(d, *where[field])


def _blob_key(made: Path, field: str) -> bytes:
    """PAYLOAD in an RNTuple page's RBlob key: its cycle (uproot writes 0) or its parent's
    position (0)."""
    d, _ = _rntuple_uncompressed(made)
    key, cls = _own_key(d, b"\x05RBlob")
    big = cls == key + 34
    at = {"cycle": (key + 16, PAYLOAD[:2]), "parent": (key + (30 if big else 22), PAYLOAD)}
    return _put(d, *at[field])


def opens(data: bytes) -> bool:
    """uproot opens the file and lists every key (the patched records may not decode)."""
    with uproot.open(io.BytesIO(data)) as f:
        return len(f.keys(recursive=True)) > 0


def contents(data: bytes) -> dict[str, object]:
    """What uproot returns for every histogram (its values), tree and RNTuple (arrays)."""
    out: dict[str, object] = {}
    with uproot.open(io.BytesIO(data)) as f:
        for key, cls in f.classnames().items():
            if cls in ("TTree", "ROOT::RNTuple"):
                out[key] = f[key].arrays().to_list()
            elif cls.startswith("TH"):
                out[key] = f[key].values().tolist()
    return out


def _uuid_v3(uuid: bytes) -> bytes:
    """RFC 4122 version 3 with the node's top bit set: ROOT's random node."""
    b = bytearray(uuid)
    b[6] = (b[6] & 0x0F) | 0x30
    b[8] = (b[8] & 0x3F) | 0x80
    b[10] |= 0x80
    return bytes(b)


def _relaxations(made: Path) -> dict[str, bytes]:
    """Payloads where ROOT-written files are let vary: fCompress past 599, the top
    directory's UUID as version 3 (uproot's is version 1, made after the file's), a keys
    list's copy of a subdirectory's key naming a class of its own."""
    d = _base(made)
    uuid = _directory(d) + 32  # version(2) datimeC datimeM nbyteskeys nbytesname 3 seeks, TUUID version
    path = made / "sub.root"
    with uproot.recreate(path) as f:
        f["dir/h"] = np.histogram(np.arange(10.0), bins=5)
    sub = path.read_bytes()
    copy = sub.find(b"\x0aTDirectory")  # the top keys list's copy comes first
    cut = sub.find(bytes(16), copy)  # the keys list's zeros after its keys give the 4 bytes
    renamed = sub[:copy] + b"\x0eTDirectoryPWND" + sub[copy + 11 : cut] + sub[cut + 4 :]
    return {
        "root-fcompress-600.root": _put(d, 33, struct.pack(">i", 600)),
        "root-dir-uuid-v3-payload.root": _put(d, uuid, _uuid_v3(PAYLOAD * 4)),
        "root-keys-list-class-payload.root": renamed,
    }


HOSTILE_NAMES = (
    "root-moved-tree-loose-bound-plus-8.root", "root-moved-tree-loose-twice-bound.root",
    "root-forged-deleted-record.root", "root-basket-offsets-count.root",
    "root-basket-offsets-last.root", "root-basket-offsets-first.root",
    "root-fcompress-600.root", "root-dir-uuid-v3-payload.root", "root-keys-list-class-payload.root",
    "root-rntuple-anchor-max-key-size.root", "root-rntuple-anchor-checksum.root",
    "root-rntuple-footer-checksum.root", "root-basket-key-name.root", "root-basket-key-title.root",
    "root-basket-key-cycle.root", "root-basket-key-parent.root", "root-rblob-key-cycle.root",
    "root-rblob-key-parent.root",
)


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {
        "root-forged-deleted-record.root": _forged_record(made),
        **{f"root-basket-offsets-{which}.root": _offsets_patch(made, which)
           for which in ("count", "last", "first")},
        **_relaxations(made),
        **{f"root-rntuple-{which}.root": _anchor(made, which)
           for which in ("anchor-max-key-size", "anchor-checksum", "footer-checksum")},
        **{f"root-basket-key-{field}.root": _basket_key(made, field)
           for field in ("name", "title", "cycle", "parent")},
        **{f"root-rblob-key-{field}.root": _blob_key(made, field) for field in ("cycle", "parent")},
        "root-moved-tree-loose-bound-plus-8.root": _moved_tree_loose(made, 8),
        "root-moved-tree-loose-twice-bound.root": _moved_tree_loose(made, 200),
    }


# ---------------------------------------------------------------- controls


def _cycles(f) -> None:
    """The same histogram saved three times (ROOT's cycles; uproot replaces)."""
    for k in range(3):
        f["h"] = (np.arange(50, dtype=np.float64) * k, np.linspace(0, 1, 51))


def _many_extends(f) -> None:
    rng = np.random.default_rng(4)
    f.mktree("t", {"e": np.float32, "n": np.int64, "p": "var * float64"})
    for _ in range(25):
        counts = rng.integers(0, 4, 200)
        jag = np.split(rng.random(int(counts.sum())), np.cumsum(counts)[:-1])
        f["t"].extend({"e": rng.random(200).astype(np.float32), "n": counts,
                       "p": ak.Array([list(x) for x in jag])})


def _dirs(f) -> None:
    for run in range(3):
        f[f"run{run}/calib/h"] = _hist()
        f[f"run{run}/t"] = {"x": np.arange(300, dtype=np.int16)}


def _rntuple(f) -> None:
    f["n"] = {"x": np.arange(100, dtype=np.int32), "y": np.linspace(0, 1, 100)}
    for _ in range(4):
        f["n"].extend({"x": np.arange(100, dtype=np.int32), "y": np.linspace(0, 1, 100)})


def _update(path: Path) -> None:
    rng = np.random.default_rng(5)
    with uproot.update(path) as f:
        f["later/h2"] = np.histogram(rng.normal(size=300), bins=20)
    with uproot.update(path) as f:
        del f["h"]
        f["h3"] = np.histogram(rng.normal(size=300), bins=30)


CONTROL_NAMES = [
    "ctl-zstd-cycles-extends.root", "ctl-lz4-dirs.root", "ctl-lzma9-extends.root",
    "ctl-zlib-rntuple-extends.root", "ctl-zstd-rntuple-extends.root", "ctl-xz-hist-tree.root",
    "ctl-zstd-hist-tree.root",
    "ctl-update-sessions.root", "ctl-moved-tree.root", "ctl-jagged-uncompressed.root",
    "ctl-rntuple-uncompressed.root", "ctl-events-uncompressed.root",
    "ctl-del-subdir-same-job.root", "ctl-del-subdir-update.root",
]


def _del_subdir(path: Path, update: bool) -> bytes:
    """A subdirectory deleted with `del`: in the job that made it, or in a later one."""
    with uproot.recreate(path) as f:
        f["calib/h"] = _hist()
        f["keep"] = _hist()
        if not update:
            del f["calib"]
    if update:
        with uproot.update(path) as f:
            del f["calib"]
    return path.read_bytes()


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    cases = {
        "ctl-zstd-cycles-extends.root": (uproot.ZSTD(5), (_cycles, _many_extends)),
        "ctl-lz4-dirs.root": (uproot.LZ4(4), (_dirs, _cycles)),
        "ctl-lzma9-extends.root": (uproot.LZMA(9), (_many_extends,)),
        "ctl-zlib-rntuple-extends.root": (uproot.ZLIB(6), (_rntuple,)),
        "ctl-zstd-rntuple-extends.root": (uproot.ZSTD(3), (_rntuple,)),
        "ctl-xz-hist-tree.root": (uproot.LZMA(5), (_hist_and_tree,)),
        "ctl-zstd-hist-tree.root": (uproot.ZSTD(5), (_hist_and_tree,)),
    }
    files = {name: _write(made / name, codec, steps) for name, (codec, steps) in cases.items()}
    path = made / "ctl-update-sessions.root"
    _write(path, uproot.ZLIB(1), (_hist_and_tree,))
    _update(path)
    files["ctl-update-sessions.root"] = path.read_bytes()
    files["ctl-moved-tree.root"] = _moved_tree(made)
    files["ctl-jagged-uncompressed.root"] = _jagged_uncompressed(made)
    files["ctl-rntuple-uncompressed.root"] = _rntuple_uncompressed(made)[0]
    files["ctl-events-uncompressed.root"] = _events(made)
    files["ctl-del-subdir-same-job.root"] = _del_subdir(made / "deldir1.root", update=False)
    files["ctl-del-subdir-update.root"] = _del_subdir(made / "deldir2.root", update=True)
    return files
