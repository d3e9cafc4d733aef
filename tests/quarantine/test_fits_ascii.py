"""FITS ASCII tables field by field (fitsascii.py, issue #13): every number field is a
number as astropy and cfitsio write it for its TFORM (Iw, Fw.d, Ew.d, Dw.d: right-justified,
no '+', no leading zeros, the declared decimals, D for Dw.d) or TNULLn's string; real
astropy tables of every format (NaN, infinities, d = 0) pass, and each other spelling,
letters astropy cannot read or a number it reads all the same, is refused."""

from __future__ import annotations

import io
import time
import warnings

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from tests.support.attack_dcontent_fits import _set  # noqa: E402
from tests.support.fits_tables import check, check_or_none, patch, table_at, write  # noqa: E402

COLUMNS = [  # (format, values): astropy writes each
    ("I6", [1, -2, 0, 12345]),
    ("F8.0", [1.5, -2.0, 30.0, 0.0]),
    ("F10.3", [1.5, -0.0001, np.inf, -np.inf]),
    ("E12.3", [1.5e10, -2e-200, np.inf, 0.0]),
    ("D25.17", [1.5, -2.0, np.nan, 1e300]),
    ("E8.0", [1.5, -2.0, 3.0, 9e99]),  # astropy writes '2E+00.', which it cannot read
    ("A3", ["x", "yy", "", "zzz"]),
    ("F6.0", [np.nan, 1.0, -1.0, 2.0]),  # astropy writes 'nan.', which it cannot read
]


def _table(null: str | None = None) -> bytes:
    cols = [
        fits.Column(name=f"c{n}", format=form, array=np.array(values), null=null if n == 1 else None)
        for n, (form, values) in enumerate(COLUMNS, 1)
    ]
    return write(fits.TableHDU.from_columns(cols))


BASE = _table()
STARTS = np.cumsum([0] + [int(f[1:].split(".")[0]) for f, _ in COLUMNS])


def _field(data: bytes, column: int, row: int, text: str) -> bytes:
    start, naxis1, _, _ = table_at(data)
    width = int(STARTS[column] - STARTS[column - 1])
    assert len(text) == width
    return patch(data, start + row * naxis1 + int(STARTS[column - 1]), text.encode())


def _astropy(data: bytes, column: int) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(data)) as hdus:
            return list(hdus[1].data[f"c{column}"])


def test_astropy_tables_of_every_format_pass():
    assert check(BASE) == "fits"
    assert _astropy(BASE, 5)[3] == 1e300
    start, _, _, _ = table_at(BASE)
    row = BASE[start : start + int(STARTS[-1])]
    assert b"2E+00." in BASE and b"nan." in BASE and b"D+00" in row  # astropy's own spellings


@pytest.mark.parametrize(
    ("column", "text", "astropy_reads"),
    [
        (1, "PAYLD!", None),
        (1, "   +12", 12),
        (1, "000012", 12),
        (1, "12    ", 12),
        (1, "  12.0", None),
        (1, "    -0", 0),
        (1, "      ", 0),
        (2, "     +2.", 2.0),
        (2, "     02.", 2.0),
        (2, "  2.5000", 2.5),
        (2, "     2.0", 2.0),
        (3, "     1.5  ", 1.5),
        (3, "    1.5000", 1.5),
        (3, "    +1.500", 1.5),
        (4, "   1.500e+10", 1.5e10),
        (4, "  15.000E+09", 1.5e10),
        (4, "  1.500E+010", 1.5e10),
        (4, "  1.500E+10 ", 1.5e10),
        (4, "   0.150E+11", 1.5e10),
        (4, "   0.000E+01", 0.0),
        (5, "  1.50000000000000000E+00", 1.5),
        (5, " +1.50000000000000000D+00", 1.5),
        (4, "   1.500E-00", 1.5),
        (5, "  1.50000000000000000D-00", 1.5),
        (6, "  1.E+01", None),
    ],
)
def test_a_number_field_not_spelled_as_writers_write_it_is_refused(column, text, astropy_reads):
    data = _field(BASE, column, 0, text)
    if astropy_reads is None:
        with pytest.raises(ValueError):
            _astropy(data, column)
    else:
        assert _astropy(data, column)[0] == astropy_reads
    message = check_or_none(data)
    assert message is not None and f"field {column} of an ASCII table" in message, message
    start, naxis1, _, _ = table_at(data)
    assert f"offset {start + int(STARTS[column - 1])}" in message


def test_the_spellings_writers_write_pass_in_any_row():
    for column, text in (
        (1, "    -7"),
        (3, "    -0.000"),
        (4, "  -1.000E+99"),
        (4, "  1.000E-100"),
        (6, " -1E+01."),  # in its column's form: astropy's point (a mix is refused, below)
        (4, "   1.500E-01"),
        (4, "   0.000E+00"),
        (5, "  1.50000000000000000D-09"),
        (3, "      -inf"),
        (4, "        -INF"),
    ):
        assert check(_field(BASE, column, 3, text)) == "fits", text


@pytest.mark.parametrize(
    ("column", "text"),
    [(3, "       NAN"), (3, "       INF"), (4, "         nan"), (4, "        -inf"), (5, " " * 22 + "inf")],
)
def test_a_non_finite_value_in_the_other_case_is_refused(column, text):
    """Python's format() and C's printf write nan and inf for %f, NAN and INF for %E (and
    D): astropy reads either case, so the case is pinned by the field's letter."""
    data = _field(BASE, column, 0, text)
    assert not np.isfinite(_astropy(data, column)[0])
    message = check_or_none(data)
    assert message is not None and f"field {column} of an ASCII table" in message, message


@pytest.mark.parametrize("text", ["-99   ", "   -99"])
def test_the_tnull_string_is_a_null_either_way(text):
    """cfitsio writes TNULLn's string left-justified; astropy reads it stripped, as null."""
    data = _field(_table(null="-99"), 1, 2, text)
    assert check(data) == "fits"
    assert check_or_none(_field(_table(null="-99"), 1, 2, " -99  ")) is not None
    assert (check_or_none(_field(BASE, 1, 2, text)) is None) == text.startswith(" ")  # a number
    assert check_or_none(_field(_table(null="N/A"), 1, 2, "N/A   ")) is None
    assert check_or_none(_field(BASE, 1, 2, "N/A   ")) is not None


def big_table(rows: int) -> bytes:
    """astropy's ASCII table of one row (four E10.3 fields, a Fw.d, an Iw), that row repeated."""
    cols = [fits.Column(name=f"x{i}", format="E10.3", array=[1.5 * i]) for i in range(4)]
    cols += [
        fits.Column(name="f", format="F12.4", array=[-3.25]),
        fits.Column(name="n", format="I8", array=[7]),
    ]
    one = write(fits.TableHDU.from_columns(cols))
    start, naxis1, _, _ = table_at(one)
    body = one[start : start + naxis1] * rows
    return _set(one[:start], 2880, b"NAXIS2", rows) + body + b" " * (-len(body) % 2880)


def test_a_field_is_checked_at_c_speed():
    """32 MiB of rows: each field is matched by the C regex, thousands of rows a call, not
    row by row in Python (about 0.6 s of CPU; 1.9 s for 100 MiB, 0.44 s before the fields
    were checked)."""
    data = big_table((32 << 20) // 60)
    begin = time.process_time()
    assert check(data, 1 << 20) == "fits"
    assert time.process_time() - begin < 5.0
    start, naxis1, rows, _ = table_at(data)
    last = start + rows * naxis1 - 8  # the last row's I8 field
    assert data[last : last + 8] == b"       7"
    message = check_or_none(patch(data, last, b"      +7"))
    assert (
        message is not None
        and f"field 6 of an ASCII table (TFORM6 = 'I8') holds '      +7' (offset {last})" in message
    )


def _column(column: int, texts: list[str]) -> bytes:
    data = BASE
    for row, text in enumerate(texts):
        data = _field(data, column, row, text)
    return data


def test_a_d0_column_has_the_trailing_point_in_every_row_or_in_none():
    """astropy appends a point to Fw.0, Ew.0 and Dw.0 numbers, cfitsio does not: one writer
    writes a column, so a column of either form passes and a mix (astropy reads '3' and
    '3.' alike) is refused at the first row out of the column's form."""
    assert check(_column(2, ["       2", "      -2", "      30", "       0"])) == "fits"  # cfitsio's
    assert check(_column(6, ["   2E+00", "  -2E+00", "   3E+00", "   9E+99"])) == "fits"
    mixed = _column(2, ["      2.", "      -2", "      30", "       0"])
    assert _astropy(mixed, 2)[:2] == [2.0, -2.0]
    message = check_or_none(mixed)
    start, naxis1, _, _ = table_at(mixed)
    assert message is not None and "field 2 of an ASCII table (TFORM2 = 'F8.0') holds '      -2'" in message
    assert f"offset {start + naxis1 + int(STARTS[1])}" in message, message
    assert check_or_none(_column(8, ["    1.", "     1"])) is not None  # astropy's 1. then cfitsio's 1


def test_a_d0_column_keeps_its_form_from_batch_to_batch():
    """The form found in the first rows holds for the rest: 64 MiB of astropy's F8.0 rows
    with one cfitsio spelling in the last row is refused there."""
    cols = [fits.Column(name="f", format="F8.0", array=[3.0]), fits.Column(name="n", format="I8", array=[7])]
    one = write(fits.TableHDU.from_columns(cols))
    start, naxis1, _, _ = table_at(one)
    rows = (4 << 20) // naxis1
    body = one[start : start + naxis1] * rows
    data = _set(one[:start], 2880, b"NAXIS2", rows) + body + b" " * (-len(body) % 2880)
    assert check(data, 1 << 20) == "fits"
    last = start + (rows - 1) * naxis1
    assert data[last : last + 8] == b"      3."
    message = check_or_none(patch(data, last, b"       3"))
    assert message is not None and f"holds '       3' (offset {last})" in message, message


def test_astropy_leaves_the_point_out_of_a_number_as_wide_as_its_field():
    """astropy appends the point only where the number leaves a blank: F3.0 writes '123'
    and '-12' beside ' 3.', E6.0 '1E+10.' beside '-1E+05': its own column passes; a
    cfitsio number among the short ones is refused."""
    cols = [
        fits.Column(name="f", format="F3.0", array=np.array([123.0, 3.0, -12.0, 5.0])),
        fits.Column(name="e", format="E6.0", array=np.array([1e10, 1e5, -1e5, np.nan])),
    ]
    data = write(fits.TableHDU.from_columns(cols))
    start, naxis1, _, _ = table_at(data)
    assert data[start : start + 4 * naxis1] == b"1231E+10. 3.1E+05.-12-1E+05 5.  NAN."
    assert check(data) == "fits"
    assert check_or_none(patch(data, start + 3 * naxis1, b"  5")) is not None
    assert check_or_none(patch(data, start + 3 * naxis1 + 3, b"   NAN")) is not None
