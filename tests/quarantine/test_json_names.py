"""Names a web server types as JSON hold JSON as serializers write it (issue #13, attack
g's class 2): application/json and every +json type of the MIME tables (.webmanifest,
.gltf, .jsonld, .sarif ... served_pages.JSON_NAMES, generated), as a file, as what
gunzip makes of one and as a zip member. JSON-shaped text is text to vmguard (its white
space is free): under a name a client parses as JSON it is refused, naming the type and
the remedy; the same document as json writes it is published. JSON lines are text under
.jsonl and .ndjson (in no table) and refused under .json with the remedy .jsonl."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import pagetypes, served
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.served_pages import JSON_NAMES

pd = pytest.importorskip("pandas")

DOC = {"name": "run 42", "short_name": "r42", "start_url": ".", "energy": [0.5, 0.75], "ok": True}
# Python's json with separators a hand-rolled writer picks: white space no JSON reader returns.
LOOSE = json.dumps(DOC, separators=(" , ", " :  ")).encode()
TIGHT = json.dumps(DOC, indent=2).encode()
HOST_TYPES = Path("/etc/mime.types")


def _zip(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return out.getvalue()


def _tar(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(member)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _lines() -> bytes:
    frame = pd.DataFrame({"run": [1, 2, 3], "energy": [0.5, 1.25, -3.0]})
    return frame.to_json(orient="records", lines=True).encode()


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    files = {f"loose/x.{ext}": LOOSE for ext in JSON_NAMES} | {f"tight/x.{ext}": TIGHT for ext in JSON_NAMES}
    files |= {
        "loose/site.webmanifest.gz": gzip.compress(LOOSE, mtime=0),
        "tight/site.webmanifest.gz": gzip.compress(TIGHT, mtime=0),
        "loose/site-manifest.zip": _zip("site.webmanifest", LOOSE),
        "tight/site-manifest.zip": _zip("site.webmanifest", TIGHT),
        "loose/model.tar": _tar("scene.gltf", LOOSE),
        "tight/model.tar": _tar("scene.gltf", TIGHT),
        "loose/x.jsonl": LOOSE,  # JSON lines are text: loose JSON under a text name is text
        "lines/run.jsonl": _lines(),
        "lines/run.ndjson": _lines(),
        "lines/run.json": _lines(),
    }
    rules = shipped("batch.yaml", allow_types=("text", "json", "gzip", "zip", "tar"))
    entries, _ = vet_files(tmp_path_factory.mktemp("json-names"), files, rules)
    return files, entries


def test_the_table_holds_every_json_type_and_no_json_lines():
    assert JSON_NAMES["json"] == "application/json" and JSON_NAMES["geojson"] == "application/geo+json"
    assert (
        JSON_NAMES["webmanifest"] == "application/manifest+json" and JSON_NAMES["gltf"] == "model/gltf+json"
    )
    assert all(pagetypes.announces_json(mime) for mime in JSON_NAMES.values())
    assert "jsonl" not in JSON_NAMES and "ndjson" not in JSON_NAMES
    assert not pagetypes.announces_json("application/json-seq")  # RFC 7464: not one value
    assert not pagetypes.announces_json("application/geo+json-seq")


@pytest.mark.skipif(not HOST_TYPES.exists(), reason="no /etc/mime.types on this host")
def test_the_hosts_mime_types_add_no_json_extension():
    host = pagetypes.mime_types(HOST_TYPES.read_text())
    assert sorted(set(pagetypes.derive_json([host])) - set(JSON_NAMES)) == []


def test_loose_json_under_every_json_name_is_refused_naming_the_type(vetted):
    _, entries = vetted
    for ext, mime in JSON_NAMES.items():
        entry = entries[f"loose/x.{ext}"]
        assert entry.verdict is not Verdict.ACCEPTED and entry.reasons == (Reason.NAME_TYPE,), entry
        assert f"the name ends in .{ext} (a web server sends it as {mime}" in entry.detail, entry.detail
        assert "not JSON as a serializer writes it: json:" in entry.detail, entry.detail


def test_loose_json_gunzipped_or_in_an_archive_under_a_json_name_is_refused(vetted):
    _, entries = vetted
    tar = entries["loose/model.tar"]
    assert tar.reasons == (Reason.NAME_TYPE,) and "archive member scene.gltf" in tar.detail, tar
    gz, packed = entries["loose/site.webmanifest.gz"], entries["loose/site-manifest.zip"]
    assert gz.reasons == (Reason.NAME_TYPE,), gz  # the inner name judged with the inner bytes
    assert "the name ends in .webmanifest" in gz.detail, gz.detail
    assert packed.verdict is not Verdict.ACCEPTED and Reason.NAME_TYPE in packed.reasons, packed
    assert "archive member site.webmanifest" in packed.detail, packed.detail


def test_json_as_a_serializer_writes_it_is_published_under_every_json_name(vetted):
    files, entries = vetted
    tight = [name for name in files if name.startswith(("tight/", "lines/run.jsonl", "lines/run.ndjson"))]
    tight.append("loose/x.jsonl")
    for name in tight:
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]


def test_json_lines_named_json_are_refused_naming_jsonl(vetted):
    _, entries = vetted
    entry = entries["lines/run.json"]
    assert entry.reasons == (Reason.NAME_TYPE,), entry
    assert "extra data after the value" in entry.detail and "name it .jsonl" in entry.detail, entry.detail


@pytest.mark.parametrize("family", ["hdf5", "fits", "gzip"])
def test_other_bytes_under_a_json_name_are_refused_as_under_json(family):
    for ext in ("json", "gltf", "webmanifest"):
        (found,) = served.name_reasons(f"x.{ext}", (family,))
        assert found[0] is Reason.NAME_TYPE and f"but its bytes are {family}" in found[1], found
    assert served.name_reasons("x.dat", (family,)) == []
