"""Real uproot output in many orders: random sequences of uproot's documented calls
(histograms, trees made and extended, subdirectories, a file reopened with update, any
codec uproot writes), each sequence from its seed, so a failure names its sequence."""

from __future__ import annotations

import random
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

CODECS = [None, uproot.ZLIB(1), uproot.ZLIB(9), uproot.LZMA(2), uproot.ZSTD(3), uproot.LZ4(1)]
DIRS = ["", "dir/", "dir/sub/", "other/"]


def _step(f, rng: random.Random, trees: dict[str, str], n: int) -> str:
    """One call; returns what it did."""
    where = rng.choice(DIRS)
    kind = rng.choice(["hist", "hist2d", "tree", "extend", "extend", "dict-tree"])
    if kind == "extend" and trees:
        name = rng.choice(sorted(trees))
        f[name].extend(_data(trees[name], rng.randint(1, 3000), rng))
        return f"extend {name}"
    if kind in ("tree", "extend"):
        name, branch = f"{where}t{n}", rng.choice(["f8", "i4", "jagged", "both", "str"])
        f.mktree(name, _types(branch))
        trees[name] = branch
        return f"mktree {name} {branch}"
    if kind == "dict-tree":
        f[f"{where}d{n}"] = {"x": np.arange(rng.randint(1, 2000), dtype="f8")}
        return f"dict-tree {where}d{n}"
    values = np.random.default_rng(n).normal(size=200)
    if kind == "hist2d":
        f[f"{where}h{n}"] = np.histogram2d(values, values[::-1], bins=rng.choice([3, 40]))
    else:
        f[f"{where}h{n}"] = np.histogram(values, bins=rng.choice([5, 100, 2000]))
    return f"{kind} {where}h{n}"


def _types(branch: str) -> dict:
    jagged = ak.types.ListType(ak.types.NumpyType("float64"))
    return {
        "f8": {"x": "f8"},
        "i4": {"n": "i4"},
        "jagged": {"j": jagged},
        "both": {"x": "f8", "j": jagged},
        "str": {"s": "string", "x": "f8"},
    }[branch]


def _data(branch: str, size: int, rng: random.Random) -> dict:
    gen = np.random.default_rng(size)
    jagged = ak.Array([gen.normal(size=rng.randint(0, 4)) for _ in range(size)])
    return {
        "f8": {"x": gen.normal(size=size)},
        "i4": {"n": gen.integers(0, 9, size=size).astype("i4")},
        "jagged": {"j": jagged},
        "both": {"x": gen.normal(size=size), "j": jagged},
        "str": {"s": ak.Array(["run"[: i % 4] * (i % 7) for i in range(size)]), "x": gen.normal(size=size)},
    }[branch]


def build(where: Path, seed: int) -> tuple[bytes, list[str]]:
    """The file of one sequence and its calls."""
    rng = random.Random(seed)
    path, trees, calls = where / f"order-{seed}.root", {}, []
    codec = CODECS[seed % len(CODECS)]
    with uproot.recreate(path, compression=codec) as f:
        for n in range(rng.randint(1, 8)):
            calls.append(_step(f, rng, trees, n))
    if rng.random() < 0.4:  # a later job adds to the file (its trees are not extended: uproot cannot)
        calls.append("update")
        with uproot.update(path) as f:
            for n in range(10, 10 + rng.randint(1, 3)):
                calls.append(_step(f, rng, {}, n))
    return path.read_bytes(), calls
