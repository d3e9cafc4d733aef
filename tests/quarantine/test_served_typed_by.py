"""Which extension a server types a name by is one answer (served.served_by), for pages,
for names that announce JSON and for the names gunzip makes (issue #13, attack i's
class 1). Apache's mod_mime types a file by its rightmost extension that has a type: `x.json.dat`, `x.geojson.out`,
`x.json.en` (a language), `x.json.utf8` (a charset), `y.JSON.dat`, `x.json..dat` are sent
as JSON, so they must hold JSON as a serializer writes it, as `x.json` must; so is
`x.json.bak` by an upstream httpd (application/x-trash in Debian's table only: each table
mod_mime may be configured with gives its answer); `x.json.txt` is typed by its last
extension everywhere and publishes text.
Real files, vetted with the shipped batch policy."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import served
from vmguard.quarantine.model import Reason, Verdict

DOC = {"run": 42, "energy": [0.5, 0.75], "det": "ecal"}
LOOSE = b'{ "run" :  42 ,"energy":   [0.5 ,  0.75], "det" : "ecal" }\n'  # white space no reader returns
TIGHT = json.dumps(DOC, indent=2).encode()
# name -> what Apache sends it as (Debian's mime.types and mime.conf)
JSON_BEFORE_LAST = {
    "x.json.dat": "application/json",
    "x.geojson.out": "application/geo+json",
    "x.json.en": "application/json",
    "x.json.utf8": "application/json",
    "x.webmanifest.1": "application/manifest+json",
    "y.JSON.dat": "application/json",  # not beside x.json.dat: names differing in case collide
    "x.json..dat": "application/json",
    "x.jsonld.log": "application/ld+json",  # .log has no type in Debian's table
    "x.json.bak": "application/json",  # .bak has none in httpd's own
}
LAST_TYPED = ("x.json.txt", "x.geojson.csv")


def _zip(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    files = {f"loose/{n}": LOOSE for n in (*JSON_BEFORE_LAST, *LAST_TYPED)}
    files |= {f"tight/{n}": TIGHT for n in JSON_BEFORE_LAST}
    files |= {
        "loose/gz/x.json.dat.gz": gzip.compress(LOOSE, mtime=0),
        "tight/gz/x.json.dat.gz": gzip.compress(TIGHT, mtime=0),
        "loose/gz/x.json.bak.gz": gzip.compress(LOOSE, mtime=0),
        "loose/zip/member.zip": _zip("sub/x.geojson.en", LOOSE),
        "tight/zip/member.zip": _zip("sub/x.geojson.en", TIGHT),
    }
    rules = shipped("batch.yaml", allow_types=("text", "json", "gzip", "zip"))
    entries, _ = vet_files(tmp_path_factory.mktemp("served-by"), files, rules)
    return entries


@pytest.mark.parametrize("name", sorted(JSON_BEFORE_LAST))
def test_loose_json_under_a_name_typed_as_json_before_its_last_extension_is_refused(vetted, name):
    entry = vetted[f"loose/{name}"]
    assert entry.verdict is not Verdict.ACCEPTED and entry.reasons == (Reason.NAME_TYPE,), entry
    exts = served.extensions(name)
    inner = next(e for e in served.served_by(exts) if e != exts[-1])
    assert f"the name holds .{inner}, by which Apache types it" in entry.detail, entry.detail
    assert f"a web server sends it as {JSON_BEFORE_LAST[name]}" in entry.detail, entry.detail


@pytest.mark.parametrize("name", sorted(JSON_BEFORE_LAST))
def test_json_as_a_serializer_writes_it_is_published_under_those_names(vetted, name):
    assert vetted[f"tight/{name}"].verdict is Verdict.ACCEPTED, vetted[f"tight/{name}"]


@pytest.mark.parametrize("name", LAST_TYPED)
def test_a_typed_last_extension_decides_and_text_is_published(vetted, name):
    assert vetted[f"loose/{name}"].verdict is Verdict.ACCEPTED, vetted[f"loose/{name}"]


def test_gunzips_name_and_an_archive_members_name_are_judged_alike(vetted):
    gz, member = vetted["loose/gz/x.json.dat.gz"], vetted["loose/zip/member.zip"]
    assert gz.reasons == (Reason.NAME_TYPE,) and "holds .json, by which Apache types it" in gz.detail, gz
    assert Reason.NAME_TYPE in member.reasons and "archive member sub/x.geojson.en" in member.detail, member
    for name in ("tight/gz/x.json.dat.gz", "tight/zip/member.zip"):
        assert vetted[name].verdict is Verdict.ACCEPTED, vetted[name]
    assert vetted["loose/gz/x.json.bak.gz"].reasons == (Reason.NAME_TYPE,)  # httpd: JSON


@pytest.mark.parametrize(
    ("name", "by"),
    [("a.html.lhe", ("html",)), ("x.json.dat", ("json",)), ("x.json.bak", ("bak", "json")),
     ("x.tar.en", ("tar",)), ("x.dat", ()), ("x.json.txt", ("txt",)), ("README.html.en", ("html",)),
     ("summary.html.md", ("md", "html"))],
)  # fmt: skip
def test_one_answer_per_table_for_which_extension_a_server_types_a_name_by(name, by):
    assert served.served_by(served.extensions(name)) == by


def test_pages_and_json_names_ask_the_same_question():
    """The page rule and the JSON rule differ only in what the served extension is."""
    for stem in ("html", "json", "svg", "geojson"):
        for tail in ("dat", "en", "utf8", "out", "1"):
            name = f"x.{stem}.{tail}"
            found = served.name_reasons(name, ("text",))
            assert found and found[0][0] is Reason.NAME_TYPE and f".{stem}" in found[0][1], (name, found)
            assert served.served_by(served.extensions(name)) == (stem,)
