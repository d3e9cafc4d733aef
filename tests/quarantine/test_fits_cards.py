"""FITS cards as readers take them (fitsheader.py, issue #13): a card astropy reads as a
keyword a rule uses (lower case, HIERARCH, `KEY=` within columns 1-8, leading blanks) is
refused unless spelled as writers write it, a second such card is a duplicate, ZIMAGE
and GROUPS are the logical T or F, and a card any reader ends the header at is END and
77 blanks. Each hostile spelling is first shown to be what astropy reads as the keyword.
Real astropy output (HIERARCH ESO cards, lower case in them) passes; a lower-case keyword
in columns 1-8 is refused whatever it sets (attack n: astropy scales by `bscale`)."""

from __future__ import annotations

import io
import warnings

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from tests.support.attack_dcontent_fits import _cards  # noqa: E402
from tests.support.fits_tables import check, check_or_none, write  # noqa: E402

RNG = np.random.default_rng(33)


def _bases() -> dict[str, bytes]:
    ints = RNG.integers(0, 4000, (32, 24)).astype(np.int16)
    ascii_cols = [
        fits.Column(name="n", format="I6", array=np.arange(3), null=-99),
        fits.Column(name="s", format="A4", array=["a", "bb", "ccc"]),
    ]
    return {
        "bintable": write(
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="s", format="10A", dim="(5,2)", array=np.array([[b"ab", b"cd"]] * 2)),
                    fits.Column(name="v", format="PD()", array=[np.arange(2.0), np.arange(3.0)]),
                ]
            )
        ),  # fmt: skip
        "comp": write(fits.CompImageHDU(ints, compression_type="GZIP_1")),
        "ascii": write(fits.TableHDU.from_columns(ascii_cols)),
    }


BASES = _bases()
# (base, keyword a rule reads): each is respelled below
READ = [
    ("bintable", "PCOUNT"),
    ("bintable", "NAXIS1"),
    ("bintable", "TFORM2"),
    ("bintable", "TDIM1"),
    ("comp", "ZIMAGE"),
    ("comp", "ZCMPTYPE"),
    ("comp", "ZNAXIS1"),
    ("comp", "TTYPE1"),
    ("ascii", "TBCOL2"),
    ("ascii", "TNULL1"),
]
SPELLINGS = {
    "lower": lambda key, value: f"{key.lower():<8}={value}",
    "hierarch": lambda key, value: f"HIERARCH {key} ={value}",
    "hierarch-lower": lambda key, value: f"HIERARCH {key.lower()} ={value}",
    "equals-in-key": lambda key, value: (
        f"{key}={value}".ljust(10) if len(key) < 8 else f"{key.lower()}={value}"
    ),
    "leading-blank": lambda key, value: f" {key:<7}={value}" if len(key) < 8 else f"{key.lower():<8}={value}",
}


HEAD = 2880  # write()'s primary HDU is one header block: the extension's header follows


def _card_of(data: bytes, key: str) -> tuple[int, bytes]:
    _, where, _ = _cards(data, HEAD)
    at = where[key.encode()]
    return at, data[at : at + 80]


def _respelled(data: bytes, key: str, spell) -> bytes:  # noqa: ANN001
    at, card = _card_of(data, key)
    new = spell(key, card[9:].decode().rstrip()).ljust(80)[:80].encode()
    return data[:at] + new + data[at + 80 :]


def _astropy_header(data: bytes) -> fits.Header:
    """The cards of the first extension's header as astropy parses them (a CompImageHDU's
    .header shows the image's, not these)."""
    end = data.index(b"END" + b" " * 77, HEAD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fits.Header.fromstring(data[HEAD : end + 80])


@pytest.mark.parametrize("name", sorted(BASES))
def test_the_bases_pass(name):
    assert check(BASES[name]) == "fits"


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize(("base", "key"), READ)
def test_a_keyword_astropy_reads_from_another_spelling_is_refused(base, key, spelling):
    data = _respelled(BASES[base], key, SPELLINGS[spelling])
    header = _astropy_header(data)
    assert key in header, (key, spelling)  # the card sets the keyword, as astropy reads it
    assert header[key] == _astropy_header(BASES[base])[key]
    message = check_or_none(data)
    assert message is not None and (
        f"sets {key} as astropy reads it" in message or _NOT_A_KEYWORD in message
    ), message


# Since session 38 any card whose columns 1-8 are not a keyword as the standard spells it
# (lower case, `KEY=`, a leading blank) is refused, whatever keyword it sets.
_NOT_A_KEYWORD = "allows only A-Z 0-9 - _ in columns 1-8"


@pytest.mark.parametrize("spelling", ["lower", "hierarch", "equals-in-key"])
@pytest.mark.parametrize(("base", "key"), READ)
def test_a_second_card_in_another_spelling_is_a_duplicate(base, key, spelling):
    data = BASES[base]
    at, card = _card_of(data, key)
    end = data.find(b"END" + b" " * 157, at)  # the END card, a blank card after it
    assert (end - at) % 80 == 0
    second = SPELLINGS[spelling](key, card[9:].decode().rstrip()).ljust(80)[:80].encode()
    data = data[:end] + second + b"END".ljust(80) + data[end + 160 :]
    assert _astropy_header(data).count(key) == 2
    with pytest.raises(Exception, match=f"the keyword {key} appears more than once|{_NOT_A_KEYWORD}"):
        check(data)


@pytest.mark.parametrize(
    "value", ["'T       '", "                   1", "                 1.0", "(1, 0)", "'F       '", "T"]
)
def test_zimage_is_the_logical_t_or_f(value):
    """astropy takes any true ZIMAGE for a compressed image ('F' is a true string)."""
    at, _ = _card_of(BASES["comp"], "ZIMAGE")
    data = BASES["comp"][:at] + f"ZIMAGE  = {value}".ljust(80).encode() + BASES["comp"][at + 80 :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(data)) as hdus:
            assert isinstance(hdus[1], fits.CompImageHDU)
    assert "ZIMAGE is not the logical T or F in column 30" in (check_or_none(data) or "")


def test_zimage_f_is_a_plain_table_to_both():
    at, _ = _card_of(BASES["comp"], "ZIMAGE")
    data = BASES["comp"][:at] + f"ZIMAGE  = {'F':>20}".ljust(80).encode() + BASES["comp"][at + 80 :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(data)) as hdus:
            assert type(hdus[1]) is fits.BinTableHDU
    assert check(data) == "fits"


@pytest.mark.parametrize(
    ("key", "value", "reads"),
    [
        ("NAXIS2", "+2", 2),
        ("NAXIS2", "002", 2),
        ("NAXIS2", "2".ljust(20), 2),
        ("TFORM2", "'PD()'", "PD()"),
        ("TFORM2", "  'PD()    '", "PD()"),
        ("PCOUNT", "40.0".rjust(20), 40.0),
        ("TFORM2", "'PD()            '", "PD()"),
        ("TFORM2", "'PD()    '  / format", "PD()"),
        ("NAXIS2", "2".rjust(20) + "  / rows", 2),
        ("NAXIS2", "2".rjust(20) + " /   rows", 2),
        ("NAXIS2", "2".rjust(20) + " /rows", 2),
    ],
)
def test_a_read_value_in_free_format_is_refused(key, value, reads):
    """FITS 4.0 fixes the format of the mandatory keywords (an integer right-justified in
    columns 11-30, a string from column 11 padded to 8), and astropy and cfitsio write
    every value so, then ' / ' and the comment at column 31 (or right after a longer
    string); astropy reads the free spellings alike, and the room beside them is bits."""
    data = BASES["bintable"]
    at, card = _card_of(data, key)
    data = data[:at] + f"{key:<8}= {value}".ljust(80).encode() + data[at + 80 :]
    assert _astropy_header(data)[key] == reads
    message = check_or_none(data)
    assert message is not None and f"{key} is not " in message and "fixed format" in message, message


@pytest.mark.parametrize(
    "card", ["END!", "END     = 3", "ENDx", "END    /", "END X", "END" + " " * 40 + "PAYLOAD"]
)
def test_a_card_a_reader_ends_the_header_at_is_an_end_card(card):
    """Header.fromfile ends the header at `END!` or `END X` (HEADER_END_RE), where
    fits.open's fast parser (and a reader of exact END cards) reads on: the second block
    is header to one and garbage to the other, astropy disagreeing with itself."""
    image = write()
    at = image.find(b"END" + b" " * 77)
    extra = b"COMMENT attack-f hides here".ljust(80) + b"END".ljust(2800)
    data = image[:at] + card.ljust(80).encode() + image[at + 80 : 2880] + extra
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "COMMENT" not in fits.Header.fromfile(io.BytesIO(data))  # ends at the card
        with fits.open(io.BytesIO(data)) as hdus:  # its fast parser reads on to END + blanks
            assert hdus[0].header["COMMENT"][0] == "attack-f hides here"
    message = check_or_none(data)
    assert message is not None and "is not an END card" in message, message


def test_real_headers_with_hierarch_and_lower_case_keywords_no_rule_reads_pass():
    header = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header["HIERARCH ESO DET CHIP NAME"] = "ccd1"
        header["HIERARCH ESO TEL AIRM START"] = 1.2
        header["a-very-long-keyword"] = 3  # astropy writes HIERARCH for it
    data = write(fits.ImageHDU(np.zeros((4, 4), np.float32), header=header))
    assert data.find(b"HIERARCH ESO DET", HEAD) > 0
    assert check(data) == "fits"
    card = b"HIERARCH ESO DET CHIP NAME = 'ccd1    '".ljust(80)
    assert card in data
    lower = data.replace(card, b"observer= 'ccd1    '".ljust(80), 1)
    message = check_or_none(lower)  # attack n: astropy acts on `bscale`, cfitsio ignores it
    assert message is not None and _NOT_A_KEYWORD in message, message


def test_a_keyword_a_continue_card_follows_is_refused():
    """TDIM1 = '(1&' then CONTINUE '0)': astropy reads TDIM1 as '(10)', one 10-byte string
    'ab' NUL NUL NUL 'cd' NUL NUL NUL (what follows its NUL is returned); a reader without
    the long-string convention reads '(1&', ten 1-byte strings. Refused, not guessed."""
    data = BASES["bintable"]
    at, _ = _card_of(data, "TDIM1")
    end = data.find(b"END" + b" " * 157, at)
    tdim, more = "TDIM1   = '(1&'".ljust(80).encode(), "CONTINUE  '0)'".ljust(80).encode()
    data = data[:at] + tdim + more + data[at + 80 : end] + b"END".ljust(80) + data[end + 160 :]
    assert _astropy_header(data)["TDIM1"] == "(10)"
    message = check_or_none(data)
    assert message is not None and "TDIM1 is followed by a CONTINUE card" in message, message
    astropy_long = write(fits.ImageHDU(np.zeros(2, np.int16), header=fits.Header([("OBSERVER", "x" * 150)])))
    assert b"CONTINUE" in astropy_long and check(astropy_long) == "fits"


def _scaled() -> bytes:
    """astropy's uint16 image (BZERO 32768, BSCALE 1) named SCI, then a table whose
    column is scaled (TSCAL1, TZERO1) and has a null (TNULL1)."""
    image = fits.ImageHDU(np.arange(12, dtype=np.uint16).reshape(3, 4), name="SCI")
    table = fits.BinTableHDU.from_columns([fits.Column(name="n", format="J", array=np.arange(3, dtype=np.int32))])
    table.header.update({"TSCAL1": 2.0, "TZERO1": 7.0, "TNULL1": -1})
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), image, table]).writeto(out)
    return out.getvalue()


SCALED = _scaled()
ACTED_ON = ["BSCALE", "BZERO", "EXTNAME", "TSCAL1", "TZERO1", "TNULL1", "TTYPE1"]
RESPELLED = {  # how cfitsio and astropy part ways (session 39, attack o content)
    "hierarch": lambda key, value: f"HIERARCH {key} ={value}",
    "no-blank": lambda key, value: f"{key:<8}={value.strip()}",
    "equals-in-10": lambda key, value: f"{key:<9}={value}",
    "trailing-number": lambda key, value: f"{key:<8}=" + _after_value(value, " 3"),
}


def _after_value(value: str, extra: str) -> str:
    """`extra` written right after the value (a string's closing quote), before a comment."""
    end = value.rindex("'") + 1 if "'" in value else len(value.split(" /")[0])
    return value[:end] + extra + value[end:]


def _scaled_card(key: str) -> tuple[int, bytes]:
    at = 0
    while (at := SCALED.index(key.encode().ljust(8) + b"= ", at)) % 80:
        at += 1
    return at, SCALED[at : at + 80]


def test_astropys_scaled_image_and_table_pass():
    assert check(SCALED) == "fits"
    assert all(_scaled_card(key) for key in ACTED_ON)


@pytest.mark.parametrize("spelling", sorted(RESPELLED))
@pytest.mark.parametrize("key", ACTED_ON)
def test_a_keyword_a_reader_acts_on_is_spelled_as_writers_write_it(key, spelling):
    """No structure rule reads these, but astropy or cfitsio scales, nulls or finds an HDU
    or a column by them: spelled otherwise, the two read different data."""
    at, card = _scaled_card(key)
    new = RESPELLED[spelling](key, card[9:].decode().rstrip()).ljust(80)[:80].encode()
    data = SCALED[:at] + new + SCALED[at + 80 :]
    assert check_or_none(data) is not None, (key, spelling)


def test_a_continued_extname_is_refused():
    at, card = _scaled_card("EXTNAME")
    continued = card.replace(b"'SCI     '", b"'SCI&'    ")
    end = SCALED.index(b"END" + b" " * 77, at)
    data = SCALED[:at] + continued + SCALED[at + 80 : end] + b"CONTINUE  'X'".ljust(80) + SCALED[end:]
    data = data[: end + 80 + 80] + data[end + 80 + 80 + 80 :]  # one blank card less: same size
    with pytest.raises(Exception, match="CONTINUE"):
        check(data)
