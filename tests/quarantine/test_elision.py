"""Large files: the bytes a validator skips (ROOT baskets, FITS and HDF5 data) are left
out of the worker's pipe, and nothing the validator judges is.

Real files of several MiB written by uproot, astropy and h5py: promoted byte-identical
while most of their bytes never cross the pipe (the control that elision happens), and
the same files with bytes appended, or a record broken after a skipped section, are
still refused with the format's rule. A worker sent a left-out chunk where its validator
is not skipping refuses the file (a broken protocol is never read as zeros)."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import write
from tests.quarantine.test_formats import shipped
from vmguard.quarantine import detect_process
from vmguard.quarantine.detect import ELIDED, Detector
from vmguard.quarantine.model import Verdict

np = pytest.importorskip("numpy")
uproot = pytest.importorskip("uproot")
h5py = pytest.importorskip("h5py")
fits = pytest.importorskip("astropy.io.fits")

DOUBLES = 700_000  # 5.6 MB per array: several 1 MiB chunks skipped in each file


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> dict[str, bytes]:
    where = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(7)
    with uproot.recreate(where / "big.root", compression=None) as f:
        f["events"] = {"x": rng.random(DOUBLES), "y": rng.random(DOUBLES)}
    out = {"big.root": (where / "big.root").read_bytes()}  # uproot 5.7: an RNTuple's pages
    with uproot.recreate(where / "big-tree.root", compression=None) as f:  # a TTree's baskets
        f.mktree("events", {"x": np.float64, "y": np.float64})
        f["events"].extend({"x": rng.random(DOUBLES), "y": rng.random(DOUBLES)})
    out["big-tree.root"] = (where / "big-tree.root").read_bytes()
    tmp = io.BytesIO()
    fits.HDUList(
        [
            fits.PrimaryHDU(rng.random(DOUBLES).reshape(-1, 1000)),
            fits.BinTableHDU.from_columns([fits.Column(name="y", format="D", array=rng.random(DOUBLES))]),
        ]
    ).writeto(tmp)
    out["big.fits"] = tmp.getvalue()
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=rng.random(DOUBLES), chunks=(1 << 16,))
        f["y"] = rng.random(DOUBLES)
    out["big.h5"] = tmp.getvalue()
    return out


@pytest.fixture
def left_out(monkeypatch) -> list[int]:
    """The bytes of every chunk left out of a worker's pipe, as the parent sends them."""
    seen: list[int] = []
    send = Detector.send

    def counting(self, request, frame, weight=0):
        if weight:
            seen.append(weight)
        return send(self, request, frame, weight)

    monkeypatch.setattr(Detector, "send", counting)
    return seen


def vet(tmp_path: Path, files: dict[str, bytes]):
    q = tmp_path / "q"
    for name, data in files.items():
        write(q / name, data)
    result = vmguard.vet(q, shipped("batch.yaml"), tmp_path / "pub" / "run1")
    return {e.path: e for e in result.entries}


def test_skipped_data_is_left_out_and_the_files_are_promoted_byte_identical(tmp_path, large, left_out):
    entries = vet(tmp_path, large)
    for name, data in large.items():
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == data
        assert entries[name].sha256 == hashlib.sha256(data).hexdigest()
    total = sum(len(d) for d in large.values())
    assert sum(left_out) > total // 2, "control: most of the data never crossed the pipe"


def test_what_follows_a_skipped_section_is_still_judged(tmp_path, large, left_out):
    """Appended bytes, and a ROOT record whose key is broken after a skipped basket:
    refused with the format's rule, although the data before them was left out."""
    root = large["big.root"]
    begin = struct.unpack_from(">i", root, 8)[0]  # fBEGIN: the first record
    records, pos = [], begin
    while pos < len(root) - 4 and len(records) < 50:  # walk the records: (offset, Nbytes)
        nbytes = struct.unpack_from(">i", root, pos)[0]
        if nbytes <= 0:
            break
        records.append((pos, nbytes))
        pos += nbytes
    big = max(range(len(records) - 1), key=lambda i: records[i][1])  # a basket, then a record
    after = records[big + 1][0]
    broken = bytearray(root)
    struct.pack_into(">i", broken, after + 4 + 2 + 4 + 4 + 2 + 2, after + 8)  # its seek key lies
    files = {f"tail-{name}": data + b"\x7fELF" + b"\0" * 60 for name, data in large.items()}
    files["record-after-basket.root"] = bytes(broken)
    files["control.root"] = root
    entries = vet(tmp_path, files)
    assert entries["control.root"].verdict is Verdict.ACCEPTED
    assert records[big][1] > 2 << 20, "control: the broken record follows a basket of MiBs"
    assert "are neither a record nor in a segment" in entries["record-after-basket.root"].detail
    assert "root: bytes after fEND" in entries["tail-big.root"].detail
    assert "root: bytes after fEND" in entries["tail-big-tree.root"].detail
    assert "fits: bytes after the last HDU" in entries["tail-big.fits"].detail
    assert "hdf5: bytes after the superblock's end-of-file address" in entries["tail-big.h5"].detail
    assert all(entries[n].verdict is Verdict.REJECTED for n in files if n != "control.root")
    assert sum(left_out) > 3 * (4 << 20), "control: data before the broken parts was left out"


@pytest.mark.parametrize("before", [b"", b"plain text, then a chunk left out\n" * 30])
def test_a_chunk_left_out_where_the_validator_reads_refuses_the_file(before):
    """The parent is trusted to leave out only what was hinted; if it did not (at the
    head, or inside the validator's reading), the worker stops rather than judge zeros
    or lose its place in the stream: no answer, so the file is refused, and the next
    file gets its own answer from a fresh worker."""
    with Detector(workers=1) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"  # control
        upload = detector.begin()
        if before:
            upload.feed(before)
        detector.send(upload.request, detect_process.FRAME.pack(ELIDED | 4096), weight=4096)
        upload.feed(b"more text after it\n")
        pending = upload.end()
        script = detector.submit(b"#!/bin/sh\necho next file\n")
        assert pending.result() is None
        assert "ended" in pending.why_none()
        assert script.result().mime == "text/x-shellscript"  # in step: its own answer
