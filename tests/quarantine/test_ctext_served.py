"""A published name must not make a client run the file or take it for another type than
the one vmguard validated (served.py), through real vets of real files: the same bytes
pass under an honest name and are refused under an active or a lying one."""

from __future__ import annotations

import io
import json
import logging

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
