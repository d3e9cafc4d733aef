"""Ordinary uproot 5.7 output for the independent attack n on ROOT (session 38): what a
physicist's jobs do to one file over days (`uproot.recreate`, then `uproot.update` jobs):
histograms, TTrees extended, RNTuples, strings and subdirectories written, deleted with
`del` and written again, in every codec and a few levels, and payloads past ROOT's 16 MiB
- 1 block (a basket, a histogram, an RNTuple page) cut into blocks as uproot cuts them.
Each job runs at a clock of its own (uproot's `datetime.now`, as a job's host clock: jobs
a second, a minute, a day or a month apart, one over midnight; hosts a time zone west or
east, or 30 s behind, as uproot dates keys with local time), so keys carry the dates real
jobs give them; nothing is edited after uproot wrote it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import uproot
import uproot.writing._cascade as _cascade
import uproot.writing._cascadentuple as _cascadentuple
import uproot.writing._cascadetree as _cascadetree
import uproot.writing.writable as _writable

Step = Callable[[object], None]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1),
          "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1)}
LEVELS = {"zlib9": uproot.ZLIB(9), "lz4hc9": uproot.LZ4(9), "zstd19": uproot.ZSTD(19),
          "lzma6": uproot.LZMA(6)}
T0 = _dt.datetime(2026, 11, 30, 23, 59, 50)
_MODULES = (_cascade, _cascadetree, _cascadentuple, _writable)


@contextlib.contextmanager
def clock(at: _dt.datetime):
    """uproot's modules see a host clock reading `at` (a fixed second: a short job)."""

    class _Now(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ARG003 - the signature uproot calls
            return at

    shim = types.SimpleNamespace(datetime=_Now, timezone=_dt.timezone,
                                 timedelta=_dt.timedelta)
    saved = [m.datetime for m in _MODULES]
    try:
        for m in _MODULES:
            m.datetime = shim
        yield
    finally:
        for m, s in zip(_MODULES, saved, strict=True):
            m.datetime = s


def jobs(path: Path, codec, steps: list[Step], gaps: list[float] | None = None) -> bytes:
    """steps[0] in uproot.recreate at T0, each later step in its own uproot.update job,
    gaps[i] seconds after the one before (1 s by default)."""
    at = T0
    gaps = gaps or [1.0] * (len(steps) - 1)
    with clock(at), uproot.recreate(path, compression=codec) as f:
        steps[0](f)
    for step, gap in zip(steps[1:], gaps, strict=True):
        at = at + _dt.timedelta(seconds=gap)
        with clock(at), uproot.update(path) as f:
            step(f)
    return path.read_bytes()


def hist(name: str, bins: int = 20, k: int = 0) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(bins * 7 + k)
        f[name] = np.histogram(rng.normal(size=500), bins=bins)
    return step


def hist2d(name: str) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(5)
        f[name] = np.histogram2d(rng.normal(size=300), rng.normal(size=300), bins=(6, 9))
    return step


def jagged(name: str, k: int, more: bool = False) -> Step:
    """An RNTuple (uproot 5.7's `f[name] = {...}`) of a jagged and a flat field, or
    (more) extended."""
    def step(f) -> None:
        import awkward as ak
        rng = np.random.default_rng(k)
        counts = rng.integers(0, 5, 100)
        data = {"pt": ak.unflatten(rng.exponential(10.0, counts.sum()), counts),
                "w": rng.random(100)}
        if more:
            f[name].extend(data)
        else:
            f[name] = data
    return step


def hist3d(name: str) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(3)
        f[name] = np.histogramdd(rng.normal(size=(200, 3)), bins=(3, 4, 5))
    return step


def tree_moved(name: str, k: int) -> Step:
    """A TTree extended 11 times in one job: uproot moves its record at the 10th."""
    def step(f) -> None:
        rng = np.random.default_rng(k)
        f.mktree(name, {"x": np.float64, "n": np.int32})
        for _ in range(11):
            f[name].extend({"x": rng.normal(size=20),
                            "n": rng.integers(0, 9, 20).astype(np.int32)})
    return step


def text(name: str, value: str) -> Step:
    def step(f) -> None:
        f[name] = value
    return step


def tree(name: str, n: int = 200, k: int = 0) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(k)
        f.mktree(name, {"x": np.float64, "n": np.int32})
        f[name].extend({"x": rng.normal(size=n), "n": rng.integers(0, 9, n).astype(np.int32)})
    return step


def extend(name: str, n: int = 200, k: int = 1) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(k)
        f[name].extend({"x": rng.normal(size=n), "n": rng.integers(0, 9, n).astype(np.int32)})
    return step


def nt(name: str, n: int = 300, k: int = 0) -> Step:
    def step(f) -> None:
        rng = np.random.default_rng(k)
        f[name] = {"pt": rng.exponential(20.0, n), "q": rng.integers(-1, 2, n).astype(np.int8)}
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


def big_basket(name: str, n: int = (1 << 24) + 5000) -> Step:
    """One basket over 16 MiB - 1 bytes: uint8 counts, two blocks (or one, exactly)."""
    def step(f) -> None:
        f.mktree(name, {"c": np.uint8})
        f[name].extend({"c": (np.arange(n) % 11).astype(np.uint8)})
    return step


def big_hist(name: str, bins: int = 2_150_000) -> Step:
    """A TH1D of 17.2 MB of bins: two blocks."""
    def step(f) -> None:
        counts = (np.arange(bins) % 13).astype(np.float64)
        f[name] = (counts, np.linspace(0.0, 1.0, bins + 1))
    return step


def big_nt(name: str, n: int = 2_200_000) -> Step:
    """An RNTuple whose one page of doubles is over 16 MiB."""
    def step(f) -> None:
        f[name] = {"e": (np.arange(n) % 17).astype(np.float64)}
    return step


def big_hist_noisy(name: str, bins: int = 2_150_000, noisy_from: int = 0) -> Step:
    """A TH1D of 17.2 MB whose bins from `noisy_from` on are random bits (a detector's
    raw words kept as doubles): the second block does not shrink, so uproot stores the
    whole payload uncompressed."""
    def step(f) -> None:
        counts = (np.arange(bins) % 13).astype(np.float64)
        raw = np.random.default_rng(1).bytes(8 * (bins - noisy_from))
        bits = np.frombuffer(raw, dtype=np.uint64) & np.uint64(0x3FFFFFFFFFFFFFFF)
        counts[noisy_from:] = bits.view(np.float64)  # finite: exponent below 1024
        f[name] = (counts, np.linspace(0.0, 1.0, bins + 1))
    return step


DAY, MONTH = 86400.0, 30 * 86400.0
HISTS = [f"h{i:02d}" for i in range(12)]
WORKFLOWS: dict[str, tuple[list[Step], list[float] | None]] = {
    # keys rewritten in later jobs: older keys behind the list carry earlier dates
    "rewrite-same-later-day": ([both(*[hist(h) for h in HISTS]), delete("h11", "h10"),
                                both(hist("h10"), hist("h11"))], [DAY, DAY]),
    "rewrite-after-month": ([both(*[hist(h) for h in HISTS]),
                             both(delete("h03"), hist("h03")), delete("h05", "h07")],
                            [MONTH, 61.0]),
    "del-many-over-midnight": ([both(*[hist(h) for h in HISTS]), delete(*HISTS[6:])],
                               [15.0]),
    "del-add-interleaved": ([both(*[hist(h, 10 + i) for i, h in enumerate(HISTS)]),
                             delete("h02"), hist("extra", 33), delete("h09", "h01"),
                             both(hist("h02", 12), text("note", "v2"))], [3600.0, 5, 2, DAY]),
    "subdir-jobs": ([both(hist("run1/a"), hist("run1/b"), hist("run2/a"), text("n", "x")),
                     delete("run1/a"), both(hist("run1/a", 7), hist("run2/c")),
                     delete("run2/a", "run1/b")], [60.0, DAY, 2]),
    "grow-list-later": ([hist("h0"), both(*[hist(f"g{i:03d}") for i in range(60)]),
                         delete(*[f"g{i:03d}" for i in range(0, 60, 7)])], [DAY, 1]),
    "tree-nt-strings": ([both(tree("t"), nt("events"), text("cfg", "a=1")),
                         both(extend("t"), hist2d("map")), delete("cfg"),
                         both(text("cfg", "a=2"), extend("t", k=2))], [30.0, 2, MONTH]),
    "nt-del-hists-after": ([both(nt("events", 500), hist("h0")), delete("events"),
                            both(hist("h1", 30), hist("h2", 5))], [DAY, DAY]),
    "tree-del-again": ([both(tree("t"), hist("h")), delete("t"), tree("t", 300, 4),
                        extend("t", 100, 5)], [5, 5, 5]),
    # one job: a histogram deleted, two smaller objects written over its start ("writing
    # in one job passes")
    "one-job-del-two-over": ([both(hist("a", 80), hist("b"), delete("a"), hist("c", 5),
                                   text("d", "x"))], None),
    # jobs on hosts whose clocks differ (uproot writes local time: a node one time zone
    # west, or 30 s behind the node that made the file), deleting what they wrote
    "west-add-then-del": ([hist("a"), hist("b"), delete("b")], [-3600.0, 5.0]),
    "west-same-job-del": ([hist("a"), both(hist("b"), hist("c"), delete("b"))], [-3600.0]),
    "skew30-add-then-del": ([hist("a"), hist("b"), delete("b")], [-30.0, 5.0]),
    "west-nt-del": ([hist("a"), nt("n"), delete("n")], [-3600.0, 2.0]),
    "east-then-west-del": ([hist("a"), hist("b"), hist("c"), delete("b", "c")],
                           [3600.0, -7200.0, 1.0]),
    # nothing deleted, five jobs (found by a random sweep, seed 99, reduced): an RNTuple;
    # a string; a TH3D, an RNTuple in run1/sub and a TTree extended 11 times (moved);
    # a TH3D (over the tree's older place); the tree extended again
    "five-jobs-no-del": ([nt("b", 78, 97), text("evt", "v" * 26),
                          both(hist3d("x3"), nt("run1/sub/evt", 76, 27), tree_moved("t", 76)),
                          hist3d("a"), extend("t", 205, 42)], [2.0, 3600.0, 2.0, 1.0]),
    # a later job deletes a TH2D and writes a TTree over its start, in that same job
    # (seed 116 of the sweep, reduced; run1/sub/a is a jagged RNTuple, extended)
    "del-then-tree-same-job": ([both(), both(hist2d("t"), jagged("run1/sub/a", 57),
                                              text("run1/evt", "v" * 32)),
                                jagged("run1/sub/a", 65, more=True),
                                both(delete("t"), tree("run1/a", 206, 49))], [1.0, 1.0, 60.0]),
    # the same hosts, nothing deleted: published
    "west-add": ([hist("a"), both(hist("b"), tree("t"))], [-3600.0]),
    "skew30-tree-extend-move": ([tree("t"), *[extend("t", 50, k) for k in range(12)]],
                                [-30.0] + [1.0] * 11),
}
BIG = {
    "big-basket": ([big_basket("t")], None),
    "big-basket-exact": ([big_basket("t", (1 << 24) - 1)], None),
    "big-hist": ([big_hist("h")], None),
    "big-nt": ([big_nt("events")], None),
    "big-hist-second-block-random": ([big_hist_noisy("h", noisy_from=2_097_000)], None),
}
BIG_CODECS = ("zlib", "lzma", "lz4", "zstd")
LEVEL_WORKFLOWS = ("del-add-interleaved", "tree-nt-strings")


def _all() -> dict[str, tuple[list[Step], list[float] | None, object]]:
    out = {}
    for w, (steps, gaps) in WORKFLOWS.items():
        for c, codec in CODECS.items():
            out[f"ctl-n-{w}-{c}.root"] = (steps, gaps, codec)
    for w in LEVEL_WORKFLOWS:
        for c, codec in LEVELS.items():
            out[f"ctl-n-{w}-{c}.root"] = (*WORKFLOWS[w], codec)
    for w, (steps, gaps) in BIG.items():
        for c in BIG_CODECS:
            out[f"ctl-n-{w}-{c}.root"] = (steps, gaps, CODECS[c])
    return out


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {name: jobs(made / name, codec, steps, gaps)
            for name, (steps, gaps, codec) in _all().items()}


CONTROL_NAMES = sorted(_all())
