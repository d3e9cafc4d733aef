"""FITS files for the independent content attack e: astropy output written the usual ways
(controls: tables, VLAs, tile-compressed images of every algorithm astropy writes,
checksums) and byte patches of it (hostile)."""

from __future__ import annotations

import io
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table


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


def _vla_strings() -> bytes:
    col = fits.Column(name="s", format="PA()", array=np.array(["ab", "cdef", "g"], dtype=object))
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]))


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
    }
    images = {
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
    return tables | images


def fits_hostile() -> dict[str, bytes]:
    vla = _vla_strings()
    # "cdef" -> "c\0" + 2 payload bytes: cfitsio ends the string at the NUL
    vla_patched = vla.replace(b"abcdefg", b"abc\0PAg", 1)
    return {"fits-vla-string-after-nul.fits": vla_patched}
