"""A gzip's FNAME is one its writer puts there for the published name (issue #13, session
33): GNU gzip -S SUFFIX writes the original name, which gunzip restores by its suffix
rule (x.csv_z, x.csv.z, x.csv-gz; x.tgz and x.taz to x.tar), Python's gzip module the
file object's name without ".gz" (tarfile's x.tgz keeps its name), tar czf none. Every
file here is written by the real tool under its published name and passes; an FNAME that
differs in any other way (a rename after writing, a suffix gunzip does not strip) is
refused."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.content import written_fnames
from vmguard.quarantine.model import Reason, Verdict

CSV = b"run,value\n1,2\n"
POLICY = {"allow_types": ("text", "csv", "gzip", "tar")}
pytestmark = pytest.mark.skipif(
    shutil.which("gzip") is None or shutil.which("tar") is None, reason="needs gzip and tar"
)


def _fname(data: bytes) -> bytes | None:
    if not data[3] & 0x08:
        return None
    return data[10 : data.index(b"\0", 10)]


def _gnu(where: Path, name: str, *options: str) -> Path:
    """gzip(1) OPTIONS NAME in a directory of its own: the file it leaves."""
    where.mkdir(parents=True)
    (where / name).write_bytes(CSV)
    subprocess.run(["gzip", *options, name], cwd=where, check=True)
    (made,) = (p for p in where.iterdir() if p.name != name)
    return made


def _tar_dir(where: Path) -> Path:
    (where / "run").mkdir(parents=True)
    (where / "run" / "r.csv").write_bytes(CSV)
    return where


def _tar_czf(where: Path, name: str) -> bytes:
    subprocess.run(["tar", "czf", name, "run"], cwd=_tar_dir(where), check=True)
    return (where / name).read_bytes()


def _tarfile(where: Path, name: str) -> bytes:
    """Python's tarfile 'w:gz' under the final name (GzipFile takes the name for FNAME)."""
    with tarfile.open(_tar_dir(where) / name, "w:gz") as tar:
        tar.add(where / "run", arcname="run")
    return (where / name).read_bytes()


def _python(where: Path, name: str) -> bytes:
    where.mkdir(parents=True)
    with gzip.open(where / name, "wb") as f:
        f.write(CSV)
    return (where / name).read_bytes()


def _gnu_tar(where: Path, suffix: str) -> bytes:
    """`gzip -c x.tar > xSUFFIX` (x.tgz, x.taz): gzip -S .tgz would make x.tar.tgz."""
    subprocess.run(["tar", "cf", "x.tar", "run"], cwd=_tar_dir(where), check=True)
    with open(where / f"x{suffix}", "wb") as out:
        subprocess.run(["gzip", "-c", "x.tar"], cwd=where, stdout=out, check=True)
    return (where / f"x{suffix}").read_bytes()


def test_the_names_writers_put_for_a_published_name():
    assert written_fnames("r.csv.gz") == {"r.csv"}
    assert written_fnames("r.csv_z") == {"r.csv", "r.csv_z"}  # gunzip's, Python's
    assert written_fnames("r.csv.Z") == {"r.csv", "r.csv.Z"}  # gunzip compares in lower case
    assert written_fnames("x.tgz") == {"x.tar", "x.tgz"}
    assert written_fnames("r.dat") == {"r.dat"}  # gunzip does not take it: Python's only
    assert written_fnames("r.csv.GZ") == {"r.csv", "r.csv.GZ"}


def test_each_gzip_and_tar_writer_publishes(tmp_path):
    made = tmp_path / "made"
    files: dict[str, bytes] = {}
    for n, (name, options) in enumerate(
        [
            ("k.csv", ("-k",)),
            ("n.csv", ("-n",)),
            ("bign.csv", ("-N",)),
            ("under.csv", ("-S", "_z")),
            ("dotz.csv", ("-S", ".z")),
            ("dash.csv", ("-S", "-gz")),
            ("dashz.csv", ("-S", "-z")),
            ("upper.csv", ("-S", ".Z")),
            ("fast.csv", ("-1", "-S", "_z")),
        ]
    ):
        path = _gnu(made / str(n), name, *options)
        files[path.name] = path.read_bytes()
    assert _fname(files["k.csv.gz"]) == b"k.csv" and _fname(files["n.csv.gz"]) is None
    assert _fname(files["under.csv_z"]) == b"under.csv"  # not the published name minus .gz
    files["x.tgz"] = _gnu_tar(made / "tgz", ".tgz")
    files["x.taz"] = _gnu_tar(made / "taz", ".taz")
    assert _fname(files["x.tgz"]) == b"x.tar"
    files["czf.tar.gz"] = _tar_czf(made / "czf1", "czf.tar.gz")
    files["czf.tgz"] = _tar_czf(made / "czf2", "czf.tgz")
    files["py.tar.gz"] = _tarfile(made / "py1", "py.tar.gz")
    files["py.tgz"] = _tarfile(made / "py2", "py.tgz")
    assert _fname(files["py.tgz"]) == b"py.tgz" and _fname(files["py.tar.gz"]) == b"py.tar"
    files["module.csv.gz"] = _python(made / "m1", "module.csv.gz")
    files["module.dat"] = _python(made / "m2", "module.dat")  # FNAME module.dat
    files["module.csv_z"] = _python(made / "m3", "module.csv_z")  # FNAME module.csv_z
    # gzip -S _z, then gzip -f: twice.csv_z.gz holds twice.csv_z (its FNAME) holding twice.csv
    inner = _gnu(made / "twice", "twice.csv", "-S", "_z")
    subprocess.run(["gzip", "-f", inner.name], cwd=inner.parent, check=True)  # -f: it has a suffix
    files["twice.csv_z.gz"] = (inner.parent / "twice.csv_z.gz").read_bytes()
    # a tar of gzip -S _z output: the member's name is the one its FNAME is judged by
    member = _gnu(made / "member" / "d", "m.csv", "-S", "_z")
    subprocess.run(["tar", "cf", "members.tar", "d"], cwd=member.parent.parent, check=True)
    files["members.tar"] = (member.parent.parent / "members.tar").read_bytes()
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", **POLICY))
    refused = {n: e.detail for n, e in entries.items() if e.verdict is not Verdict.ACCEPTED}
    assert refused == {}
    assert set(files) <= set(entries)


def test_any_other_fname_is_refused(tmp_path):
    made = tmp_path / "made"
    files = {
        # renamed after writing: the FNAMEs name the old files
        "renamed.csv_z": _gnu(made / "1", "other.csv", "-S", "_z").read_bytes(),
        "renamed.tgz": _gnu_tar(made / "2", ".tgz"),  # FNAME x.tar
        "renamed.csv.gz": _python(made / "3", "other.csv.gz"),
        "renamed.dat": _python(made / "4", "other.dat"),
        # a suffix gunzip does not strip: it would not take x.csv.foo, Python would write x.csv.foo
        "foo.csv.foo": _gnu(made / "5", "foo.csv", "-S", ".foo").read_bytes(),
        # gzip -S z: r.csv_z holding FNAME r.csv_, not the r.csv gunzip restores
        "bare.csv_z": _gnu(made / "6", "bare.csv_", "-S", "z").read_bytes(),
    }
    assert _fname(files["bare.csv_z"]) == b"bare.csv_"
    files["control.csv_z"] = _gnu(made / "7", "control.csv", "-S", "_z").read_bytes()
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", **POLICY))
    assert entries["control.csv_z"].verdict is Verdict.ACCEPTED
    for name in set(files) - {"control.csv_z"}:
        assert entries[name].reasons == (Reason.INVALID_FORMAT,), (name, entries[name])
        assert "gunzip -N" in entries[name].detail, name


def _appended(where: Path, name: str, sessions: int) -> bytes:
    """Python's gzip module appending in sessions ("ab"): a member each, FNAME each."""
    where.mkdir(parents=True)
    for n in range(sessions):
        with gzip.open(where / name, "ab") as f:
            f.write(b"%d,%d\n" % (n, n * n))
    return (where / name).read_bytes()


def test_every_member_names_the_file_as_the_first_does(tmp_path):
    """Appended sessions of one writer name the file alike; a member naming it otherwise,
    or not at all beside one that does, is a free bit a member: refused."""
    made = tmp_path / "made"
    named = _appended(made / "1", "named.csv.gz", 3)
    plain = gzip.compress(CSV, mtime=0)  # no FNAME, as gzip -n and gzip.compress write
    files = {
        "named.csv.gz": named,
        "plain.csv.gz": plain + plain + plain,
        "bare-then-named.csv.gz": plain + _appended(made / "2", "bare-then-named.csv.gz", 1),
        "named-then-bare.csv.gz": _appended(made / "3", "named-then-bare.csv.gz", 1) + plain,
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", **POLICY))
    for name in ("named.csv.gz", "plain.csv.gz"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
    for name in ("bare-then-named.csv.gz", "named-then-bare.csv.gz"):
        assert entries[name].reasons == (Reason.INVALID_FORMAT,), (name, entries[name])
        assert "the same name, or none" in entries[name].detail, entries[name]
