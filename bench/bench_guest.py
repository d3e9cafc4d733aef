"""Benchmark: per-VM guest inspection time, against a bare libguestfs appliance boot.

Baseline, measured in the same run: one libguestfs appliance launched on an empty
scratch disk and shut down (the irreducible cost of reading any disk offline).
Measured: vmguard's whole offline inspection of the test guests (Debian with dpkg,
RHEL 6 with a Berkeley DB rpm database): worker process, appliance, OS inspection,
every parser; with and without the optional permission scan; and a cache hit.
Targets: inspection <= 2x the bare appliance boot (libguestfs's own inspect_os is
most of the rest); a cache hit <= 1/100 of it.

    python bench/bench_guest.py [--repeat 2]

Here (no usable KVM) set LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.guest.images

from tests.guest import images  # noqa: E402
from vmguard.facts.vm import Disk, VmFacts  # noqa: E402
from vmguard.guest import inspect  # noqa: E402
from vmguard.guest.cache import GuestCache  # noqa: E402


def bare_appliance() -> float:
    import guestfs

    start = time.monotonic()
    g = guestfs.GuestFS(python_return_dict=True)
    g.add_drive_scratch(16 * 1024 * 1024)
    g.launch()
    g.shutdown()
    g.close()
    return time.monotonic() - start


def inspection(image: Path, cache: GuestCache, scan: bool) -> float:
    vm = VmFacts(image.stem, "libvirt", disks=(Disk(str(image), "raw"),))
    start = time.monotonic()
    inspect(vm, cache=cache, scan_files=scan, timeout=600)
    return time.monotonic() - start


def build(work: Path) -> dict[str, Path]:
    (work / "rpm-work").mkdir()
    dpkg = images.dpkg_root(work / "dpkg-root")
    rpm = images.rpm_root(work / "rpm-root", work / "rpm-work")
    return {
        "debian12-dpkg": images.ext4_image(dpkg, work / "debian12.img"),
        "rhel6-bdb-rpm": images.ext4_image(rpm, work / "rhel6.img"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        guests = build(work)
        bare_appliance()  # builds libguestfs's appliance on a first run: not timed
        base = statistics.median(bare_appliance() for _ in range(args.repeat))
        print(f"baseline  bare appliance boot           {base:6.1f} s")
        for name, image in guests.items():
            for scan in (False, True):
                runs = [inspection(image, GuestCache(work / f"c{i}{scan}"), scan) for i in range(args.repeat)]
                took = statistics.median(runs)
                label = f"{name}{' +scan' if scan else ''}"
                print(f"inspect   {label:30s} {took:6.1f} s   {took / base:5.2f}x baseline")
            cache = GuestCache(work / "c0False")
            hit = statistics.median(inspection(image, cache, False) for _ in range(5))
            print(f"cache hit {name:30s} {hit * 1000:6.1f} ms  {hit / base:7.4f}x baseline")


if __name__ == "__main__":
    main()
