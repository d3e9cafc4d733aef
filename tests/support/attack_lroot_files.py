"""Ordinary uproot 5.7 output for the independent ROOT attack l (session 37): histograms
deleted with `del` and written again over several `uproot.update` jobs (the same object,
the same job, a subdirectory, twice, every codec), many histograms added job after job
(the keys list moves), a tree extended beside them; and the base files the forgeries of
tests/support/attack_lroot_forge.py patch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import uproot

Step = Callable[[object], None]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1),
          "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1)}
NAMES = [f"h{i:02d}" for i in range(20)]


def hist(k: int, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The k-th histogram: the same k gives the same object (written again byte for byte)."""
    return np.arange(float(bins)) + k, np.linspace(0, 1, bins + 1)


def _next_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def jobs(path: Path, codec, steps: list[Step], apart: bool = False) -> bytes:
    """steps[0] in uproot.recreate, each later step in its own uproot.update job; apart,
    the last job starts in a later second than the others (a key's datime counts seconds),
    as jobs a physicist runs one after another do."""
    with uproot.recreate(path, compression=codec) as f:
        steps[0](f)
    for k, step in enumerate(steps[1:], start=2):
        if apart and k == len(steps):
            _next_second()
        with uproot.update(path) as f:
            step(f)
    return path.read_bytes()


def write(*names: str, prefix: str = "") -> Step:
    def step(f) -> None:
        for name in names:
            f[prefix + name] = hist(int(name[1:]))
    return step


def enumerated(*names: str) -> Step:
    """A physicist's loop: `for i, name in enumerate(names): f[name] = hist(i)`."""
    def step(f) -> None:
        for i, name in enumerate(names):
            f[name] = hist(i)
    return step


def delete(*names: str, prefix: str = "") -> Step:
    def step(f) -> None:
        for name in names:
            del f[prefix + name]
    return step


def both(*steps: Step) -> Step:
    def step(f) -> None:
        for s in steps:
            s(f)
    return step


def extend(name: str) -> Step:
    def step(f) -> None:
        if name not in f:
            f.mktree(name, {"x": np.float64, "n": np.int32})
        f[name].extend({"x": np.arange(50.0), "n": np.arange(50, dtype=np.int32)})
    return step


def sized(name: str, bins: int) -> Step:
    return lambda f: f.__setitem__(name, hist(1, bins))


# `a` deleted, a smaller `s` takes the start of its place, `a` written again (the same
# object) at the end: the rest of the old `a` stays in free space, the end of the live one
WRITTEN_OVER: list[Step] = [both(sized("a", 300), write(*NAMES[:4])), delete("a"),
                            sized("s", 100), sized("a", 300)]


def _workflows(codec: str) -> dict[str, list[Step]]:
    five = NAMES[5:10]
    return {
        f"rewrite-same-{codec}": [write(*NAMES), delete(*five), write(*five)],
        f"rewrite-same-job-{codec}": [write(*NAMES), both(delete(*five), write(*five))],
        f"rewrite-sub-{codec}": [write(*NAMES, prefix="d/"), delete(*NAMES[3:6], prefix="d/"),
                                 write(*NAMES[3:6], prefix="d/")],
        f"rewrite-twice-{codec}": [write(*NAMES[:8]), delete("h02"), write("h02"),
                                   delete("h02", "h05"), write("h02", "h05")],
        f"tree-and-rewrite-{codec}": [both(extend("t"), write(*NAMES[:6])),
                                      both(extend("t"), delete("h01")),
                                      both(write("h01"), extend("t"))],
        f"rewrite-after-smaller-{codec}": WRITTEN_OVER,
        f"del-all-rewrite-{codec}": [write(*NAMES[:6]), delete(*NAMES[:6]), write(*NAMES[:6])],
        # many histograms added job after job (the keys list outgrows its place), one
        # deleted, two new ones: refused in zlib (FALSE_REJECTIONS), and in the uncompressed
        # file for a documented reason (an older list naming h04, whose place h30 took)
        f"grow-del-write-{codec}": [enumerated(*NAMES[:3]), enumerated(*NAMES[3:9]),
                                    enumerated(*NAMES[9:]), delete("h04"),
                                    enumerated("h30", "h31")],
    }


MANY = [f"hist_{i:03d}" for i in range(200)]


def _many_dels() -> dict[str, list[str]]:
    """60 of 200 histograms for each codec, drawn as the sweep that found the cases did."""
    rng = random.Random(5)
    return {codec: rng.sample(MANY, 60) for codec in CODECS}


def cyclic(*names: str) -> Step:
    """200 histograms of 7 shapes (`f[name] = hist(i % 7)`): records of equal lengths."""
    def step(f) -> None:
        for name in names:
            f[name] = hist(int(name[-3:]) % 7)
    return step


def _many(codec: str, new: bool = False) -> list[Step]:
    """200 histograms, 20 then 40 deleted in two jobs, the same 60 written again (or 60
    new ones)."""
    dels = _many_dels()[codec]
    again = [f"new_{i:03d}" for i in range(60)] if new else dels
    return [cyclic(*MANY), delete(*dels[:20]), delete(*dels[20:]), cyclic(*again)]


# the uncompressed grow-del-write is refused as the docs' "Still refused" says (an older
# keys list naming a record deleted and then written over): not a control
CASES = {name: (codec, steps) for codec in CODECS for name, steps in _workflows(codec).items()
         if name != "grow-del-write-none"}
# the others are refused for an older list naming a key deleted and written over
# (documented), first reason; these two for a FreeSegments rule first (FALSE_REJECTIONS)
CASES |= {"many-del-rewrite-none": ("none", _many("none")),
          "many-del-rewrite-lzma": ("lzma", _many("lzma")),
          "many-del-new-zstd": ("zstd", _many("zstd", new=True))}


# Whether these are published depends on the clock (FALSE_REJECTIONS): a deleted object
# written again in a later job is refused where that job's datime differs from the first
# job's (measured with every job a second apart: these 6 of the 41 cases, no other).
# Written fast they pass unless the jobs cross a second (1 run in 30), so they are not
# controls; two of them are written with the last job a second later (jobs(apart=True)).
CLOCKED = {"rewrite-same-none", "rewrite-same-job-none", *(f"rewrite-twice-{c}" for c in
                                                          ("none", "zlib", "lz4", "zstd"))}
CASES = {n: case for n, case in CASES.items() if n not in CLOCKED}
APART = {"rewrite-same-apart-none": ("none", _workflows("none")["rewrite-same-none"]),
         "rewrite-twice-apart-zlib": ("zlib", _workflows("zlib")["rewrite-twice-zlib"])}
CONTROL_NAMES = sorted(f"ctl-l-{n}.root" for n in [*CASES, *APART])


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    # the file's name is in its keys: write it under the name it is published as
    out = {f"ctl-l-{name}.root": jobs(made / f"ctl-l-{name}.root", CODECS[codec], steps)
           for name, (codec, steps) in CASES.items()}
    for name, (codec, steps) in APART.items():
        out[f"ctl-l-{name}.root"] = jobs(made / f"ctl-l-{name}.root", CODECS[codec], steps,
                                         apart=True)
    return out


def deleted_base(path: Path) -> bytes:
    """h00-h09, a 2000-bin `big` and h10 in one job that deletes `big` (its record stays
    whole in free space, 16.6 KB uncompressed), then h09 deleted in a second job (its key
    stays behind the live keys list)."""
    with uproot.recreate(path, compression=None) as f:
        for i in range(10):
            f[NAMES[i]] = hist(i)
        f["big"] = hist(0, 2000)
        f["h10"] = hist(10)
        del f["big"]
    with uproot.update(path) as f:
        del f["h09"]
    return path.read_bytes()


def one_job_base(path: Path) -> bytes:
    """Five histograms in one job, nothing deleted: uproot leaves 186 zero bytes free
    before its keys list (the only free space of the file)."""
    return jobs(path, uproot.ZLIB(1), [write(*NAMES[:5])])


def grown_base(path: Path) -> bytes:
    """3, then 6, then 11 histograms over three jobs, nothing deleted: the keys list moved
    twice, the older lists stay whole in free space."""
    return jobs(path, None, [write(*NAMES[:3]), write(*NAMES[3:9]), write(*NAMES[9:])])
