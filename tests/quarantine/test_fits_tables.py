"""FITS tables to their last byte (issue #13): real astropy output of every column type,
variable-length arrays and tile-compressed images passes; bytes no reader returns (a heap
gap, an array out of the writers' order, bits past an X column, other logical bytes, an
uncovered ASCII column, trailing bytes in a gzip tile, PCOUNT/GCOUNT of an image) are
refused at the rule they break, whatever the chunking."""

from __future__ import annotations

import gzip
import io
import struct
import warnings
import zlib

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")
Table = pytest.importorskip("astropy.table").Table

from tests.support.attack_dcontent_fits import _cards, _hdu_at, _set  # noqa: E402
from vmguard.quarantine.validators import Invalid, Stream  # noqa: E402
from vmguard.quarantine.validators import fits as fitsv  # noqa: E402


def _check(data: bytes, size: int = 4096) -> str:
    return fitsv.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))


def _write(*hdus) -> bytes:  # noqa: ANN002
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(out)
    return out.getvalue()


def _table(data: bytes, index: int = 1) -> tuple[int, int, int, int]:
    """(data offset, NAXIS1, NAXIS2, PCOUNT) of a table HDU."""
    header, start, _ = _hdu_at(data, index)
    values, _, _ = _cards(data, header)
    return start, int(values[b"NAXIS1"]), int(values[b"NAXIS2"]), int(values[b"PCOUNT"])


def _patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


RNG = np.random.default_rng(31)


def _every_column() -> bytes:
    n = 7
    cols = [
        fits.Column(name="l", format="3L", array=RNG.integers(0, 2, (n, 3)).astype(bool)),
        fits.Column(name="x", format="11X", array=RNG.integers(0, 2, (n, 11)).astype(bool)),
        fits.Column(name="b", format="B", array=RNG.integers(0, 255, n).astype("u1")),
        fits.Column(name="i", format="I", array=RNG.integers(-99, 99, n)),
        fits.Column(name="j", format="2J", array=RNG.integers(-99, 99, (n, 2))),
        fits.Column(name="k", format="K", array=RNG.integers(-99, 99, n)),
        fits.Column(name="a", format="6A", array=["run", "", "calib", "x", "yy", "zzzzzz", "q"]),
        fits.Column(name="e", format="E", array=RNG.normal(size=n)),
        fits.Column(name="d", format="D", array=RNG.normal(size=n)),
        fits.Column(name="c", format="C", array=RNG.normal(size=n) + 1j),
        fits.Column(name="m", format="M", array=RNG.normal(size=n) - 1j),
        fits.Column(name="pj", format="PJ()", array=[list(range(i % 3)) for i in range(n)]),
        fits.Column(name="qd", format="QD()", array=[RNG.normal(size=i % 4) for i in range(n)]),
        fits.Column(
            name="pl", format="PL()", array=[np.array([True, False] * (i % 3), bool) for i in range(n)]
        ),
        fits.Column(
            name="pe", format="PE()", array=[RNG.normal(size=2 - i % 3).astype("f4") for i in range(n)]
        ),
    ]
    return _write(fits.BinTableHDU.from_columns(cols))


def _compressed() -> dict[str, bytes]:
    ints = RNG.integers(0, 1000, (40, 50)).astype("i2")
    floats = RNG.normal(size=(40, 50)).astype("f4")
    out = {}
    for kind in ("RICE_1", "GZIP_1", "GZIP_2", "PLIO_1", "HCOMPRESS_1"):
        image = ints.clip(0, 1000) if kind == "PLIO_1" else ints
        out[f"{kind}-int"] = _write(fits.CompImageHDU(image, compression_type=kind))
    for kind in ("RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1"):
        out[f"{kind}-float"] = _write(fits.CompImageHDU(floats, compression_type=kind))
    for kind in ("GZIP_1", "RICE_1"):  # edge tiles: 40 x 50 in tiles of 16 x 16
        out[f"{kind}-edge-tiles"] = _write(
            fits.CompImageHDU(ints, compression_type=kind, tile_shape=(16, 16))
        )
    for dtype in ("f4", "f8"):  # a constant row is no noise to quantize: a raw GZIP_COMPRESSED_DATA tile
        image = RNG.normal(size=(20, 30)).astype(dtype)
        image[3] = 7.0
        out[f"RICE_1-{dtype}-constant-row"] = _write(fits.CompImageHDU(image, compression_type="RICE_1"))
    out["GZIP_1-lossless-float"] = _write(
        fits.CompImageHDU(floats, compression_type="GZIP_1", quantize_level=0)
    )
    return out


def _astropy_table() -> bytes:
    """Table.write of masked, multidimensional, unsigned, time, quantity and ragged columns."""
    import astropy.units as u  # noqa: PLC0415
    from astropy.table import MaskedColumn  # noqa: PLC0415
    from astropy.time import Time  # noqa: PLC0415

    n = 5
    table = Table()
    table["i"] = MaskedColumn(np.arange(n), mask=[0, 1, 0, 0, 1])
    table["f"] = MaskedColumn(np.arange(n, dtype=float), mask=[1, 0, 0, 0, 0])
    table["b"] = np.ones((n, 2, 3), bool)
    table["s"] = MaskedColumn(["a", "bb", "", "dddd", "e"], mask=[0, 0, 1, 0, 0])
    for dtype in ("u1", "u2", "u4", "i1"):
        table[dtype] = np.arange(n, dtype=dtype)
    table["t"] = Time("2026-12-04") + np.arange(n) * u.day
    table["q"] = np.arange(n) * u.m
    table["ragged"] = np.array([np.arange(i) for i in range(n)], dtype=object)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(out, format="fits")
    return out.getvalue()


def _controls() -> dict[str, bytes]:
    ascii_cols = [
        fits.Column(name="a", format="A4", array=["ab", "cdef", "", "g"]),
        fits.Column(name="i", format="I6", array=[1, -20, 300, 4]),
        fits.Column(name="f", format="F9.3", array=[1.5, 2.25, -3.0, 0.001]),
        fits.Column(name="e", format="E13.5", array=[1e-3, 2e5, -3.0, 7.0]),
        fits.Column(name="d", format="D25.17", array=[1.0, 2.0, 3.0, 4.0]),
    ]
    return {
        "every-column": _every_column(),
        "astropy-table": _astropy_table(),
        "ascii": _write(fits.TableHDU.from_columns(ascii_cols)),
        "empty-table": _write(
            fits.BinTableHDU.from_columns([fits.Column(name="v", format="PJ()", array=[])])
        ),
        "all-empty-arrays": _write(
            fits.BinTableHDU.from_columns([fits.Column(name="v", format="PJ()", array=[[], [], []])])
        ),
        "image-and-table": _write(
            fits.ImageHDU(RNG.normal(size=(30, 40))),
            fits.BinTableHDU.from_columns([fits.Column(name="y", format="D", array=RNG.normal(size=500))]),
        ),
        **_compressed(),
    }


CONTROLS = _controls()


@pytest.mark.parametrize("name", sorted(CONTROLS))
@pytest.mark.parametrize("size", [7, 2880, 1 << 20])
def test_real_astropy_tables_pass(name, size):
    assert _check(CONTROLS[name], size) == "fits"


def test_the_controls_are_what_astropy_reads():
    with fits.open(io.BytesIO(CONTROLS["every-column"])) as hdul:
        assert list(hdul[1].data["pl"][2]) == [True, False, True, False]
    for name in (n for n in CONTROLS if "_" in n):
        with fits.open(io.BytesIO(CONTROLS[name])) as hdul:
            assert hdul[1].data.shape in ((40, 50), (20, 30)), name


def test_cfitsio_row_order_heap_passes_and_a_mixed_order_is_refused():
    """Two array columns: astropy writes column a's arrays then column b's; cfitsio, row by
    row, a0 b0 a1 b1. Both pass; arrays swapped between rows do not."""
    data = _write(fits.BinTableHDU.from_columns([
        fits.Column(name="a", format="PJ()", array=[[1], [2, 3]]),
        fits.Column(name="b", format="PJ()", array=[[4, 5], [6]]),
    ]))  # fmt: skip
    start, naxis1, _, _ = _table(data)
    heap = start + 2 * naxis1
    body = struct.pack(">8i", 1, 0, 2, 4, 2, 12, 1, 20)  # a0 at 0, b0 at 4, a1 at 12, b1 at 20
    values = struct.pack(">6i", 1, 4, 5, 2, 3, 6)
    by_row = _patch(_patch(data, start, body), heap, values)
    with fits.open(io.BytesIO(by_row)) as hdul:
        assert [list(v) for v in hdul[1].data["b"]] == [[4, 5], [6]]
    assert _check(by_row) == "fits"
    swapped = struct.pack(">8i", 1, 0, 2, 16, 2, 4, 1, 12)  # a0 a1 b1 b0: neither order
    with pytest.raises(Invalid, match="column 2, row 2 is at heap offset 12"):
        _check(_patch(data, start, swapped))


def test_an_empty_array_points_where_the_writer_would_or_to_zero():
    data = CONTROLS["all-empty-arrays"]
    start, naxis1, _, _ = _table(data)
    assert _check(_patch(data, start + naxis1 + 4, struct.pack(">i", 0))) == "fits"
    with pytest.raises(Invalid, match="heap of 0 bytes \\(PCOUNT\\) is not its arrays \\(0 bytes\\)"):
        _check(_patch(data, start + naxis1 + 4, struct.pack(">i", 77)))


def test_heap_bytes_no_descriptor_points_to_are_refused():
    data = CONTROLS["every-column"]
    header, _, _ = _hdu_at(data, 1)
    start, naxis1, rows, pcount = _table(data)
    grown = _set(data, header, b"PCOUNT", pcount + 1)  # one more heap byte, inside the fill
    with pytest.raises(
        Invalid, match=f"heap of {pcount + 1} bytes \\(PCOUNT\\) is not its arrays \\({pcount} bytes\\)"
    ):
        _check(grown)
    with pytest.raises(Invalid, match="a binary table without array columns"):
        _check(_set(CONTROLS["image-and-table"], _hdu_at(CONTROLS["image-and-table"], 2)[0], b"PCOUNT", 8))


def test_bits_and_logicals_in_rows_and_heap_arrays():
    data = CONTROLS["every-column"]
    start, naxis1, rows, _ = _table(data)
    row = start + 3 * naxis1
    with pytest.raises(Invalid, match="logical byte other than T, F or 0 in column 1"):
        _check(_patch(data, row + 2, b"\1"))
    assert _check(_patch(data, row + 2, b"\0")) == "fits"  # a null logical
    x_last = row + 3 + 1  # 11X: two bytes, the last holds 3 bits
    with pytest.raises(Invalid, match="bits past the last bit of an X column"):
        _check(_patch(data, x_last, bytes([data[x_last] | 0x01])))
    pl = data.find(b"TFTF", start + rows * naxis1)  # row 2's PL() array in the heap
    assert pl > 0
    with pytest.raises(Invalid, match="logical byte other than T, F or 0 in column 14"):
        _check(_patch(data, pl + 1, b"G"))


def test_a_string_holds_only_nuls_after_its_first_nul():
    data = CONTROLS["every-column"]
    start, naxis1, _, _ = _table(data)
    a = start + 4 * naxis1 + 3 + 2 + 1 + 2 + 8 + 8  # row 4's 6A field ("yy")
    assert data[a : a + 6] == b"yy\0\0\0\0"
    assert _check(_patch(data, a, b"yy z\0\0")) == "fits"  # blanks are characters
    with pytest.raises(Invalid, match=f"column 7 .* holds bytes after its NUL \\(offset {a + 4}\\)"):
        _check(_patch(data, a, b"yy\0\0z\0"))


def test_strings_of_a_multidimensional_column_each_end_at_their_nul():
    """astropy writes a 2 x 5 string column as 10A with TDIM (5,2): two NUL-padded strings."""
    table = Table({"s": np.array([["ab", "cdefg"], ["x", "yy"]])})
    out = io.BytesIO()
    table.write(out, format="fits")
    data = out.getvalue()
    start, _, _, _ = _table(data)
    assert data[start : start + 10] == b"ab\0\0\0cdefg"
    assert _check(data) == "fits"
    with pytest.raises(Invalid, match=f"holds bytes after its NUL \\(offset {start + 3}\\)"):
        _check(_patch(data, start + 3, b"Z"))


def _string_card(data: bytes, header: int, key: bytes, text: str) -> bytes:
    _, where, _ = _cards(data, header)
    card = (key.ljust(8) + b"= " + f"'{text:<8}'".encode()).ljust(80)
    return data[: where[key]] + card + data[where[key] + 80 :]


def test_an_ascii_table_is_printable_and_blank_between_fields():
    data = CONTROLS["ascii"]
    start, naxis1, _, _ = _table(data)
    header, _, _ = _hdu_at(data, 1)
    with pytest.raises(Invalid, match="not printable ASCII"):
        _check(_patch(data, start + naxis1 + 5, b"\x01"))
    values, _, _ = _cards(data, header)
    tbcol2 = int(values[b"TBCOL2"])
    # field 2 one column narrower and one later: its first column (a blank, the numbers
    # are right-aligned) is covered by no field
    gap = _set(_string_card(data, header, b"TFORM2", "I5"), header, b"TBCOL2", tbcol2 + 1)
    assert _check(gap) == "fits"
    with pytest.raises(
        Invalid, match=f"no field .* is not a blank \\(offset {start + naxis1 + tbcol2 - 1}\\)"
    ):
        _check(_patch(gap, start + naxis1 + tbcol2 - 1, b"7"))
    with pytest.raises(Invalid, match="lies outside its row"):
        _check(_set(data, header, b"TBCOL5", naxis1 - 3))


def _with_tiles(data: bytes, tiles: list[bytes], element: int = 1) -> bytes:
    """A one-column tile-compressed HDU (COMPRESSED_DATA: 1PB, 1PI for PLIO) rebuilt around
    new tiles."""
    header, start, size = _hdu_at(data, 1)
    offsets = np.cumsum([0] + [len(t) for t in tiles[:-1]])
    table = b"".join(
        struct.pack(">ii", len(t) // element, int(o)) for t, o in zip(tiles, offsets, strict=True)
    )
    body = table + b"".join(tiles)
    end = start + -(-size // 2880) * 2880
    data = data[:start] + body + b"\0" * (-len(body) % 2880) + data[end:]
    return _set(data, header, b"PCOUNT", len(body) - len(table))


def _tiles(data: bytes, element: int = 1) -> list[bytes]:
    start, naxis1, rows, _ = _table(data)
    heap = start + rows * naxis1
    descs = [struct.unpack(">ii", data[start + r * naxis1 : start + r * naxis1 + 8]) for r in range(rows)]
    return [data[heap + o : heap + o + c * element] for c, o in descs]


def test_trailing_bytes_in_a_gzip_tile_are_refused():
    data = CONTROLS["GZIP_1-int"]
    tiles = _tiles(data)
    assert _check(_with_tiles(data, tiles)) == "fits"  # the rebuild itself changes nothing
    padded = _with_tiles(data, [tiles[0] + b"\0" * 64, *tiles[1:]])
    with fits.open(io.BytesIO(padded)) as hdul, fits.open(io.BytesIO(data)) as real:
        assert (hdul[1].data == real[1].data).all()  # astropy's gzip drops the zeros
    for junk in (b"\0" * 64, b"PAYLOAD!", tiles[1]):  # zeros, bytes, a second member
        with pytest.raises(Invalid, match="bytes after the gzip stream of a tile"):
            _check(_with_tiles(data, [tiles[0] + junk, *tiles[1:]]))
    with pytest.raises(Invalid, match="ends inside its gzip stream"):
        _check(_with_tiles(data, [tiles[0][:-1], *tiles[1:]]))
    later = tiles[0][:4] + b"\xff\xff\xff\x7f" + tiles[0][8:]  # MTIME 2038: later than the rest
    with pytest.raises(Invalid, match="another XFL or OS than the tile before, or an earlier MTIME"):
        _check(_with_tiles(data, [later, *tiles[1:]]))
    assert _check(_with_tiles(data, [*tiles[:-1], tiles[-1][:4] + b"\xff\xff\xff\x7f" + tiles[-1][8:]]))
    other_os = tiles[0][:9] + b"\x03" + tiles[0][10:]  # OS Unix in one tile only
    with pytest.raises(Invalid, match="another XFL or OS"):
        _check(_with_tiles(data, [other_os, *tiles[1:]]))
    bigger = gzip.compress(zlib.decompress(tiles[0], 31) + b"\0\0", mtime=0)
    with pytest.raises(Invalid, match="inflates to 102 bytes, not its tile's pixels"):
        _check(
            _with_tiles(data, [bigger, *[gzip.compress(zlib.decompress(t, 31), mtime=0) for t in tiles[1:]]])
        )
    named = tiles[0][:3] + b"\x08" + tiles[0][4:10] + b"x\0" + tiles[0][10:]  # FNAME "x"
    with pytest.raises(Invalid, match="not a plain gzip member"):
        _check(_with_tiles(data, [named, *tiles[1:]]))


def test_an_image_extension_declares_no_parameters_or_groups():
    data = _write(fits.ImageHDU(np.arange(20, dtype="i2")))
    header, _, _ = _hdu_at(data, 1)
    with pytest.raises(Invalid, match="GCOUNT of an IMAGE extension must be 1"):
        _check(_set(data, header, b"GCOUNT", 2))
    with pytest.raises(Invalid, match="only IMAGE, TABLE and BINTABLE"):
        _check(data.replace(b"'IMAGE   '", b"'A3DTABLE'", 1))


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
        _check(data[:end] + second + second + b"END".ljust(80) + data[end + 240 :])
    comments = (b"COMMENT   one").ljust(80) + (b"COMMENT   two").ljust(80)
    assert _check(data[:end] + comments + b"END".ljust(80) + data[end + 240 :]) == "fits"


def test_a_raw_float_tile_is_a_checked_gzip_member_too():
    data = CONTROLS["RICE_1-f4-constant-row"]
    start, naxis1, rows, _ = _table(data)
    count, offset = struct.unpack(">ii", data[start + 3 * naxis1 + 8 : start + 3 * naxis1 + 16])
    tile = start + rows * naxis1 + offset
    assert count > 0 and data[tile : tile + 3] == b"\x1f\x8b\x08"
    with pytest.raises(Invalid, match="not a plain gzip member"):
        _check(_patch(data, tile + 3, b"\x10"))  # FCOMMENT


@pytest.mark.parametrize("name", ["RICE_1-int", "RICE_1-edge-tiles"])
def test_bytes_after_a_rice_stream_are_refused(name):
    """cfitsio's decoder (astropy's too) stops after the tile's last pixel: the unused
    bits of its last byte are read by nobody; whole bytes after it cfitsio only warns of
    (astropy raises)."""
    data = CONTROLS[name]
    tiles = _tiles(data)
    assert _check(_with_tiles(data, tiles)) == "fits"
    with pytest.raises(Invalid, match="holds 8 bytes or bits after its last pixel's code"):
        _check(_with_tiles(data, [tiles[0] + b"PAYLOAD!", *tiles[1:]]))
    with pytest.raises(Invalid, match="ends inside its stream"):
        _check(_with_tiles(data, [tiles[0][: len(tiles[0]) // 2], *tiles[1:]]))
    refused = 0
    for i, tile in enumerate(tiles):
        last_bit = _with_tiles(data, [*tiles[:i], tile[:-1] + bytes([tile[-1] | 1]), *tiles[i + 1 :]])
        if _check_or_none(last_bit) is None:
            continue  # the stream's last code ends on the byte's last bit
        refused += 1
        with fits.open(io.BytesIO(last_bit)) as hdul, fits.open(io.BytesIO(data)) as real:
            assert (hdul[1].data == real[1].data).all()  # read alike: the bit is lost
        assert "bytes or bits after its last pixel's code" in _check_or_none(last_bit)
    assert refused > len(tiles) // 2


def _check_or_none(data: bytes) -> str | None:
    """The refusal's message, or None when the file passes."""
    try:
        _check(data)
    except Invalid as err:
        return str(err)
    return None


def test_a_row_too_wide_to_read_whole_is_refused_before_it_is_read():
    data = CONTROLS["every-column"]
    header, _, _ = _hdu_at(data, 1)
    wide = _string_card(data, header, b"TFORM1", "20000000L")
    for key, value in ((b"TFIELDS", 1), (b"PCOUNT", 0), (b"NAXIS1", 20_000_000)):
        wide = _set(wide, header, key, value)
    with pytest.raises(Invalid, match="rows over 16777216 are not read"):
        _check(wide)


def test_words_after_a_plio_line_list_are_refused():
    data = CONTROLS["PLIO_1-int"]
    tiles = _tiles(data, 2)
    assert _check(_with_tiles(data, tiles, 2)) == "fits"
    with pytest.raises(Invalid, match="is 61 words, its line list 57: no decoder reads the words after"):
        _check(_with_tiles(data, [tiles[0] + b"PAYLOAD!", *tiles[1:]], 2))
