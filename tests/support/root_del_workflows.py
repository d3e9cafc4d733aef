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
