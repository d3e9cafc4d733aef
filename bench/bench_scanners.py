"""Benchmark vet's scanner engines against their baselines, in the same run (issue #20).

    .venv/bin/python bench/bench_scanners.py [--gib 2] [--small-files 20000] [--dir /var/tmp]

  clamd: `vmguard vet` with the clamd engine on mixed output (large binaries, medium
         files, small text) vs `clamdscan --fdpass --multiscan` of the same files alone,
         on the same clamd (tests/support/clamd.py: own socket, test-built database).
         Target: vet's total at most 1.25x the scan alone (the scan dominates).
  yara:  vet with the shipped YARA rules on 20,000 files of 4 KiB vs the same vet
         without scanning. Target: at least 0.4x its throughput.

--rounds runs of each side, taking turns at going first; every run is printed with its
CPU seconds (vet's own, and clamd's share), and the ratios use the medians.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_vet import make_small, timed, timed_vet, warm  # noqa: E402

from tests.support.clamd import ClamdServer  # noqa: E402

POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: bench}}
spec:
  quarantine:
    max_file_size: 64GiB
    max_total_size: 64GiB
    max_files: 1000000
    allow_types: [text/plain, {{type: application/octet-stream, validate: head-only}}]
{scanners}"""


def make_mixed(src: Path, gib: float) -> None:
    """A batch job's output: half the bytes in 128 MiB binaries (event files), 45% in
    1-8 MiB files, 5% in logs of 4-100 KiB (about 2,000 files per 2 GiB)."""
    total = int(gib * 2**30)
    block = random.randbytes(16 << 20)
    for i in range(max(1, total // 2 // (128 << 20))):
        with open(src / f"large{i}.bin", "wb") as fh:
            for j in range(8):
                fh.write(_binary(i, j, block))
    (src / "medium").mkdir()
    left, i = int(total * 0.45), 0
    while left > 0:
        size = random.randint(1, 8) << 20
        (src / "medium" / f"m{i:04}.dat").write_bytes(_binary(i, 0, block)[:size])
        left, i = left - size, i + 1
    (src / "logs").mkdir()
    words = [b"event", b"energy", b"track", b"muon", b"jet", b"vertex", b"run", b"hit", b"INFO"]
    left, i = int(total * 0.05), 0
    while left > 0:
        size = random.randint(4 << 10, 100 << 10)
        line = b" ".join(random.choices(words, k=10)) + b"\n"
        (src / "logs" / f"job{i:05}.log").write_bytes((b"%d " % i + line * (size // len(line) + 1))[:size])
        left, i = left - size, i + 1


def _binary(i: int, j: int, block: bytes) -> bytes:
    """Random bytes behind a neutral header: random heads alone are now and then read
    as x-dosexec, zlib or an Amiga font by libmagic, and rejected as a type."""
    return b"VMGUARD-BENCH\0\xff\xfe" + bytes([i % 256, j]) + block[18:]


def cpu_of(pid: int) -> float:
    """CPU seconds a process has used so far (clamd's share of a run)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def policy(work: Path, name: str, scanners: str) -> Path:
    path = work / f"{name}.yaml"
    path.write_text(POLICY.format(scanners=scanners))
    return path


def median(name: str, runs: dict[str, list[tuple[float, ...]]]) -> dict[str, tuple[float, ...]]:
    """Per side the median of each column (wall seconds, then CPU seconds)."""
    for side, times in runs.items():
        print(f"  {name} {side}: " + ", ".join(" / ".join(f"{x:.2f}" for x in t) for t in times), flush=True)
    return {side: tuple(map(statistics.median, zip(*times, strict=True))) for side, times in runs.items()}


def bench_clamd(work: Path, gib: float, rounds: int) -> float:
    src = work / "src"
    src.mkdir(parents=True)
    make_mixed(src, gib)
    warm(src)
    server = ClamdServer(work / "clamd", threads=4).start()
    try:
        scanners = f"    scanners: {{clamd: {{socket: {server.socket}, timeout: 600s}}}}\n"
        scanned = policy(work, "clamd", scanners)
        runs: dict[str, list[tuple[float, ...]]] = {"clamdscan": [], "vet": []}
        for i in range(rounds):
            for side in ("clamdscan", "vet") if i % 2 == 0 else ("vet", "clamdscan"):
                before = cpu_of(server.proc.pid)
                if side == "clamdscan":
                    wall, cpu = timed(
                        f"clamdscan -c {server.config} --fdpass --multiscan --no-summary --quiet {src}"
                    )
                else:
                    (work / f"vet{i}").mkdir()
                    wall, cpu, _ = timed_vet(src, work / f"vet{i}", scanned)
                clamd_cpu = cpu_of(server.proc.pid) - before
                print(f"  {side}: {wall:.2f} s, its CPU {cpu:.2f} s, clamd's {clamd_cpu:.2f} s", flush=True)
                runs[side].append((wall, cpu, clamd_cpu))
    finally:
        server.stop()
    print("  (wall s / client CPU s / clamd CPU s)")
    times = median("clamd", runs)
    ratio = times["vet"][0] / times["clamdscan"][0]
    cpu_ratio = sum(times["vet"][1:]) / sum(times["clamdscan"][1:])
    print(
        f"clamd on {gib:g} GiB mixed, medians of {rounds}: clamdscan alone {times['clamdscan'][0]:.2f} s, "
        f"vet with clamd {times['vet'][0]:.2f} s: {ratio:.2f}x the scan (target <= 1.25x); "
        f"CPU (client + clamd) {cpu_ratio:.2f}x",
        flush=True,
    )
    return ratio


def bench_yara(work: Path, count: int, rounds: int) -> float:
    src = work / "src"
    src.mkdir(parents=True)
    make_small(src, count)
    warm(src)
    plain = policy(work, "plain", "")
    scanned = policy(work, "yara", "    scanners: {yara: {shipped: true}}\n")
    runs: dict[str, list[tuple[float, ...]]] = {"no scan": [], "yara": []}
    for i in range(rounds):
        for side in ("no scan", "yara") if i % 2 == 0 else ("yara", "no scan"):
            out = work / f"{side.replace(' ', '-')}{i}"
            out.mkdir()
            runs[side].append(timed_vet(src, out, scanned if side == "yara" else plain)[:2])
    print("  (wall s / CPU s)")
    times = median("yara", runs)
    ratio = times["no scan"][0] / times["yara"][0]
    print(
        f"yara on {count} files of 4 KiB, medians of {rounds}: vet {times['no scan'][0]:.2f} s, "
        f"with shipped rules {times['yara'][0]:.2f} s: {ratio:.2f}x the throughput (target >= 0.4x); CPU "
        f"{times['no scan'][1] / times['yara'][1]:.2f}x",
        flush=True,
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--only", choices=("clamd", "yara"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scan-", dir=args.dir) as tmp:
        if args.only != "yara":
            bench_clamd(Path(tmp) / "clamd", args.gib, args.rounds)
        if args.only != "clamd":
            bench_yara(Path(tmp) / "yara", args.small_files, args.rounds)


if __name__ == "__main__":
    main()
