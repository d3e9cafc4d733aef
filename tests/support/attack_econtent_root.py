"""ROOT files for the independent content attack e: uproot output in ordinary orders and
settings (controls) and one patch: bytes after the zlib stream of a histogram's block
(not a basket: the docs leave only baskets' codec tails unchecked)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from tests.support.attack_econtent_files import MARK


def _hist() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(400, dtype=np.float64) % 7, np.linspace(0, 1, 401)


def _write(path: Path, compression, steps) -> bytes:
    with uproot.recreate(path, compression=compression) as f:
        for step in steps:
            step(f)
    return path.read_bytes()


def _tree(f) -> None:
    f["t"] = {"x": np.arange(1000, dtype=np.int32), "y": np.linspace(0, 1, 1000)}


def _extend(f) -> None:
    f["t"].extend({"x": np.arange(500, dtype=np.int32), "y": np.zeros(500)})


def _jagged(f) -> None:
    f["j"] = {"p": ak.Array([[1.0, 2.0], [], [3.0]] * 50)}


def _h(f) -> None:
    f["h"] = _hist()


def _sub(f) -> None:
    f["calib/run1/h"] = _hist()


def _delete(f) -> None:
    del f["h"]


def _same(f) -> None:
    """uproot 5.7's `f[name] = dict` writes an RNTuple; extended with what it first held."""
    f["n"] = {"x": np.arange(10, dtype=np.int32)}
    f["n"].extend({"x": np.arange(10, dtype=np.int32)})


def _mktree(f) -> None:
    f.mktree("tt", {"x": np.int32, "y": np.float64}, title="a TTree")
    for _ in range(3):
        f["tt"].extend({"x": np.arange(100, dtype=np.int32), "y": np.zeros(100)})


def _mktree_batches(f) -> None:
    """A tree filled batch by batch, as an event loop writes it: ten extends."""
    rng = np.random.default_rng(5)
    f.mktree("tt", {"x": np.int32, "y": np.float64})
    for i in range(10):
        f["tt"].extend({"x": np.arange(100, dtype=np.int32) + i, "y": rng.random(100)})


def _h2(f) -> None:
    rng = np.random.default_rng(2)
    f["h2"] = np.histogram2d(rng.normal(size=500), rng.normal(size=500), bins=(20, 30))


def _mkjagged(f) -> None:
    f.mktree("jt", {"p": "var * float64", "n": np.int64})
    f["jt"].extend({"p": ak.Array([[1.0, 2.0], [], [3.0]]), "n": np.array([2, 0, 1])})


def _mkjagged_more(f) -> None:
    f["jt"].extend({"p": ak.Array([[4.0], [5.0, 6.0]]), "n": np.array([1, 2])})


def root_controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    cases = {
        "ctl-uncompressed.root": (None, [_tree, _h, _extend]),
        "ctl-zlib9.root": (uproot.ZLIB(9), [_h, _tree, _extend, _jagged]),
        "ctl-zlib1-subdirs.root": (uproot.ZLIB(1), [_sub, _tree, _h]),
        "ctl-delete-rewrite.root": (uproot.ZLIB(4), [_h, _mktree, _delete, _h]),
        "ctl-lzma-jagged.root": (uproot.LZMA(5), [_jagged, _h]),
        "ctl-default-rntuple-extend.root": (uproot.ZLIB(1), [_same]),
        "ctl-default-mktree-extend.root": (uproot.ZLIB(1), [_mktree, _h]),
        "ctl-mktree-10-batches.root": (uproot.ZLIB(1), [_mktree_batches]),
        "ctl-mktree-10-batches-uncompressed.root": (None, [_mktree_batches]),
        "ctl-zlib0-th2-jagged.root": (uproot.ZLIB(0), [_h2, _mkjagged, _mkjagged_more]),
    }
    files = {name: _write(made / name, comp, steps) for name, (comp, steps) in cases.items()}
    path = made / "ctl-updated.root"
    _write(path, uproot.ZLIB(1), [_tree])
    with uproot.update(path) as f:  # a second job adds to the first's file
        f["later/h"] = _hist()
    files["ctl-updated.root"] = path.read_bytes()
    return files


def _hist_block(data: bytes, tag: bytes = b"ZL") -> tuple[int, int]:
    """Where the histogram's one compressed block starts and how long its payload is: the
    TKey (fNbytes, version, fObjlen, datime, fKeylen, cycle, fSeekKey ...) that names
    its own position and is followed by the class name TH1D."""
    for start in range(len(data) - 40):
        nbytes, version, objlen, _, keylen, _ = struct.unpack(">ihiihh", data[start : start + 18])
        if version not in (4, 1004) or not 0 < nbytes - keylen < objlen:
            continue
        seek, name_at = (">i", start + 26) if version == 4 else (">q", start + 34)
        own = struct.unpack(seek, data[start + 18 : start + 18 + struct.calcsize(seek)])[0] == start
        if own and data[name_at : name_at + 5] == b"\x04TH1D" and data[start + keylen :].startswith(tag):
            return start + keylen, nbytes - keylen
    raise AssertionError("no compressed TH1D record")


def root_hostile(made: Path) -> dict[str, bytes]:
    """The histogram's zlib block re-encoded at level 9 (shorter) and MARK put after its
    stream's end, inside the block the header declares: uproot and ROOT inflate the
    stream and never look at the rest."""
    data = _write(made / "zl1.root", uproot.ZLIB(1), [_tree, _h])
    at, size = _hist_block(data)
    raw = zlib.decompress(data[at + 9 : at + size])
    stream = zlib.compress(raw, 9)
    room = size - 9 - len(stream)
    assert room >= 8, room
    block = data[at : at + 9] + stream + (MARK * 4)[:room]
    method = data[: at + 2] + b"\x00" + data[at + 3 :]  # ZL's method byte: ROOT's Z_DEFLATED (8)
    xz = _write(made / "xz.root", uproot.LZMA(5), [_h])
    xz_at, _ = _hist_block(xz, b"XZ")
    return {
        "root-xz-method-byte.root": xz[: xz_at + 2] + b"\x00" + xz[xz_at + 3 :],
        "root-hist-zlib-tail.root": data[:at] + block + data[at + size :],
        "root-zl-method-byte.root": method,
    }
