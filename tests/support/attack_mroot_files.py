"""Ordinary uproot 5.7 output for the independent attack m on ROOT (session 37): RNTuples
written with `f[name] = {...}`, extended, deleted with `del` and made again or not,
histograms and strings written over what was freed, in several `uproot.update` jobs, in
every codec; what a physicist's notebook does job after job.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import uproot

Step = Callable[[object], None]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1),
          "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1)}


def jobs(path: Path, codec, steps: list[Step]) -> bytes:
    """steps[0] in uproot.recreate, each later step in its own uproot.update job."""
    with uproot.recreate(path, compression=codec) as f:
        steps[0](f)
    for step in steps[1:]:
        with uproot.update(path) as f:
            step(f)
    return path.read_bytes()


def table(k: int, n: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(k)
    return {"pt": rng.exponential(20.0, n), "nhit": rng.integers(0, 50, n).astype(np.int32)}


def nt(name: str, k: int = 0, n: int = 500) -> Step:
    def step(f) -> None:
        f[name] = table(k, n)
    return step


def hist(name: str, bins: int = 50) -> Step:
    def step(f) -> None:
        f[name] = np.histogram(np.random.default_rng(bins).normal(size=1000), bins=bins)
    return step


def text(name: str, value: str) -> Step:
    def step(f) -> None:
        f[name] = value
    return step


def delete(*names: str) -> Step:
    def step(f) -> None:
        for name in names:
            del f[name]
    return step


def both(*steps: Step) -> Step:
    def step(f) -> None:
        for s in steps:
            s(f)
    return step


def jagged(name: str) -> Step:
    def step(f) -> None:
        import awkward as ak
        rng = np.random.default_rng(9)
        counts = rng.integers(0, 5, 300)
        f[name] = {"pt": ak.unflatten(rng.exponential(10.0, counts.sum()), counts)}
    return step


def tree(name: str) -> Step:
    def step(f) -> None:
        f.mktree(name, {"x": np.float64})
        f[name].extend({"x": np.arange(100.0)})
    return step


def extend(name: str, k: int) -> Step:
    def step(f) -> None:
        f[name].extend(table(k))
    return step


WORKFLOWS: dict[str, list[Step]] = {
    # an RNTuple deleted and not made again, a histogram written after (over its anchor)
    "nt-del-then-hist": [both(nt("events"), hist("h0")), delete("events"), hist("h1")],
    "nt-del-then-small-hist": [nt("events"), delete("events"), hist("h1", 5)],
    "nt-del-then-string": [both(nt("events"), hist("h0")), delete("events"),
                           text("note", "calibration v2")],
    "nt-del-same-job-hist": [nt("events"), both(delete("events"), hist("h1", 5))],
    # deleted and made again, in a later job and in the same one
    "nt-made-again": [nt("events"), delete("events"), nt("events", 1)],
    "nt-made-again-same-job": [nt("events"), both(delete("events"), nt("events", 1))],
    # another RNTuple written where the deleted one was
    "nt-del-then-other-nt": [nt("events"), delete("events"), nt("skim", 2, 100)],
    "two-nt-del-both-later": [both(nt("a"), nt("b", 1)), delete("a"), hist("h1", 5),
                              delete("b"), text("note", "done")],
    "nt-extended-then-del": [nt("events"), extend("events", 3), delete("events"),
                             hist("h1")],
    "nt-in-dir-del": [both(nt("run1/events"), hist("run1/h")), delete("run1/events"),
                      hist("run1/h2", 5)],
    "hists-del-nt-written": [both(hist("h0"), hist("h1"), hist("h2")), delete("h1"),
                             nt("events")],
    # the same with histograms that differ (a physicist's are not copies of each other)
    "other-hists-del-nt-written": [both(hist("h0", 40), hist("h1", 50), hist("h2", 60)),
                                   delete("h1"), nt("events")],
    "hist-del-nt-same-job": [both(hist("h0", 40), hist("h1", 50)),
                             both(delete("h1"), nt("events"))],
    "nt-del-hist-del-nt-again": [both(nt("events"), hist("h0", 40)), delete("events"),
                                 both(hist("h1", 30), delete("h0")), nt("events", 4)],
    "string-del-nt-written": [both(text("note", "first pass"), hist("h0", 40)),
                              delete("note"), nt("events")],
    "nt-extended-twice": [nt("events"), extend("events", 1), extend("events", 2)],
    "nt-per-job-del-first": [nt("run1"), nt("run2", 1), delete("run1"), hist("h0", 20)],
    "nt-large-del-then-hist": [both(nt("events", 5, 20000), hist("h0")), delete("events"),
                               hist("h1", 80)],
    "nt-jagged-del-then-hist": [jagged("tracks"), delete("tracks"), hist("h1", 20)],
    "nt-del-in-dir-then-top": [both(nt("run1/events"), nt("events", 1)),
                               delete("run1/events"), text("note", "run1 dropped")],
    "nt-and-tree-del-nt": [both(nt("events"), tree("t")), delete("events"), hist("h1")],
}


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    out = {}
    for wname, steps in WORKFLOWS.items():
        for cname, codec in CODECS.items():
            name = f"ctl-m-{wname}-{cname}.root"
            out[name] = jobs(made / name, codec, steps)
    return out


CONTROL_NAMES = sorted(f"ctl-m-{w}-{c}.root" for w in WORKFLOWS for c in CODECS)
