"""Benchmark: audit 1,000 VMs defined in libvirt's test driver (guest inspection excluded).

Two baselines measured in the same run, on the same node XML:
  virsh  one `virsh dumpxml` process per domain, timed on a sample and scaled to all;
  bare   libvirt-python in one process: one listAllDomains, one XMLDesc per domain.
The audit is the whole `vmguard audit` library call: open the driver, list, read facts,
run every check, drift, and write the JSON, HTML and Markdown reports.
Targets: audit >= 20x faster than virsh, <= 3x the bare fetch, peak RSS < 300 MB.

    python bench/bench_audit.py [--vms 1000] [--sample 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmguard.demo.build import write_lab
from vmguard.demo.lab import DomainSpec, Share

# Run in a child process each, so each side's peak memory is its own.
AUDIT = """
import json, resource, sys, time
from pathlib import Path
from vmguard.audit.run import run_audit
from vmguard.inventory.loader import load_inventory
t = time.perf_counter()
run = run_audit(load_inventory(sys.argv[1]), Path(sys.argv[2]), events=EventLog.from_environment())
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rss_mb": rss, "vms": len(run.result.vms),
                  "findings": len(run.result.outcomes)}))
"""
BARE = """
import json, resource, sys, time
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
t = time.perf_counter()
conn = libvirt.open(sys.argv[1])
xml = [d.XMLDesc(0) for d in conn.listAllDomains()]
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rss_mb": rss, "vms": len(xml)}))
"""


def specs(root: Path, count: int) -> list[DomainSpec]:
    """A realistic mix: most VMs follow the policy, every fifth has a typical mistake."""
    share = Share("input", f"{root}/vmdata/input")
    mistakes = [
        {},
        {"clipboard": True, "display_listen": "127.0.0.1"},
        {"audio": True, "usb": True},
        {"network": "user"},
        {"shares": (Share("input", share.host_path, read_only=False),)},
    ]
    return [DomainSpec(f"batch-{i:04d}", **({"shares": (share,)} | mistakes[i % 5])) for i in range(count)]


def child(code: str, *args: str, log: Path | None = None) -> dict:
    env = {**os.environ, "VMGUARD_LOG": str(log)} if log else None  # never the host's log
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=1800, env=env
    )
    return json.loads(proc.stdout)


def virsh_seconds(uri: str, names: list[str]) -> float:
    start = time.perf_counter()
    for name in names:
        subprocess.run(["virsh", "-c", uri, "dumpxml", name], capture_output=True, check=True, timeout=120)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for bare and audit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmguard-bench-") as tmp:
        root = Path(tmp)
        domains = specs(root, args.vms)
        lab = write_lab(root, domains, ["batch-*"])
        uri = f"test://{lab.node}"
        sample = [d.name for d in domains[:: max(1, args.vms // args.sample)]][: args.sample]
        virsh = virsh_seconds(uri, sample) * args.vms / len(sample)
        # best of N: the machine may be busy; each side gets the same chances
        bare = min((child(BARE, uri) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        audit = min(
            (
                child(AUDIT, str(lab.inventory), str(root / f"reports{i}"), log=root / "events.jsonl")
                for i in range(args.repeat)
            ),
            key=lambda r: r["seconds"],
        )
    print(f"VMs: {audit['vms']} audited, {audit['findings']} findings, reports in 3 formats")
    print(f"virsh dumpxml per domain: {virsh:8.2f} s (sample of {len(sample)}, scaled)")
    print(f"bare libvirt-python fetch: {bare['seconds']:8.3f} s, peak {bare['rss_mb']:.0f} MB")
    print(f"vmguard audit:            {audit['seconds']:8.3f} s, peak {audit['rss_mb']:.0f} MB")
    faster = virsh / audit["seconds"]
    overhead = audit["seconds"] / bare["seconds"]
    print(f"ratio virsh/audit = {faster:.1f}x (target >= 20x)")
    print(f"ratio audit/bare  = {overhead:.2f}x (target <= 3x)")
    print(f"peak memory       = {audit['rss_mb']:.0f} MB (target < 300 MB)")
    ok = faster >= 20 and overhead <= 3 and audit["rss_mb"] < 300
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
