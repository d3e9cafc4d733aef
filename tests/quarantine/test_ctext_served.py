"""A published name must not make a client run the file or take it for another type than
the one vmguard validated (served.py), through real vets of real files: the same bytes
pass under an honest name and are refused under an active or a lying one."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import tarfile
import zipfile

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import served
from vmguard.quarantine.model import Reason, Verdict

fits = pytest.importorskip("astropy.io.fits")
np = pytest.importorskip("numpy")


@pytest.mark.parametrize(
    ("name", "validator", "refused"),
    [
        ("page.html", "text", True),
        ("PAGE.HTM", "text", True),  # servers and Windows match extensions in any case
        ("a.bat.", "text", True),  # Windows drops the trailing dot: a.bat
        ("a.vbs ", "text", True),
        ("report.pdf", "text", True),
        ("x.svg", "text", True),
        ("doc.xml", "text", True),
        ("run.ps1", "text", True),
        ("s.js", "json", True),
        ("x.html.gz", "gzip", True),  # Apache's mod_mime: text/html with gzip encoding
        ("x.html.lhe", "text", True),  # an unknown last extension leaves .html's type
        ("x.csv.gz", "gzip", False),
        ("x.json", "json", False),
        ("x.json", "text", True),  # JSON no longer: its name lies
        ("x.log", "json", False),  # JSON lines, one object a log: JSON is text
        ("x.txt", "text:utf-16", False),
        ("x.txt", "fits", True),
        ("x.fits", "text", True),
        ("x.FITS", "fits", False),
        ("x.root", "root", False),
        ("x.h5", "hdf5", False),
        ("x.h5", None, True),
        ("x.dat", "fits", False),  # unknown extensions announce nothing
        ("events.lhe", "text", False),
        ("Makefile", "text", False),
        (".bashrc", "text", False),  # a dot file, not an extension
        ("run.v1.2.csv", "text", False),
    ],
)
def test_what_a_name_announces(name, validator, refused):
    found = served.name_reasons(name, (validator,))
    assert bool(found) is refused, found
    assert all(r is Reason.NAME_TYPE and "rename" in d for r, d in found)


def test_the_family_is_compared_only_for_admitted_bytes():
    assert served.name_reasons("x.fits", ("text",), admitted=False) == []
    assert served.name_reasons("x.html", ("text",), admitted=False)  # active names always


@pytest.mark.parametrize(
    ("name", "validators", "refused"),
    [
        ("x.csv.gz", ("gzip", "text"), False),
        ("x.json.gz", ("gzip", "text"), True),  # gunzip writes x.json, which is not JSON
        ("x.json.gz", ("gzip", "json"), False),
        ("x.tar.gz", ("gzip", "tar", "text"), False),
        ("x.tgz", ("gzip", "text"), True),
        ("x.tgz", ("gzip", "tar", "text"), False),
        ("x.fits.gz", ("gzip", "fits"), False),
        ("x.fits.gz", ("gzip", "text"), True),
        ("x.gz", ("gzip", "text"), False),
        ("x.dat.gz", ("gzip", "fits"), False),
    ],
)
def test_what_gunzip_names_the_inner_file(name, validators, refused):
    assert bool(served.name_reasons(name, validators)) is refused


def _fits() -> bytes:
    buf = io.BytesIO()
    hdu = fits.PrimaryHDU(np.arange(100, dtype=np.int32).reshape(10, 10))
    hdu.header["COMMENT"] = "<img src=x onerror=alert(1)>"
    hdu.writeto(buf)
    return buf.getvalue()


def _json_lines() -> bytes:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter('{"level": "%(levelname)s", "msg": "%(message)s"}'))
    log = logging.getLogger("ctext-jsonl")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for i in range(40):
            log.info("event %d", i)
    finally:
        log.removeHandler(handler)
    return out.getvalue().encode()


def test_the_same_bytes_pass_or_not_by_their_name(tmp_path):
    image = _fits()
    summary = json.dumps(
        {"runs": [{"id": i, "note": "<img src=x onerror=alert(1)>"} for i in range(40)]}, indent=2
    )
    log = b"run ok\n" * 100 + b"<img src=x onerror=alert(1)>\n"
    files = {
        "image.fits": image,
        "image.html": image,
        "summary.json": summary.encode(),
        "summary.log": summary.encode(),
        "summary.html": summary.encode(),
        "summary.json.xml": summary.encode(),
        "events.log": _json_lines(),
        "events.json": _json_lines(),  # JSON lines are not one JSON value: text
        "run.log": log,
        "run.html": log,
        "run.bat": b"calc.exe\r\n",
        "run.txt": b"calc.exe\r\n",
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    verdicts = {name: e.verdict is Verdict.ACCEPTED for name, e in entries.items()}
    assert verdicts == {
        "image.fits": True,
        "image.html": False,
        "summary.json": True,
        "summary.log": True,
        "summary.html": False,
        "summary.json.xml": False,
        "events.log": True,
        "events.json": False,
        "run.log": True,  # served as text/plain: the markup is shown, not run
        "run.html": False,
        "run.bat": False,
        "run.txt": True,
    }
    for name in (n for n, ok in verdicts.items() if not ok):
        assert Reason.NAME_TYPE in entries[name].reasons, entries[name]
    assert "bytes are text" in entries["events.json"].detail
    assert entries["summary.json"].mime == "application/json"  # 1.9 KB: libmagic says text/plain
    assert entries["summary.log"].mime == "application/json"
    assert entries["events.log"].mime == "text/plain"  # libmagic: application/x-ndjson


def test_the_reported_type_is_the_one_that_admitted_it(tmp_path):
    """Under a policy of JSON only, JSON longer than libmagic's head is published as JSON
    and reported so; JSON lines (text) are not."""
    big = json.dumps({"rows": [[i, i / 7] for i in range(200)]}, indent=4).encode()
    files = {"big.json": big, "lines.log": _json_lines()}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("json",)))
    assert entries["big.json"].verdict is Verdict.ACCEPTED and entries["big.json"].mime == "application/json"
    assert entries["lines.log"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    assert entries["lines.log"].mime == "text/plain"


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_namespaced_markup_is_refused_in_text_too(size):
    """Defence in depth: XML runs an XHTML-namespaced script under any prefix."""
    from vmguard.quarantine.validators import Invalid, Stream, text

    def check(data: bytes) -> str:
        return text.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))

    for markup in (b"<h:script>alert(1)</h:script>", b"<xhtml.ns-1:svg onload=alert(1)>"):
        with pytest.raises(Invalid, match="markup"):
            check(b"run ok\n" * 50 + markup + b"\n")
    assert check(b"std::map<std::string, int> m;\nvector<a:b> ok\n") == "text"


def test_vmguards_own_names_and_the_labs_pass():
    for name in ("job.manifest.json", "run.2024-12-04.log", "hist.v2.root", "events.csv.gz", "image.fits"):
        validators = {"json": ("json",), "log": ("text",), "root": ("root",), "gz": ("gzip", "text")}
        assert served.name_reasons(name, validators.get(name.rsplit(".", 1)[1], ("fits",))) == [], name


_MEMBERS_BAD = {
    "a.html": b"hello\n",  # text a browser would render as a page
    "x.vbs": b'MsgBox "hi"\r\n',  # text Windows runs on a double click
    "a.json": b"not json, a log line\n",  # text named as JSON
}
_MEMBERS_GOOD = {
    "a.csv": b"a,b\n1,2\n",
    "b.log": b"run ok\n" * 10,
    "c.json": json.dumps({"runs": [1, 2, 3]}).encode(),
    "d.dat": b"1 2 3\n",
}


def _zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _tarred(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _holding(member: str, fmt: str) -> str:
    return f"holding-{member.replace('.', '-')}.{fmt}"  # the archive's own name says nothing


def test_an_archive_members_name_is_judged_as_a_files(tmp_path):
    """A client that unpacks a zip or tar gets each member as a file of its name: an
    active or lying member name refuses the archive, naming the member; honest ones pass."""
    files = {}
    for fmt, pack in (("zip", _zipped), ("tar", _tarred)):
        files |= {_holding(name, fmt): pack({"ok.csv": b"a\n", name: data}) for name, data in _MEMBERS_BAD.items()}
        files[f"all.{fmt}"] = pack(_MEMBERS_GOOD | {f"sub/{n}": d for n, d in _MEMBERS_BAD.items()})
        files[f"good.{fmt}"] = pack(_MEMBERS_GOOD | {f"sub/{n}": d for n, d in _MEMBERS_GOOD.items()})
    policy = shipped("batch.yaml", allow_types=("text", "json", "tar", "zip", "gzip"))
    entries, _ = vet_files(tmp_path, files, policy)
    for fmt in ("zip", "tar"):
        assert entries[f"good.{fmt}"].verdict is Verdict.ACCEPTED, entries[f"good.{fmt}"]
        for name in _MEMBERS_BAD:
            entry = entries[_holding(name, fmt)]
            assert entry.reasons == (Reason.NAME_TYPE,), entry
            assert f"archive member {name}: the name ends in .{name.rpartition('.')[2]}" in entry.detail
            assert "ok.csv" not in entry.detail
        detail = entries[f"all.{fmt}"].detail
        assert entries[f"all.{fmt}"].reasons == (Reason.NAME_TYPE,) * 3, entries[f"all.{fmt}"]
        assert all(f"archive member sub/{name}:" in detail for name in _MEMBERS_BAD), detail
    assert "but its bytes are text" in entries[_holding("a.json", "zip")].detail


def test_a_members_own_validators_are_compared_with_its_name(tmp_path):
    """Each member with the validators of its own bytes: a gzip member named by what
    gunzip writes, an archive in an archive, and members a client gets no bytes from."""
    inner_zip = _zipped({"page.htm": b"hi\n"})
    files = {
        "gz-ok.tar": _tarred({"x.csv.gz": gzip.compress(b"a,b\n", mtime=0), "n.json": b"[1]"}),
        "gz-lies.tar": _tarred({"x.json.gz": gzip.compress(b"a,b\n", mtime=0), "n.json": b"[1]"}),
        "nested.tar": _tarred({"in.zip": inner_zip}),
        "nested-named.tar": _tarred({"in.csv": inner_zip}),
        "empty.zip": _zipped({"empty.html": b"", "dir.html/": b"", "dir.html/a.csv": b"a\n"}),
        "empty-ok.zip": _zipped({"empty.dat": b"", "dir.html/": b"", "dir.html/a.csv": b"a\n"}),
    }
    policy = shipped("batch.yaml", allow_types=("text", "json", "tar", "zip", "gzip"))
    entries, _ = vet_files(tmp_path, files, policy)
    assert entries["gz-ok.tar"].verdict is Verdict.ACCEPTED, entries["gz-ok.tar"]
    assert "archive member x.json.gz: the name ends in .json" in entries["gz-lies.tar"].detail
    assert "archive member page.htm:" in entries["nested.tar"].detail  # judged where it lies
    assert entries["nested-named.tar"].reasons == (Reason.NAME_TYPE, Reason.NAME_TYPE)
    assert "archive member in.csv: the name ends in .csv" in entries["nested-named.tar"].detail
    # an empty member gets the names a client runs, as an empty file does; a directory's
    # name is not judged
    assert entries["empty.zip"].reasons == (Reason.NAME_TYPE,), entries["empty.zip"]
    assert "archive member empty.html:" in entries["empty.zip"].detail
    assert entries["empty-ok.zip"].verdict is Verdict.ACCEPTED, entries["empty-ok.zip"]


def test_a_member_of_a_type_not_allowed_keeps_the_active_name_rule(tmp_path):
    """As for a file: bytes the policy refuses are not compared with the name's family
    (the type's reason says more), but an active name is refused whatever the bytes."""
    files = {"j.zip": _zipped({"a.txt": b"[1]"}), "h.zip": _zipped({"a.html": b"[1]"})}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "zip")))
    assert entries["j.zip"].reasons == (Reason.TYPE_NOT_ALLOWED,), entries["j.zip"]
    assert entries["h.zip"].reasons == (Reason.TYPE_NOT_ALLOWED, Reason.NAME_TYPE), entries["h.zip"]


_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + b"% run summary\n" * 40 + b"%%EOF\n"


def test_a_type_the_policy_names_may_keep_its_own_extension(tmp_path):
    """`{type: application/pdf, validate: head-only}` is the admin choosing to publish PDFs:
    a PDF named .pdf passes; the exemption is that exact type under its own extension, not
    a wildcard entry, not another active extension, not other bytes under that name
    (x.html.pdf is a PDF to every server: Apache types it by its rightmost typed extension)."""
    batch = shipped("batch.yaml")
    files = {"report.pdf": _PDF, "report.html": _PDF, "notes.pdf": b"run ok\n" * 20, "x.html.pdf": _PDF}
    chosen = dataclasses.replace(
        batch, allow_types=(*batch.allow_types, "application/pdf"), head_only=("application/pdf",)
    )
    wildcard = dataclasses.replace(
        batch, allow_types=(*batch.allow_types, "application/*"), head_only=("application/*",)
    )
    verdicts = {}
    for label, rules in (("chosen", chosen), ("wildcard", wildcard), ("shipped", batch)):
        entries, _ = vet_files(tmp_path / label, files, rules)
        verdicts[label] = {n: e.verdict is Verdict.ACCEPTED for n, e in entries.items()}
        assert entries["report.pdf"].mime == "application/pdf"
        pdfs = ("report.pdf", "x.html.pdf")
        assert all(Reason.NAME_TYPE in e.reasons for n, e in entries.items() if n not in pdfs), entries
    assert verdicts["chosen"] == {"report.pdf": True, "report.html": False, "notes.pdf": False, "x.html.pdf": True}
    assert not any(verdicts["wildcard"].values()) and not any(verdicts["shipped"].values())
    assert (tmp_path / "chosen" / "pub" / "run1" / "report.pdf").read_bytes() == _PDF


def test_an_empty_file_keeps_the_active_name_rule_only(tmp_path):
    """No bytes: nothing to compare a family with (an empty .json or .log is ordinary
    output), but a name a client runs is refused whatever the bytes, none included."""
    names = ["run.bat", "a.html", "x.csv.js", "empty.json", "empty.log", "empty.fits", "empty.h5"]
    entries, _ = vet_files(tmp_path, dict.fromkeys(names, b""), shipped("batch.yaml"))
    refused = {n for n, e in entries.items() if e.verdict is not Verdict.ACCEPTED}
    assert refused == {"run.bat", "a.html", "x.csv.js"}
    assert all(entries[n].reasons == (Reason.NAME_TYPE,) for n in refused)
