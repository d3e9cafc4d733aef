"""Ordinary uproot 5.7 output for the independent ROOT attack j (session 35): trees and
RNTuples deleted with `del` and written again under their names over several jobs, with
other branch sets, in subdirectories, over many generations, extended until they move,
with histograms beside them, under every codec.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

Schema = dict[str, object]
XY: Schema = {"x": np.float64, "y": np.int32}


def _data(schema: Schema, n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    for name, kind in schema.items():
        if kind == "var * float64":
            counts = rng.integers(0, 4, n)
            out[name] = ak.unflatten(rng.random(int(counts.sum())), counts)
        else:
            out[name] = (rng.random(n) * 1000).astype(kind)
    return out


def _tree(f, name: str, schema: Schema, extends: int, n: int = 100, seed: int = 0) -> None:
    f.mktree(name, schema)
    for k in range(extends):
        f[name].extend(_data(schema, n, seed + k))


def _jobs(path: Path, codec, steps: list[Callable]) -> bytes:
    with uproot.recreate(path, compression=codec) as f:
        steps[0](f)
    for step in steps[1:]:
        with uproot.update(path) as f:
            step(f)
    return path.read_bytes()


def _hist(k: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(20.0 + k), np.linspace(0, 1, 21 + k)


def _delete(*names: str) -> Callable:
    def step(f) -> None:
        for name in names:
            del f[name]
    return step


def again(path: Path, codec) -> bytes:
    """The plain case: t(x, y) written, deleted in job 2, made again in job 3."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", XY, 2, 50, seed=9)])


def other_branches(path: Path, codec) -> bytes:
    """t(x, y) deleted; t made again as t(x, z): a new schema under the old name."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", {"x": np.float64, "z": np.int64}, 3)])


def fewer_branches(path: Path, codec) -> bytes:
    """t(x, y, w) deleted; t made again with x alone."""
    schema = {**XY, "w": np.float32}
    return _jobs(path, codec, [lambda f: _tree(f, "t", schema, 3), _delete("t"),
                               lambda f: _tree(f, "t", {"x": np.float64}, 3)])


def wider(path: Path, codec) -> bytes:
    """t(x, y) deleted; t made again with 30 branches (its record outgrows the old one's)."""
    wide = {f"b{i}": np.float64 for i in range(30)}
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", wide, 2)])


def generations(path: Path, codec) -> bytes:
    """Five jobs: t made, then deleted and made again in each of four later jobs."""
    step = [lambda f: _tree(f, "t", XY, 3)]
    for g in range(4):
        step.append(lambda f, g=g: (_delete("t")(f), _tree(f, "t", XY, 2 + g, seed=10 * g)))
    return _jobs(path, codec, step)


def same_job_twice(path: Path, codec) -> bytes:
    """In one later job, t deleted and made again twice."""
    def twice(f) -> None:
        for g in range(2):
            del f["t"]
            _tree(f, "t", XY, 2, seed=g)
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), twice])


def in_subdir(path: Path, codec) -> bytes:
    """d/t deleted (its directory's `del`) and made again in a later job, h beside it."""
    def first(f) -> None:
        _tree(f, "d/t", XY, 3)
        f["d/h"] = _hist()
    return _jobs(path, codec, [first, lambda f: del_in(f["d"], "t"),
                               lambda f: _tree(f, "d/t", XY, 3, seed=4)])


def del_in(directory, name: str) -> None:
    del directory[name]


def again_then_moved(path: Path, codec) -> bytes:
    """t deleted and made again, extended in a fourth job until it moves (15 baskets)."""
    def extend(f) -> None:
        for k in range(13):
            f["t"].extend(_data(XY, 40, 100 + k))
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", XY, 2), extend])


def moved_then_again(path: Path, codec) -> bytes:
    """t extended 14 times (moved), deleted and made again (2 baskets) in job 2."""
    def again_(f) -> None:
        del f["t"]
        _tree(f, "t", XY, 2, seed=5)
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 14, 30), again_])


def two_swapped(path: Path, codec) -> bytes:
    """t and u deleted in job 2, made again in job 3 in the other order, histograms each job."""
    def first(f) -> None:
        _tree(f, "t", XY, 3)
        _tree(f, "u", XY, 3, seed=3)
        f["h"] = _hist()

    def third(f) -> None:
        _tree(f, "u", XY, 2, seed=7)
        _tree(f, "t", XY, 2, seed=8)
        f["h2"] = _hist(3)
    return _jobs(path, codec, [first, _delete("t", "u"), third])


def jagged_again(path: Path, codec) -> bytes:
    """A jagged tree deleted and made again with the same branches."""
    schema = {"n": np.int32, "p": "var * float64"}
    return _jobs(path, codec, [lambda f: _tree(f, "t", schema, 3), _delete("t"),
                               lambda f: _tree(f, "t", schema, 3, seed=5)])


def retyped(path: Path, codec) -> bytes:
    """t(x: float64, y: int32) deleted; t made again as t(x: int32, y: float64)."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", {"x": np.int32, "y": np.float64}, 3)])


def codec_changed(path: Path, _codec) -> bytes:
    """t written under ZLIB, deleted, made again in a job whose file compression is LZ4."""
    def third(f) -> None:
        f.compression = uproot.LZ4(4)
        _tree(f, "t", XY, 3, seed=2)
    return _jobs(path, uproot.ZLIB(4), [lambda f: _tree(f, "t", XY, 3), _delete("t"), third])


def bigger_baskets(path: Path, codec) -> bytes:
    """t of 100-entry baskets deleted; made again with 20,000-entry baskets."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", XY, 2, 20000)])


def assigned_again(path: Path, codec) -> bytes:
    """t written by assignment (f["t"] = dict), deleted and assigned again."""
    return _jobs(path, codec, [lambda f: f.__setitem__("t", _data(XY, 500, 1)), _delete("t"),
                               lambda f: f.__setitem__("t", _data(XY, 700, 2))])


def twin_again(path: Path, codec) -> bytes:
    """t;1 from job 1 kept, t;2 from job 2 deleted and made again in job 3."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), lambda f: _tree(f, "t", XY, 3, seed=4),
                               lambda f: (_delete("t;2")(f), _tree(f, "t", XY, 2, seed=6))])


def moved_generations(path: Path, codec) -> bytes:
    """Three generations of t, each extended 12 times (each moves), one a job."""
    steps = [lambda f: _tree(f, "t", XY, 12, 20)]
    for g in range(2):
        steps.append(lambda f, g=g: (_delete("t")(f), _tree(f, "t", XY, 12, 20, seed=50 * g)))
    return _jobs(path, codec, steps)


def jagged_to_flat(path: Path, codec) -> bytes:
    """t(n, p: jagged) deleted; t(n, p: float64) made again (same branch names)."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", {"n": np.int32, "p": "var * float64"}, 3),
                               _delete("t"),
                               lambda f: _tree(f, "t", {"n": np.int32, "p": np.float64}, 3)])


def superset(path: Path, codec) -> bytes:
    """t(x, y) deleted; t(x, y, z) made again: one branch more, none less."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", {**XY, "z": np.float32}, 3)])


def reordered(path: Path, codec) -> bytes:
    """t(x, y) deleted; t(y, x) made again: the same branches in the other order."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", {"y": np.int32, "x": np.float64}, 3)])


def other_then_again(path: Path, codec) -> bytes:
    """t deleted in job 2; job 3 makes u (over t's freed record); job 4 makes t again."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "u", XY, 2, seed=3),
                               lambda f: _tree(f, "t", XY, 2, seed=4)])


def rntuple_in_subdir(path: Path, codec) -> bytes:
    """An RNTuple d/n deleted (its directory's `del`) and written again."""
    return _jobs(path, codec, [lambda f: f.__setitem__("d/n", _rntuple(100)),
                               lambda f: del_in(f["d"], "n"),
                               lambda f: f.__setitem__("d/n", _rntuple(120))])


def tree_and_rntuple_again(path: Path, codec) -> bytes:
    """A tree t and an RNTuple n deleted together, written again together."""
    def make(n: int, seed: int) -> Callable:
        def step(f) -> None:
            _tree(f, "t", XY, 2, n, seed=seed)
            f["n"] = _rntuple(n)
        return step
    return _jobs(path, codec, [make(100, 1), _delete("t", "n"), make(80, 2)])


def empty_again(path: Path, codec) -> bytes:
    """t deleted; t made again in job 3 and left empty (filled in no job)."""
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), _delete("t"),
                               lambda f: _tree(f, "t", XY, 0)])


def nested_again(path: Path, codec) -> bytes:
    """a/b/t deleted (b's `del`) and made again in a later job."""
    return _jobs(path, codec, [lambda f: _tree(f, "a/b/t", XY, 3),
                               lambda f: del_in(f["a/b"], "t"),
                               lambda f: _tree(f, "a/b/t", XY, 2, seed=3)])


def rntuple_twice_one_job(path: Path, codec) -> bytes:
    """In one later job, RNTuple n deleted and written again twice."""
    def twice(f) -> None:
        for g in range(2):
            del f["n"]
            f["n"] = _rntuple(150 + 50 * g)
    return _jobs(path, codec, [lambda f: f.__setitem__("n", _rntuple(100)), twice])


def newer_twin_deleted(path: Path, codec) -> bytes:
    """t;1 (job 1) kept; t;2 (job 2) deleted in job 3, which writes a histogram and a tree
    u (in the space t;2's record left): t;2's baskets stay, dated after the live t;1."""
    def third(f) -> None:
        del f["t;2"]
        f["h"] = _hist()
        _tree(f, "u", XY, 2, seed=8)
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 3), lambda f: _tree(f, "t", XY, 3, seed=4),
                               third])


def hists_refilled(path: Path, codec) -> bytes:
    """12 histograms; job 2 deletes every second of the first 12 positions (6 free
    segments); job 3 writes them again, each filling its segment exactly: the free list
    shrinks from 7 entries to 1 or 2 and its record shrinks in place."""
    def first(f) -> None:
        for i in range(12):
            f[f"h{i:02d}"] = (np.arange(10.0) + i, np.arange(11.0))

    def again_(f) -> None:
        for i in range(0, 12, 2):
            f[f"h{i:02d}"] = (np.arange(10.0) + i, np.arange(11.0))
    return _jobs(path, codec, [first, _delete(*(f"h{i:02d}" for i in range(0, 12, 2))), again_])


def again_moves_at_once(path: Path, codec) -> bytes:
    """t deleted and made again in one job, extended 12 times there (it moves)."""
    def again_(f) -> None:
        del f["t"]
        _tree(f, "t", XY, 12, 30, seed=21)
    return _jobs(path, codec, [lambda f: _tree(f, "t", XY, 4), again_])


def rntuple_again_extended_at_once(path: Path, codec) -> bytes:
    """RNTuple n deleted, written again and extended 3 times in the same job."""
    def again_(f) -> None:
        del f["n"]
        f["n"] = _rntuple(80)
        for _ in range(3):
            f["n"].extend(_rntuple(40))
    return _jobs(path, codec, [lambda f: f.__setitem__("n", _rntuple(100)), again_])


def dir_again(path: Path, codec) -> bytes:
    """Directory d (tree t, histogram h) deleted whole in job 2; d/t made again in job 3."""
    def first(f) -> None:
        _tree(f, "d/t", XY, 3)
        f["d/h"] = _hist()
    return _jobs(path, codec, [first, _delete("d"), lambda f: _tree(f, "d/t", XY, 3, seed=6)])


def _rntuple(n: int, fields: str = "xy") -> dict[str, np.ndarray]:
    cols = {"x": np.arange(n), "y": np.linspace(0, 1, n), "z": np.arange(n) * 2.0}
    return {k: cols[k] for k in fields}


def rntuple_generations(path: Path, codec) -> bytes:
    """An RNTuple written, then deleted and written again, larger, in three later jobs."""
    steps = [lambda f: f.__setitem__("n", _rntuple(100))]
    for g in range(3):
        steps.append(lambda f, g=g: (_delete("n")(f), f.__setitem__("n", _rntuple(200 + 100 * g))))
    return _jobs(path, codec, steps)


def rntuple_other_fields(path: Path, codec) -> bytes:
    """RNTuple n(x, y) deleted in job 2; n(z) written in job 3, a histogram each job."""
    def first(f) -> None:
        f["n"] = _rntuple(100)
        f["h"] = _hist()
    return _jobs(path, codec, [first, _delete("n"),
                               lambda f: f.__setitem__("n", _rntuple(150, "z"))])


def rntuple_extended_again(path: Path, codec) -> bytes:
    """RNTuple n extended, deleted, written again and extended in the next job."""
    def first(f) -> None:
        f["n"] = _rntuple(100)
        f["n"].extend(_rntuple(100))

    def third(f) -> None:
        f["n"] = _rntuple(50)
    return _jobs(path, codec, [first, _delete("n"), third,
                               lambda f: f["n"].extend(_rntuple(60))])


CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1), "lz4": uproot.LZ4(1),
          "zstd": uproot.ZSTD(3)}
WORKFLOWS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "again": (again, tuple(CODECS)),
    "other-branches": (other_branches, ("none", "zlib", "zstd")),
    "fewer-branches": (fewer_branches, ("none", "lz4")),
    "wider": (wider, ("zlib",)),
    "generations": (generations, ("none", "zstd")),
    "same-job-twice": (same_job_twice, ("lzma",)),
    "in-subdir": (in_subdir, ("zlib",)),
    "again-then-moved": (again_then_moved, ("none", "lz4")),
    "moved-then-again": (moved_then_again, ("zlib",)),
    "two-swapped": (two_swapped, ("zstd",)),
    "jagged-again": (jagged_again, ("none", "zlib")),
    "retyped": (retyped, ("none", "zlib")),
    "codec-changed": (codec_changed, ("zlib",)),
    "bigger-baskets": (bigger_baskets, ("none", "zstd")),
    "assigned-again": (assigned_again, ("lzma",)),
    "twin-again": (twin_again, ("none", "zlib")),
    "moved-generations": (moved_generations, ("none", "lz4")),
    "jagged-to-flat": (jagged_to_flat, ("none",)),
    "superset": (superset, ("none", "zlib")),
    "reordered": (reordered, ("zstd",)),
    "other-then-again": (other_then_again, ("none",)),
    "rntuple-in-subdir": (rntuple_in_subdir, ("none",)),
    "tree-and-rntuple-again": (tree_and_rntuple_again, ("none", "lz4")),
    "empty-again": (empty_again, ("zlib",)),
    "nested-again": (nested_again, ("none", "zstd")),
    "rntuple-twice-one-job": (rntuple_twice_one_job, ("none",)),
    "newer-twin-deleted": (newer_twin_deleted, ("none", "zlib")),
    "hists-refilled": (hists_refilled, ("none", "zlib", "lz4", "lzma", "zstd")),
    "again-moves-at-once": (again_moves_at_once, ("none", "zstd")),
    "rntuple-again-extended-at-once": (rntuple_again_extended_at_once, ("none", "lzma")),
    "dir-again": (dir_again, ("none", "zlib")),
    "rntuple-generations": (rntuple_generations, ("none", "zstd")),
    "rntuple-other-fields": (rntuple_other_fields, ("zlib",)),
    "rntuple-extended-again": (rntuple_extended_again, ("none",)),
}
CONTROL_NAMES = sorted(f"ctl-j-{w}-{c}.root" for w, (_, cs) in WORKFLOWS.items() for c in cs)


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    out = {}
    for w, (fn, codecs) in WORKFLOWS.items():
        for c in codecs:
            name = f"ctl-j-{w}-{c}.root"
            out[name] = fn(made / name, CODECS[c])
    return out
