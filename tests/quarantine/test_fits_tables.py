"""FITS tables to their last byte (issue #13): real astropy output of every column type
and variable-length arrays passes; bytes no reader returns (a heap gap, an array out of
the writers' order, bits past an X column, other logical bytes, bytes after a string's
NUL, an uncovered ASCII column, PCOUNT/GCOUNT of an image, a repeated keyword) are
refused at the rule they break, whatever the chunking (files: tests/support/fits_tables.py)."""

from __future__ import annotations

import io
import struct

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")
Table = pytest.importorskip("astropy.table").Table

from tests.support.attack_dcontent_fits import _cards, _hdu_at, _set  # noqa: E402
from tests.support.fits_tables import CONTROLS, check, patch, string_card, table_at, write  # noqa: E402
from vmguard.quarantine.validators import Invalid, Stream  # noqa: E402
from vmguard.quarantine.validators import fits as fitsv  # noqa: E402


@pytest.mark.parametrize("name", sorted(CONTROLS))
@pytest.mark.parametrize("size", [7, 2880, 1 << 20])
def test_real_astropy_tables_pass(name, size):
    assert check(CONTROLS[name], size) == "fits"


def test_the_controls_are_what_astropy_reads():
    with fits.open(io.BytesIO(CONTROLS["every-column"])) as hdul:
        assert list(hdul[1].data["pl"][2]) == [True, False, True, False]
    for name in (n for n in CONTROLS if "_" in n):
        with fits.open(io.BytesIO(CONTROLS[name])) as hdul:
            assert hdul[1].data.shape in ((40, 50), (20, 30)), name


def test_cfitsio_row_order_heap_passes_and_a_mixed_order_is_refused():
    """Two array columns: astropy writes column a's arrays then column b's; cfitsio, row by
    row, a0 b0 a1 b1. Both pass; arrays swapped between rows do not."""
    data = write(fits.BinTableHDU.from_columns([
        fits.Column(name="a", format="PJ()", array=[[1], [2, 3]]),
        fits.Column(name="b", format="PJ()", array=[[4, 5], [6]]),
    ]))  # fmt: skip
    start, naxis1, _, _ = table_at(data)
    heap = start + 2 * naxis1
    body = struct.pack(">8i", 1, 0, 2, 4, 2, 12, 1, 20)  # a0 at 0, b0 at 4, a1 at 12, b1 at 20
    values = struct.pack(">6i", 1, 4, 5, 2, 3, 6)
    by_row = patch(patch(data, start, body), heap, values)
    with fits.open(io.BytesIO(by_row)) as hdul:
        assert [list(v) for v in hdul[1].data["b"]] == [[4, 5], [6]]
    assert check(by_row) == "fits"
    swapped = struct.pack(">8i", 1, 0, 2, 16, 2, 4, 1, 12)  # a0 a1 b1 b0: neither order
    with pytest.raises(Invalid, match="column 2, row 2 is at heap offset 12"):
        check(patch(data, start, swapped))


def test_an_empty_array_points_where_the_writer_would_or_to_zero():
    data = CONTROLS["all-empty-arrays"]
    start, naxis1, _, _ = table_at(data)
    assert check(patch(data, start + naxis1 + 4, struct.pack(">i", 0))) == "fits"
    with pytest.raises(Invalid, match="heap of 0 bytes \\(PCOUNT\\) is not its arrays \\(0 bytes\\)"):
        check(patch(data, start + naxis1 + 4, struct.pack(">i", 77)))


def test_heap_bytes_no_descriptor_points_to_are_refused():
    data = CONTROLS["every-column"]
    header, _, _ = _hdu_at(data, 1)
    start, naxis1, rows, pcount = table_at(data)
    grown = _set(data, header, b"PCOUNT", pcount + 1)  # one more heap byte, inside the fill
    with pytest.raises(
        Invalid, match=f"heap of {pcount + 1} bytes \\(PCOUNT\\) is not its arrays \\({pcount} bytes\\)"
    ):
        check(grown)
    with pytest.raises(Invalid, match="a binary table without array columns"):
        check(_set(CONTROLS["image-and-table"], _hdu_at(CONTROLS["image-and-table"], 2)[0], b"PCOUNT", 8))


def test_bits_and_logicals_in_rows_and_heap_arrays():
    data = CONTROLS["every-column"]
    start, naxis1, rows, _ = table_at(data)
    row = start + 3 * naxis1
    with pytest.raises(Invalid, match="logical byte other than T, F or 0 in column 1"):
        check(patch(data, row + 2, b"\1"))
    assert check(patch(data, row + 2, b"\0")) == "fits"  # a null logical
    x_last = row + 3 + 1  # 11X: two bytes, the last holds 3 bits
    with pytest.raises(Invalid, match="bits past the last bit of an X column"):
        check(patch(data, x_last, bytes([data[x_last] | 0x01])))
    pl = data.find(b"TFTF", start + rows * naxis1)  # row 2's PL() array in the heap
    assert pl > 0
    with pytest.raises(Invalid, match="logical byte other than T, F or 0 in column 14"):
        check(patch(data, pl + 1, b"G"))


def test_a_string_holds_only_nuls_after_its_first_nul():
    data = CONTROLS["every-column"]
    start, naxis1, _, _ = table_at(data)
    a = start + 4 * naxis1 + 3 + 2 + 1 + 2 + 8 + 8  # row 4's 6A field ("yy")
    assert data[a : a + 6] == b"yy\0\0\0\0"
    assert check(patch(data, a, b"yy z\0\0")) == "fits"  # blanks are characters
    with pytest.raises(Invalid, match=f"column 7 .* holds bytes after its NUL \\(offset {a + 4}\\)"):
        check(patch(data, a, b"yy\0\0z\0"))


def test_strings_of_a_multidimensional_column_each_end_at_their_nul():
    """astropy writes a 2 x 5 string column as 10A with TDIM (5,2): two NUL-padded strings."""
    table = Table({"s": np.array([["ab", "cdefg"], ["x", "yy"]])})
    out = io.BytesIO()
    table.write(out, format="fits")
    data = out.getvalue()
    start, _, _, _ = table_at(data)
    assert data[start : start + 10] == b"ab\0\0\0cdefg"
    assert check(data) == "fits"
    with pytest.raises(Invalid, match=f"holds bytes after its NUL \\(offset {start + 3}\\)"):
        check(patch(data, start + 3, b"Z"))


def test_an_ascii_table_is_printable_and_blank_between_fields():
    data = CONTROLS["ascii"]
    start, naxis1, _, _ = table_at(data)
    header, _, _ = _hdu_at(data, 1)
    with pytest.raises(Invalid, match="not printable ASCII"):
        check(patch(data, start + naxis1 + 5, b"\x01"))
    values, _, _ = _cards(data, header)
    tbcol2 = int(values[b"TBCOL2"])
    # field 2 one column narrower and one later: its first column (a blank, the numbers
    # are right-aligned) is covered by no field
    gap = _set(string_card(data, header, b"TFORM2", "I5"), header, b"TBCOL2", tbcol2 + 1)
    assert check(gap) == "fits"
    with pytest.raises(
        Invalid, match=f"no field .* is not a blank \\(offset {start + naxis1 + tbcol2 - 1}\\)"
    ):
        check(patch(gap, start + naxis1 + tbcol2 - 1, b"7"))
    with pytest.raises(Invalid, match="lies outside its row"):
        check(_set(data, header, b"TBCOL5", naxis1 - 3))


def test_an_image_extension_declares_no_parameters_or_groups():
    data = write(fits.ImageHDU(np.arange(20, dtype="i2")))
    header, _, _ = _hdu_at(data, 1)
    with pytest.raises(Invalid, match="GCOUNT of an IMAGE extension must be 1"):
        check(_set(data, header, b"GCOUNT", 2))
    with pytest.raises(Invalid, match="only IMAGE, TABLE and BINTABLE"):
        check(data.replace(b"'IMAGE   '", b"'A3DTABLE'", 1))


def test_a_large_plain_binary_table_is_skipped_not_read():
    """A table of numbers only has nothing to check: its rows are skipped (elided by the
    worker), not read."""
    data = CONTROLS["image-and-table"]
    stream = Stream(iter([data]))
    skipped = []
    real = stream.skip
    stream.skip = lambda n, what, fmt: (skipped.append(what), real(n, what, fmt))[1]  # type: ignore[method-assign]
    fitsv.validate(stream)
    assert "a binary table" in skipped


def test_a_keyword_that_sizes_or_places_data_appears_once():
    """A second THEAP (or TFORMn, PCOUNT): astropy takes one card, another reader the
    other, and the bytes one of them skips are seen by the other alone."""
    data = CONTROLS["every-column"]
    header, _, _ = _hdu_at(data, 1)
    _, where, _ = _cards(data, header)
    end = where[b"END"]
    second = (b"THEAP   = " + b"0".rjust(20)).ljust(80)
    with pytest.raises(Invalid, match="the keyword THEAP appears more than once"):
        check(data[:end] + second + second + b"END".ljust(80) + data[end + 240 :])
    comments = (b"COMMENT   one").ljust(80) + (b"COMMENT   two").ljust(80)
    assert check(data[:end] + comments + b"END".ljust(80) + data[end + 240 :]) == "fits"


def test_a_row_too_wide_to_read_whole_is_refused_before_it_is_read():
    data = CONTROLS["every-column"]
    header, _, _ = _hdu_at(data, 1)
    wide = string_card(data, header, b"TFORM1", "20000000L")
    for key, value in ((b"TFIELDS", 1), (b"PCOUNT", 0), (b"NAXIS1", 20_000_000)):
        wide = _set(wide, header, key, value)
    with pytest.raises(Invalid, match="rows over 16777216 are not read"):
        check(wide)
