"""Random delete-then-write uproot workflows (session 36's measure, session 37's with
RNTuples): a first job writes 2 to 12 objects (strings, histograms, and `{...}` tables,
which uproot 5.7 writes as RNTuples), then 1 to 4 jobs each delete up to half of what is
live and write up to 3 more, in one codec; each from its seed, so a failure names it."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import uproot

CODECS = [None, uproot.ZLIB(1), uproot.LZMA(1), uproot.LZ4(1), uproot.ZSTD(1)]


def workflow(path: Path, seed: int) -> bytes:
    """The file seed `seed` makes at path (its bytes)."""
    r = random.Random(seed)
    names = [f"{r.choice(['h', 't', 'x'])}{i}" for i in range(r.randint(2, 12))]

    def write(f, name: str, i: int) -> None:  # noqa: ANN001 - an uproot file
        kind = r.random()
        if kind < 0.3:
            f[name] = "t" * r.randint(1, 40)
        elif kind < 0.6:
            f[name] = np.histogram(np.arange(3.0 + i), bins=3 + i)
        else:
            f[name] = {"x": np.arange(r.randint(1, 500), dtype="f8") + i}

    with uproot.recreate(path, compression=r.choice(CODECS)) as f:
        for i, name in enumerate(names):
            write(f, name, i)
    alive = list(names)
    for job in range(r.randint(1, 4)):
        with uproot.update(path) as f:
            if len(alive) > 1:
                for gone in r.sample(alive, r.randint(1, max(1, len(alive) // 2))):
                    del f[gone]
                    alive.remove(gone)
            for k in range(r.randint(0, 3)):
                write(f, f"w{job}_{k}", k + 3)
                alive.append(f"w{job}_{k}")
    return path.read_bytes()


def strings_workflow(path: Path, seed: int) -> bytes:
    """Session 36's sweep (/tmp/rootfix/sweepw.py): 2 to 20 strings and histograms, in a
    subdirectory 3 times in 10, then 1 to 4 jobs each deleting up to half and writing up
    to 3 more, in one codec (its bytes)."""
    r = random.Random(seed)
    n, sub = r.randint(2, 20), r.random() < 0.3
    where = "d/" if sub else ""
    names = [f"{where}{r.choice(['h', 'hist_', 'x'])}{i}" for i in range(n)]

    def write(f, name: str, i: int) -> None:  # noqa: ANN001 - an uproot file
        if r.random() < 0.4:
            f[name] = "t" * r.randint(1, 40)
        else:
            f[name] = np.histogram(np.arange(3.0 + i), bins=3 + i)

    with uproot.recreate(path, compression=r.choice(CODECS)) as f:
        if sub:
            f.mkdir("d")
        for i, name in enumerate(names):
            write(f, name, i)
    alive = list(names)
    for job in range(r.randint(1, 4)):
        with uproot.update(path) as f:
            if len(alive) > 1:
                for gone in r.sample(alive, r.randint(1, max(1, len(alive) // 2))):
                    del f[gone]
                    alive.remove(gone)
            for k in range(r.randint(0, 3)):
                write(f, f"{where}w{job}_{k}", k + 3)
                alive.append(f"{where}w{job}_{k}")
    return path.read_bytes()


def trees_workflow(path: Path, seed: int) -> bytes:
    """Session 38's (rootslack): 2 to 10 histograms, strings and trees (made and extended
    0 to 12 times), half the seeds in nested subdirectories, then 1 to 4 jobs each deleting
    up to half of what is live and writing up to 4 more, in one codec (its bytes)."""
    r = random.Random(seed)
    compression = r.choice(CODECS)
    places = ["", "d/", "d/e/"] if r.random() < 0.5 else [""]
    alive: list[str] = []

    def write(f, i: int) -> None:  # noqa: ANN001 - an uproot file
        name = f"{r.choice(places)}{r.choice(['h', 'tr', 's'])}{i}"
        kind = r.random()
        if kind < 0.3:
            f[name] = np.histogram(np.arange(3.0 + i), bins=3 + i % 7)
        elif kind < 0.5:
            f[name] = "s" * r.randint(1, 30)
        else:
            n = r.randint(1, 300)
            f[name] = {"x": np.arange(n, dtype="f8"), "y": np.arange(n, dtype="i4")}
            for _ in range(r.randint(0, 12)):
                f[name].extend({"x": np.arange(n, dtype="f8"), "y": np.arange(n, dtype="i4")})
        if name not in alive:
            alive.append(name)

    made = 0
    with uproot.recreate(path, compression=compression) as f:
        for _ in range(r.randint(2, 10)):
            write(f, made)
            made += 1
    for _ in range(r.randint(1, 4)):
        with uproot.update(path) as f:
            if len(alive) > 1:
                for gone in r.sample(alive, r.randint(1, max(1, len(alive) // 2))):
                    del f[gone]
                    alive.remove(gone)
            for _ in range(r.randint(0, 4)):
                write(f, made)
                made += 1
    return path.read_bytes()


def rewrite_workflow(path: Path, seed: int) -> bytes:
    """Session 38's (rootslack): 2 to 8 histograms, strings, trees and RNTuples (trees
    extended 1 to 12 times), in the top directory or a subdirectory, then 1 to 4 jobs each
    deleting some and writing each again under its name, in one codec (its bytes)."""
    r = random.Random(seed)
    compression = r.choice(CODECS)
    where = r.choice(["", "sub/"])

    def write(f, name: str, i: int, kind: str) -> None:  # noqa: ANN001 - an uproot file
        if kind == "h":
            f[name] = np.histogram(np.arange(3.0 + i), bins=3 + i % 5)
        elif kind == "s":
            f[name] = "v" * r.randint(1, 30)
        elif kind == "t":
            f.mktree(name, {"x": "f8"})
            for _ in range(r.randint(1, 12)):
                f[name].extend({"x": np.arange(r.randint(1, 200), dtype="f8")})
        else:
            f[name] = {"y": np.arange(r.randint(1, 200), dtype="f8")}

    kinds = [r.choice("hstn") for _ in range(r.randint(2, 8))]
    names = {f"{where}{kind}{i}": kind for i, kind in enumerate(kinds)}
    with uproot.recreate(path, compression=compression) as f:
        for i, (name, kind) in enumerate(names.items()):
            write(f, name, i, kind)
    for job in range(r.randint(1, 4)):
        with uproot.update(path) as f:
            for name in r.sample(list(names), r.randint(1, len(names))):
                if r.random() < 0.7:
                    del f[name]
                    write(f, name, job + 1, names[name])
    return path.read_bytes()


WORKFLOWS = {
    "rntuples": workflow,
    "strings": strings_workflow,
    "trees": trees_workflow,
    "rewrite": rewrite_workflow,
}
