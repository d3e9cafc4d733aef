"""Benchmark the drivers as ratios against baselines measured in the same run.

vbox    read_settings_file (facts + snapshot diffs) on every .vbox fixture, against a
        bare lxml parse of the same bytes (the floor any reader pays).
apply   plan + apply (read persistent XML, transform, defineXML) of N forbidden
        domains on libvirt's test driver, against a bare defineXML of the already
        transformed XML (the floor of a redefine).

  python bench/bench_drivers.py [--rounds 50] [--vms 200]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from lxml import etree

from tests.drivers.conftest import TESTNODE, batch_policy
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.drivers.vbox.file import read_settings_file
from vmguard.enforce.plan import make_plan

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "vbox"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_vbox(rounds: int) -> dict[str, float]:
    files = sorted(FIXTURES.glob("*.vbox"))
    blobs = [f.read_bytes() for f in files]
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    bare = _timed(lambda: [etree.fromstring(b, parser) for _ in range(rounds) for b in blobs])
    ours = _timed(lambda: [read_settings_file(f) for _ in range(rounds) for f in files])
    return {"files": len(files) * rounds, "bare_s": bare, "vmguard_s": ours, "ratio": ours / bare}


def _node(count: int) -> str:
    """testnode.xml with the forbidden domain copied `count` times, shut off."""
    root = etree.parse(str(TESTNODE)).getroot()  # our own fixture, trusted
    template = next(d for d in root.findall("domain") if d.findtext("name") == "exposed")
    for el in root.findall("domain"):
        root.remove(el)
    for i in range(count):
        dom = etree.fromstring(etree.tostring(template))
        dom.find("name").text = f"exposed-{i}"
        dom.remove(dom.find("uuid"))
        root.append(dom)
    return etree.tostring(root, encoding="unicode")


def bench_apply(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        node = Path(tmp) / "node.xml"
        node.write_text(_node(count))
        os.environ["VMGUARD_LOG"] = f"{tmp}/log"
        driver = LibvirtDriver(f"test://{node}")
        names = driver.list_vms()
        for name in names:
            driver.power_off(name)
        policy = batch_policy()
        plans = {n: make_plan(policy, driver.read_facts(n), driver.capabilities) for n in names}
        ours = _timed(lambda: [driver.apply(n, plans[n], dry_run=False) for n in names])
        applied = {n: driver.persistent_xml(n) for n in names}
        bare = _timed(lambda: [driver.conn.defineXML(applied[n]) for n in names])
        driver.close()
    return {"vms": count, "bare_s": bare, "vmguard_s": ours, "ratio": ours / bare}


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=50)
    args.add_argument("--vms", type=int, default=200)
    opts = args.parse_args()
    print(json.dumps({"vbox": bench_vbox(opts.rounds), "apply": bench_apply(opts.vms)}, indent=2))


if __name__ == "__main__":
    main()
