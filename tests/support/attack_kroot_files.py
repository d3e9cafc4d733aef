"""Ordinary uproot 5.7 output for the independent ROOT attack k (session 36): objects
deleted with `del` over several `uproot.update` jobs (histograms, strings, trees, in the
top directory and in a subdirectory, every codec, long file names), the workflows that
make uproot's FreeSegments record shrink in place and leave entries after fEND.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import uproot

Step = Callable[[object], None]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1),
          "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1)}


def opens_empty(data: bytes) -> bool:
    """uproot opens the file and lists its keys (none: every object was deleted)."""
    with uproot.open(io.BytesIO(data)) as f:
        return f.keys(recursive=True) == []


def _hist(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(20.0 + k), np.linspace(0, 1, 21 + k)


def jobs(path: Path, codec, steps: list[Step]) -> bytes:
    """steps[0] in uproot.recreate, each later step in its own uproot.update job."""
    with uproot.recreate(path, compression=codec) as f:
        steps[0](f)
    for step in steps[1:]:
        with uproot.update(path) as f:
            step(f)
    return path.read_bytes()


def hists(*names: str, k: int = 0) -> Step:
    def step(f) -> None:
        for i, name in enumerate(names):
            f[name] = _hist(i + k)
    return step


def sized(**bins: int) -> Step:
    """Histograms of the given numbers of bins, written in the order given."""
    def step(f) -> None:
        for name, n in bins.items():
            f[name] = np.arange(float(n)), np.linspace(0, 1, n + 1)
    return step


def strings(*names: str) -> Step:
    def step(f) -> None:
        for name in names:
            f[name] = f"run {name} ok"
    return step


def tree(name: str, extends: int = 2) -> Step:
    def step(f) -> None:
        f.mktree(name, {"x": np.float64, "n": np.int32})
        for k in range(extends):
            f[name].extend({"x": np.arange(50.0) + k, "n": np.arange(50, dtype=np.int32)})
    return step


def extend(name: str) -> Step:
    def step(f) -> None:
        f[name].extend({"x": np.arange(50.0), "n": np.arange(50, dtype=np.int32)})
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


def mkdir(name: str) -> Step:
    return lambda f: f.mkdir(name)


# Every object deleted, then new ones written over two jobs: the FreeSegments record
# shrinks in place and later records are written after it (it is inside the file, two
# end entries behind it).
REFILL: list[Step] = [sized(h1=10, h2=10, h3=200), delete("h2"), delete("h1", "h3"),
                      sized(h4=10, h5=10, h6=200), sized(h7=10, h8=50)]


def _d(*names: str) -> list[str]:
    return [f"d/{n}" for n in names]


# Each case: (codec name, steps). The workflows are a physicist's: write, then in later
# jobs remove what turned out wrong, sometimes write something else.
CASES: dict[str, tuple[str, list[Step]]] = {
    "del-one-of-two": ("none", [hists("a", "b"), delete("b")]),
    "del-first-of-two": ("none", [hists("a", "b"), delete("a")]),
    "del-only-one-then-string": ("none", [hists("a"), delete("a"), strings("s")]),
    "del-then-write": ("none", [hists(*"abcd"), delete("c"), delete("d"), hists("e")]),
    "tree-deleted": ("none", [hists("a"), tree("t"), delete("t")]),
    "subdir-del-2": ("zlib", [mkdir("d"), hists(*_d(*"abcd")), delete(*_d("c")),
                              delete(*_d("d"))]),
    "subdir-del-5": ("none", [mkdir("d"), hists(*_d(*"abcdef")), *(delete(*_d(n)) for n in "bdcfe")]),
    "del-all-then-refill": ("none", REFILL),
    "write-del-same-job-then-more": ("none", [both(sized(h1=200), delete("h1")), sized(h2=10),
                                              delete("h2"), sized(h3=200, h4=1000),
                                              sized(h5=10), sized(h6=50)]),
    **{f"del-one-of-two-{c}": (c, [hists("a", "b"), delete("b")]) for c in CODECS},
    "del-middle-two-jobs": ("none", [hists(*"abcde"), delete("b"), delete("d")]),
    "del-middle-4-of-6": ("zlib", [hists(*"abcdef"), delete("b", "d"), delete("c", "e")]),
    "many-del-middle": ("none", [hists(*[f"h{i:03d}" for i in range(120)]), delete("h060")]),
    "overwrite-hist-bigger": ("none", [hists("a", "b"), hists("a", k=5)]),
    "overwrite-string": ("none", [strings("s", "t"), strings("s")]),
    "subdir-deleted-whole": ("none", [both(mkdir("d"), hists("d/a", "d/b"), hists("top")),
                                      delete("d")]),
    "tree-extended-over-jobs": ("none", [tree("t"), extend("t"), extend("t")]),
    "two-trees-del-one": ("none", [both(tree("t"), tree("u")), delete("t")]),
    "long-name-" + "x" * 60: ("none", [hists("a", "b"), delete("b")]),
    # refused (FALSE_REJECTIONS in the test): two or more deletions, nothing written over
    "del-last-two-jobs": ("none", [hists(*"abcd"), delete("d"), delete("c")]),
    "del-five-from-end": ("none", [hists(*"abcdefgh"), *(delete(n) for n in "hgfed")]),
    "del-strings-one-job": ("none", [strings(*"abc"), delete("c", "b")]),
    "del-in-writing-job": ("none", [both(hists(*"abc"), delete("c", "b"))]),
    "del-tree-and-hist": ("none", [hists("a"), tree("t"), hists("b"), delete("t"),
                                   delete("b")]),
    "subdir-del-tail-5": ("none", [mkdir("d"), hists(*_d(*"abcdefgh")),
                                   *(delete(*_d(n)) for n in "hgfed")]),
    **{f"del-merge-end-{c}": (c, [hists(*"abcd"), delete("c"), delete("d")])
       for c in CODECS},
    **{f"del-middle-6-of-8-{c}": (c, [hists(*"abcdefgh"), delete("b", "d", "f"),
                                        delete("c", "e", "g")]) for c in ("none", "zlib")},
    "del-middle-strings-6-of-8": ("none", [strings(*"abcdefgh"),
                                           *(delete(n) for n in "bdfceg")]),
    "two-trees-del-one-extend-other": ("none", [both(tree("t"), tree("u")), delete("t"),
                                                extend("u")]),
    "del-scattered-5": ("none", [hists(*"abcdef"), *(delete(n) for n in "bdcfe")]),
}
CONTROL_NAMES = sorted(f"ctl-k-{n}.root" for n in CASES)


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (codec, steps) in CASES.items():
        # the file's name is in its keys: write it under the name it is published as
        out[f"ctl-k-{name}.root"] = jobs(made / f"ctl-k-{name}.root", CODECS[codec], steps)
    return out
