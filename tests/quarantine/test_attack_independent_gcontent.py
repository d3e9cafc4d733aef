"""Independent black-box attack g on `vmguard vet`'s content claims (issue #13): text, JSON,
gzip, FITS, tar, zip, the `sniffed-as-page` rule and the name tables (not ROOT, not
HDF5), after session 33.

New classes beyond rounds a-f (test_attack_independent_content.py, _dcontent.py,
_econtent.py, _fcontent.py): names Windows opens as another file (NTFS's default data
stream, `run.bat::$DATA`, as a file and as a tar or zip member), names that announce JSON
(Debian's +json types: .jsonld .webmanifest .gltf ...) holding JSON-shaped text whose white
space is free, names a tool runs from the directory it starts in or a client acts on when
opened (Geant4's init_vis.mac, latexmkrc, Octave's PKG_ADD, IDL's .pro, Stata's
profile.do and .ado, SAS's autoexec.sas, Excel's .dqy/.rqy/.oqy, macOS's .terminal and
.command, a .desktop file) or a server runs (.wsgi, twistd's .rpy/.epy, .psp), an ASCII
table's E-00/D-00 exponent (a second spelling astropy reads alike); refused as they should
be: every Debian +xml name holding an XHTML <img onerror>, page starts in other cases and
after 1440 bytes of white space, a page as a zip member, each gzip member's FNAME spelled
once in UTF-8 and once in Latin-1, JSON escape classes mixed, other ASCII-table
spellings. Controls: pandas (every orient, double_precision, indent, lines, float32),
numpy, the csv module's dialects, logging with non-ASCII, GNU gzip's options, Python's
gzip with upper-case and non-ASCII names, shutil's archives, astropy's long strings,
HIERARCH, ASCII and binary tables with checksums, tile-compressed images, CCDData and
astropy.io.ascii formats.

Files go into one quarantine vetted ONCE through the CLI with policy/batch.yaml's
allow_types (scanners off, per-file promotion: every verdict shows); tar and zip get a
second vet whose policy also admits them. A hit is a strict xfail (HOLES,
FALSE_REJECTIONS) whose reason says what got out or was refused.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("astropy.io.fits")
pytest.importorskip("pandas")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_gcontent_files as made  # noqa: E402
from tests.support.attack_gcontent_fits import ascii_field_cases, fits_controls  # noqa: E402


def _content_files(work: Path) -> dict[str, bytes]:
    return (
        made.name_cases()
        | made.sniff_cases()
        | made.json_controls()
        | made.text_controls(work / "text")
        | made.gzip_cases(work / "gz")
        | fits_controls()
        | ascii_field_cases()
        | made.json_escape_cases()
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-gcontent")
    start = time.monotonic()
    files = _content_files(base / "made")
    archives = made.archive_cases(base / "made" / "arch")
    vetted = _vet(base, "content", files, _policy())
    packed = _vet(base, "archives", archives, _policy(("tar", "zip")))
    return {
        "files": files | archives,
        "entries": vetted["entries"] | packed["entries"],
        "out": {**dict.fromkeys(files, vetted["out"]), **dict.fromkeys(archives, packed["out"])},
        "seconds": time.monotonic() - start,
    }


# model/gltf+json etc.: the type each extension has in Debian's mime.types.
_JSON_MIME = {
    "webmanifest": "application/manifest+json", "jsonld": "application/ld+json",
    "gltf": "model/gltf+json", "sarif": "application/sarif+json",
    "json-patch": "application/json-patch+json", "jrd": "application/jrd+json",
}  # fmt: skip
HOLES: dict[str, str] = {}  # every hole of this round is fixed (names, JSON-typed names, FITS E-00)
FALSE_REJECTIONS: dict[str, str] = {
    "ctl-json-c1-escaped.json": "refused by design (session 39, validators/terminal.py): json.dumps "
    "escapes the C1 control NEL (U+0085) as \\u0085, and `jq -r` hands it to a terminal as the "
    "control, which the text rule refuses in UTF-8 text as well",
    "ctl-pd-lines-named.json": "refused by design (name-type): pandas' to_json(orient='records', "
    "lines=True) written to a .json path; JSON lines are not one JSON value and a client parses a .json "
    "as one, so the text's white space would be free under it; the remedy names .jsonl, under which "
    "ctl-pd-lines.jsonl is published (test_json_lines_named_json_name_the_jsonl_remedy)",
}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def _all_names() -> list[str]:
    """Every case's path: the files are built at collection too (about a second)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        return sorted([*_content_files(work), *made.archive_cases(work / "arch")])


ALL = _all_names()


def _names(controls: bool) -> list[str]:
    return [n for n in ALL if Path(n).name.startswith("ctl") == controls]


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS) for n in _names(True)])
def test_real_output_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"][name] / name).read_bytes()
    assert published == run["files"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in _names(False)])
def test_hostile_file_is_not_published(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"][name] / name).exists()


@pytest.mark.parametrize("name", ["fits-ascii-e-exp-minus-zero.fits", "fits-ascii-d-exp-minus-zero.fits"])
def test_astropy_reads_the_minus_zero_exponent_as_the_written_value(run, name):
    """What makes the E-00 cases a hole: astropy returns the very values of the real table."""
    import io

    import numpy as np
    from astropy.io import fits

    with (
        fits.open(io.BytesIO(run["files"][name])) as ours,
        fits.open(io.BytesIO(run["files"]["ctl-fits-ascii-small.fits"])) as real,
    ):
        for column in ("N", "E", "D", "F"):
            assert np.array_equal(ours[1].data[column], real[1].data[column]), column
    assert run["files"][name] != run["files"]["ctl-fits-ascii-small.fits"]


@pytest.mark.parametrize("ext", [e for e in made.JSON_EXTS if e in _JSON_MIME])
def test_loose_json_under_a_json_type_is_refused_naming_the_type(run, ext):
    entry = run["entries"][f"typed-json.{ext}"]
    assert entry["reasons"] == ["name-type"], entry
    assert f"a web server sends it as {_JSON_MIME[ext]}" in entry["detail"], entry


def test_json_lines_named_json_name_the_jsonl_remedy(run):
    entry = run["entries"]["ctl-pd-lines-named.json"]
    assert entry["reasons"] == ["name-type"] and "name it .jsonl" in entry["detail"], entry
    assert run["entries"]["ctl-pd-lines.jsonl"]["verdict"] == "accepted"


def test_the_file_takes_under_forty_seconds(run):
    assert run["seconds"] < 40, run["seconds"]
