"""FITS files for tests/quarantine/test_attack_independent_fcontent.py: astropy's images
(tile-compressed every way, checksums) and tables as controls, and byte patches of them
(an ASCII table's number field, duplicate keywords in lower case, tile flags, END card)."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np

MARK = b"attack-f"


def fits_bytes(hdus, **kw) -> bytes:
    from astropy.io import fits

    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out, **kw)
    return out.getvalue()


def fits_cases() -> dict[str, bytes]:
    """Every FITS control and case; astropy's warnings about the patched headers are muted here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fits_cases()


def _fits_cases() -> dict[str, bytes]:
    """astropy images (tile-compressed every way, checksums) and tables; patched tables."""
    from astropy.io import fits
    from astropy.table import Table

    rng = np.random.default_rng(3)
    img = rng.normal(100, 5, (64, 48)).astype(np.float32)
    ints = rng.integers(0, 4000, (64, 48)).astype(np.int16)
    nan = img.copy()
    nan[:16, :] = np.nan
    nan[20, 5] = np.inf
    comp = lambda data, **kw: fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(data, **kw)])  # noqa: E731
    files = {
        f"ctl-comp-{c}.fits": comp(img, compression_type=c)
        for c in ("RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1")
    }
    files |= {
        "ctl-comp-PLIO_1.fits": comp(ints, compression_type="PLIO_1"),
        "ctl-comp-nan.fits": comp(nan, compression_type="RICE_1"),
        "ctl-comp-nan-gzip2.fits": comp(nan, compression_type="GZIP_2"),
        "ctl-comp-lossless.fits": comp(img, compression_type="GZIP_1", quantize_level=0.0),
        "ctl-comp-tiles.fits": comp(img, compression_type="RICE_1", tile_shape=(16, 16)),
        "ctl-comp-dither2.fits": comp(img, quantize_method=2),
        "ctl-comp-3d.fits": comp(rng.normal(0, 1, (4, 16, 16)), compression_type="GZIP_2"),
        "ctl-comp-u16.fits": comp(ints.astype(np.uint16), compression_type="RICE_1"),
        "ctl-comp-checksum.fits": fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(img)], checksum=True),
        "ctl-img-checksum.fits": fits_bytes([fits.PrimaryHDU(img)], checksum=True),
    }
    table = Table(
        {"run": np.arange(5), "ok": [True, False, True, True, False], "tag": ["a", "bb", "", "dddd", "e"]}
    )
    table["vla"] = np.array([np.arange(i, dtype=np.float64) for i in range(5)], dtype=object)
    masked = Table(
        {"x": np.ma.array([1, 2, 3], mask=[0, 1, 0]), "s": np.ma.array(["a", "b", "c"], mask=[0, 0, 1])}
    )
    for name, t in (("ctl-table-vla.fits", table), ("ctl-table-masked.fits", masked)):
        out = io.BytesIO()
        t.write(out, format="fits")
        files[name] = out.getvalue()
    files["ctl-table-checksum.fits"] = fits_bytes([fits.PrimaryHDU(), fits.BinTableHDU(table)], checksum=True)
    files["ctl-ascii-table.fits"] = _ascii_table()
    files |= _astropy_more(rng)
    return files | _fits_hostile(img)


def _astropy_more(rng: np.random.Generator) -> dict[str, bytes]:
    """Long strings (CONTINUE), several extensions with checksums, Time columns, scaled ints."""
    from astropy.io import fits
    from astropy.table import Table
    from astropy.time import Time

    header = fits.Header([("OBSERVER", "x" * 150), ("HISTORY", "long history " * 20)])
    mef = [
        fits.PrimaryHDU(),
        fits.ImageHDU(rng.integers(0, 255, (16, 16)).astype(np.uint8), name="SCI"),
        fits.BinTableHDU(Table({"a": [1.5, 2.5]}), name="TAB"),
        fits.CompImageHDU(rng.random((32, 32)).astype(np.float32), name="COMP"),
    ]
    scaled = fits.PrimaryHDU(rng.normal(100, 1, (8, 8)))
    scaled.scale("int16", bscale=0.01, bzero=100)
    out = io.BytesIO()
    Table({"time": Time(["2024-12-04T10:00:00", "2024-12-05T11:00:00"]), "x": [1, 2]}).write(
        out, format="fits"
    )
    return {
        "ctl-longstr.fits": fits_bytes([fits.PrimaryHDU(rng.random((8, 8)), header=header)]),
        "ctl-mef-checksum.fits": fits_bytes(mef, checksum=True),
        "ctl-scaled.fits": fits_bytes([scaled]),
        "ctl-time.fits": out.getvalue(),
    }


def _ascii_table() -> bytes:
    from astropy.io import fits

    cols = [
        fits.Column(name="a", format="I6", array=np.arange(4)),
        fits.Column(name="c", format="A5", array=["x", "yy", "zzz", ""]),
    ]
    return fits_bytes([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols)])


def _string_table(cards: list[str], data: bytes) -> bytes:
    """A one-row 10A binary table whose header gets `cards` (over COMMENTs) and row `data`."""
    from astropy.io import fits

    hdu = fits.BinTableHDU.from_columns([fits.Column(name="s", format="10A", array=np.array([b"x" * 10]))])
    for i in range(len(cards)):
        hdu.header["COMMENT"] = f"placeholder{i}"
    raw = bytearray(fits_bytes([fits.PrimaryHDU(), hdu]))
    for i, card in enumerate(cards):
        at = raw.find(f"COMMENT placeholder{i}".encode())
        raw[at : at + 80] = card.ljust(80).encode()
    at = raw.find(b"x" * 10)
    raw[at : at + 10] = data
    return bytes(raw)


def _fits_hostile(img: np.ndarray) -> dict[str, bytes]:
    from astropy.io import fits

    ascii_table = bytearray(_ascii_table())
    at = ascii_table.find(b"     0x")  # row 0: field a (I6) then field c (A5)
    ascii_table[at : at + 6] = b"PAYLD!"
    tiles = bytearray(fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(img, compression_type="GZIP_1")]))
    for member in re.finditer(rb"\x1f\x8b\x08", bytes(tiles)):
        tiles[member.start() + 3] |= 1  # FTEXT: no reader looks at it
    end = bytearray(fits_bytes([fits.PrimaryHDU(img)]))
    at = end.find(b"END" + b" " * 77)
    end[at + 40 : at + 47] = b"PAYLOAD"
    two = b"ab\x00\x00\x00cd\x00\x00\x00"
    return {
        "fits-ascii-int-letters.fits": bytes(ascii_table),
        "fits-tile-ftext.fits": bytes(tiles),
        "fits-end-card-tail.fits": bytes(end),
        "fits-tdim-twice-a.fits": _string_table(["TDIM1   = '(5,2)   '", "TDIM1   = '(10)    '"], two),
        "fits-tdim-twice-b.fits": _string_table(["TDIM1   = '(10)    '", "TDIM1   = '(5,2)   '"], two),
        "fits-tdim-short.fits": _string_table(["TDIM1   = '(4,2)   '"], b"ab\x00\x00cd\x00\x00\x00Z"),
        # The same duplicate with the first card in lower case: astropy upper-cases keywords.
        "fits-tdim-hierarch-twice.fits": _string_table(
            ["HIERARCH TDIM1 = '(10)'", "TDIM1   = '(5,2)   '"], two
        ),
        "fits-tdim-lower-twice.fits": _string_table(["tdim1   = '(10)    '", "TDIM1   = '(5,2)   '"], two),
        "fits-pcount-lower-twice.fits": _pcount_lower_twice(),
        **{name: zimage_card_mtime(card) for name, card in ZIMAGE_CARDS.items()},
    }


def zimage_card_mtime(card: str = "") -> bytes:
    """astropy's GZIP_1 image of int16 pixels (one tile a row); with `card`, the card of its
    keyword (ZIMAGE or ZCMPTYPE, the first word of `card` but HIERARCH) replaced by `card` and
    each tile's MTIME 4 bytes of MARK * 32 instead of the writer's."""
    from astropy.io import fits

    ints = np.random.default_rng(3).integers(0, 4000, (64, 48)).astype(np.int16)
    raw = bytearray(fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(ints, compression_type="GZIP_1")]))
    if card:
        keyword = card.removeprefix("HIERARCH ").split()[0].split("=")[0].upper()
        at = raw.find(keyword.ljust(8).encode() + b"=")
        raw[at : at + 80] = card.ljust(80).encode()
        for i, tile in enumerate(re.finditer(rb"\x1f\x8b\x08\x00", bytes(raw))):
            raw[tile.start() + 4 : tile.start() + 8] = (MARK * 32)[4 * i : 4 * i + 4]
    return bytes(raw)


# ZIMAGE and ZCMPTYPE cards astropy takes for a compressed image (it upper-cases keywords,
# reads HIERARCH cards by their name, tests ZIMAGE's truth: 'T' and 1 count) and the
# validator does not; the exact card last (its MTIMEs are refused: the attack's control).
ZIMAGE_CARDS = {
    "fits-zimage-lower-mtime.fits": "zimage  =                    T",
    "fits-zimage-string-mtime.fits": "ZIMAGE  = 'T       '",
    "fits-zimage-hierarch-mtime.fits": "HIERARCH ZIMAGE = T",
    "fits-zimage-integer-mtime.fits": "ZIMAGE  =                    1",
    "fits-zcmptype-lower-mtime.fits": "zcmptype= 'GZIP_1  '",
    "fits-zcmptype-hierarch-mtime.fits": "HIERARCH ZCMPTYPE = 'GZIP_1'",
    "fits-zimage-exact-mtime.fits": "ZIMAGE  =                    T",
}


def tile_mtimes(data: bytes) -> bytes:
    """Every GZIP tile's MTIME field, in file order."""
    return b"".join(data[m.start() + 4 : m.start() + 8] for m in re.finditer(rb"\x1f\x8b\x08\x00", data))


def _pcount_lower_twice() -> bytes:
    """A table whose PCOUNT card (0) is spelled `pcount` and says 5760, then `PCOUNT = 0`
    later in the header, followed by an IMAGE extension of 5760 bytes (header and data)."""
    from astropy.io import fits

    hdu = fits.BinTableHDU.from_columns([fits.Column(name="x", format="D", array=np.arange(3.0))])
    hdu.header["COMMENT"] = "placeholder0"
    raw = bytearray(fits_bytes([fits.PrimaryHDU(), hdu]))
    image = fits_bytes([fits.PrimaryHDU(), fits.ImageHDU(np.frombuffer(MARK * 360, dtype=">i8"))])[2880:]
    at = raw.find(b"PCOUNT  =                    0")
    raw[at : at + 80] = f"pcount  = {len(image):20d}".ljust(80).encode()
    at = raw.find(b"COMMENT placeholder0")
    raw[at : at + 80] = f"PCOUNT  = {0:20d}".ljust(80).encode()
    return bytes(raw) + image
