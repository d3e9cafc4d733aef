"""ROOT files for the independent binary attack g (session 34).

Ordinary uproot 5.7 output in combinations the earlier rounds did not write (a tree or
an RNTuple deleted with `del`, baskets past zstd's 512 KiB window and LZ4's and zlib's
16 MiB block, several update jobs adding trees, every codec), and hostile files: uproot
handed a codec whose stream carries the payload where no reader returns it (a zstd
skippable frame, a second xz stream, a zlib dictionary id) or a deleted record whose key
the file's history does not explain.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from pathlib import Path

import awkward as ak
import cramjam
import numpy as np
import uproot

from tests.support.attack_dcontent_root import _put
from tests.support.attack_fbinary_root import PAYLOAD, _codec, _hist, _own_key, _write

# ---------------------------------------------------------------- ordinary output


def _tree(f, name: str = "t", n: int = 2000, seed: int = 1) -> None:
    """A TTree (mktree: uproot 5.7's `f[name] = {...}` writes an RNTuple) of numbers and a
    jagged array, extended twice."""
    rng = np.random.default_rng(seed)
    f.mktree(name, {"x": np.int32, "p": "var * float64"})
    for _ in range(2):
        counts = rng.integers(0, 3, n)
        f[name].extend({"x": np.arange(n, dtype=np.int32),
                        "p": ak.unflatten(rng.random(int(counts.sum())), counts)})


def _del_tree(path: Path, codec, update: bool) -> bytes:
    """A TTree (numbers, jagged) deleted with `del`: its baskets stay behind, in the job
    that made it or a later one."""
    with uproot.recreate(path, compression=codec) as f:
        _tree(f)
        f["keep"] = _hist()
        if not update:
            del f["t"]
    if update:
        with uproot.update(path) as f:
            del f["t"]
    return path.read_bytes()


def _del_rntuple(path: Path, update: bool) -> bytes:
    with uproot.recreate(path) as f:
        f["n"] = {"x": np.arange(100, dtype=np.int32), "y": np.linspace(0, 1, 100)}
        f["keep"] = _hist()
        if not update:
            del f["n"]
    if update:
        with uproot.update(path) as f:
            del f["n"]
    return path.read_bytes()


def _moved_del(path: Path, update: bool) -> bytes:
    """A TTree of 6 branches extended 30 times (it outgrows its basket arrays and moves,
    its older copies left in free space), then deleted with `del` (docs: deleting
    without writing over passes)."""
    rng = np.random.default_rng(2)
    with uproot.recreate(path) as f:
        f.mktree("t", {f"b{i}": np.float64 for i in range(6)})
        for _ in range(30):
            f["t"].extend({f"b{i}": rng.random(20) for i in range(6)})
        f["keep"] = _hist()
        if not update:
            del f["t"]
    if update:
        with uproot.update(path) as f:
            del f["t"]
    return path.read_bytes()


def _big_basket(path: Path, codec, n: int) -> bytes:
    """One basket of n float64 (one extend): past zstd's 512 KiB single-segment window, or
    past the 16 MiB a ROOT block holds (two blocks a record)."""
    with uproot.recreate(path, compression=codec) as f:
        f.mktree("t", {"e": np.float64})
        f["t"].extend({"e": np.round(np.linspace(0, 1000, n), 2)})
    return path.read_bytes()


def _update_trees(path: Path, codec) -> bytes:
    """Three jobs: each adds a tree and a histogram (trees in uproot.update jobs)."""
    with uproot.recreate(path, compression=codec) as f:
        _tree(f, "t0", seed=0)
    for k in (1, 2):
        with uproot.update(path) as f:
            _tree(f, f"t{k}", seed=k)
            f[f"h{k}"] = np.histogram(np.arange(100.0) % (k + 3), bins=10)
    return path.read_bytes()


def _hists(path: Path, codec) -> bytes:
    """2D and 3D histograms, replaced in a later job (same names)."""
    rng = np.random.default_rng(7)
    with uproot.recreate(path, compression=codec) as f:
        f["h2"] = np.histogram2d(rng.random(500), rng.random(500), bins=(10, 12))
        f["h3"] = np.histogramdd(rng.random((500, 3)), bins=(4, 5, 6))
    with uproot.update(path) as f:
        f["h2"] = np.histogram2d(rng.random(900), rng.random(900), bins=(20, 24))
    return path.read_bytes()


def _rntuple_jagged(path: Path, codec) -> bytes:
    with uproot.recreate(path, compression=codec) as f:
        data = {"x": np.arange(50, dtype=np.int64), "p": ak.Array([[1.5, 2.5]] * 25 + [[]] * 25)}
        f["n"] = data
        for _ in range(3):
            f["n"].extend(data)
    return path.read_bytes()


CONTROL_NAMES = [
    "ctl-g-del-tree-same-job.root", "ctl-g-del-tree-update.root", "ctl-g-del-tree-zlib-update.root",
    "ctl-g-del-rntuple-same-job.root", "ctl-g-del-rntuple-update.root",
    "ctl-g-moved-tree-del-same-job.root", "ctl-g-moved-tree-del-update.root",
    "ctl-g-zstd-big-basket.root", "ctl-g-lz4-two-blocks.root", "ctl-g-zlib-two-blocks.root",
    "ctl-g-update-trees-lz4.root", "ctl-g-update-trees-zstd.root", "ctl-g-update-trees-lzma.root",
    "ctl-g-hist2d3d-zlib.root", "ctl-g-rntuple-jagged-lz4.root", "ctl-g-rntuple-jagged-lzma.root",
]


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    big = 2_200_000  # 17.6 MB: two 16 MiB blocks
    return {
        "ctl-g-del-tree-same-job.root": _del_tree(made / "dt1.root", None, update=False),
        "ctl-g-del-tree-update.root": _del_tree(made / "dt2.root", None, update=True),
        "ctl-g-del-tree-zlib-update.root": _del_tree(made / "dt3.root", uproot.ZLIB(1), True),
        "ctl-g-del-rntuple-same-job.root": _del_rntuple(made / "dn1.root", update=False),
        "ctl-g-del-rntuple-update.root": _del_rntuple(made / "dn2.root", update=True),
        "ctl-g-moved-tree-del-same-job.root": _moved_del(made / "md1.root", update=False),
        "ctl-g-moved-tree-del-update.root": _moved_del(made / "md2.root", update=True),
        "ctl-g-zstd-big-basket.root": _big_basket(made / "zb.root", uproot.ZSTD(3), 200_000),
        "ctl-g-lz4-two-blocks.root": _big_basket(made / "lb.root", uproot.LZ4(1), big),
        "ctl-g-zlib-two-blocks.root": _big_basket(made / "zlb.root", uproot.ZLIB(1), big),
        "ctl-g-update-trees-lz4.root": _update_trees(made / "u1.root", uproot.LZ4(4)),
        "ctl-g-update-trees-zstd.root": _update_trees(made / "u2.root", uproot.ZSTD(5)),
        "ctl-g-update-trees-lzma.root": _update_trees(made / "u3.root", uproot.LZMA(1)),
        "ctl-g-hist2d3d-zlib.root": _hists(made / "h.root", uproot.ZLIB(4)),
        "ctl-g-rntuple-jagged-lz4.root": _rntuple_jagged(made / "r1.root", uproot.LZ4(1)),
        "ctl-g-rntuple-jagged-lzma.root": _rntuple_jagged(made / "r2.root", uproot.LZMA(3)),
    }


# ---------------------------------------------------------------- hostile


def _zstd_skippable(data: bytes) -> bytes:
    """uproot's zstd frame followed by a skippable frame (magic 0x184D2A50) holding the
    payload: libzstd's ZSTD_decompress skips it and returns the same bytes."""
    frame = bytes(cramjam.zstd.compress(bytes(data), level=5))
    return frame + struct.pack("<II", 0x184D2A50, 8) + PAYLOAD * 2


def _xz_two_streams(data: bytes) -> bytes:
    """uproot's xz stream followed by a second, empty one whose stream flags carry a check
    id (3 bits) and whose padding is the payload's length in zeros: Python's lzma reads
    both, the second returns nothing. The 4 bytes of the second stream's CRC32 of its flags
    are derived; so the payload lives in a second stream of one block of its own."""
    first = lzma.compress(bytes(data), format=lzma.FORMAT_XZ, preset=5)
    return first + lzma.compress(b"", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)


def _xz_second_stream_data(data: bytes) -> bytes:
    """The object split across two xz streams (the last 4 bytes in the second): Python's
    lzma decodes both and returns the object whole; ROOT's reader stops after the first."""
    cut = len(data) - 4
    return (lzma.compress(bytes(data[:cut]), format=lzma.FORMAT_XZ, preset=5)
            + lzma.compress(bytes(data[cut:]), format=lzma.FORMAT_XZ, preset=5))


def _zlib_dictionary(data: bytes) -> bytes:
    """A zlib stream with a preset dictionary: FDICT set and DICTID, the dictionary's
    Adler-32, 4 bytes a writer chooses by its dictionary (here the payload itself)."""
    c = zlib.compressobj(1, zlib.DEFLATED, 15, zdict=PAYLOAD)
    return c.compress(bytes(data)) + c.flush()


def _zlib_then_empty(data: bytes) -> bytes:
    """The object's zlib stream, then an empty zlib stream (8 bytes, of level bits alone):
    ROOT's R__unzip reads the first and stops."""
    return zlib.compress(bytes(data), 1) + zlib.compress(b"", 9)


def _deleted_datime(made: Path, datime: int) -> bytes:
    """A histogram deleted with `del` in a later job stays whole in free space; its key's
    datime set to datime (ROOT's packed date, (year-1995)<<26 | month<<22 | ...)."""
    path = made / f"dd{datime}.root"
    with uproot.recreate(path) as f:
        f["a"] = _hist()
        f["keep"] = _hist()
    with uproot.update(path) as f:
        del f["a"]
    d = path.read_bytes()
    key, _ = _own_key(d, b"\x04TH1D\x01a")
    return _put(d, key + 10, struct.pack(">I", datime))


def _datime(year: int) -> int:
    return (year - 1995) << 26 | 1 << 22 | 1 << 17


HOSTILE_NAMES = (
    "root-g-zs-skippable-frame.root", "root-g-xz-two-streams.root",
    "root-g-xz-split-streams.root", "root-g-zl-preset-dictionary.root",
    "root-g-zl-then-empty-stream.root", "root-g-deleted-datime-1996.root",
    "root-g-deleted-datime-2050.root",
)
BITS_ONLY = {"root-g-zl-preset-dictionary.root", "root-g-xz-two-streams.root", "root-g-xz-split-streams.root",
             "root-g-zl-then-empty-stream.root", "root-g-deleted-datime-1996.root",
             "root-g-deleted-datime-2050.root"}


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {
        "root-g-zs-skippable-frame.root": _write(
            made / "zsk.root", _codec(uproot.ZSTD(5), _zstd_skippable)),
        "root-g-xz-two-streams.root": _write(
            made / "xz2.root", _codec(uproot.LZMA(5), _xz_two_streams)),
        "root-g-xz-split-streams.root": _write(
            made / "xzs.root", _codec(uproot.LZMA(5), _xz_second_stream_data)),
        "root-g-zl-preset-dictionary.root": _write(
            made / "zld.root", _codec(uproot.ZLIB(1), _zlib_dictionary)),
        "root-g-zl-then-empty-stream.root": _write(
            made / "zle.root", _codec(uproot.ZLIB(1), _zlib_then_empty)),
        "root-g-deleted-datime-1996.root": _deleted_datime(made, _datime(1996)),
        "root-g-deleted-datime-2050.root": _deleted_datime(made, _datime(2050)),
    }
