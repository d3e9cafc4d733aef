"""FITS files for the independent content attack e: astropy output written the usual ways
(controls: tables, VLAs, tile-compressed images of every algorithm astropy writes,
checksums) and byte patches of it (hostile)."""

from __future__ import annotations

import io
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from tests.support.attack_econtent_files import MARK


def _bytes(hdul: fits.HDUList, **kw) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul.writeto(out, **kw)
    return out.getvalue()


def _comp(data: np.ndarray, **kw) -> bytes:
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, **kw)]))


def _image(dtype: str, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(100, 10, (60, 70))).astype(dtype)


def _vla_strings(form: str = "PA()") -> bytes:
    col = fits.Column(name="s", format=form, array=np.array(["ab", "cdef", "g"], dtype=object))
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]))


def _vla_numbers() -> bytes:
    arrays = np.array([np.arange(3.0), np.arange(0.0), np.arange(5.0)], dtype=object)
    cols = [
        fits.Column(name="p", format="PD()", array=arrays),
        fits.Column(name="q", format="QJ()", array=arrays),
    ]
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]))


def _ascii_table() -> bytes:
    cols = [
        fits.Column(name="e", format="E15.7", array=np.linspace(0, 1, 4)),
        fits.Column(name="n", format="I6", array=np.arange(4)),
        fits.Column(name="s", format="A8", array=np.array(["a", "bb", "ccc", "dddd"])),
    ]
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols)]))


def _fancy_table() -> bytes:
    """What an analysis table holds: masked values, times, units, string arrays, bit
    flags, and arrays of different lengths (astropy makes the last a PD() column)."""
    from astropy import units as u
    from astropy.table import MaskedColumn, QTable
    from astropy.time import Time

    t = QTable()
    t["n"] = MaskedColumn([1, 2, 3], mask=[False, True, False], dtype=np.int32)
    t["f"] = MaskedColumn([1.5, 2.5, 3.5], mask=[True, False, False])
    t["t"] = Time(["2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-03T12:00:00"])
    t["e"] = [1.0, 2.0, 3.0] * u.GeV
    t["tags"] = np.array([["a", "bb"], ["ccc", ""], ["d", "e"]])
    t["flags"] = np.array([[True, False] * 6] * 3)
    t["hits"] = np.array([np.arange(2.0), np.arange(5.0), np.arange(0.0)], dtype=object)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.write(out, format="fits")
    return out.getvalue()


def _table() -> Table:
    t = Table()
    t["id"] = np.arange(5, dtype=np.int32)
    t["ok"] = [True, False, True, True, False]
    t["name"] = ["a", "bb", "ccc", "", "eeeee"]
    t["e"] = np.linspace(0, 1, 5)
    t["v"] = np.arange(10.0).reshape(5, 2)
    return t


def fits_controls() -> dict[str, bytes]:
    img = _image("float32")
    nan_tile = img.copy()
    nan_tile[:16, :] = np.nan
    const = img.copy()
    const[:, :] = 7.0
    t = _table()
    out = io.BytesIO()
    t.write(out, format="fits")
    tables = {
        "ctl-table-write.fits": out.getvalue(),
        "ctl-table-checksum.fits": _bytes(
            fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(t)]), checksum=True
        ),
        "ctl-vla-strings.fits": _vla_strings(),
        "ctl-vla-numbers.fits": _vla_numbers(),
        "ctl-ascii-table.fits": _ascii_table(),
        "ctl-table-masked-time-units.fits": _fancy_table(),
    }
    uint16 = fits.HDUList([fits.PrimaryHDU((_image("float32") * 100).astype(np.uint16))])
    images = {
        "ctl-uint16-bzero.fits": _bytes(uint16),
        "ctl-rice-float-default.fits": _comp(img),
        "ctl-rice-float-nan-tile.fits": _comp(nan_tile),
        "ctl-rice-float-constant.fits": _comp(const),
        "ctl-gzip1-float-lossless.fits": _comp(img, compression_type="GZIP_1", quantize_level=0.0),
        "ctl-gzip2-int16.fits": _comp(_image("int16"), compression_type="GZIP_2"),
        "ctl-rice-uint8.fits": _comp(_image("uint8"), compression_type="RICE_1"),
        "ctl-rice-int16.fits": _comp(_image("int16"), compression_type="RICE_1"),
        "ctl-plio-int32.fits": _comp(np.abs(_image("int32")) % 50, compression_type="PLIO_1"),
        "ctl-hcompress-int32.fits": _comp(_image("int32"), compression_type="HCOMPRESS_1"),
        "ctl-rice-checksum.fits": _bytes(
            fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(img)]), checksum=True
        ),
        "ctl-gzip1-float64-quant.fits": _comp(_image("float64"), compression_type="GZIP_1"),
    }
    dither = _comp(img, quantize_method=2, dither_seed=7, tile_shape=(16, 35))
    extra = {"ctl-astropy.fits.gz": _astropy_gz(t), "ctl-dither2-tiles.fits": dither}
    return tables | images | extra | _appended_and_updated()


def _appended_and_updated() -> dict[str, bytes]:
    """Files changed after writing the astropy way: fits.append, and update mode (a card
    that outgrows the header's block, a column's values, flush)."""
    files = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "a.fits"
        fits.writeto(path, _image("float32"))
        fits.append(path, _image("int16"))
        fits.append(path, fits.table_to_hdu(_table()).data)
        files["ctl-fits-append.fits"] = path.read_bytes()
        with fits.open(path, mode="update") as hdul:
            for i in range(40):
                hdul[0].header[f"RUN{i}"] = (i, "a card per run")
            hdul[2].data["e"] *= 2
        files["ctl-fits-update-mode.fits"] = path.read_bytes()
    return files


def _astropy_gz(t: Table) -> bytes:
    """astropy's writeto("x.fits.gz") gzips under the file's name."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ctl-astropy.fits.gz"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(t)]).writeto(path)
        return path.read_bytes()


def _tiles(data: bytes, flags: int, mtime: bytes | None) -> bytes:
    """Every gzip tile's header (astropy/cfitsio: no flags, the clock's MTIME) patched."""
    out = bytearray(data)
    for at in (m.start() for m in re.finditer(rb"\x1f\x8b\x08\x00", data)):
        out[at + 3] |= flags
        if mtime is not None:
            out[at + 4 : at + 8] = mtime
    return bytes(out)


def _end_card_tail() -> bytes:
    """The END card with MARK where its 77 blanks are (astropy and cfitsio stop at 'END')."""
    data = bytearray(_bytes(fits.HDUList([fits.PrimaryHDU(_image("int16"))])))
    at = next(i for i in range(0, 2880, 80) if data[i : i + 8] == b"END     ")
    data[at + 8 : at + 80] = MARK[:72].replace(b"-", b" ")
    return bytes(data)


def fits_hostile() -> dict[str, bytes]:
    vla = _vla_strings()
    # "cdef" -> "c\0" + 2 payload bytes: cfitsio ends the string at the NUL
    vla_patched = vla.replace(b"abcdefg", b"abc\0PAg", 1)
    gz = _comp(_image("int16"), compression_type="GZIP_1")
    return {
        "fits-vla-string-after-nul.fits": vla_patched,
        "fits-vla-qa-string-after-nul.fits": _vla_strings("QA()").replace(b"abcdefg", b"abc\0PAg", 1),
        "fits-end-card-tail.fits": _end_card_tail(),
        "fits-tile-ftext.fits": _tiles(gz, 1, None),  # FTEXT: zlib and Python's gzip ignore it
        "fits-tile-mtime.fits": _tiles(gz, 0, MARK[:4]),  # every tile: the same 4 chosen bytes
    }
