"""A binary table's strings (A columns, PA()/QA() heap strings) hold no control
character the text row refuses (issue #13, attack n's fits-n-escapes-in-string-column):
`print(Table.read(f))` hands them raw to the terminal. TAB, LF, CR and NUL (the
string's end) stay (VT and FF stayed until session 39: terminal.py's one rule for strings; FF clears PuTTY's screen); a C1 control as UTF-8 (C2 9B: CSI) is refused, other UTF-8 passes.
Controls: astropy's tables (fixed and heap strings, multidimensional, UTF-8 bytes)."""

from __future__ import annotations

import io

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")
Table = pytest.importorskip("astropy.table").Table

from tests.support import attack_ncontent_fits as made  # noqa: E402
from tests.support.fits_tables import check, check_or_none, write  # noqa: E402

RULE = "holds a control character"


def _fixed(values: list[bytes], dtype: str = "S12") -> bytes:
    buf = io.BytesIO()
    Table({"name": np.array(values, dtype=dtype), "e": np.arange(len(values), dtype=float)}).write(
        buf, format="fits"
    )
    return buf.getvalue()


def _heap(form: str, values: list[str]) -> bytes:
    column = fits.Column(name="s", format=form, array=np.array(values, dtype=object))
    return write(fits.BinTableHDU.from_columns([column]))


@pytest.mark.parametrize("size", [7, 2880, 1 << 20])
def test_attack_n_escapes_in_a_string_column_are_refused(size):
    with pytest.raises(Exception, match=RULE):
        check(made.escape_table(), size)


@pytest.mark.parametrize("value", [b"a\x1b[2Kb", b"\x07", b"x\x7f", b"\x01", b"ab\xc2\x9b1m", b"\x0e", b"\x0c", b"p\x0c", b"\x0b"])
def test_each_control_is_refused_in_any_row(value):
    message = check_or_none(_fixed([b"run1", b"run2", value]))
    assert message is not None and RULE in message, message


@pytest.mark.parametrize("value", [b"a\tb", b"x\ny\r\n", b"caf\xc3\xa9", b"\xc2", b""])
def test_text_controls_and_utf8_pass(value):
    assert check(_fixed([b"run1", value])) == "fits"


def test_a_multidimensional_string_column_is_checked_string_by_string():
    buf = io.BytesIO()
    Table({"s": np.array([["ab", "c"], ["d", "e"]])}).write(buf, format="fits")
    assert check(buf.getvalue()) == "fits"
    buf = io.BytesIO()
    Table({"s": np.array([["ab", "c\x1b"], ["d", "e"]])}).write(buf, format="fits")
    assert RULE in (check_or_none(buf.getvalue()) or "")


@pytest.mark.parametrize("form", ["PA()", "QA()"])
def test_heap_strings(form):
    assert check(_heap(form, ["ab", "cd\tef", "g" * 300])) == "fits"
    message = check_or_none(_heap(form, ["ab", "cd\x1b]0;x\x07", "g"]))
    assert message is not None and RULE in message, message
