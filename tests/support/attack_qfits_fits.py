"""FITS files for independent attack q (session 40): keywords a reader acts on that
docs/quarantine.md's list (BSCALE ... ZBLANK) leaves out, and astropy's own output as
controls. Hostile headers are astropy's files with cards added by hand before END."""

from __future__ import annotations

import gzip
import io
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.wcs import WCS

BLOCK = 2880


def card(text: str) -> bytes:
    return text.ljust(80).encode("ascii")


def _hdu_starts(raw: bytes) -> list[int]:
    """Offsets of each HDU's header (astropy's own reading of the file)."""
    with fits.open(io.BytesIO(raw)) as hdul:
        return [hdu.fileinfo()["hdrLoc"] for hdu in hdul]


def add_cards(raw: bytes, cards: list[str], hdu: int = 0, drop: tuple[str, ...] = ()) -> bytes:
    """`raw` with `cards` inserted before END of header `hdu` (and cards starting with one
    of `drop` removed): the rest of the file unchanged, the header padded to blocks."""
    start = _hdu_starts(raw)[hdu]
    pos, kept = start, []
    while raw[pos:pos + 8] != b"END     ":
        if not raw[pos:pos + 80].startswith(tuple(d.encode() for d in drop)) or not drop:
            kept.append(raw[pos:pos + 80])
        pos += 80
    end = start + -(-(pos + 80 - start) // BLOCK) * BLOCK
    head = b"".join(kept) + b"".join(card(c) for c in cards) + card("END")
    head = head.ljust(-(-len(head) // BLOCK) * BLOCK, b" ")
    return raw[:start] + head + raw[end:]


def _bytes(hdul: fits.HDUList, path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    hdul.writeto(path, overwrite=True)
    return path.read_bytes()


def wcs_image(made: Path) -> bytes:
    """astropy: a 4 x 4 int16 image with a TAN WCS (CRVAL 10, 20), as WCS.to_header()."""
    hdu = fits.PrimaryHDU(np.arange(16, dtype=">i2").reshape(4, 4))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [10.0, 20.0]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    hdu.header.update(wcs.to_header())
    return _bytes(fits.HDUList([hdu]), made / "wcs.fits")


def groups(made: Path) -> bytes:
    """astropy: random groups (radio visibilities), parameters UU and VV, 3 groups."""
    data = np.ascontiguousarray(np.arange(6, dtype=">f4").reshape(3, 1, 2))
    pars = [np.array([1.0, 2.0, 3.0], ">f4"), np.array([4.0, 5.0, 6.0], ">f4")]
    gd = fits.GroupData(data, parnames=["UU", "VV"], pardata=pars, bitpix=-32)
    return _bytes(fits.HDUList([fits.GroupsHDU(gd)]), made / "groups.fits")


def unit_table(made: Path) -> bytes:
    """astropy: QTable of a length in m (TUNIT1 = 'm')."""
    path = made / "units.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    QTable({"d": np.array([1.5, 2.5]) * u.m}).write(path, format="fits", overwrite=True)
    return path.read_bytes()


def vla_string_table(made: Path) -> bytes:
    """astropy: a PA() column of labels and a PL() column of flags."""
    labels = fits.Column(name="lab", format="PA()", array=np.array(["ab", "cde"], dtype=object))
    flags = fits.Column(name="ok", format="PL()",
                        array=np.array([[True], [False, True]], dtype=object))
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([labels, flags])]),
                  made / "vla.fits")


def ascii_table(made: Path) -> bytes:
    """astropy: an ASCII table (TableHDU) of a name (A8) and a count (I6)."""
    cols = [fits.Column(name="name", format="A8", array=np.array(["alpha", "beta"])),
            fits.Column(name="n", format="I6", array=np.array([12, 7]))]
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols)]),
                  made / "ascii.fits")


def controls(made: Path) -> dict[str, bytes]:
    """Ordinary astropy output: scaled image, scaled table columns, compressed images,
    ASCII table, HIERARCH cards, WCS, random groups, units, long strings (CONTINUE)."""
    warnings.simplefilter("ignore")
    img = fits.PrimaryHDU(np.linspace(0, 100, 64).reshape(8, 8))
    img.scale("int16", bzero=50, bscale=0.01)
    img.header["HIERARCH ESO DET CHIP GAIN"] = 2.5
    img.header["OBJECT"] = "a long target description " * 4
    scaled = fits.Column(name="adc", format="J", bscale=0.5, bzero=10.0)
    tags = fits.Column(name="tag", format="6A", array=np.array(["run1", "run22", "x", "", "y"]))
    table = fits.BinTableHDU.from_columns([scaled, tags], nrows=5)
    table.data["adc"] = np.arange(5) * 1.5 + 10.0
    comp_i = fits.CompImageHDU(np.arange(256, dtype="i4").reshape(16, 16), compression_type="RICE_1")
    comp_f = fits.CompImageHDU(np.random.default_rng(4).normal(size=(16, 16)).astype("f4"),
                               compression_type="GZIP_2")
    out = {
        "ctl/scaled-image.fits": _bytes(fits.HDUList([img]), made / "img.fits"),
        "ctl/scaled-table.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), table]), made / "t.fits"),
        "ctl/rice-int.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), comp_i]), made / "ri.fits"),
        "ctl/gzip-float.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), comp_f]), made / "gf.fits"),
        "ctl/ascii.fits": ascii_table(made),
        "ctl/wcs.fits": wcs_image(made),
        "ctl/groups.fits": groups(made),
        "ctl/units.fits": unit_table(made),
        "ctl/vla.fits": vla_string_table(made),
        "ctl/time.fits": time_table(made),
    }
    tpath = made / "tab.fits"
    Table({"a": [1, 2], "s": ["x", "yy"]}).write(tpath, format="fits", overwrite=True)
    out["ctl/table.fits"] = tpath.read_bytes()
    return out


def hostile(made: Path) -> dict[str, bytes]:
    """Cards a reader acts on, outside the docs' list (see the test module's tables)."""
    warnings.simplefilter("ignore")
    wcs, grp = wcs_image(made), groups(made)
    units, vla, asc = unit_table(made), vla_string_table(made), ascii_table(made)
    return {
        "wcs/dup-crval.fits": add_cards(wcs, ["CRVAL1  =                200.0"]),
        "wcs/dup-cdelt.fits": add_cards(wcs, ["CDELT1  =                 -1.0"]),
        "wcs/free-crval.fits": add_cards(wcs, ["CRVAL1  =200.0"], drop=("CRVAL1  ",)),
        "groups/hier-pzero.fits": add_cards(grp, ["HIERARCH PZERO1 = 100.0"]),
        "groups/ptype-cont.fits": add_cards(grp, ["PTYPE1  = 'U&'", "CONTINUE  'X'"],
                                            drop=("PTYPE1  ",)),
        "units/tunit-cont.fits": add_cards(units, ["TUNIT1  = 'k&'", "CONTINUE  'm'"], hdu=1,
                                           drop=("TUNIT1  ",)),
        "vla/tzero-pa.fits": add_cards(vla, ["TZERO1  =                   10"], hdu=1),
        "vla/tscal-pl.fits": add_cards(vla, ["TSCAL2  =                    2"], hdu=1),
        "ascii/tzero-a.fits": add_cards(asc, ["TZERO1  =                   10"], hdu=1),
        "ctab/ztable-osc.fits": compressed_table(),
        "units/bunit-cont.fits": add_cards(plain_image(made), ["BUNIT   = 'k&'", "CONTINUE  'Jy'"]),
        "units/hier-tunit.fits": add_cards(units, ["HIERARCH TUNIT1 = 'km'"], hdu=1,
                                           drop=("TUNIT1  ",)),
        "units/hier-bunit.fits": add_cards(plain_image(made), ["HIERARCH BUNIT = 'kJy'"]),
        "time/dup-jdref.fits": add_cards(time_table(made), ["JDREF   =            2400000.5"],
                                         hdu=1),
        "time/hier-jdref.fits": add_cards(time_table(made), ["HIERARCH JDREF = 2400000.5"],
                                          hdu=1, drop=("JDREF   ",)),
        "wcs/hier-crval.fits": add_cards(wcs, ["HIERARCH CRVAL1 = 200.0"], drop=("CRVAL1  ",)),
        "hier/extname-lower.fits": add_cards(two_images(made), ["HIERARCH extname = 'SCI'"], hdu=1),
        "hier/extname.fits": add_cards(two_images(made), ["HIERARCH EXTNAME = 'SCI'"], hdu=1),
        "hier/extver.fits": add_cards(two_images(made), ["EXTNAME = 'SCI     '",
                                                         "HIERARCH EXTVER = 2"], hdu=1),
        "hier/ttype.fits": add_cards(units, ["HIERARCH TTYPE1 = 'dist'"], hdu=1, drop=("TTYPE1  ",)),
        "hier/tnull.fits": add_cards(int_table(made), ["HIERARCH TNULL1 = 7"], hdu=1),
    }


def time_table(made: Path) -> bytes:
    """astropy: a Time column (MJD 60000, 60001 UTC): TCTYP1, TIMESYS, JDREF = 0.0."""
    path = made / "time.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    Table({"t": Time([60000.0, 60001.0], format="mjd", scale="utc")}).write(
        path, format="fits", overwrite=True)
    return path.read_bytes()


def plain_image(made: Path) -> bytes:
    return _bytes(fits.HDUList([fits.PrimaryHDU(np.ones(3, ">f4"))]), made / "plain.fits")


def two_images(made: Path) -> bytes:
    """astropy: a primary and one IMAGE extension without a name."""
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(np.arange(3, dtype=">i2"))]
    return _bytes(fits.HDUList(hdus), made / "two.fits")


def int_table(made: Path) -> bytes:
    """astropy: a binary table of one J column (counts 5, 7, 9)."""
    col = fits.Column(name="n", format="J", array=np.array([5, 7, 9], ">i4"))
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]),
                  made / "int.fits")


def osc_labels() -> bytes:
    """Two 12-byte labels whose second retitles a terminal (OSC 0 ... BEL) and clears it."""
    return b"run-0001".ljust(12) + b"\x1b]0;ok\x07\x1b[2J"


def compressed_table() -> bytes:
    """A tile-compressed binary table (FITS 4.0 10.3, ZTABLE = T) as fpack writes one: one
    tile of 2 rows, its 12A column GZIP_1 in a 1PB heap array. astropy shows the compressed
    bytes; funpack/cfitsio's fits_uncompress_table gives the 12A column, an OSC then ESC [2J."""
    tile = gzip.compress(osc_labels(), mtime=0)
    cards = [
        "XTENSION= 'BINTABLE'", "BITPIX  =                    8", "NAXIS   =                    2",
        "NAXIS1  =                    8", "NAXIS2  =                    1",
        f"PCOUNT  = {len(tile):20d}", "GCOUNT  =                    1", "TFIELDS =                    1",
        "TTYPE1  = 'label   '", "TFORM1  = '" + f"1PB({len(tile)})".ljust(8) + "'", "ZTABLE  =                    T",
        "ZTILELEN=                    2", "ZNAXIS1 =                   12",
        "ZNAXIS2 =                    2", "ZPCOUNT =                    0",
        "ZFORM1  = '12A     '", "ZCTYP1  = 'GZIP_1  '", "END",
    ]
    head = b"".join(card(c) for c in cards)
    head = head.ljust(BLOCK, b" ")
    body = np.array([len(tile), 0], ">i4").tobytes() + tile
    body = body.ljust(-(-len(body) // BLOCK) * BLOCK, b"\0")
    primary = fits.PrimaryHDU()
    buf = io.BytesIO()
    primary.writeto(buf)
    return buf.getvalue() + head + body


def rice_image() -> tuple[np.ndarray, bytes]:
    """astropy: an 8 x 8 int32 image, RICE_1, two tiles of 4 rows (one 1PB column)."""
    pixels = np.arange(64, dtype="i4").reshape(8, 8)
    buf = io.BytesIO()
    comp = fits.CompImageHDU(pixels, compression_type="RICE_1", tile_shape=(4, 8))
    fits.HDUList([fits.PrimaryHDU(), comp]).writeto(buf)
    return pixels, buf.getvalue()


def with_column(raw: bytes, name: str, tform: str, cells: list[bytes], heap: bytes = b"") -> bytes:
    """The compressed image's table (HDU 1, NAXIS2 rows of one 8-byte descriptor, no THEAP)
    with a second column: `cells` appended to each row, `heap` to the heap's end."""
    start = BLOCK
    width = len(cells[0])
    cards = [raw[p:p + 80] for p in range(start, start + BLOCK, 80)]
    end = next(i for i, c in enumerate(cards) if c.startswith(b"END     "))
    out = []
    for c in cards[:end]:
        key = c[:8].decode().strip()
        if key == "NAXIS1":
            c = card(f"NAXIS1  = {8 + width:20d}")
        elif key == "TFIELDS":
            c = card("TFIELDS =                    2")
        elif key == "PCOUNT":
            c = card(f"PCOUNT  = {int(c[10:30]) + len(heap):20d}")
        out.append(c)
        if key == "TFORM1":
            out += [card(f"TTYPE2  = '{name:<8}'"), card(f"TFORM2  = '{tform:<8}'")]
    head = b"".join(out) + card("END")
    head = head.ljust(-(-len(head) // BLOCK) * BLOCK, b" ")
    data_at = start + BLOCK
    with fits.open(io.BytesIO(raw), disable_image_compression=True) as hdul:
        rows, pcount = hdul[1].header["NAXIS2"], hdul[1].header["PCOUNT"]
    table = raw[data_at:data_at + 8 * rows]
    old_heap = raw[data_at + 8 * rows:data_at + 8 * rows + pcount]
    body = b"".join(table[8 * i:8 * i + 8] + cells[i] for i in range(rows)) + old_heap + heap
    return raw[:start] + head + body.ljust(-(-len(body) // BLOCK) * BLOCK, b"\0")


def hidden_columns() -> dict[str, bytes]:
    """A 64B column of text no image reader shows; UNCOMPRESSED_DATA arrays (other pixels)
    beside non-empty COMPRESSED_DATA, which astropy and cfitsio then never read."""
    _, raw = rice_image()
    secret = [b"hidden row 1: no image reader shows this".ljust(64, b"."),
              b"hidden row 2: astropy CompImageHDU skips it".ljust(64, b".")]
    other = (np.full(32, 7, ">i4").tobytes(), np.full(32, 9, ">i4").tobytes())
    with fits.open(io.BytesIO(raw), disable_image_compression=True) as hdul:
        heap = hdul[1].header["PCOUNT"]  # the RICE tiles; the arrays follow them
    descs = [np.array([32, heap], ">i4").tobytes(), np.array([32, heap + 128], ">i4").tobytes()]
    return {
        "comp/extra-column.fits": with_column(raw, "NOTES", "64B", secret),
        "comp/uncompressed-beside.fits": with_column(raw, "UNCOMPRESSED_DATA", "1PJ(32)", descs,
                                                     b"".join(other)),
    }
