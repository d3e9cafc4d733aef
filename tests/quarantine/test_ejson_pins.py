"""JSON pins after attack e (jsonkeys.py, jsonnumbers.py, jsonlayout.py): no key twice in
an object; a float's digits the shortest or %.17g's, and a double's range; the indent
unit spaces or tabs; indented files with ':' or ', ' separators (awkward, Python 2.7)
pass. Real writers' output passes however it is chunked; each hostile spelling is
refused however it is chunked."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from decimal import Decimal

import pytest

from vmguard.quarantine.validators import Invalid, Stream, jsonfmt

VALUE = {"run": 42, "unit": "m/s", "x": [0.1, 1e-7, 2.5e20, 3.0, [], {}], "ok": True, "n": {"run": 1}}


def _check(data: bytes, size: int = 4096) -> str:
    stream = Stream(iter([data[i : i + size] for i in range(0, len(data), size)]))
    return jsonfmt.validate(stream)


def _random_doubles(count: int) -> list[float]:
    """Finite doubles from random bit patterns: every exponent, subnormals included."""
    rng = random.Random(32)
    out: list[float] = []
    while len(out) < count:
        (value,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if value == value and abs(value) != float("inf"):
            out.append(value)
    return out + [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3]


def _writers() -> dict[str, bytes]:
    ak = pytest.importorskip("awkward")
    doubles = _random_doubles(3000)
    out = {
        "indent-tight": json.dumps(VALUE, indent=2, separators=(",", ":")).encode(),
        "py2-separators": json.dumps(VALUE, indent=4, separators=(", ", ": ")).encode(),
        "indent-tabs": json.dumps(VALUE, indent="\t\t").encode(),
        "indent-16": json.dumps(VALUE, indent=16).encode(),
        "awkward-indent": ak.to_json(ak.Array([VALUE | {"x": [1.5e-8, 2.0]}]), num_indent_spaces=2).encode(),
        "repr-doubles": json.dumps(doubles).encode(),
        "repr-doubles-indent": json.dumps({"d": doubles}, indent=1).encode(),
        # printf's %.17g (cJSON, C writers): not Python's repr, the same doubles
        "printf-17g": ("[" + ",".join(f"{v:.17g}" for v in doubles) + "]").encode(),
        "big-keys": json.dumps({f"k{i}": i for i in range(5000)}).encode(),
        "same-keys-nested": json.dumps([{"a": {"a": {"a": 1}}, "b": [{"a": 2}]}] * 300).encode(),
        "escaped-keys": json.dumps({"é": 1, "e\u0301": 2, 'a"b': 3, "a\\b": 4, "\t": 5}).encode(),
    }
    doc = json.dumps(doubles).encode()
    if shutil.which("node"):
        script = "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0, 'utf8'))))"
        out["node-doubles"] = subprocess.run(
            ["node", "-e", script], input=doc, capture_output=True, check=True
        ).stdout
    if shutil.which("jq"):
        out["jq-doubles"] = subprocess.run(
            ["jq", "-c", "."], input=doc, capture_output=True, check=True
        ).stdout
    return out


def test_real_writers_pass_whatever_the_chunking():
    for name, data in _writers().items():
        for size in (1, 7, 4096):
            if size == 1 and len(data) > 20000:
                continue  # a byte a chunk: seconds for the large ones, the small ones cover it
            assert _check(data, size) == "json", name


def _alt_spelling(value: float) -> str:
    """17 digits read back as value, neither repr nor %.17g (the attacker's kind)."""
    g = f"{value:.17g}"
    return next(
        c for c in (g[:-1] + d for d in "123456789") if float(c) == value and c not in (g, repr(value))
    )


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ('{"run": "x", "run": 42}', "the key '\"run\"' twice"),
        ('{"a": {"b": 1, "c": [1, {"c": 2}], "b": 2}}', "the key '\"b\"' twice"),
        ('{"a": [], "b": {}, "a": null}', "the key '\"a\"' twice"),
        ('{"\\u00e9": 1, "\\u00e9": 2}', "the key '\"é\"' twice"),
        ('{"a\\"": 1, "a\\"": 2}', "twice in one object"),
        (json.dumps({f"k{i}": i for i in range(3000)})[:-1] + ', "k7": 0}', "the key '\"k7\"' twice"),
        (json.dumps({f"k{i}": i for i in range(3000)}, indent=2)[:-2] + ',\n  "k2999": 0\n}', "twice"),
        (f"[{_alt_spelling(0.9)}, 0.5]", "neither the shortest digits"),
        (f"[{_alt_spelling(1 / 3)}]", "neither the shortest digits"),
        ("[4.9e-324]", "neither the shortest digits"),  # 5e-324: subnormal, short digits
        ("[2.4703282292062328e-324]", "neither the shortest digits"),  # rounds up to 5e-324
        ("[1.2345678901234567e-400, 0.5]", "underflows"),
        ("[1e-400]", "underflows"),
        ("[-1e-999]", "underflows"),
        ("[1.2345678901234567e+400]", "out of a double's range"),
        ("[1e+309]", "out of a double's range"),
        ("[1e+1000000]", "out of a double's range"),
        ("[12.5e+20]", "a mantissa other than one digit"),
        ("[0.5e-3]", "a mantissa other than one digit"),
        ("[-10e+5]", "a mantissa other than one digit"),
        ("[0.00000012, 1.2e-07]", "pandas' to_json form"),  # pandas' form beside repr's
        ("[1e-05, 0.0000001]", "pandas' to_json form"),
        ("[0.0000000000000000000000000000001]", "more than 14 zeros"),
        ("[0.000000000000000123]", "more than 14 zeros"),
        ("[1." + "1" * 40 + "e+400]", "out of a double's range"),
        ("[0.1000000000000000055511151231257827]", "more than 17 significant digits"),
        ("[100000000000000000000.0]", "more than 17 significant digits"),  # 1e+20, exact
        ("[12345678901234567.0]", "more than 17 significant digits"),
        ('{"p": 3.140}', "a Decimal's spelling.*float\\(\\)"),
        ('{"g": 1E+2}', "a Decimal's spelling"),
        ('{"g": 1e+005}', "'e\\+00' \\(no serializer writes it\\)"),
        (json.dumps(VALUE, indent=" \t"), "the indentation unit"),
        (json.dumps(VALUE, indent="\t "), "the indentation unit"),
        (json.dumps(VALUE, indent=17), "the indentation unit"),
        (json.dumps(VALUE, indent=2).replace(": ", ":", 1), "':' followed by a space in some places"),
        (json.dumps(VALUE, indent=2).replace(",\n", ", \n", 1), "',' followed by a space in some places"),
        (json.dumps(VALUE, indent=2).replace(",\n", ",  \n", 1), "is not laid out"),
        (json.dumps(VALUE, indent=2).replace(": ", " : ", 1), "is not laid out"),
    ],
)
def test_free_choices_are_refused(data, rule):
    for size in (1, 5, 4096):
        with pytest.raises(Invalid, match=rule):
            _check(data.encode(), size)


def test_what_is_refused_is_what_readers_read_otherwise():
    """The hostile spellings are valid JSON whose readers drop or change bytes."""
    assert json.loads('{"run": "x", "run": 42}') == {"run": 42}
    assert float(_alt_spelling(0.9)) == 0.9
    assert json.loads("[1e-400, 1e+400]") == [0.0, float("inf")]
    assert json.loads("[12.5e+20]") == [1.25e21]
    simplejson = pytest.importorskip("simplejson")
    assert simplejson.dumps({"p": Decimal("3.140")}) == '{"p": 3.140}'  # the refused writer, for real


def test_the_keys_held_are_bounded_and_released(monkeypatch):
    """The duplicate check holds the open objects' keys only: at most MAX_KEYS at once
    (refused beyond, with the remedy), released as each object closes."""
    from vmguard.quarantine.validators import jsonkeys

    monkeypatch.setattr(jsonkeys, "MAX_KEYS", 1000)
    many_closed = json.dumps([{f"k{i % 7}": i} for i in range(5000)] + [{f"k{i}": i for i in range(999)}])
    assert _check(many_closed.encode(), 4096) == "json"
    inner = {f"k{i}": i for i in range(600)}
    with pytest.raises(Invalid, match="write such a mapping as an array of pairs"):
        _check(json.dumps(inner | {"z": inner}).encode())  # 601 keys open, then 600 more


def test_the_key_characters_are_counted_as_written_without_quotes(monkeypatch):
    """MAX_KEY_CHARS counts each key's characters between its quotes (attack n: 1,030,000
    keys of 31 characters, 31.9 M, were refused below 32 Mi: the quotes were counted)."""
    from vmguard.quarantine.validators import jsonkeys

    monkeypatch.setattr(jsonkeys, "MAX_KEY_CHARS", 1000)
    at_bound = {f"{i:010d}": i for i in range(100)}  # 100 keys of 10 characters: 1000
    assert _check(json.dumps(at_bound).encode(), 4096) == "json"
    with pytest.raises(Invalid, match="characters of keys"):
        _check(json.dumps(at_bound | {"x": 0}).encode())


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('["' + "ab" * 600_000 + '"]', "json"),
        ('["' + 'a\\"b' * 300_000 + '"]', "json"),  # a quote in every chunk: judged each time
        ('["' + "a" * 600_000 + "\x01" + "a" * 600_000 + '"]', "not one strict JSON value"),
        ('["' + "a" * 600_000 + '\\x"]', "not one strict JSON value"),
        ("[1." + "2" * 600_000 + "]", "more than 17 significant digits"),
        ("[" + "7" * 600_000 + "]", "an integer out of a double's range"),  # JavaScript: Infinity
        ("[" + "7" * 300 + "]", "json"),  # an int a double holds: Python reads it whole
    ],
)
def test_a_long_token_is_judged_once_when_it_ends(text, verdict):
    """A token longer than a chunk is only lengthened by the chunks inside it (judged as a
    whole when it ends); what it holds is still judged."""
    data = text.encode()
    if verdict == "json":
        assert _check(data, 65536) == "json"
        return
    with pytest.raises(Invalid, match=verdict):
        _check(data, 65536)
