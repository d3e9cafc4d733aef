"""CPU per small file of `vmguard vet`, two code trees taking turns (issue #13).

    .venv/bin/python bench/bench_vet_cpu.py OLD_TREE [NEW_TREE] [--files 5000] [--rounds 3]

On a shared machine wall time says little; CPU seconds do. Each round vets the same
files (bench_vet.py's small files of 4 KiB, on /dev/shm: no disk) once with each tree,
in turns, and prints the CPU seconds of the vet process itself (main, writer and hash
threads) and of its workers (getrusage inside the vet, at exit), then the medians. A
vet of one file is timed the same way: what every vet costs whatever its size.
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

from bench_vet import POLICY, make_small

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
    args = parser.parse_args()
    trees = [*args.trees, Path(__file__).resolve().parents[1]][:2]
    with tempfile.TemporaryDirectory(prefix="bench-vet-cpu-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        (work / "many").mkdir()
        make_small(work / "many", args.files)
        (work / "one").mkdir()
        make_small(work / "one", 1)
        for label, src in ((f"{args.files} files", work / "many"), ("1 file", work / "one")):
            runs: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
            for i in range(args.rounds):
                for tree in trees if i % 2 == 0 else trees[::-1]:
                    runs[tree].append(vet_cpu(tree, src, work / "policy.yaml", work / "public" / "job"))
            for tree, cpu in runs.items():
                shown = ", ".join(f"{p:.2f}+{w:.2f}" for p, w in cpu)
                total = statistics.median(p + w for p, w in cpu)
                print(f"{label}, {tree}: CPU parent+workers {shown} s; median {total:.2f} s", flush=True)


if __name__ == "__main__":
    main()
