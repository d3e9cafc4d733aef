"""JSON from Python's other serializers passes the spelling pins (issue #13, session 33):
orjson, ujson, simplejson without Decimal, pandas' to_json and numpy's tolist through
json.dumps, compact and indented, with exponents (1e+21, 1e-07 and 1e-7), -0.0, ints
beyond 64 bits, non-ASCII and escaped characters. Two spellings were refused before:
ujson's (and pandas') "\\/" for every "/", and pandas' fixed form (0.0000001: no exponent
from 1e-15 to 1e16). Each is admitted as one choice a file: a file that mixes it with the
other spelling is refused. Every passing file is written by the real library."""

from __future__ import annotations

import json
import math

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, Stream, jsonfmt
from vmguard.quarantine.validators.jsonfixed import pandas_fixed

np = pytest.importorskip("numpy")
orjson = pytest.importorskip("orjson")
ujson = pytest.importorskip("ujson")
simplejson = pytest.importorskip("simplejson")
pd = pytest.importorskip("pandas")

FLOATS = [1e21, 1e22, 1.5e300, 1e-07, 1e-05, 1e-4, 2.5e-8, 1.5e-12, 1e-16, 1.25e-20, 1e16, 2.5e20]
FLOATS += [-0.0, 0.0, 1.0, 0.1, 1 / 3, 2.0**53 + 2, 100.0, 12345.678, 1e308, -3.75e-9]
TEXT = [
    "a/b",
    "https://x.org/p?q=1&r=<2>",
    "\u00e9t\u00e9",
    "\u65e5\u672c",
    "\U0001f600",
    "\t\n\r",  # no other control: a reader prints the string raw (terminal.py)
    "\u2028",
    'q"\\',
]
VALUE = {"f": FLOATS, "i": [0, -1, 2**63 - 1, -(2**63)], "s": TEXT, "b": [True, False, None], "e": [[], {}]}
BIG = [2**64, 10**30, -(2**70)]  # ints beyond 64 bits (orjson refuses them: not written)


def _check(data: bytes, size: int = 4096) -> str:
    return jsonfmt.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))


def _frame():
    return pd.DataFrame({"x": FLOATS, "n": range(len(FLOATS)), "s": (TEXT * 3)[: len(FLOATS)]})


def _writers() -> dict[str, bytes]:
    big = VALUE | {"i": VALUE["i"] + BIG}
    out = {
        "orjson": orjson.dumps(VALUE),
        "orjson-indent": orjson.dumps(VALUE, option=orjson.OPT_INDENT_2),
        "orjson-numpy": orjson.dumps({"a": np.array(FLOATS)}, option=orjson.OPT_SERIALIZE_NUMPY),
        "orjson-nan": orjson.dumps([math.nan, math.inf, 1.5]),  # orjson writes null
        "ujson": ujson.dumps(big).encode(),
        "ujson-raw": ujson.dumps(big, ensure_ascii=False).encode(),
        "ujson-indent": ujson.dumps(big, indent=4).encode(),
        "ujson-slashes": ujson.dumps(big, escape_forward_slashes=False).encode(),
        "ujson-html": ujson.dumps(big, encode_html_chars=True).encode(),
        "simplejson": simplejson.dumps(big, use_decimal=False).encode(),
        "simplejson-floats": simplejson.dumps(big).encode(),  # use_decimal: no Decimal, no change
        "simplejson-indent": simplejson.dumps(big, indent="\t", ensure_ascii=False).encode(),
        "numpy-tolist": json.dumps({"a": np.array(FLOATS).tolist(), "i": np.arange(-3, 3).tolist()}).encode(),
        "numpy-f32-tolist": json.dumps(
            np.array([v for v in FLOATS if abs(v) < 1e38], dtype=np.float32).tolist()
        ).encode(),
        "json-tight": json.dumps(big, separators=(",", ":")).encode(),
    }
    frame = _frame()
    for orient in ("records", "columns", "split", "index", "values", "table"):
        out[f"pandas-{orient}"] = frame.to_json(orient=orient).encode()
    out["pandas-indent"] = frame.to_json(orient="records", indent=2).encode()
    out["pandas-raw"] = frame.to_json(force_ascii=False).encode()
    out["pandas-precision-5"] = frame.to_json(double_precision=5).encode()
    out["pandas-precision-15"] = frame.to_json(double_precision=15).encode()
    rng = np.random.default_rng(33)
    for scale in (1, 1e6, 1e9, 1e15):  # 16 to 20 digits from 1e6 up: not the shortest
        out[f"pandas-large-{scale:g}"] = (
            pd.Series(rng.normal(size=500) * scale).to_json(orient="values").encode()
        )
    out["pandas-nan"] = pd.Series([math.nan, 1.5, None]).to_json(orient="values").encode()  # null
    return out


WRITERS = _writers()


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_each_serializers_output_passes_however_chunked(name):
    for size in (3, 4096):
        assert _check(WRITERS[name], size) == "json", name


def test_the_spellings_admitted_are_the_ones_these_writers_write():
    """The controls show what the pins admit: not hand-made bytes."""
    assert b"a\\/b" in WRITERS["ujson"] and b"a\\/b" in WRITERS["pandas-records"]
    assert b"0.0000000250" not in WRITERS["pandas-values"] and b"0.000000025" in WRITERS["pandas-values"]
    assert b"1e-7" in WRITERS["ujson"] and b"1e-07" in WRITERS["simplejson"]
    assert b"-0.0" in WRITERS["orjson"] and b"18446744073709551616" in WRITERS["ujson"]


def test_serializers_output_is_published(tmp_path):
    files = {
        f"{name}.json": WRITERS[name] for name in ("ujson", "ujson-indent", "pandas-table", "pandas-indent")
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("json",)))
    assert {n: e.detail for n, e in entries.items() if e.verdict is not Verdict.ACCEPTED} == {}


def _two_precisions(first: int, second: int) -> bytes:
    """Two of pandas' outputs of one large float, at two double_precisions, as one array."""
    a, b = (
        pd.Series([16476174.68597337]).to_json(orient="values", double_precision=p) for p in (first, second)
    )
    return f"[{a[1:-1]},{b[1:-1]}]".encode()


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        # one choice a file: ujson's \/ beside a / written as it is (json.dumps')
        (WRITERS["ujson"][:-1] + b',"t":"c/d"}', "'/' .ujson and pandas"),
        (b'["a/b","c\\/d"]', "'/' .ujson and pandas"),
        # pandas' fixed form beside an exponent it never writes (repr's 1e-07, JS's 1e-7)
        (WRITERS["pandas-values"][:-1] + b",1e-07]", "pandas' to_json form"),
        (b"[1e-7," + WRITERS["pandas-values"][1:], "pandas' to_json form"),
        (b"[0.00001,0.0000001,1.5e+15]", "pandas' to_json form"),
        (b"[0.000000000000000025]", "more than 14 zeros"),  # pandas writes 2.5e-17
        # in pandas' form, %.17g's digits (pandas writes its own or the shortest)
        (b"[0.0000001,0.10000000000000001]", "nor pandas'"),
        (WRITERS["pandas-large-1e+06"][:-1] + b",0.10000000000000001]", "nor pandas'"),
        (ujson.dumps([math.nan]).encode(), "not one strict JSON value"),  # ujson writes NaN: refused
        # pandas' rounding at two precisions in one file: one precision a file
        (_two_precisions(10, 12), "more than 17 significant digits"),
        (_two_precisions(12, 10), "more than 17 significant digits"),
        # pandas' digits of another double (the last digit changed)
        (_two_precisions(10, 10).replace(b"704]", b"705]"), "more than 17 significant digits"),
    ],
)
def test_a_mix_or_a_spelling_no_reader_returns_is_refused(data, rule):
    for size in (1, 5, 4096):
        with pytest.raises(Invalid, match=rule):
            _check(data, size)


def test_a_mix_is_refused_by_vet(tmp_path):
    files = {"mix.json": b'{"a":"x\\/y","b":"z/w"}', "ok.json": WRITERS["ujson"]}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("json",)))
    assert entries["ok.json"].verdict is Verdict.ACCEPTED
    # JSON-shaped text is text (validators.vet): not admitted by a JSON-only policy, the JSON rule said
    assert entries["mix.json"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    assert "starts like JSON but is text: json: " in entries["mix.json"].detail
    assert "both escaped and written as they are" in entries["mix.json"].detail


def test_pandas_at_every_precision_passes():
    """Random doubles from 1e-15 to 1e16 (and beyond: pandas' %g there) at each
    double_precision, the rounding in pandas' own double arithmetic."""
    rng = np.random.default_rng(330)
    values = rng.normal(size=400) * 10.0 ** rng.integers(-17, 18, size=400)
    for precision in range(1, 16):
        data = pd.Series(values).to_json(orient="values", double_precision=precision).encode()
        assert _check(data, 7 if precision % 5 == 0 else 4096) == "json", precision


def test_pandas_rounding_is_redone_exactly():
    """jsonfixed.pandas_fixed against pandas itself, number by number: where they differed
    a pandas file would be refused (or another spelling admitted)."""
    rng = np.random.default_rng(331)
    values = rng.normal(size=3000) * 10.0 ** rng.integers(-15, 17, size=3000)
    values = np.concatenate([values, [0.5, 1.5, 2.5, 0.95, 0.99999999999, 1e16, -1e16, 1e-15, 0.0, -0.0]])
    for precision in (1, 3, 10, 15):
        written = pd.Series(values).to_json(orient="values", double_precision=precision)[1:-1].split(",")
        mine = [pandas_fixed(float(v), precision) for v in values]
        assert [w for w, m in zip(written, mine, strict=True) if m is not None and w != m] == [], precision
