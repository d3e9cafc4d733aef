"""CPU per small file of `vmguard vet`, two code trees taking turns (issue #13).

    .venv/bin/python bench/bench_vet_cpu.py OLD_TREE [NEW_TREE] [--files 5000] [--rounds 3] [--large-gib 0.75]

On a shared machine wall time says little; CPU seconds do. Each round vets the same
files (bench_vet.py's small files of 4 KiB, on /dev/shm: no disk) once with each tree,
in turns, and prints the CPU seconds of the vet process itself (main, writer and hash
threads) and of its workers (getrusage inside the vet, at exit), then the medians. A
vet of one file is timed the same way: what every vet costs whatever its size. With
--large-gib, bench_vet.py's ROOT, FITS and HDF5 files too (one per 256 MiB). Last, each tree's
CPU per small file and per GiB of large files beyond the vet of one file.
A tree is a checkout (`git worktree add` or `git archive | tar x`); compile both alike
(`python -m compileall -q TREE/vmguard`): the workers cannot write .pyc files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_vet import POLICY, make_large, make_small

# Runs `vmguard vet` in this process and prints "parent_cpu workers_cpu" at exit.
_WRAP = """
import atexit, resource, runpy, sys
def report():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime, file=sys.stderr)
atexit.register(report)
sys.argv = ["vmguard", *sys.argv[1:]]
runpy.run_module("vmguard", run_name="__main__", alter_sys=True)
"""


def vet_cpu(tree: Path, src: Path, policy: Path, out: Path) -> tuple[float, float]:
    """One vet into `out` (a new directory, removed after with vet's own files beside it)."""
    env = dict(os.environ, PYTHONPATH=str(tree), VMGUARD_LOG=str(out.parent / "events.jsonl"))
    argv = [sys.executable, "-c", _WRAP, "vet", str(src), "--policy", str(policy), "--to", str(out)]
    proc = subprocess.run([*argv, "--job", "bench"], env=env, cwd="/", capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vet with {tree} failed ({proc.returncode}): {proc.stderr[-500:]}")
    shutil.rmtree(out.parent)
    parent, workers = map(float, proc.stderr.split()[-2:])
    return parent, workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path, help="one or two code trees (default new: this one)")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--large-gib", type=float, default=0, help="also vet bench_vet.py's ROOT/FITS/HDF5 files of this size"
    )
    args = parser.parse_args()
    trees = [*args.trees, Path(__file__).resolve().parents[1]][:2]
    with tempfile.TemporaryDirectory(prefix="bench-vet-cpu-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        (work / "many").mkdir()
        make_small(work / "many", args.files)
        (work / "one").mkdir()
        make_small(work / "one", 1)
        sets = [(f"{args.files} files", work / "many"), ("1 file", work / "one")]
        if args.large_gib:
            (work / "large").mkdir()
            make_large(work / "large", args.large_gib)
            sets.append((f"{args.large_gib:g} GiB of large files", work / "large"))
        medians: dict[tuple[str, Path], float] = {}
        for label, src in sets:
            runs: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
            for i in range(args.rounds):
                for tree in trees if i % 2 == 0 else trees[::-1]:
                    runs[tree].append(vet_cpu(tree, src, work / "policy.yaml", work / "public" / "job"))
            for tree, cpu in runs.items():
                shown = ", ".join(f"{p:.2f}+{w:.2f}" for p, w in cpu)
                total = medians[label, tree] = statistics.median(p + w for p, w in cpu)
                print(f"{label}, {tree}: CPU parent+workers {shown} s; median {total:.2f} s", flush=True)
        for tree in trees:  # beyond what a vet of one file costs
            many, one = medians[sets[0][0], tree], medians["1 file", tree]
            line = f"{tree}: {(many - one) / args.files * 1e6:.0f} us of CPU per small file"
            if args.large_gib:
                line += f", {(medians[sets[2][0], tree] - one) / args.large_gib:.2f} s per GiB of large files"
            print(line, flush=True)


if __name__ == "__main__":
    main()
