"""A manifest read a value at a time (core/jsonstream.py, quarantine/manifest.py): the
same values json.loads reads from the same bytes, whatever chunk boundaries cut them,
and an error wherever json.loads has one."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vmguard.core.jsonstream import JsonStream
from vmguard.quarantine import manifest

DOC = {
    "created": "2026-12-05T06:21:40+00:00",
    "entries": [
        {"path": "d0/f1.txt", "size": 100, "sha256": "ab" * 32, "reasons": [], "detail": ""},
        {"path": "d0/été 日本 \U0001f600.txt", "size": None, "reasons": ["name-type"], "detail": "x\ny"},
        {},
        [],
    ],
    "big": [123456789012345678901234567890, -1.5e-7, 0, True, False, None, "", '\\"', [[]], {"a": {}}],
    "walked": [["d0", 12], ["d0/f1.txt", 13, 100, 1796451667661861369, 1796451667661861370]],
    "version": 1,
}
TEXTS = {
    "compact": json.dumps(DOC, sort_keys=True),
    "no spaces": json.dumps(DOC, separators=(",", ":")),
    "indented, UTF-8": json.dumps(DOC, indent=2, ensure_ascii=False),
    "tabs and CRs": json.dumps(DOC, indent="\t").replace("\n", "\r\n") + " \n\t",
    "a key twice": '{"job": "a", "walked": [["x", 1]], "job": "b", "walked": "none"}',
}
CHUNKS = (1, 2, 3, 7, 64, 1 << 20)


def _load(stream: JsonStream) -> object:
    """What the stream reads, containers taken apart item by item as a rerun does."""
    first = stream.peek()
    if first == "{":
        doc = {}
        for key in stream.members():
            doc[key] = _load(stream)
        return doc
    if first == "[":
        return list(stream.items())
    return stream.value()


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_read_as_json_loads_reads_it(name, chunk):
    data = TEXTS[name].encode()
    stream = JsonStream(io.BytesIO(data), chunk=chunk)
    assert _load(stream) == json.loads(data)
    stream.end()


@pytest.mark.parametrize("chunk", CHUNKS)
def test_offsets_are_bytes_even_after_multibyte_characters(chunk):
    data = TEXTS["indented, UTF-8"].encode()
    found = manifest.read(io.BytesIO(data))
    stream = JsonStream(io.BytesIO(data), found.walked_at, chunk=chunk)
    assert list(stream.items()) == DOC["walked"]
    entries = JsonStream(io.BytesIO(data), found.entries_at, chunk=chunk)
    assert list(entries.items()) == DOC["entries"]


def _prefixes(text: str) -> list[bytes]:
    data = text.encode()
    return [data[:n] for n in range(len(data)) if data[:n].strip()]


BAD = [
    *_prefixes('{"a": [1, 22, {"b": "c\\u00e9"}], "n": 123, "t": true}'),
    b'{"a": 1} x',
    b'{"a": [1, 2,]}',
    b'{"a": 1,}',
    b"{1: 2}",
    b'{"a" 1}',
    b'{"a": [1 2]}',
    b'{"a": "\xff"}',
    b'{"a": "\xc3"}',
    b"\xef\xbb\xbf{}",  # a UTF-8 BOM: json.loads refuses it in text
]


@pytest.mark.parametrize("chunk", (1, 5, 1 << 20))
@pytest.mark.parametrize("data", BAD)
def test_an_error_wherever_json_loads_has_one(data, chunk):
    with pytest.raises(ValueError):
        json.loads(data.decode())
    with pytest.raises(ValueError):
        stream = JsonStream(io.BytesIO(data), chunk=chunk)
        _load(stream)
        stream.end()


def test_a_key_given_again_counts_by_its_last_value(tmp_path: Path):
    path = tmp_path / "m.json"
    path.write_text(TEXTS["a key twice"])
    with path.open("rb") as file:
        found = manifest.read(file)
        assert found.fields == {"job": "b", "walked": "none"} and found.walked() is None
    path.write_text('{"walked": "none", "job": "b", "walked": [["x", 1]]}')
    with path.open("rb") as file:
        found = manifest.read(file)
        assert found.fields == {"job": "b"} and list(found.walked()) == [["x", 1]]


@pytest.mark.parametrize("entries", ['{"a": 1}', '"none"', "null"])
def test_entries_that_are_no_list_are_no_manifest(tmp_path: Path, entries: str):
    path = tmp_path / "m.json"
    path.write_text(f'{{"job": "j", "entries": {entries}}}')
    with path.open("rb") as file, pytest.raises(ValueError, match="no list"):
        manifest.read(file)
