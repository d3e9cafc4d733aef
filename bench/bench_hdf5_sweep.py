"""The HDF5 dense-storage sweep of docs/quarantine.md (sessions 34-35), two trees in turns.

    .venv/bin/python bench/bench_hdf5_sweep.py TREE [TREE ...] [--show]

360 files written by h5py (tests/quarantine/test_hdf5_oldsections.py's _members): group
/g given 3, 9, 12, 20 or 30 links ("l"), attributes ("a") or both a session, in 2, 3 or
4 sessions ('w' then 'a'), tracked or not, short or long names and values, under libver
'earliest' and 'latest'. Each tree's HDF5 walk (what `vmguard vet` runs on the file) is
timed in CPU seconds over all of them, in this process; printed: files passed, CPU
seconds, and with --show each refused file and the start of its reason. A tree is a
checkout (`git worktree add`, or `git archive | tar x`); the files are written once,
with this checkout's tests.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS, KINDS, SESSIONS = (3, 9, 12, 20, 30), ("l", "a", "la"), (2, 3, 4)


def files() -> dict[str, bytes]:
    """name -> the file's bytes, for each of the 360 cases."""
    sys.path.insert(0, str(ROOT))
    from tests.quarantine.test_hdf5_oldsections import _members
    from tests.support.attack_fbinary_hdf5 import sessions

    out = {}
    for n, kinds, count, track, long, libver in itertools.product(
        COUNTS, KINDS, SESSIONS, (False, True), (False, True), ("earliest", "latest")
    ):
        name = f"{libver}-{kinds}-{'tracked' if track else 'plain'}-{'long' if long else 'short'}-{n}x{count}"
        out[name] = sessions([_members(k, kinds, track, n, long) for k in range(count)], libver=libver)
    return out


def walk_all(tree: Path, data: dict[str, bytes]) -> tuple[dict[str, str], float]:
    """(refused name -> reason, CPU seconds) of `tree`'s walk over `data`."""
    for name in [m for m in sys.modules if m == "vmguard" or m.startswith("vmguard.")]:
        del sys.modules[name]
    sys.path.insert(0, str(tree))
    try:
        walk = importlib.import_module("vmguard.quarantine.validators.hdf5").walk
        invalid = importlib.import_module("vmguard.quarantine.validators").Invalid
    finally:
        sys.path.remove(str(tree))
    refused, start = {}, time.process_time()
    for name, raw in data.items():
        try:
            walk(raw, len(raw))
        except invalid as err:
            refused[name] = str(err)
    return refused, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--show", action="store_true", help="list the refused files")
    args = parser.parse_args()
    data = files()
    for tree in args.trees:
        refused, cpu = walk_all(tree.resolve(), data)
        print(f"{tree}: {len(data) - len(refused)} of {len(data)} pass, walks {cpu:.1f} s CPU")
        for name, why in sorted(refused.items()) if args.show else ():
            print(f"  {name}: {why[:160]}")


if __name__ == "__main__":
    main()
