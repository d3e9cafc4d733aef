"""Benchmark `vmguard vet` against the shell baselines of issue #5, in the same run.

    .venv/bin/python bench/bench_vet.py [--large-gib 2] [--small-files 20000] [--dir /var/tmp]
    .venv/bin/python bench/bench_vet.py --quick   # 0.75 GiB, 5,000 files, 3 rounds: about a minute
    .venv/bin/python bench/bench_vet.py --large-only   # the large files alone

Prints throughput ratios (baseline time / vet time: >= 1.0 means vet is as fast):
  large: 2 GiB of real ROOT, FITS and HDF5 files (written by uproot, astropy and h5py),
         every byte validated, vet vs `openssl dgst -sha256` of every file + `cp -r`
  small: 20,000 files of 4 KiB, vet vs `cp -r` + `openssl dgst -sha256` of each + `sync`
and the vet process's peak RSS (its own and its libmagic workers', from wait4), also over
100,000 files of 100 bytes (memory grows with the file count), and of a rerun of that
job (already-promoted: the first vet's manifest read, the quarantine walked again). CPU seconds are printed
too: on a loaded machine they compare better than wall time. Each round runs both sides
back to back (taking turns at going first); the ratio printed is the median of the
rounds' own ratios, with the medians of each side's wall and CPU seconds. For the large
files the baseline's `sync` (the disk writes its `cp -r` left in the cache, which vet
makes durable before it publishes) is timed on its own after it and shown beside, and
so is the disk alone: `dd oflag=direct conv=fsync` of as many bytes (vet cannot be
faster than that, the baseline without its sync can). Content-type detection is on.
Caches are warmed and dirty pages synced before each timing. vmguard's modules are
compiled first, as an installed package's are: with PYTHONDONTWRITEBYTECODE set (or a
tree nobody compiled), every vet and each of its sandboxed workers, which cannot
write .pyc files, would compile them again (0.3-0.4 s of CPU per vet).

Run it on a quiet filesystem: for a few minutes after tens of thousands of files were
deleted (a previous run's clean-up, a test suite), ext4 creates files up to 30 times
slower, both sides take 6-12 s and the small-file ratio means nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: bench}
spec:
  quarantine:
    max_file_size: 64GiB
    max_total_size: 64GiB
    max_files: 1000000
    allow_types: [text, root, fits, hdf5]
"""
ROOT = Path(__file__).resolve().parents[1]


def make_large(src: Path, gib: float) -> None:
    """256 MiB files of random doubles, in turn ROOT (a TTree), FITS (an image and a
    binary table) and HDF5 (a chunked and a contiguous dataset)."""
    import h5py
    import numpy as np
    import uproot
    from astropy.io import fits

    rng = np.random.default_rng(5)
    half = (128 << 20) // 8
    for i in range(max(1, int(gib * 4))):
        a, b = rng.random(half), rng.random(half)
        if i % 3 == 0:
            with uproot.recreate(src / f"large{i}.root", compression=None) as f:
                f["events"] = {"x": a, "y": b}
        elif i % 3 == 1:
            table = fits.BinTableHDU.from_columns([fits.Column(name="y", format="D", array=b)])
            fits.HDUList([fits.PrimaryHDU(a.reshape(-1, 1024)), table]).writeto(src / f"large{i}.fits")
        else:
            with h5py.File(src / f"large{i}.h5", "w") as f:
                f.create_dataset("x", data=a, chunks=(1 << 20,))
                f["y"] = b


def make_small(src: Path, count: int, size: int = 4096) -> None:
    words = [b"event", b"energy", b"track", b"muon", b"jet", b"vertex", b"run", b"hit"]
    for i in range(count):
        d = src / f"d{i // 1000:03}"
        if i % 1000 == 0:
            d.mkdir()
        line = b" ".join(random.choice(words) for _ in range(8)) + b"\n"
        (d / f"f{i:06}.txt").write_bytes((b"event %d " % i + line * 100)[:size])


def warm(src: Path) -> None:
    subprocess.run(f"cat $(find {src} -type f) > /dev/null", shell=True, check=True)
    os.sync()


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def timed(cmd: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (all processes) of a shell command."""
    os.sync()
    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    start = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - start, _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before


def timed_vet(src: Path, dst: Path, policy: Path) -> tuple[float, float, int]:
    os.sync()
    argv = [
        sys.executable,
        "-m",
        "vmguard",
        "vet",
        str(src),
        "--policy",
        str(policy),
        "--to",
        str(dst / "job"),
        "--job",
        "bench",
    ]
    env = dict(os.environ, VMGUARD_LOG=str(dst.parent / "events.jsonl"))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"vet failed with status {status}")
    return elapsed, _cpu(usage), usage.ru_maxrss * 1024  # usage includes its workers


def disk_floor(target: Path, size: int) -> float:
    """Seconds to write `size` bytes straight to this disk and flush them: what vet's
    copy, which makes its output durable before it publishes it, waits for at least.
    `target` is kept to the end, like every other copy: this filesystem is mounted with
    `discard`, and a deleted file's discards would slow whichever side ran next."""
    os.sync()
    start = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=8M", f"count={-(-size // (8 << 20))}"]
        + ["oflag=direct", "conv=fsync"],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def compile_tree() -> None:
    """Compile vmguard's modules, as pip does when it installs them (see the docstring)."""
    argv = [sys.executable, "-m", "compileall", "-q", str(ROOT / "vmguard")]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def clean(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def compare(
    name: str, work: Path, baseline: str, policy: Path, rounds: int, timed_sync: bool = False
) -> tuple[float, int]:
    """Both sides `rounds` times, taking turns at going first; every run is printed.

    Every run writes to a fresh directory and nothing is deleted until the end: on ext4,
    creating files soon after deleting tens of thousands is several times slower, which
    would penalise whichever side runs after a clean-up. On a virtual machine whose
    memory the host reclaims, a run that gets fresh pages for its copy can take several
    times longer than one that does not: the spread shows it."""
    src = work / "src"
    warm(src)
    bases: list[tuple[float, float]] = []
    syncs: list[float] = []
    floors: list[float] = []
    size = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
    vets: list[tuple[float, float]] = []
    peak = 0
    for i in range(rounds):
        (work / f"vet{i}").mkdir()
        for side in ("base", "vet") if i % 2 == 0 else ("vet", "base"):
            if side == "base":
                bases.append(timed(baseline.format(src=src, dst=work / f"base{i}")))
                if timed_sync:
                    start = time.perf_counter()
                    os.sync()
                    syncs.append(time.perf_counter() - start)
                    floors.append(disk_floor(work / f"floor{i}.bin", size))
            else:
                elapsed, cpu, rss = timed_vet(src, work / f"vet{i}", policy)
                vets.append((elapsed, cpu))
                peak = max(peak, rss)
    ratio = statistics.median(b[0] / v[0] for b, v in zip(bases, vets, strict=True))
    med = [[statistics.median(x) for x in zip(*side, strict=True)] for side in (bases, vets)]
    print(
        f"{name}: ratio {ratio:.2f}x (median of {rounds} rounds); baseline {med[0][0]:.2f} s "
        f"({med[0][1]:.2f} s CPU), vmguard vet {med[1][0]:.2f} s ({med[1][1]:.2f} s CPU), "
        f"vet peak RSS {peak / 2**20:.0f} MiB\n"
        f"  all runs: baseline {_runs(bases)}; vet {_runs(vets)}",
        flush=True,
    )
    if timed_sync:
        durable = statistics.median((b[0] + s) / v[0] for b, s, v in zip(bases, syncs, vets, strict=True))
        print(
            f"  the baseline's sync afterwards: {', '.join(f'{s:.2f}' for s in syncs)} s; "
            f"against baseline + sync (both durable): {durable:.2f}x\n"
            f"  the disk alone (dd oflag=direct conv=fsync of {size / 2**30:.2f} GiB): "
            f"{', '.join(f'{f:.2f}' for f in floors)} s; vet's time over it: "
            f"{statistics.median(v[0] / f for v, f in zip(vets, floors, strict=True)):.2f}x",
            flush=True,
        )
    return ratio, peak


def _runs(runs: list[tuple[float, float]]) -> str:
    return ", ".join(f"{t:.2f} ({c:.1f} CPU)" for t, c in runs) + " s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-gib", type=float, default=2.0)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--many-files", type=int, default=100_000, help="for peak memory only")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="0.75 GiB (one file of each format), 5,000 and 20,000 files: about a minute",
    )
    parser.add_argument("--large-only", action="store_true", help="only the large files")
    parser.add_argument("--make-large", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.large_gib, args.small_files, args.many_files = 0.75, 5_000, 20_000
    if args.make_large:
        make_large(Path(args.make_large), args.large_gib)
        return
    compile_tree()
    with tempfile.TemporaryDirectory(prefix="bench-vet-", dir=args.dir) as tmp:
        work = Path(tmp)
        policy = work / "policy.yaml"
        policy.write_text(POLICY)
        (work / "large" / "src").mkdir(parents=True)
        # In a child: the tools' memory would otherwise count in every vet's peak RSS
        # (a forked child's ru_maxrss starts at its parent's).
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--make-large",
                str(work / "large" / "src"),
                "--large-gib",
                str(args.large_gib),
            ],
            check=True,
        )
        large = compare(
            "large files",
            work / "large",
            "openssl dgst -sha256 {src}/* > /dev/null && cp -r {src} {dst}",
            policy,
            args.rounds,
            timed_sync=True,
        )
        clean(work / "large")
        if args.large_only:
            print(f"target: large >= 1.0x ({large[0]:.2f}x)")
            return
        (work / "small" / "src").mkdir(parents=True)
        make_small(work / "small" / "src", args.small_files)
        small = compare(
            "small files",
            work / "small",
            "cp -r {src} {dst} && find {dst} -type f -print0 | "
            "xargs -0 openssl dgst -sha256 > /dev/null && sync",
            policy,
            args.rounds,
        )
        clean(work / "small")
        many = many_files(work / "many", args.many_files, policy)
    print(
        f"targets: large >= 1.0x ({large[0]:.2f}x), small >= 0.5x ({small[0]:.2f}x), "
        f"peak RSS < 150 MiB ({max(large[1], small[1], many) / 2**20:.0f} MiB)"
    )


def many_files(work: Path, count: int, policy: Path) -> int:
    """Memory grows with the number of files (one entry each), not with their bytes. The
    same command again is a rerun (`already-promoted`): it reads the first one's manifest
    (~30 MB at 100,000 files) and walks the quarantine again."""
    (work / "src").mkdir(parents=True)
    make_small(work / "src", count, size=100)
    (work / "vet").mkdir()
    peaks = []
    for run in ("vmguard vet", "its rerun"):
        elapsed, _, rss = timed_vet(work / "src", work / "vet", policy)
        print(f"{count} files of 100 B: {run} {elapsed:.1f} s, peak RSS {rss / 2**20:.0f} MiB", flush=True)
        peaks.append(rss)
    return max(peaks)


if __name__ == "__main__":
    main()
