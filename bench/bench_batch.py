"""Benchmark the batch hook and the fleet merge as ratios against same-run baselines.

hook   start_of_job + end_of_job (settings, pools, inventory, assignment under locks,
       sealing, `vmguard vet` child under a time limit, move-out, verdict file as the
       user, record, log) against running the same `vmguard vet ... --format json`
       command directly: the cost of the hooks' wrapping.
merge  `report merge` in-process (schema check of every file, merge, three formats)
       of H hosts' reports against json.load of the same files: the floor of reading them.

    python bench/bench_batch.py [--rounds 5] [--files 200] [--hosts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.batch.site import make_site  # noqa: E402
from vmguard.batch.config import load_batch_config  # noqa: E402
from vmguard.batch.hook import end_of_job, start_of_job  # noqa: E402
from vmguard.batch.job import BatchJob  # noqa: E402
from vmguard.batch.vetting import resolve, vet_command  # noqa: E402
from vmguard.fleet.merge import load_host_reports, merge  # noqa: E402
from vmguard.fleet.report import write_fleet_report  # noqa: E402


def _fill(share: Path, files: int) -> None:
    share.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (share / f"out-{i:05d}.txt").write_text(f"event {i} energy {i * 0.1:.1f}\n" * 20)


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_hook(rounds: int, files: int) -> dict[str, float]:
    site = make_site()
    os.environ["VMGUARD_LOG"] = str(site.log)
    config = load_batch_config(site.config)
    hook, direct = [], []
    try:
        for n in range(rounds):
            job = BatchJob(
                "bench",
                f"h{n}",
                site.user.pw_name,
                site.user.pw_uid,
                site.user.pw_gid,
                requests=("solo",),
                output_dir=str(site.work()),
            )
            started = _timed(lambda j=job: start_of_job(j, site.config, lambda _: True))
            _fill(site.quarantine("vmgjob-s1"), files)
            hook.append(started + _timed(lambda j=job: end_of_job(j, site.config)))
            raw = BatchJob("bench", f"d{n}", "nobody", 0, 0)
            held = site.root / f"direct-{n}"
            _fill(held, files)
            argv = vet_command(resolve(raw, "vmgjob-s1", "solo", held, config), raw, config)
            direct.append(_timed(lambda a=argv: subprocess.run(a, capture_output=True, check=False)))
    finally:
        site.remove()
    return {
        "hook_s": statistics.median(hook),
        "direct_vet_s": statistics.median(direct),
        "ratio": statistics.median(hook) / statistics.median(direct),
    }


def _host_reports(root: Path, hosts: int) -> list[Path]:
    shutil.copytree(REPO / "policy", root / "policy")
    inventory = root / "policy/inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: b}\nconnections:\n"
        "  - {name: t, driver: libvirt, uri: 'test:///default'}\n"
        "vms:\n  - {name: test, connection: t, policy: batch.yaml}\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vmguard",
            "audit",
            "-i",
            str(inventory),
            "--out",
            str(root / "a"),
            "--format",
            "json",
        ],
        capture_output=True,
        check=False,
        env={**os.environ, "VMGUARD_LOG": str(root / "a.jsonl")},
    )
    report = root / "a/latest/report.json"
    paths = [root / "hosts" / f"vmhost{i:04d}.json" for i in range(hosts)]
    paths[0].parent.mkdir()
    for path in paths:
        shutil.copy(report, path)
    return paths


def bench_merge(rounds: int, hosts: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="vmg-bench-merge-"))
    try:
        paths = _host_reports(root, hosts)
        full = [
            _timed(lambda: write_fleet_report(merge(load_host_reports(paths)), root / "fleet"))
            for _ in range(rounds)
        ]
        floor = [_timed(lambda: [json.loads(p.read_text()) for p in paths]) for _ in range(rounds)]
    finally:
        shutil.rmtree(root)
    return {
        "merge_s": statistics.median(full),
        "json_load_s": statistics.median(floor),
        "ratio": statistics.median(full) / statistics.median(floor),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    print(
        json.dumps(
            {"hook": bench_hook(args.rounds, args.files), "merge": bench_merge(args.rounds, args.hosts)},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
