"""FITS keywords readers act on, whatever they are (fitscards.py, session 40, attack q).

Readers act on far more keywords than a list holds (WCS, time, units, random groups),
so the rules are over every card: no keyword twice (but COMMENT, HISTORY, blank and
CONTINUE; a record-valued card by its field), a value card's `= ` in columns 9-10, no
HIERARCH card for a keyword columns 1-8 can hold, a CONTINUE card only after a string
ending in `&` and only for a string that did not fit its first card. Then one rule for
TSCALn/TZEROn on binary and ASCII character columns, tile-compressed tables refused, and
a tile-compressed image's table holding only the convention's columns, one data array a
tile. Each hostile header is first shown to read two ways (astropy's Header against
astropy.wcs, Table.read, a reader of columns 1-8); each honest one is astropy's output."""

from __future__ import annotations

import io
import warnings

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from astropy.nddata import CCDData  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

from tests.support import attack_qfits_fits as ff  # noqa: E402
from tests.support.fits_tables import check, check_or_none, write  # noqa: E402

warnings.simplefilter("ignore")


def _wcs_image() -> bytes:
    """astropy: an image with a TAN WCS (CRVAL1 10)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [10.0, 20.0], [1.0, 1.0], [-0.001, 0.001]
    return write(fits.ImageHDU(np.zeros((4, 4), np.int16), header=wcs.to_header()))


def _units() -> bytes:
    """astropy: a table of one column in m (TUNIT1)."""
    out = io.BytesIO()
    Table({"d": [1.5, 2.5]}, units={"d": "m"}).write(out, format="fits")
    return out.getvalue()


def _header(data: bytes, hdu: int = 1) -> fits.Header:
    with fits.open(io.BytesIO(data)) as hdus:
        return hdus[hdu].header.copy()


WCS_IMAGE, UNITS = _wcs_image(), _units()


def test_astropys_wcs_image_and_units_table_pass():
    assert check(WCS_IMAGE) == "fits" and check(UNITS) == "fits"


# a. no keyword twice


@pytest.mark.parametrize("second", ["CRVAL1  =                200.0", "HIERARCH crval1 = 200.0"])
def test_a_keyword_twice_is_refused(second):
    data = ff.add_cards(WCS_IMAGE, [second], hdu=1)
    assert _header(data)["CRVAL1"] == 10.0  # astropy's Header: the first card
    if second.startswith("CRVAL1"):
        assert WCS(_header(data)).wcs.crval[0] == 200.0  # astropy.wcs (wcslib): the last
    message = check_or_none(data)
    assert message is not None and "the keyword CRVAL1 appears more than once" in message, message


def test_a_hierarch_long_keyword_twice_in_two_cases_is_refused():
    header = fits.Header([("HIERARCH ESO DET CHIP NAME", "ccd1")])
    data = write(fits.ImageHDU(np.zeros(2, np.int16), header=header))
    assert check(data) == "fits"
    twice = ff.add_cards(data, ["HIERARCH eso det chip name = 'ccd2'"], hdu=1)
    assert _header(twice)["ESO DET CHIP NAME"] == "ccd1"
    with pytest.raises(Exception, match="the keyword ESO DET CHIP NAME appears more than once"):
        check(twice)


def test_commentary_cards_repeat_and_record_valued_cards_count_by_field():
    """COMMENT, HISTORY and blank cards repeat in every writer's headers; a distortion's
    record-valued cards (DP1 = 'NAXES: 2', DP1 = 'AXIS.1: 1') are keywords DP1.NAXES and
    DP1.AXIS.1 to astropy: one of each passes, a field twice is a duplicate."""
    header = fits.Header()
    for text in ("one", "two"):
        header["COMMENT"], header["HISTORY"], header[""] = text, text, text
    header["DP1.NAXES"], header["DP1.AXIS.1"] = 2, 1
    data = write(fits.ImageHDU(np.zeros(2, np.int16), header=header))
    assert data.count(b"DP1     = ") == 2 and data.count(b"COMMENT one") == 1
    assert check(data) == "fits"
    twice = ff.add_cards(data, ["DP1     = 'AXIS.1: 3'"], hdu=1)
    assert _header(twice)["DP1.AXIS.1"] == 1.0
    with pytest.raises(Exception, match="the keyword DP1.AXIS.1 appears more than once"):
        check(twice)
    records = ff.add_cards(WCS_IMAGE, ["OBJECT  = 'a: 1'", "OBJECT  = 'b: 1'"], hdu=1)
    with pytest.raises(Exception, match="the keyword OBJECT appears more than once"):
        check(records)  # not a distortion's keyword: two values of OBJECT


# b. the value indicator in columns 9-10


@pytest.mark.parametrize("card", ["CRVAL1  =200.0", "CRVAL1   = 200.0", "CRVAL1     =  200.0", "CRVAL1  200.0"])
def test_a_value_indicator_elsewhere_is_refused(card):
    data = ff.add_cards(WCS_IMAGE, [card], hdu=1, drop=("CRVAL1  ",))
    assert _header(data)["CRVAL1"] != 200.0  # astropy's Header: text, not the number
    assert WCS(_header(data)).wcs.crval[0] == 0.0  # wcslib: no CRVAL1
    message = check_or_none(data)
    assert message is not None and "has no value indicator `= ` in columns 9-10" in message, message


def test_a_unit_without_value_indicator_is_refused(tmp_path):
    """`BUNIT   kJy`: astropy's Header takes the text as BUNIT's value, CCDData.read the unit."""
    data = ff.add_cards(write(fits.ImageHDU(np.ones(3, np.float32))), ["BUNIT   kJy"], hdu=1)
    (tmp_path / "b.fits").write_bytes(data)
    assert str(CCDData.read(tmp_path / "b.fits", hdu=1).unit) == "kJy"
    message = check_or_none(data)
    assert message is not None and "'BUNIT   kJy'... has no value indicator" in message, message


@pytest.mark.parametrize("card", ["CRVAL1  =                200.0 20", "CRVAL1  = 2 00.0", "CRVAL1  = 200.0d0"])
def test_a_value_fits_does_not_spell_is_refused(card):
    """astropy refuses to read the card, wcslib takes no CRVAL1 (0), cfitsio reads a word."""
    data = ff.add_cards(WCS_IMAGE, [card], hdu=1, drop=("CRVAL1  ",))
    if "d0" not in card:
        with pytest.raises(Exception, match="Unparsable card"):
            _header(data)["CRVAL1"]  # noqa: B018
        assert WCS(_header(data)).wcs.crval[0] == 0.0
    assert "holds no value as FITS spells one" in (check_or_none(data) or "")


@pytest.mark.parametrize("card", ["CRVAL1  = -.1D2", "CRVAL1  =              1.0D+01"])
def test_a_d_exponent_is_refused(card):
    """FITS allows D, but astropy and wcslib read it two ways; astropy and cfitsio write E."""
    data = ff.add_cards(WCS_IMAGE, [card], hdu=1, drop=("CRVAL1  ",))
    assert abs(_header(data)["CRVAL1"]) == 10.0 != abs(WCS(_header(data)).wcs.crval[0])
    message = check_or_none(data)
    assert message is not None and "holds no value as FITS spells one" in message, message


@pytest.mark.parametrize("card", ["CRVAL1  = 10.0 / free format", "CRVAL1  =               1.0E+01", "CRVAL1  = -.1E2"])
def test_a_value_in_free_format_passes(card):
    """FITS allows free format where no rule reads the value; both readers parse it alike."""
    data = ff.add_cards(WCS_IMAGE, [card], hdu=1, drop=("CRVAL1  ",))
    assert abs(_header(data)["CRVAL1"]) == 10.0 and abs(WCS(_header(data)).wcs.crval[0]) == 10.0
    assert check(data) == "fits"


def test_commentary_text_starting_with_equals_passes():
    header = fits.Header([("COMMENT", "=200.0 is text here"), ("HISTORY", " = also text")])
    data = write(fits.ImageHDU(np.zeros(2, np.int16), header=header))
    assert b"COMMENT =200.0" in data and check(data) == "fits"


# c. HIERARCH only for names columns 1-8 cannot hold


@pytest.mark.parametrize("card", ["HIERARCH CRVAL1 = 200.0", "HIERARCH bunit = 'kJy'", "HIERARCH A-B_9 = 1"])
def test_a_hierarch_card_of_a_short_keyword_is_refused(card):
    key = card.split()[1].upper()
    data = ff.add_cards(WCS_IMAGE, [card], hdu=1, drop=("CRVAL1  ",))
    assert key in _header(data)  # astropy maps it to the short keyword
    message = check_or_none(data)
    assert message is not None and f"sets {key} as astropy reads it, a second spelling" in message, message


def test_astropys_hierarch_cards_of_long_names_pass():
    header = fits.Header()
    header["HIERARCH ESO DET CHIP NAME"] = "ccd1"
    header["HIERARCH ESO TEL AIRM START"] = 1.2
    header["LONGNAME9"] = 3  # nine characters: astropy writes HIERARCH
    header["HIERARCH ab.c"] = 4  # a '.': no keyword of columns 1-8
    data = write(fits.ImageHDU(np.zeros(2, np.int16), header=header))
    assert b"HIERARCH LONGNAME9 = 3" in data and b"HIERARCH ab.c = " in data
    assert check(data) == "fits"


# d. CONTINUE only for a string that did not fit


def test_a_continued_string_that_fits_is_refused():
    data = ff.add_cards(UNITS, ["TUNIT1  = 'k&'", "CONTINUE  'm'"], hdu=1, drop=("TUNIT1  ",))
    assert str(Table.read(io.BytesIO(data))["d"].unit) == "km"
    message = check_or_none(data)
    assert message is not None and "the string of TUNIT1 is followed by a CONTINUE card" in message, message


@pytest.mark.parametrize(
    "cards",
    [
        ["CRPIX3  =                  1.0", "CONTINUE  'x'"],  # after a number
        ["OBJECT  = 'M31     '", "CONTINUE  'x'"],  # after a string without &
        ["COMMENT a remark &'", "CONTINUE  'x'"],  # after commentary
        ["OBJECT  = 'M3&'", "CONTINUE  'x&'", "CONTINUE  'y'", "CONTINUE  'z'"],  # after the last
        ["OBJECT  = '" + "n" * 67 + "&'", "CONTINUE= 'x'"],  # not a CONTINUE as written
    ],
)
def test_a_continue_card_that_continues_no_string_is_refused(cards):
    message = check_or_none(ff.add_cards(WCS_IMAGE, cards, hdu=1))
    assert message is not None and "CONTINUE" in message, message


@pytest.mark.parametrize(
    ("key", "value", "comment"),
    [
        ("OBSERVER", "x" * 150, ""),  # cards filled to column 80
        ("OBJECT", "a long target description " * 4, "a comment that is also quite long " * 3),
        ("SHORTC", "y" * 70, "c"),  # '&' then '' / comment: value cards short of column 80
        ("WORDS", "k " + "m" * 70, ""),  # split at a blank: the first card holds 'k &'
        ("HIERARCH ESO LONG STRING NAME", "z" * 120, ""),
    ],
)
def test_astropys_long_strings_pass(key, value, comment):
    header = fits.Header([(key, value, comment)])
    data = write(fits.ImageHDU(np.zeros(2, np.int16), header=header))
    assert b"CONTINUE  '" in data
    assert _header(data)[key.removeprefix("HIERARCH ")] == value.rstrip()
    assert check(data) == "fits"


# TSCALn, TZEROn on an ASCII table's character column: the binary table's rule


def test_tzero_on_an_ascii_character_column_is_refused_and_on_a_number_column_passes():
    cols = [
        fits.Column(name="n", format="I6", array=np.arange(3) + 10, bzero=10),
        fits.Column(name="s", format="A4", array=["a", "b", "c"]),
    ]
    data = write(fits.TableHDU.from_columns(cols))
    assert b"TZERO1  = " in data and check(data) == "fits"
    for key in ("TZERO2  =                   10", "TSCAL2  =                    2"):
        message = check_or_none(ff.add_cards(data, [key], hdu=1))
        assert message is not None and "TSCAL2 or TZERO2 on column 2 of type A" in message, message


# tile-compressed tables


def test_a_tile_compressed_table_is_refused():
    data = ff.compressed_table()
    with fits.open(io.BytesIO(data)) as hdus:
        assert hdus[1].header["ZTABLE"] is True  # astropy shows the compressed bytes
    message = check_or_none(data)
    assert message is not None and "a tile-compressed table (ZTABLE = T" in message, message
    assert "funpack" in message


# a tile-compressed image's columns


def test_astropys_compressed_images_with_every_column_pass():
    """A quantized float image: COMPRESSED_DATA, GZIP_COMPRESSED_DATA (the tiles it could
    not quantize, COMPRESSED_DATA empty there), ZSCALE, ZZERO."""
    pixels = np.random.default_rng(40).normal(size=(16, 16)).astype(np.float32)
    pixels[3, :] = np.inf
    data = write(fits.CompImageHDU(pixels, compression_type="RICE_1", tile_shape=(1, 16)))
    with fits.open(io.BytesIO(data), disable_image_compression=True) as hdus:
        table = hdus[1].data
        assert table.names == ["COMPRESSED_DATA", "GZIP_COMPRESSED_DATA", "ZSCALE", "ZZERO"]
        assert len(table["COMPRESSED_DATA"][3]) == 0 < len(table["GZIP_COMPRESSED_DATA"][3])
    assert check(data) == "fits"


def test_a_column_the_convention_does_not_define_is_refused():
    _, raw = ff.rice_image()
    notes = [b"hidden".ljust(16, b"."), b"text".ljust(16, b".")]
    message = check_or_none(ff.with_column(raw, "NOTES", "16B", notes))
    assert message is not None and "table holds the column 'NOTES'" in message, message
    mask = ff.with_column(raw, "NULL_PIXEL_MASK", "1PB(0)", [bytes(8), bytes(8)])
    message = check_or_none(mask)  # cfitsio nulls the pixels it marks, astropy ignores it
    assert message is not None and "table holds the column 'NULL_PIXEL_MASK'" in message, message
    twice = ff.with_column(raw, "NOTES", "1D", [bytes(8), bytes(8)])
    twice = twice.replace(ff.card("TTYPE2  = 'NOTES   '"), ff.card("TTYPE2  = 'COMPRESSED_DATA'"), 1)
    message = check_or_none(twice)
    assert message is not None and "a column twice" in message, message


def test_zscale_and_zzero_columns_only_both_and_in_a_float_image():
    """astropy dequantizes the tiles of a table with a ZSCALE column, integer pixels too."""
    pixels, raw = ff.rice_image()  # int32
    scaled = ff.with_column(raw, "ZSCALE", "1D", [np.array([2.0], ">f8").tobytes()] * 2)
    with fits.open(io.BytesIO(scaled)) as hdus:
        try:
            shown = hdus[1].data
        except Exception:  # noqa: BLE001 (astropy fails to read it: another reading too)
            shown = None
        assert shown is None or not (shown == pixels).all()
    message = check_or_none(scaled)
    assert message is not None and "has the column ZSCALE though its pixels are integers" in message, message
    floats = np.random.default_rng(41).normal(size=(16, 16)).astype(np.float32)
    data = write(fits.CompImageHDU(floats, compression_type="RICE_1"))
    assert b"TTYPE4  = 'ZZERO   '" in data and check(data) == "fits"
    alone = data.replace(b"TTYPE4  = 'ZZERO   '", b"TTYPE4  = 'ZBLANK  '", 1)
    message = check_or_none(alone)
    assert message is not None and "has the column ZSCALE without its pair" in message, message


def test_a_second_data_array_beside_compressed_data_is_refused():
    pixels, raw = ff.rice_image()
    with fits.open(io.BytesIO(raw), disable_image_compression=True) as hdus:
        heap = hdus[1].header["PCOUNT"]
    arrays = np.full(32, 7, ">i4").tobytes() + np.full(32, 9, ">i4").tobytes()
    descs = [np.array([32, heap], ">i4").tobytes(), np.array([32, heap + 128], ">i4").tobytes()]
    data = ff.with_column(raw, "UNCOMPRESSED_DATA", "1PJ(32)", descs, arrays)
    with fits.open(io.BytesIO(data)) as hdus:
        assert (hdus[1].data == pixels).all()  # the reader shows COMPRESSED_DATA's image
    message = check_or_none(data)
    assert message is not None and "tile 1 of a tile-compressed image has its data in 2 of" in message, message
    empty = ff.with_column(raw, "UNCOMPRESSED_DATA", "1PJ(32)", [bytes(8), bytes(8)])
    assert check(empty) == "fits"  # UNCOMPRESSED_DATA empty where COMPRESSED_DATA holds the tile
