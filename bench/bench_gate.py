"""Benchmark the start gate and watch --enforce, as ratios measured in the same run, on
the gate tests' lab (a private libvirtd in its own namespaces, TCG busybox guests).

hook     `virsh start` of the same compliant TCG domain (one host-only NIC, so the hook
         also adds and removes its firewall entries) with vmguard's hook served, against
         the same start with the hook file removed; rounds interleaved. Target <= 1.10.
enforce  after an admin's `virsh define` turns the clipboard on (a stopped domain): the
         time until `watch --enforce` has the policy back, against the time plain
         `watch` takes to notice the same change (its NEW line). Target <= 3.

  sudo python bench/bench_gate.py [--rounds 5]      (root: namespaces, libvirtd)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.gate.lab import GOOD, GOOD_NIC, SPARE, SPICE_CLIPBOARD, Watch, domain_xml_with, gate_lab, wait_for
from tests.support.guest_image import build_guest_image
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.policy.model import TransferMode


def _start(lab) -> float:
    start = time.perf_counter()
    got = lab.virsh("start", GOOD)
    took = time.perf_counter() - start
    assert got.returncode == 0, got.stderr
    assert lab.virsh("destroy", GOOD).returncode == 0
    return took


def bench_hook(lab, rounds: int) -> dict[str, float]:
    lab.factory.define(lab.factory.xml(name=GOOD, extra_devices=GOOD_NIC))
    hook = lab.hooks / "qemu.d" / "vmguard"
    text = hook.read_text()
    _start(lab)  # warm: QEMU binary and guest image in the page cache
    bare, gated = [], []
    for _ in range(rounds):
        hook.unlink()
        bare.append(_start(lab))
        hook.write_text(text)
        hook.chmod(0o755)
        gated.append(_start(lab))
    b, g = statistics.median(bare), statistics.median(gated)
    return {"rounds": rounds, "bare_start_s": b, "gated_start_s": g, "ratio": g / b}


def _changes(lab, tmp: Path, watch: Watch, needle: str, restored, rounds: int) -> list[float]:
    """Seconds from each `virsh define` to `needle` in watch's output (or to restored())."""
    drifted, clean = tmp / "drifted.xml", tmp / "clean.xml"
    clean.write_text(lab.conn.lookupByName(SPARE).XMLDesc(0))
    drifted.write_text(domain_xml_with(lab, SPARE, SPICE_CLIPBOARD))
    times = []
    for _ in range(rounds):
        changed = time.monotonic()  # virsh's own run counts on both sides
        assert lab.virsh("define", str(drifted)).returncode == 0
        if restored is None:
            times.append(watch.first(needle, changed) - changed)
            assert lab.virsh("define", str(clean)).returncode == 0
            watch.first(f"resolved VMG-DEV-001 {SPARE}", changed)
        else:
            wait_for(restored, timeout=10, step=0.005)
            times.append(time.monotonic() - changed)
        time.sleep(0.3)
    return times


def bench_enforce(lab, tmp: Path, rounds: int) -> dict[str, float]:
    lab.factory.define(lab.factory.xml(name=SPARE))
    inventory = lab.write_inventory("inv-bench.yaml")
    driver = LibvirtDriver(lab.plv.uri)
    try:
        watch = Watch(inventory)
        try:
            noticed = _changes(lab, tmp, watch, f"NEW high VMG-DEV-001 {SPARE}", None, rounds)
        finally:
            watch.close()
        watch = Watch(inventory, "--enforce")
        try:
            back = _changes(
                lab,
                tmp,
                watch,
                "",
                lambda: driver.read_facts(SPARE).clipboard.value is TransferMode.DISABLED,
                rounds,
            )
        finally:
            watch.close()
    finally:
        driver.close()
    n, r = statistics.median(noticed), statistics.median(back)
    return {"rounds": rounds, "watch_notices_s": n, "enforce_restores_s": r, "ratio": r / n}


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=5)
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["VMGUARD_LOG"] = str(root / "events.jsonl")
        os.environ["VMGUARD_STATE_DIR"] = str(root / "state")
        with gate_lab(root, build_guest_image()) as lab:
            result = {"hook": bench_hook(lab, opts.rounds), "enforce": bench_enforce(lab, root, opts.rounds)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
