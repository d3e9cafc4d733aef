"""JSON pinned to the bytes serializers write (jsonlayout.py): what json, simplejson,
JSON.stringify (node), jq and awkward write passes however it is chunked; each free choice
a reader does not return (white space, escapes, number spellings) is refused."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from vmguard.quarantine.validators import Invalid, Stream, jsonfmt

VALUE = {
    "run": 7,
    "µ": "é → ok \u2028",
    "floats": [0.1, 1 / 3, 1e-7, 1e16, 1e300, -0.0, 2.5, 100.0, 123456.789, 1.7976931348623157e308],
    "ints": [0, -1, 2**53, 2**70],
    "empty": [[], {}],
    "nested": [[1, [2, {"a": None}]], True, False],
    "s": 'a/b <x> & "q" \\ \t\n\r',  # \x01 and DEL: refused (terminal.py)
}


def _check(data: bytes, size: int = 4096) -> str:
    stream = Stream(iter([data[i : i + size] for i in range(0, len(data), size)]))
    return jsonfmt.validate(stream)


def _python_outputs() -> dict[str, bytes]:
    simplejson = pytest.importorskip("simplejson")
    out = {}
    layouts = [{}, {"indent": 2}, {"indent": 4, "sort_keys": True}, {"indent": "\t"}, {"indent": 0}]
    layouts += [{"separators": (",", ":")}, {"separators": (",", ": ")}]
    for i, kw in enumerate(layouts):
        for ascii_only in (True, False):
            out[f"json-{i}-{ascii_only}"] = json.dumps(VALUE, ensure_ascii=ascii_only, **kw).encode()
            out[f"simplejson-{i}-{ascii_only}"] = simplejson.dumps(
                VALUE, ensure_ascii=ascii_only, **kw
            ).encode()
    out["dump-newline"] = json.dumps(VALUE, indent=2).encode() + b"\n"
    return out


def _tool_outputs() -> dict[str, bytes]:
    doc = json.dumps(VALUE).encode()
    out = {}
    if shutil.which("node"):
        for i, args in enumerate(["", ", null, 2", ", null, '\\t'"]):
            script = f"process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0, 'utf8')){args}))"
            out[f"node-{i}"] = subprocess.run(
                ["node", "-e", script], input=doc, capture_output=True, check=True
            ).stdout
    if shutil.which("jq"):
        for flag in (".", "-c"):
            args = ["jq", flag] if flag == "." else ["jq", "-c", "."]
            out[f"jq{flag}"] = subprocess.run(args, input=doc, capture_output=True, check=True).stdout
    return out


def test_real_writers_pass_whatever_the_chunking():
    ak = pytest.importorskip("awkward")
    outputs = _python_outputs() | _tool_outputs()
    outputs["awkward"] = ak.to_json(ak.Array([{"x": 1.5, "y": [1, 2]}, {"x": 0.1, "y": []}])).encode()
    assert len(outputs) >= 30
    for name, data in outputs.items():
        for size in (1, 7, 4096):
            assert _check(data, size) == "json", name


def test_json_dumps_of_random_values_passes():
    rng = random.Random(31)

    def gen(depth: int = 0) -> object:
        if depth > 4 or rng.random() < 0.4:
            return rng.choice(
                [0, -2.5, 1e9, 1e-9, rng.random(), "x/y", 'é"\\<&', True, None, 2**70, "", -0.0]
            )
        if rng.random() < 0.5:
            return [gen(depth + 1) for _ in range(rng.randint(0, 5))]
        return {f"k{i}": gen(depth + 1) for i in range(rng.randint(0, 4))}

    for _ in range(300):
        value = gen()
        kw = {"ensure_ascii": rng.random() < 0.5, "indent": rng.choice([None, 1, 2, "\t"])}
        data = json.dumps(value, **kw).encode() + rng.choice([b"", b"\n"])
        assert _check(data, rng.choice([1, 3, 4096])) == "json", data


GOOD = json.dumps({"a": [1, 2.5], "b": "x"})
INDENTED = json.dumps({"a": [1, 2.5], "b": "x"}, indent=2)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (GOOD + "\n\n", "white space after the value"),
        (GOOD + " ", "white space after the value"),
        (GOOD + "\r\n", "white space after the value"),
        (" " + GOOD, "white space before the value"),
        ('{"p": "a\\/b", "q": "c/d"}', "'/' .ujson"),  # ujson writes \/ for every /
        ('{"p": "\\u0041"}', "the escape"),
        ('{"p": "\\u000a"}', "the escape"),  # json.dumps writes \n
        ('{"p": "\\u00E9"}', "the escape"),
        ('{"p": "\\u00e9", "q": "é"}', "non-ASCII characters"),
        ('{"p": "\\u007f", "q": "\x7f"}', "control character"),  # DEL, either way (terminal.py)
        ('{"p": "\\u003c", "q": "<"}', "& < >"),
        ('{"p": "\\u2028", "q": "\u2028"}', "U\\+2028"),
        ('{"a": 1, "b":2}', "':' followed by a space in some places"),
        ('{"a": 1,"b": 2, "c": 3}', "',' followed by a space in some places"),
        ('{"a":  1}', "a space other than the separators'"),
        ('{"a" : 1}', "a space other than the separators'"),
        ('{"a":\t1}', "a newline, tab or CR"),
        ("[1,\n2]", "a newline, tab or CR"),
        (INDENTED.replace('\n  "b"', '\n   "b"'), "line 6 is not laid out"),
        (INDENTED.replace("\n    2.5", " 2.5"), "line 3 is not laid out"),
        (INDENTED.replace('"b": "x"', '"b":  "x"'), "is not laid out"),
        (INDENTED.replace("\n", "\n\n", 1), "line 2 is not laid out"),
        (INDENTED + " ", "white space after the value"),
        ("[1E5]", "a number spelled with 'E'"),
        ("[1e5]", "a number spelled with 'e5'"),
        ("[1e+005]", "a number spelled with"),
        ("[1.50]", "a number spelled with '.50'"),
        ("[1.0e+5]", "a number spelled with '.0e'"),
        ("[0.1000000000000000055511151231257827]", "a number spelled with"),
    ],
)
def test_free_choices_are_refused(data, rule):
    json.loads(data)  # each is one valid JSON value a reader returns the same way
    for size in (1, 5, 4096):
        with pytest.raises(Invalid, match=rule):
            _check(data.encode(), size)
