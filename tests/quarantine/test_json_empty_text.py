"""JSON's empty containers and JSON-shaped text. Every serializer writes an empty
container as `[]` or `{}`, indented or not (json, simplejson, orjson, ujson, JSON.stringify,
jq): split over two lines it would be a bit a container that no reader returns, so it is
refused. Text that starts like JSON but is not JSON as a serializer writes it (a
hand-written config, echo's list) is text whatever libmagic guessed from its head:
published under a text name or one that announces nothing, refused under .json."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, Stream, jsonfmt

VALUE = {"runs": [], "cuts": {}, "nested": [[], {}, [[]], {"a": {}}], "x": [1.5, {"e": []}]}


def _check(data: bytes, size: int = 4096) -> str:
    stream = Stream(iter([data[i : i + size] for i in range(0, len(data), size)]))
    return jsonfmt.validate(stream)


def _indented_writers() -> dict[str, bytes]:
    orjson = pytest.importorskip("orjson")
    ujson = pytest.importorskip("ujson")
    simplejson = pytest.importorskip("simplejson")
    out = {
        "json-2": json.dumps(VALUE, indent=2).encode(),
        "json-tab": json.dumps([[], {}, VALUE], indent="\t").encode(),
        "simplejson-4": simplejson.dumps(VALUE, indent=4).encode(),
        "orjson": orjson.dumps(VALUE, option=orjson.OPT_INDENT_2),
        "ujson-4": ujson.dumps(VALUE, indent=4).encode(),
    }
    doc = json.dumps(VALUE).encode()
    if shutil.which("node"):
        script = (
            "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0, 'utf8')), null, 2))"
        )
        out["node"] = subprocess.run(
            ["node", "-e", script], input=doc, capture_output=True, check=True
        ).stdout
    if shutil.which("jq"):
        out["jq"] = subprocess.run(["jq", "."], input=doc, capture_output=True, check=True).stdout
    return out


def _split(data: bytes, which: int) -> bytes:
    """The document with its `which`-th empty container split over two lines, the closing
    bracket at the container's depth (what the attacker writes for a 1 bit)."""
    lines = data.decode().split("\n")
    found = [i for i, line in enumerate(lines) if line.rstrip(",").endswith(("[]", "{}"))]
    i = found[which]
    line = lines[i]
    content = line.lstrip(" \t")
    at = line.rstrip(",").rfind("[]" if line.rstrip(",").endswith("[]") else "{}")
    lines[i : i + 1] = [line[: at + 1], line[: len(line) - len(content)] + line[at + 1 :]]
    return "\n".join(lines).encode()


def test_every_serializer_writes_empty_containers_one_way_and_it_passes():
    for name, data in _indented_writers().items():
        assert b"[]" in data and b"{}" in data, name  # the writers' own spelling, indented
        for size in (1, 5, 4096):
            assert _check(data, size) == "json", name


def test_an_empty_container_split_over_two_lines_is_refused_wherever_it_is():
    for data in _indented_writers().values():
        count = data.count(b"[]") + data.count(b"{}")
        for which in range(count):
            split = _split(data, which)
            assert json.loads(split) == json.loads(data)  # the same value to every reader
            for size in (1, 4096):
                with pytest.raises(Invalid, match="an empty container written"):
                    _check(split, size)
    with pytest.raises(Invalid, match="an empty container written"):
        _check(b"[\n]")  # the whole document


HAND_WRITTEN = {
    "hand-config": b'{ "run": 42, "energy": 91.2 }\n',
    "editor-config": b'{\n  "run": 42,\n  "beam": "e+e-"\n}\n\n',
    "echo-list": b"[1,2, 3]\n",
    "print-dict": (str({"run": 42, "ok": True}) + "\n").encode(),  # Python's repr: not JSON
    "split-empty": b"[\n  [\n  ]\n]",
}


def test_json_shaped_text_is_text_under_a_text_name_and_refused_as_json(tmp_path):
    files = {
        f"{name}{ext}": data
        for name, data in HAND_WRITTEN.items()
        for ext in (".txt", ".cfg", ".dat", ".json")
    }
    files["ctl-dumps.json"] = json.dumps(VALUE, indent=2).encode()
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    for name, data in files.items():
        entry = entries[name]
        if name.endswith(".json") and not name.startswith("ctl"):
            assert entry.reasons == (Reason.NAME_TYPE,), entry
            assert "the name ends in .json" in entry.detail
            assert "its bytes are text (not JSON as a serializer writes it: json: " in entry.detail
        else:
            assert entry.verdict is Verdict.ACCEPTED, entry
            assert entry.mime == ("application/json" if name.startswith("ctl") else "text/plain"), entry
            assert (tmp_path / "pub" / "run1" / name).read_bytes() == data
