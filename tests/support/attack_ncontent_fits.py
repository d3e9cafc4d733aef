"""FITS files for test_attack_independent_ncontent.py.

Hostile: a lower-case scaling card (`bscale`, `bzero`, `tscal2`) put before END in
astropy's own file. astropy files it under BSCALE/BZERO/TSCALn and applies it to every
pixel or value it returns; cfitsio (fitsio, ds9, fv) reads keywords in columns 1-8 as
written, ignores it and applies the upper-case card or none. The same bytes are two
images (two tables) to the two readers the FITS row names. The validator does not read
these keywords, so their spelling is free ("keywords no rule reads, in any spelling (lower
case, HIERARCH: header text a reader returns)"), but astropy does not return them as
text: it scales the data by them.

Hostile too: terminal controls in a binary table's string (A) column, written by astropy's
own Table.write: `print(Table.read(...))`, the usual look at a table in a terminal,
hands them to the terminal raw (a window title by OSC, a cursor-up and an erased line),
the bytes the text row refuses ("a terminal acts on them"); FITS's A fields are "ASCII
text" (the standard), and the header beside them is pinned to printable cards.

Controls: astropy 8 output: an image with BZERO (uint16), float image, binary and ASCII
tables, a tile-compressed image (GZIP_2 and RICE_1), several HDUs, a file updated in place
(mode='update': a card added, data changed).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table


def _bytes(hdus) -> bytes:
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def image_u16() -> bytes:
    return _bytes([fits.PrimaryHDU((np.arange(12, dtype=np.uint16) * 1000).reshape(3, 4))])


def image_i16() -> bytes:
    return _bytes([fits.PrimaryHDU((np.arange(12, dtype=np.int16) * 100).reshape(3, 4))])


def table() -> bytes:
    t = Table({"adc": np.array([0, 1000, 60000], dtype=np.uint16), "e": np.array([1.5, 2.5, 3.5])})
    buf = io.BytesIO()
    t.write(buf, format="fits")
    return buf.getvalue()


def insert_card(data: bytes, card: str, hdu_start: int) -> bytes:
    """`card` put where END was in the header starting at `hdu_start`, END moved one card
    on (into the blanks that follow it in the same block)."""
    d = bytearray(data)
    i = hdu_start
    while d[i : i + 8] != b"END     ":
        i += 80
    assert d[i + 80 : i + 160] == b" " * 80 and (i + 80 - hdu_start) % 2880
    d[i : i + 80], d[i + 80 : i + 160] = card.ljust(80).encode("ascii"), d[i : i + 80]
    return bytes(d)


def _card(key: str, value: int) -> str:
    return f"{key:<8}= {value:>20}"


# name -> (bytes, HDU, column or None, the value a columns-1-8 reader applies)
HOSTILE = {
    "fits-n-lower-bscale-image.fits": (insert_card(image_i16(), _card("bscale", 3), 0), 0, None),
    "fits-n-lower-bzero-image.fits": (insert_card(image_u16(), _card("bzero", 0), 0), 0, None),
    "fits-n-lower-tscal-table.fits": (insert_card(table(), _card("tscal2", 1000), 2880), 1, "e"),
}
PLAIN = {  # the same file without the card: what cfitsio shows
    "fits-n-lower-bscale-image.fits": image_i16(),
    "fits-n-lower-bzero-image.fits": image_u16(),
    "fits-n-lower-tscal-table.fits": table(),
}


def astropy_values(data: bytes, hdu: int, column: str | None) -> np.ndarray:
    with fits.open(io.BytesIO(data)) as f:
        values = f[hdu].data
        return np.array(values if column is None else values[column], dtype=float)


ESCAPES = b"ok\x1b]0;vet: all files published\x07\x1b[1A\x1b[2K"


def escape_table() -> bytes:
    t = Table({"name": np.array([b"run1", ESCAPES], dtype="S48"), "e": [1.0, 2.0]})
    buf = io.BytesIO()
    t.write(buf, format="fits")
    return buf.getvalue()


def printed(data: bytes) -> str:
    """What `print(Table.read(file))` writes."""
    return str(Table.read(io.BytesIO(data), format="fits"))


def controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    img = rng.normal(100, 5, (64, 64)).astype(np.float32)
    files = {
        "ctl-n-image-u16.fits": image_u16(),
        "ctl-n-image-f32.fits": _bytes([fits.PrimaryHDU(img)]),
        "ctl-n-table.fits": table(),
        "ctl-n-ascii-table.fits": _bytes(
            [
                fits.PrimaryHDU(),
                fits.TableHDU.from_columns(
                    [
                        fits.Column("n", "I6", array=np.array([1, -22, 333])),
                        fits.Column("x", "E12.4", array=np.array([1.5, -2.25e-3, 3e10])),
                        fits.Column("s", "A5", array=np.array(["ab", "cde", ""])),
                    ]
                ),
            ]
        ),
        "ctl-n-multi-hdu.fits": _bytes(
            [
                fits.PrimaryHDU(header=fits.Header([("OBSERVER", "n attack"), ("exptime", 30.0)])),
                fits.ImageHDU(img, name="SCI"),
                fits.ImageHDU((img > 100).astype(np.uint8), name="MASK"),
                fits.BinTableHDU(
                    Table({"id": [1, 2], "flag": [True, False], "name": ["a", "bb"]}).as_array()
                ),
            ]
        ),
        "ctl-n-tile-gzip2.fits": _bytes(
            [fits.PrimaryHDU(), fits.CompImageHDU((img * 10).astype(np.int32), compression_type="GZIP_2")]
        ),
        "ctl-n-tile-rice.fits": _bytes(
            [fits.PrimaryHDU(), fits.CompImageHDU((img * 10).astype(np.int32), compression_type="RICE_1")]
        ),
    }
    path = work / "update.fits"
    path.write_bytes(files["ctl-n-image-f32.fits"])
    with fits.open(path, mode="update") as f:
        f[0].header["HISTORY"] = "flat-fielded"
        f[0].header["GAIN"] = (1.7, "e-/ADU")
        f[0].data *= 2
    files["ctl-n-updated-in-place.fits"] = path.read_bytes()
    return files
