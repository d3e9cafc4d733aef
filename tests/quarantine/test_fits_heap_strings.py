"""Strings in a binary table's heap (PA(), QA() columns) held to the fixed A column's rule
(issue #13; attack e's fits-vla-string-after-nul.fits, fits-vla-qa-string-after-nul.fits):
only NULs after a string's first NUL (cfitsio ends it there, astropy returns the rest),
by the one function that refuses both, wherever the NUL falls in the pieces the heap is
read in. astropy's and cfitsio's output (an empty string as one NUL) passes."""

from __future__ import annotations

import io
import struct

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from tests.support.fits_tables import CONTROLS, check, patch, table_at, write  # noqa: E402
from vmguard.quarantine.validators import Invalid, fitstable  # noqa: E402

RULE = r"a string of column {n} \(TFORM{n}\) holds bytes after its NUL \(offset {at}\): a C reader ends it at the NUL"


def _strings(form: str, values: list[str]) -> bytes:
    column = fits.Column(name="s", format=form, array=np.array(values, dtype=object))
    return write(fits.BinTableHDU.from_columns([column]))


def _heap(data: bytes) -> int:
    start, naxis1, rows, _ = table_at(data)
    return start + naxis1 * rows


@pytest.mark.parametrize("form", ["PA()", "QA()"])
@pytest.mark.parametrize("size", [7, 2880, 1 << 20])
def test_astropy_heap_strings_pass(form, size):
    data = _strings(form, ["ab", "cdef", "", "g" * 300, "run 12; calib"])
    assert check(data, size) == "fits"


@pytest.mark.parametrize("form", ["PA()", "QA()"])
def test_bytes_after_a_nul_in_a_heap_string_are_refused(form):
    data = _strings(form, ["ab", "cdef", "g"])
    heap = _heap(data)
    assert data[heap : heap + 7] == b"abcdefg"
    assert check(patch(data, heap + 2, b"cd\0\0")) == "fits"  # NULs to its end: as a fixed A pads
    assert check(patch(data, heap + 6, b"\0")) == "fits"  # a string that is one NUL (cfitsio's empty)
    for at, new in ((3, b"\0ef"), (2, b"\0def"), (0, b"\0b")):
        hostile = patch(data, heap + at, new)
        with fits.open(io.BytesIO(hostile)) as hdul:  # astropy returns what follows the NUL
            row = hdul[1].data["s"][0 if at == 0 else 1]
            assert list(row)[-1] == chr(new[-1])
        with pytest.raises(Invalid, match=RULE.format(n=1, at=heap + at + len(new) - len(new.lstrip(b"\0")))):
            check(hostile)


def test_a_nul_across_the_pieces_the_heap_is_read_in():
    """A string longer than the heap's read piece (1 MiB): the NUL in one piece, a byte in
    the next is refused; NULs to the end pass."""
    piece = fitstable.PIECE
    data = _strings("PA()", ["x" * (piece + 100), "y"])
    heap = _heap(data)
    nuls = patch(data, heap + piece - 1, b"\0" * 101)
    assert check(nuls) == "fits"
    late = patch(nuls, heap + piece + 50, b"Z")
    with pytest.raises(Invalid, match=RULE.format(n=1, at=heap + piece + 50)):
        check(late)
    assert check(patch(data, heap + piece + 50, b"\0" * 50)) == "fits"  # the NUL in the second piece


def test_the_fixed_and_the_heap_string_are_refused_by_one_rule():
    fixed = CONTROLS["every-column"]
    start, naxis1, _, _ = table_at(fixed)
    a = start + 4 * naxis1 + 3 + 2 + 1 + 2 + 8 + 8  # row 4's 6A field ("yy")
    messages = []
    for data in (
        patch(fixed, a, b"yy\0\0z\0"),
        patch(_strings("PA()", ["ab"]), _heap(_strings("PA()", ["ab"])), b"\0b"),
    ):
        with pytest.raises(Invalid) as err:
            check(data)
        messages.append(str(err.value).split(" (offset")[0].split("column ")[0])
    assert messages[0] == messages[1] == "fits: a string of "


def test_cfitsio_heap_strings_pass(tmp_path):
    fitsio = pytest.importorskip("fitsio")  # cfitsio itself (not a dependency: skipped without it)
    rows = np.zeros(3, dtype=[("s", "O"), ("v", "O")])
    rows["s"] = np.array(["ab", "cdef", ""], dtype=object)
    rows["v"] = np.array([np.arange(3.0), np.arange(1.0), np.arange(2.0)], dtype=object)
    path = tmp_path / "vla.fits"
    with fitsio.FITS(str(path), "rw", clobber=True) as f:
        f.write(rows)
    data = path.read_bytes()
    assert b"abcdef\0" in data  # the empty string: one NUL, in the row order heap
    assert check(data) == "fits"


def test_a_nul_may_end_a_string_right_before_the_next_one():
    """astropy lays a column's strings one after another (one run, checked at C speed): a
    NUL that ends a string is followed by the next string's first byte; a NUL inside one is not."""
    data = _strings("PA()", ["ab", "c", "de"])
    heap = _heap(data)
    assert check(patch(data, heap, b"a\0cd\0")) == "fits"  # "a\0", "c", "d\0": each ends at its NUL
    with pytest.raises(Invalid, match=RULE.format(n=1, at=heap + 4)):
        check(patch(data, heap + 3, b"\0e"))  # "de" -> "\0e"


def test_strings_of_two_columns_in_cfitsios_row_order():
    """Row by row (a0 b0 a1 b1), a column's strings are not one run: each is checked alone."""
    columns = [
        fits.Column(name="a", format="PA()", array=np.array(["ab", "c"], dtype=object)),
        fits.Column(name="b", format="PA()", array=np.array(["de", "f"], dtype=object)),
    ]
    data = write(fits.BinTableHDU.from_columns(columns))
    start, naxis1, _, _ = table_at(data)
    heap = _heap(data)
    by_row = patch(data, start, struct.pack(">8i", 2, 0, 2, 2, 1, 4, 1, 5))
    by_row = patch(by_row, heap, b"abdecf")
    with fits.open(io.BytesIO(by_row)) as hdul:
        assert list(hdul[1].data["b"][0]) == ["d", "e"]
    assert check(by_row) == "fits"
    assert check(patch(by_row, heap, b"a\0")) == "fits"  # a0 ends at its NUL; b0 starts after it
    with pytest.raises(Invalid, match=RULE.format(n=2, at=heap + 3)):
        check(patch(by_row, heap + 2, b"\0e"))
