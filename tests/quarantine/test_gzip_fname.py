"""A gzip's FNAME in either writer's encoding (issue #13; attack e's ctl-py-été.csv.gz):
GNU gzip writes the file name's bytes (UTF-8), Python's gzip the name in Latin-1 (RFC
1952), and none when a character has no Latin-1 byte. Each passes under its published
name, for a file and for a tar member; any other name, in either encoding, is refused."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.content import fname_spellings
from vmguard.quarantine.model import Reason, Verdict

CSV = b"run,value\n1,2\n"
POLICY = {"allow_types": ("text", "csv", "gzip", "tar")}


def _python(where: Path, name: str) -> bytes:
    """gzip.open under the file's final name (what a job does)."""
    where.mkdir(parents=True, exist_ok=True)
    with gzip.open(where / name, "wb") as f:
        f.write(CSV)
    return (where / name).read_bytes()


def _gnu(where: Path, name: str) -> bytes:
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(CSV)
    subprocess.run(["gzip", "-kf", str(where / name)], check=True)
    return (where / f"{name}.gz").read_bytes()


def _fname(data: bytes) -> bytes | None:
    if not data[3] & 0x08:
        return None
    return data[10 : data.index(b"\0", 10)]


def _tar(name: str, body: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(body), 0o644
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_the_spellings_of_a_name():
    assert fname_spellings("run.csv") == {"run.csv"}
    assert fname_spellings("\u00e9t\u00e9.csv") == {"\u00e9t\u00e9.csv", "\udce9t\udce9.csv"}
    assert fname_spellings("\u65e5\u672c.csv") == {"\u65e5\u672c.csv"}  # no Latin-1 bytes
    assert fname_spellings("\u00e9\u20ac.csv") == {"\u00e9\u20ac.csv"}  # one character without one


@pytest.mark.skipif(shutil.which("gzip") is None, reason="needs the gzip command")
def test_each_writers_fname_passes_under_its_published_name(tmp_path):
    made = tmp_path / "made"
    files = {
        "py-\u00e9t\u00e9.csv.gz": _python(made / "py", "py-\u00e9t\u00e9.csv.gz"),
        "py-\u00fcber-na\u00efve.log.gz": _python(made / "py", "py-\u00fcber-na\u00efve.log.gz"),
        "py-\u65e5\u672c.csv.gz": _python(made / "py", "py-\u65e5\u672c.csv.gz"),
        "gnu-\u00e9t\u00e9.csv.gz": _gnu(made / "gnu", "gnu-\u00e9t\u00e9.csv"),
        "gnu-\u65e5\u672c.csv.gz": _gnu(made / "gnu", "gnu-\u65e5\u672c.csv"),
    }
    assert _fname(files["py-\u00e9t\u00e9.csv.gz"]) == b"py-\xe9t\xe9.csv"  # Latin-1
    assert _fname(files["py-\u65e5\u672c.csv.gz"]) is None  # not Latin-1: no FNAME
    assert _fname(files["gnu-\u00e9t\u00e9.csv.gz"]) == "gnu-\u00e9t\u00e9.csv".encode()
    files["r\u00e9sultats.tar"] = _tar(
        "r\u00e9sultats/py-\u00e9t\u00e9.csv.gz", files["py-\u00e9t\u00e9.csv.gz"]
    )
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", **POLICY))
    for name, entry in entries.items():
        assert entry.verdict is Verdict.ACCEPTED, (name, entry)


def test_another_name_in_either_encoding_is_refused(tmp_path):
    made = tmp_path / "made"
    latin = _python(made, "\u00e9t\u00e9.csv.gz")
    files = {
        "renamed-\u00e9t\u00e9.csv.gz": latin,  # Latin-1 FNAME of another name
        "ete.csv.gz": latin,  # the accents are part of the name
        "\u00e9t\u00e9.log.gz": latin,
        "in.tar": _tar("d/other.csv.gz", latin),
        "\u00e9\u20ac.csv.gz": gzip.compress(CSV),  # the control: no FNAME passes
    }
    euro = "\u00e9\u20ac.csv"  # Windows-1252 spells the euro 0x80: no Latin-1 spelling to admit
    files["\u00e9\u20ac-1252.csv.gz"] = _with_fname(euro.replace(".csv", "-1252.csv").encode("cp1252"))
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", **POLICY))
    assert entries["\u00e9\u20ac.csv.gz"].verdict is Verdict.ACCEPTED
    for name in set(files) - {"\u00e9\u20ac.csv.gz"}:
        assert entries[name].reasons == (Reason.INVALID_FORMAT,), (name, entries[name])
        assert "gunzip -N" in entries[name].detail, name


def _with_fname(fname: bytes) -> bytes:
    plain = gzip.compress(CSV, mtime=1_700_000_000)
    return plain[:3] + b"\x08" + plain[4:10] + fname + b"\0" + plain[10:]
