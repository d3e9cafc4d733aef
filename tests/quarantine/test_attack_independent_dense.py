"""Independent black-box attacks on `vmguard vet`'s HDF5 walk: dense link and attribute
storage (fractal heaps, v2 B-trees, free-space managers), variable-length strings in
chunked datasets, and filters other than deflate/shuffle/fletcher32 (issue #13).

The claim (docs/quarantine.md): an HDF5 file is published only if every byte belongs to
exactly one structure reached from the root group and holds exactly what that structure
needs, or is zero; anything not understood is refused with a reason.

Written without reading vmguard's code. h5py writes every file, struct patches bytes from
the file format specification, and every lookup3 checksum is recomputed after a patch, so
only the walk's rules can catch it (tests/support/hdf5_dense_files.py,
hdf5_vlen_files.py). Files are vetted as a job runner does (`python -m vmguard vet Q
--policy batch.yaml --to PUB --job ID`, the SHIPPED batch policy; the harness of
test_attack_independent_hdf5.py), one vet per kind, each file's verdict read from the JSON
report. A hole is a failing test; holes that remain are strict xfails naming them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("h5py")

from tests.quarantine import test_attack_independent_hdf5 as harness  # noqa: E402
from tests.quarantine.test_attack_independent_hdf5 import Run, known, vet  # noqa: E402
from tests.support.hdf5_dense_attr_files import DENSE  # noqa: E402
from tests.support.hdf5_dense_bases import BASES, EDGE_BASES, PAYLOAD, controls  # noqa: E402
from tests.support.hdf5_hostile_files import FILTERS, HOSTILE  # noqa: E402
from tests.support.hdf5_vlen_files import VLEN  # noqa: E402

# The harness's module fixtures: a test clamd, the shipped batch policy pointed at it.
clamd, shipped_batch = harness.clamd, harness.shipped_batch

ATTACKS = {**DENSE, **VLEN, **FILTERS}

# Found open against hdf5dense at 55cb609, all closed on branch hdf5holes (edge chunks,
# creation orders, tuning fields): strict xfails naming a hole (bytes no reader returns,
# published) go here.
HOLES: dict[str, str] = {}
# The lab's ordinary h5py output refused: strict xfails, false rejections.
FALSE_REJECTIONS: dict[str, str] = {}


def _param(names, table):
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n])) if n in table else n
        for n in names
    ]


def _dump(run: Run, job: str) -> Run:
    """With VMGUARD_ATTACK_DUMP=DIR, each run's JSON report is kept there (for the report)."""
    if os.environ.get("VMGUARD_ATTACK_DUMP"):
        Path(os.environ["VMGUARD_ATTACK_DUMP"], f"{job}.json").write_text(json.dumps(run.report, indent=1))
    return run


def _build(table: dict, where: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    files, broken = {}, {}
    for name, make in table.items():
        d = where / name
        d.mkdir(parents=True)
        try:
            files[f"{name}.h5"] = make(d)
        except Exception as exc:  # reported by the attack's own test
            broken[name] = f"{type(exc).__name__}: {exc}"
    return files, broken


@pytest.fixture(scope="module")
def attack_run(shipped_batch, tmp_path_factory):
    where = tmp_path_factory.mktemp("dense-attacks")
    files, broken = _build(ATTACKS, where / "build")
    return _dump(vet(shipped_batch, where, files, "h5-dense-attacks"), "attacks"), broken, files


@pytest.fixture(scope="module")
def hostile_run(shipped_batch, tmp_path_factory):
    where = tmp_path_factory.mktemp("dense-hostile")
    files, broken = _build(HOSTILE, where / "build")
    return _dump(vet(shipped_batch, where, files, "h5-dense-hostile", peak_rss=True), "hostile"), broken


def _controls(shipped_batch, tmp_path_factory, table, job):
    where = tmp_path_factory.mktemp(job)
    (where / "build").mkdir()
    files = controls(where / "build", table)
    return _dump(vet(shipped_batch, where, files, job), job), files


@pytest.fixture(scope="module")
def control_run(shipped_batch, tmp_path_factory):
    return _controls(shipped_batch, tmp_path_factory, BASES, "h5-dense-controls")


@pytest.fixture(scope="module")
def edge_run(shipped_batch, tmp_path_factory):
    return _controls(shipped_batch, tmp_path_factory, EDGE_BASES, "h5-dense-edges")


def assert_refused_by_hdf5(run: Run, name: str, broken: dict[str, str]) -> None:
    assert name not in broken, f"the attack could not be built: {broken[name]}"
    entry = run.entry(f"{name}.h5")
    assert entry["verdict"] == "rejected", f"{name} got out: {entry}"
    assert "invalid-format" in entry["reasons"] and entry["detail"].startswith("hdf5"), (
        f"{name} rejected, but not by the HDF5 rules: {entry}"
    )


@pytest.mark.parametrize("name", _param(ATTACKS, HOLES))
def test_attack_is_refused_by_the_hdf5_rules(attack_run, name):
    run, broken, _ = attack_run
    assert_refused_by_hdf5(run, name, broken)


@known("test_attacks_publish_nothing", HOLES)
def test_attacks_publish_nothing(attack_run):
    """All-or-nothing: exit 1, the public area untouched, the payload nowhere in it."""
    run, _, _ = attack_run
    assert run.rc == 1 and run.report["status"] == "rejected", run.stderr[-2000:]
    assert not run.out.exists()


@pytest.mark.parametrize("name", _param(HOSTILE, HOLES))
def test_hostile_structure_is_refused(hostile_run, name):
    run, broken = hostile_run
    assert_refused_by_hdf5(run, name, broken)


@known("test_hostile_structures_fail_fast_in_bounded_memory", HOLES)
def test_hostile_structures_fail_fast_in_bounded_memory(hostile_run):
    """Loops, 2**40 paths through shared B-tree nodes, 4 GiB nodes, 65535 rows: one vet of
    all of them well inside the worker's stall limit, no process above 300 MB."""
    run, _ = hostile_run
    peak_mb = int(run.stderr.strip().splitlines()[-1]) / 1024
    assert run.cpu < 40, f"vet of the hostile files took {run.cpu:.1f} s of CPU"
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"
    assert run.rc == 1, run.stderr[-2000:]


@pytest.mark.parametrize("name", _param([f"{n}.h5" for n in BASES], FALSE_REJECTIONS))
def test_control_is_accepted(control_run, name):
    run, files = control_run
    entry = run.entry(name)
    assert entry["verdict"] == "accepted", entry
    assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()


@known("test_controls_are_published_byte_identical", FALSE_REJECTIONS)
def test_controls_are_published_byte_identical(control_run):
    run, files = control_run
    assert run.rc == 0, (run.report.get("rejected"), run.stderr[-2000:])
    assert {p.name: p.read_bytes() for p in run.out.iterdir()} == files


@pytest.mark.parametrize("name", _param([f"{n}.h5" for n in EDGE_BASES], FALSE_REJECTIONS))
def test_huge_heap_objects_are_accepted_or_refused_by_name(edge_run, name):
    """Heap objects over the 4 KiB managed limit (a 160 KB attribute, 6 KB soft links):
    legal h5py output; published byte-identical, or refused naming what is not supported."""
    run, files = edge_run
    entry = run.entry(name)
    if entry["verdict"] == "accepted":
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert run.rc != 0 or (run.out / name).read_bytes() == files[name]
    else:
        assert "not supported" in entry["detail"], entry


def test_payload_is_really_in_the_attack_files(attack_run):
    """Control of the attacks themselves: the payload (or a piece of it) is in the files
    that carry it, so a refusal is about those bytes."""
    _, broken, files = attack_run
    carrying = [n for n in ("fhdb_free_space", "btlf_padding", "object_unreferenced", "fsse_slack")
                if n not in broken]  # fmt: skip
    assert carrying and all(PAYLOAD in files[f"{n}.h5"] for n in carrying)


@pytest.fixture(scope="module")
def accepted_run(shipped_batch, tmp_path_factory, attack_run):
    """The attack files the walk accepted, vetted again as a job of their own (so they are
    published): what a guest gets out through each hole."""
    run, _, files = attack_run
    accepted = {n: files[n] for n, e in run.entries.items() if e["verdict"] == "accepted"}
    if not accepted:
        return None, {}
    return vet(shipped_batch, tmp_path_factory.mktemp("accepted"), accepted, "h5-dense-accepted"), accepted


@known("test_no_payload_reaches_the_public_area", HOLES)
def test_no_payload_reaches_the_public_area(accepted_run):
    """Control of the verdicts above from the public area's side: no published file holds
    the payload's first 4 bytes (every attack writes the payload from its start)."""
    run, accepted = accepted_run
    out = {}
    if run is not None and run.out.exists():
        out = {p.name: p.read_bytes().find(PAYLOAD[:4]) for p in run.out.iterdir()}
    assert not {n: at for n, at in out.items() if at >= 0}, f"published with the payload at: {out}"
