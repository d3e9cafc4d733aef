"""Independent black-box attack f on `vmguard vet`'s content claims (issue #13): text, JSON,
gzip, FITS, tar, zip and the name tables (not ROOT, not HDF5), after session 32.

New classes beyond rounds a-e (test_attack_independent_content.py, _dcontent.py,
_econtent.py): pandas' to_json spellings (ujson's double_precision writer), JSON-shaped text
in files named as text, GNU gzip's `-S .z` FNAME, a gzip member's FNAME present or not per
member, astropy's tile-compressed images every way and checksums, an ASCII table's number
field holding letters, gunzip suffixes behind the trailing dot or space Windows drops, git's
HEAD in another case, pax record spellings, control characters in UTF-16 text.

Files go into one quarantine vetted ONCE through the CLI with policy/batch.yaml's
allow_types (scanners off, per-file promotion: every verdict shows); tar and zip get a
second vet whose policy also admits them. A hit is a strict xfail (HOLES,
FALSE_REJECTIONS) whose reason says what got out or was refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("astropy.io.fits")
pytest.importorskip("pandas")
pytest.importorskip("orjson")
pytest.importorskip("ujson")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_fcontent_files as made  # noqa: E402
from tests.support.attack_fcontent_fits import (  # noqa: E402
    MARK,
    ZIMAGE_CARDS,
    fits_cases,
    tile_mtimes,
    zimage_card_mtime,
)


def _content_files(work: Path) -> dict[str, bytes]:
    return (
        made.json_cases()
        | made.text_cases()
        | made.name_cases()
        | made.gzip_cases(work / "gz")
        | fits_cases()
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-fcontent")
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


_GUNZIP_DOT = (
    "published: Windows and browsers drop a name's trailing dots and spaces (the name-type "
    "rule for .bat does so), and gunzip or 7-Zip then turns the .gz into {0}; the gunzip-suffix "
    "rule does not drop them first"
)
_GIT_CASE = (
    "published: `{0}` beside objects/, refs/ and a config naming core.fsmonitor; name-config refuses "
    "only HEAD, while the claims say its names are refused in any case: on a case-insensitive "
    "client (macOS, Windows, a share) git opens {0} as HEAD and `git status` there runs fsmonitor"
)
_SNIFF = (
    "published: a name that announces nothing ({0}) holding `{1}` then an <img onerror>; Apache 2.4 "
    "sends such a file with no Content-Type (DefaultType is gone: not application/octet-stream as the "
    "claims say), and Chrome and Firefox sniff an unknown type that starts with {1} as HTML (WHATWG "
    "MIME sniffing), which the text rule's markup list (script, html, svg, iframe, ...) does not name"
)
HOLES: dict[str, str] = {
    "gzname-run.bat.gz.": _GUNZIP_DOT.format("run.bat"),
    "gzname-run.cmd.gz ": _GUNZIP_DOT.format("run.cmd"),
    "gzname-run.bat.z.": _GUNZIP_DOT.format("run.bat"),
    "name-flash.spl": "published: Debian's mime.types (the table's source) types .spl as "
    "application/futuresplash, a type the Flash plugin and Ruffle take (an SWF can be all ASCII "
    "text: Rosetta Flash); the claims refuse every extension typed as Flash, and .swf is refused",
    "sniff-b.dat": _SNIFF.format(".dat", "<b>"),
    "sniff-p": _SNIFF.format("no extension", "<p>"),
    "sniff-comment.out": _SNIFF.format(".out", "<!--"),
    "sniff-div.lhe": _SNIFF.format(".lhe", "<div>"),
    "gitcase-upper/Head": _GIT_CASE.format("Head"),
    "gitcase-lower/head": _GIT_CASE.format("head") + " (objects/ and refs/ as OBJECTS/ and Refs/ pass too)",
    "json-empty-bits.json": "published: json.dumps(indent=2) of 64 empty lists, each written [] or split "
    "over two lines ([ then ] at its depth) as a bit: 'attack-f' that no reader returns; the claims pin "
    "empty containers to [] and {} and list no such freedom (1 bit an empty container, any number of them)",
}
_JSON_AS_TEXT = (
    "refused as application/json (invalid-format) though named as text: the claims say text that "
    "starts with {{ or [ and breaks a JSON pin is text where the policy admits text; here {0}"
)
FALSE_REJECTIONS: dict[str, str] = {
    "ctl-hand-config.txt": _JSON_AS_TEXT.format(
        "a hand-written '{ \"run\": 42, ... }' (spaces in the braces)"
    ),
    "ctl-hand-config.cfg": _JSON_AS_TEXT.format("an indented config an editor ended with a blank line"),
    "ctl-echo-list.txt": _JSON_AS_TEXT.format("'[1,2, 3]' (echo)"),
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


ALL = [n for n in _all_names() if n not in made.SETUP]


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


def test_the_published_empty_containers_carry_the_payload(run):
    name = "json-empty-bits.json"
    published = run["out"][name] / name
    if run["entries"][name]["verdict"] != "accepted":
        pytest.skip("refused")
    assert made.empty_container_payload(published.read_bytes()) == MARK
    assert json.loads(published.read_bytes()) == [[]] * 64


def test_astropy_sees_the_lower_case_card_as_a_second_one(run):
    from astropy.io import fits

    for name, key in (("fits-tdim-lower-twice.fits", "TDIM1"), ("fits-pcount-lower-twice.fits", "PCOUNT")):
        with fits.open(io.BytesIO(run["files"][name])) as hdus:
            assert hdus[1].header.count(key) == 2, name


@pytest.mark.parametrize("name", sorted(ZIMAGE_CARDS))
def test_astropy_reads_each_zimage_card_as_the_compressed_image(run, name):
    """Each ZIMAGE spelling is the image to astropy, with the pixels of the unpatched file,
    and every copy (the published one too, if any) holds the payload in its tiles' MTIME."""
    from astropy.io import fits

    with (
        fits.open(io.BytesIO(run["files"][name])) as ours,
        fits.open(io.BytesIO(zimage_card_mtime())) as real,
    ):
        assert isinstance(ours[1], fits.CompImageHDU)
        assert (ours[1].data == real[1].data).all()
    assert tile_mtimes(run["files"][name]) == MARK * 32
    if run["entries"][name]["verdict"] == "accepted":
        assert tile_mtimes((run["out"][name] / name).read_bytes()) == MARK * 32


def test_git_finds_the_published_repository_on_a_case_insensitive_reader(run, tmp_path):
    """What gitcase-upper needs on a case-insensitive client is there: git takes it for a
    repository once Head is spelled HEAD (done here by copying, as such a client would see it)."""
    src = run["out"]["gitcase-upper/Head"] / "gitcase-upper"
    if not (src / "Head").exists():
        pytest.skip("Head was refused")
    repo = tmp_path / "repo"
    for path in src.rglob("*"):
        if path.is_file():
            dest = repo / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    (repo / "Head").rename(repo / "HEAD")
    (repo / "refs" / "heads").mkdir()
    found = subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-dir"], capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.strip() == ".", found.stderr


def test_the_file_takes_under_a_minute(run):
    assert run["seconds"] < 60, run["seconds"]
