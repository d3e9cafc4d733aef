"""The ROOT delete-workflow sweep of docs/quarantine.md (sessions 36-38), trees in turns.

    .venv/bin/python bench/bench_root_del_sweep.py TREE [TREE ...] [--seeds 150] [--show] [--clocks | --apart]

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
`git archive | tar x`). With --clocks each job runs on a host of its own clock (uproot dates
keys with local time): jobs a minute apart in true time, each at an offset drawn from
CLOCK_OFFSETS (the seed's own draw), so datimes step back and forth as time zones, a
clock 30 s behind or a daylight-saving change make them (session 38, rootclock). With
--apart the same jobs run a minute apart on one host's clock (offset 0): what --clocks adds
to jobs in other seconds (without either, a workflow's jobs mostly share one second, so
copies of keys of different jobs are alike byte for byte; session 39, rootfr).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CHUNK = 1 << 16  # the pipeline's read size order: the validator sees a stream of chunks
# A job's host clock less the file maker's, in seconds: the same host (twice as likely),
# an hour west or east (or a DST change), 30 s behind, India from UTC, Tokyo and
# California from UTC.
CLOCK_OFFSETS = (0, 0, -3600, 3600, -30, -19800, 9 * 3600, -8 * 3600)


class _Clocks:
    """uproot as root_del_workflows calls it, each recreate or update job at its host's
    clock (tests/support/attack_nroot_files.clock): a minute after the one before, plus an
    offset drawn from CLOCK_OFFSETS."""

    def __init__(self, uproot, seed: int, offsets: tuple[int, ...] = CLOCK_OFFSETS) -> None:  # noqa: ANN001
        from tests.support import attack_nroot_files

        self._uproot, self._files, self._offsets = uproot, attack_nroot_files, offsets
        self._draw, self._job = random.Random(seed * 7919), 0

    def _at(self) -> datetime.datetime:
        offset = self._draw.choice(self._offsets)
        self._job += 1
        return self._files.T0 + datetime.timedelta(seconds=60 * self._job + offset)

    @contextlib.contextmanager
    def recreate(self, *args, **kwargs):  # noqa: ANN002, ANN003 - uproot's
        with self._files.clock(self._at()), self._uproot.recreate(*args, **kwargs) as f:
            yield f

    @contextlib.contextmanager
    def update(self, *args, **kwargs):  # noqa: ANN002, ANN003 - uproot's
        with self._files.clock(self._at()), self._uproot.update(*args, **kwargs) as f:
            yield f

    def __getattr__(self, name: str):  # noqa: ANN204 - anything else is uproot's
        return getattr(self._uproot, name)


def files(seeds: int, clocks: tuple[int, ...] | None = None) -> dict[str, bytes]:
    """kind-seed -> the file's bytes (each job a minute after the one before, at a host
    clock drawn from `clocks`, offsets in seconds, if given)."""
    sys.path.insert(0, str(ROOT))
    from tests.support import root_del_workflows

    out = {}
    uproot = root_del_workflows.uproot
    with tempfile.TemporaryDirectory() as scratch:
        for kind, make in root_del_workflows.WORKFLOWS.items():
            for seed in range(seeds):
                root_del_workflows.uproot = _Clocks(uproot, seed, clocks) if clocks else uproot
                try:
                    out[f"{kind}-{seed}"] = make(Path(scratch) / f"{kind}-{seed}.root", seed)
                finally:
                    root_del_workflows.uproot = uproot
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
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--clocks", action="store_true", help="each job at a host clock of its own")
    timing.add_argument("--apart", action="store_true", help="jobs a minute apart, one host clock")
    args = parser.parse_args()
    data = files(args.seeds, CLOCK_OFFSETS if args.clocks else (0,) if args.apart else None)
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
