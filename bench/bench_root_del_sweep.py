"""The ROOT delete-workflow sweep of docs/quarantine.md (sessions 36-38), trees in turns.

    .venv/bin/python bench/bench_root_del_sweep.py TREE [TREE ...] [--seeds 150] [--show]

Random uproot workflows (tests/support/root_del_workflows.py), `--seeds` of each kind:
rntuples (strings, histograms and RNTuples deleted in 1 to 4 later jobs), strings
(strings and histograms, a subdirectory 3 times in 10), trees (trees made and extended,
histograms, strings, nested subdirectories, deleted), rewrite (objects deleted and
written again under their names, trees and RNTuples extended); every codec. The files are
written once, with this checkout's tests and uproot (their keys' datimes are the clock's,
so a rerun writes other bytes: compare trees in one run), and each tree's ROOT validator
(what `vmguard vet` runs on the file) judges them all in this process; printed: refused
files of each kind, those a tree judges otherwise than the first, and with --show each
refused file and the start of its reason. A tree is a checkout (`git worktree add`, or
`git archive | tar x`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CHUNK = 1 << 16  # the pipeline's read size order: the validator sees a stream of chunks


def files(seeds: int) -> dict[str, bytes]:
    """kind-seed -> the file's bytes."""
    sys.path.insert(0, str(ROOT))
    from tests.support.root_del_workflows import WORKFLOWS

    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        for kind, make in WORKFLOWS.items():
            for seed in range(seeds):
                out[f"{kind}-{seed}"] = make(Path(scratch) / f"{kind}-{seed}.root", seed)
    return out


def judge_all(tree: Path, data: dict[str, bytes]) -> dict[str, str]:
    """Refused name -> reason, by `tree`'s ROOT validator."""
    for name in [m for m in sys.modules if m == "vmguard" or m.startswith("vmguard.")]:
        del sys.modules[name]
    sys.path.insert(0, str(tree))
    try:
        root = importlib.import_module("vmguard.quarantine.validators.root")
        stream = importlib.import_module("vmguard.quarantine.validators.stream")
        invalid = importlib.import_module("vmguard.quarantine.validators").Invalid
    finally:
        sys.path.remove(str(tree))
    refused = {}
    for name, raw in data.items():
        try:
            root.validate(stream.Stream(iter([raw[i : i + _CHUNK] for i in range(0, len(raw), _CHUNK)])))
        except invalid as err:
            refused[name] = str(err)
    return refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=150)
    parser.add_argument("--show", action="store_true", help="list the refused files")
    args = parser.parse_args()
    data = files(args.seeds)
    kinds = sorted({name.rsplit("-", 1)[0] for name in data})
    first: dict[str, str] | None = None
    for tree in args.trees:
        refused = judge_all(tree.resolve(), data)
        counts = ", ".join(f"{k} {sum(n.rsplit('-', 1)[0] == k for n in refused)}" for k in kinds)
        print(f"{tree}: {len(refused)} of {len(data)} refused ({counts}; of {args.seeds} each)")
        if first is not None:  # the files the trees judge apart
            print(f"  refused now only: {sorted(set(refused) - set(first))}")
            print(f"  published now only: {sorted(set(first) - set(refused))}")
        first = refused if first is None else first
        for name, why in sorted(refused.items()) if args.show else ():
            print(f"  {name}: {why[:160]}")


if __name__ == "__main__":
    main()
