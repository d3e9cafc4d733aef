"""ROOT files for the independent binary attack i (session 35): ordinary uproot 5.7 output
over several jobs, around the session-34 fixes (a moved TTree deleted with `del`, the
deleted tree's last copy as reference; TTree twins made with mktree over sessions).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from tests.support.attack_dcontent_root import _free_segments, _put
from tests.support.attack_fbinary_root import PAYLOAD, _hist


def _extend(f, name: str, times: int, n: int = 50, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(times):
        counts = rng.integers(0, 4, n)
        f[name].extend({"e": rng.random(n), "k": np.arange(n, dtype=np.int64),
                        "p": ak.unflatten(rng.random(int(counts.sum())), counts)})


def _mktree(f, name: str) -> None:
    f.mktree(name, {"e": np.float64, "k": np.int64, "p": "var * float64"})


def _twins(path: Path, codec) -> bytes:
    """Job 1 makes t (moved: 25 extends); job 2 makes t again (a second cycle, a twin)
    and extends it 25 times; job 3 deletes the newer one and makes it a third time."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "t")
        _extend(f, "t", 25, seed=1)
        f["h"] = _hist()
    with uproot.update(path) as f:
        _mktree(f, "t")
        _extend(f, "t", 25, seed=2)
    with uproot.update(path) as f:
        del f["t"]
        _mktree(f, "t")
        _extend(f, "t", 12, seed=3)
    return path.read_bytes()


def _same_name_again(path: Path, codec) -> bytes:
    """A moved tree deleted in job 2 and written again under its name in job 3, with a
    histogram replaced in every job."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "t")
        _extend(f, "t", 30, seed=4)
        f["h"] = _hist()
    with uproot.update(path) as f:
        del f["t"]
        f["h"] = (np.arange(10.0), np.linspace(0, 1, 11))
    with uproot.update(path) as f:
        _mktree(f, "t")
        _extend(f, "t", 30, seed=5)
        f["h"] = (np.arange(20.0), np.linspace(0, 1, 21))
    return path.read_bytes()


def _two_moved_one_deleted(path: Path, codec) -> bytes:
    """Two trees extended in turn (both move), then one deleted in a later job and the
    other extended in a fresh tree of a subdirectory."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "a")
        _mktree(f, "b")
        for k in range(22):
            _extend(f, "a", 1, seed=k)
            _extend(f, "b", 1, seed=100 + k)
    with uproot.update(path) as f:
        del f["a"]
        _mktree(f, "sub/c")
        _extend(f, "sub/c", 15, seed=7)
    return path.read_bytes()


def _subdir_del(path: Path, codec) -> bytes:
    """A moved tree in a subdirectory deleted in a later job, a histogram there kept
    (`del f["d/t"]` deletes nothing in uproot 5.7: the directory's own `del` does)."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "d/t")
        _extend(f, "d/t", 25, seed=8)
        f["d/h"] = _hist()
    with uproot.update(path) as f:
        del f["d"]["t"]
    return path.read_bytes()


def _hist_replaced(path: Path, codec) -> bytes:
    """A histogram deleted and written again under its name in 4 later jobs."""
    with uproot.recreate(path, compression=codec) as f:
        f["h"] = _hist()
        f["d/h"] = _hist()
    for k in range(4):
        with uproot.update(path) as f:
            del f["h"]
            f["h"] = (np.arange(10.0 + k), np.linspace(0, 1, 11 + k))
    return path.read_bytes()


def _rntuple_again(path: Path, codec) -> bytes:
    """An RNTuple deleted in job 2 and written again, larger, under its name in job 3."""
    with uproot.recreate(path, compression=codec) as f:
        f["n"] = {"x": np.arange(100), "y": np.linspace(0, 1, 100)}
        f["keep"] = _hist()
    with uproot.update(path) as f:
        del f["n"]
    with uproot.update(path) as f:
        f["n"] = {"x": np.arange(300), "y": np.linspace(0, 1, 300)}
    return path.read_bytes()


def _same_job_again(path: Path, codec) -> bytes:
    """In one job: a histogram and a small tree each deleted and made again by name."""
    with uproot.recreate(path, compression=codec) as f:
        f["h"] = _hist()
        del f["h"]
        f["h"] = (np.arange(5.0), np.arange(6.0))
        _mktree(f, "t")
        _extend(f, "t", 3)
        del f["t"]
        _mktree(f, "t")
        _extend(f, "t", 3, seed=3)
    return path.read_bytes()


def _moved_del_other_job(path: Path, codec) -> bytes:
    """Job 1 a moved tree t; job 2 a moved tree u and a histogram; job 3 deletes u."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "t")
        _extend(f, "t", 30)
    with uproot.update(path) as f:
        _mktree(f, "u")
        _extend(f, "u", 30, seed=2)
        f["h"] = _hist()
    with uproot.update(path) as f:
        del f["u"]
    return path.read_bytes()


def _del_both_twins(path: Path, codec) -> bytes:
    """Twins of one name (two jobs) both deleted in a third: two deleted trees of a key."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "t")
        _extend(f, "t", 20, seed=9)
        f["keep"] = _hist()
    with uproot.update(path) as f:
        _mktree(f, "t")
        _extend(f, "t", 20, seed=10)
    with uproot.update(path) as f:
        del f["t;2"]
        del f["t;1"]
    return path.read_bytes()


def _mixed_codecs(path: Path, _codec) -> bytes:
    """Four jobs, each its own codec (ZLIB, LZ4, ZSTD): a moved tree in each of the first
    three, a histogram deleted in the fourth."""
    with uproot.recreate(path, compression=uproot.ZLIB(1)) as f:
        _mktree(f, "t")
        _extend(f, "t", 12)
    with uproot.update(path) as f:
        f.compression = uproot.LZ4(2)
        _mktree(f, "u")
        _extend(f, "u", 12, seed=1)
        f["h"] = _hist()
    with uproot.update(path) as f:
        f.compression = uproot.ZSTD(4)
        _mktree(f, "v")
        _extend(f, "v", 12, seed=2)
    with uproot.update(path) as f:
        del f["h"]
    return path.read_bytes()


def _many_hists(path: Path, codec) -> bytes:
    """150 histograms; job 2 deletes every second, job 3 writes every fourth again, larger."""
    with uproot.recreate(path, compression=codec) as f:
        for i in range(150):
            f[f"h{i}"] = (np.arange(20.0) + i, np.arange(21.0))
    with uproot.update(path) as f:
        for i in range(0, 150, 2):
            del f[f"h{i}"]
    with uproot.update(path) as f:
        for i in range(0, 150, 4):
            f[f"h{i}"] = (np.arange(30.0) + i, np.arange(31.0))
    return path.read_bytes()


def _del_dir(path: Path, codec) -> bytes:
    """A subdirectory holding a moved tree and a histogram deleted whole in job 2."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "d/t")
        _extend(f, "d/t", 15)
        f["d/h"] = _hist()
        f["top"] = _hist()
    with uproot.update(path) as f:
        del f["d"]
    return path.read_bytes()


def _four_twins(path: Path, codec) -> bytes:
    """A tree of one name made and moved in each of 4 jobs (cycles 1-4)."""
    with uproot.recreate(path, compression=codec) as f:
        _mktree(f, "t")
        _extend(f, "t", 12)
    for k in range(3):
        with uproot.update(path) as f:
            _mktree(f, "t")
            _extend(f, "t", 12, seed=k + 5)
    return path.read_bytes()


def _typed_tree_del(path: Path, codec) -> bytes:
    """A tree of bool, int8, uint64, jagged int32 and jagged records (pt, eta) extended 14
    times (moved), deleted in a later job."""
    rng = np.random.default_rng(3)
    mu = ak.types.from_datashape("var * {pt: float32, eta: float32}", highlevel=False)
    with uproot.recreate(path, compression=codec) as f:
        f.mktree("ev", {"ok": np.bool_, "c": np.int8, "u": np.uint64, "hits": "var * int32", "mu": mu})
        for _ in range(14):
            cnt = rng.integers(0, 3, 30)
            jag = [ak.unflatten(rng.random(int(cnt.sum())).astype(np.float32), cnt) for _ in range(2)]
            f["ev"].extend({"ok": rng.random(30) > 0.5, "c": rng.integers(-5, 5, 30).astype(np.int8),
                            "u": rng.integers(0, 2**40, 30).astype(np.uint64),
                            "hits": ak.unflatten(rng.integers(0, 100, int(cnt.sum())).astype(np.int32), cnt),
                            "mu": ak.zip({"pt": jag[0], "eta": jag[1]})})
        f["h"] = _hist()
    with uproot.update(path) as f:
        del f["ev"]
    return path.read_bytes()


CODECS = {"none": None, "zlib": uproot.ZLIB(4), "zstd": uproot.ZSTD(5), "zstd3": uproot.ZSTD(3), "lz4": uproot.LZ4(1),
          "lzma": uproot.LZMA(1)}
CASES = {  # case: (writer, codecs written)
    "ctl-i-root-twins": (_twins, ("none", "zstd")),
    "ctl-i-root-same-name-again": (_same_name_again, ("none", "lz4")),
    "ctl-i-root-two-moved-one-deleted": (_two_moved_one_deleted, ("lzma",)),
    "ctl-i-root-subdir-del": (_subdir_del, ("zstd",)),
    "ctl-i-root-del-both-twins": (_del_both_twins, ("none", "zstd", "lz4")),
    "ctl-i-root-hist-replaced": (_hist_replaced, ("zlib", "zstd")),
    "ctl-i-root-rntuple-again": (_rntuple_again, ("zlib", "zstd")),
    "ctl-i-root-same-job-again": (_same_job_again, ("zlib", "zstd3")),
    "ctl-i-root-moved-del-other-job": (_moved_del_other_job, ("zlib", "zstd")),
    "ctl-i-root-mixed-codecs": (_mixed_codecs, ("zlib",)),
    "ctl-i-root-many-hists": (_many_hists, ("zlib",)),
    "ctl-i-root-del-dir": (_del_dir, ("lzma",)),
    "ctl-i-root-four-twins": (_four_twins, ("zlib",)),
    "ctl-i-root-typed-tree-del": (_typed_tree_del, ("zstd3", "lz4")),
}
CONTROL_NAMES = [f"{c}-{k}.root" for c, (_, codecs) in CASES.items() for k in codecs]


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {f"{c}-{k}.root": fn(made / f"{c}-{k}.root", CODECS[k])
            for c, (fn, codecs) in CASES.items() for k in codecs}


# ---------------------------------------------------------------- hostile: a move that never happened


def _unmoved(path: Path, branches: int, extends: int) -> bytes:
    """A tree of `branches` float64 branches extended `extends` times (uproot 5.7 moves it
    at the 10th: with 9 it never moved, no older copy exists), a histogram; a later job
    deletes the histogram, so uproot rewrites its StreamerInfo and frees the old one."""
    rng = np.random.default_rng(0)
    with uproot.recreate(path) as f:
        f.mktree("t", {f"b{i}": np.float64 for i in range(branches)})
        for _ in range(extends):
            f["t"].extend({f"b{i}": rng.random(10) for i in range(branches)})
        f["h"] = (np.arange(300.0), np.arange(301.0))
        f["keep"] = (np.arange(5.0), np.arange(6.0))
    with uproot.update(path) as f:
        del f["h"]
    return path.read_bytes()


def _budget(path: Path, branches: int, extends: int, size: int) -> bytes:
    """size bytes of payload written over the start of the freed StreamerInfo (the file's
    largest free segment before its end)."""
    d = _unmoved(path, branches, extends)
    start, last = max((s for s in _free_segments(d) if s[1] < len(d)), key=lambda s: s[1] - s[0])
    assert last - start > size
    return _put(d, start, (PAYLOAD * (size // 4 + 1))[:size])


HOSTILE_NAMES: tuple[str, ...] = (
    "root-i-unmoved-tree-budget-30-branches.root", "root-i-unmoved-tree-budget-100-branches.root",
    "root-i-8-baskets-budget.root",
)
BITS_ONLY: set[str] = set()


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {
        # 48 + 48 x 30 = 1488 bytes: the budget of "one older copy" of a tree that moved
        "root-i-unmoved-tree-budget-30-branches.root": _budget(made / "u30.root", 30, 9, 1450),
        "root-i-unmoved-tree-budget-100-branches.root": _budget(made / "u100.root", 100, 9, 4800),
        # not a hit (the bound holds): 8 baskets a branch, 200 bytes, no moved-tree budget
        "root-i-8-baskets-budget.root": _budget(made / "u8.root", 30, 8, 200),
    }
