"""FITS and astropy ASCII files for test_attack_independent_gcontent.py: astropy's own
output as a lab writes it (long strings, ESO HIERARCH keywords, ASCII and binary tables
with checksums, tile-compressed images, astropy.io.ascii formats). All controls.
"""

from __future__ import annotations

import io
import warnings

import numpy as np


def _bytes(hdus, **kw) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdus.writeto(out, **kw)
    return out.getvalue()


def _image_with_header():
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.arange(64, dtype=np.float32).reshape(8, 8))
    hdu.header["OBJECT"] = (
        "NGC 1275 deep field, pointing 3 of 12, dithered, flat-fielded with the 2024-12 master flat"
    )
    hdu.header["HIERARCH ESO DET CHIP TEMP"] = (-120.25, "[C] chip temperature")
    hdu.header["HIERARCH ESO OBS PROG ID"] = "0112.C-0345(A)"
    hdu.header["HISTORY"] = "reduced with pipeline v3.2.1; " * 6
    hdu.header["COMMENT"] = (
        "Flux calibrated against HD 12345 with the 2024 standard-star model, airmass corrected per exposure."
    )
    return hdu


def _ascii_table():
    from astropy.io import fits

    cols = [
        fits.Column(name="RUN", format="I6", array=np.array([1, 42, -7])),
        fits.Column(name="E", format="F10.4", array=np.array([0.5, 1234.5678, -0.25])),
        fits.Column(name="SIGMA", format="E12.4", array=np.array([1e-9, 2.5e10, 0.0])),
        fits.Column(name="T0", format="D25.16", array=np.array([1733306400.123456, 1.0, -2.5])),
        fits.Column(name="DET", format="A8", array=np.array(["ecal", "hcal", "mu"])),
    ]
    return fits.TableHDU.from_columns(cols)


def _bin_table():
    from astropy.io import fits

    long_name = "calibrated_energy_deposit_in_the_em_calorimeter_barrel_GeV"
    cols = [
        fits.Column(
            name="WAVE", format="6E", dim="(3,2)", array=np.arange(18, dtype=np.float32).reshape(3, 2, 3)
        ),
        fits.Column(name=long_name, format="D", array=np.array([1.5, 2.5, 3.5])),
        fits.Column(name="FLAG", format="L", array=np.array([True, False, True])),
        fits.Column(name="LABEL", format="12A", array=np.array(["a", "bb", "mu"])),
    ]
    return fits.BinTableHDU.from_columns(cols)


def fits_controls() -> dict[str, bytes]:
    from astropy.io import fits

    comp = fits.CompImageHDU(
        np.arange(4096, dtype=np.int32).reshape(64, 64), compression_type="GZIP_2", tile_shape=(16, 64)
    )
    rice = fits.CompImageHDU(np.random.default_rng(3).normal(size=(32, 32)).astype(np.float32))
    files = {
        "ctl-fits-long-string-hierarch.fits": _bytes(fits.HDUList([_image_with_header()])),
        "ctl-fits-ascii-table-checksum.fits": _bytes(
            fits.HDUList([fits.PrimaryHDU(), _ascii_table()]), checksum=True
        ),
        "ctl-fits-comp-gzip2-checksum.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), comp]), checksum=True),
        "ctl-fits-comp-rice-float.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), rice])),
        "ctl-fits-comp-nocompress.fits": _bytes(
            fits.HDUList(
                [
                    fits.PrimaryHDU(),
                    fits.CompImageHDU(np.ones((8, 8), np.int16), compression_type="NOCOMPRESS"),
                ]
            )
        ),
        "ctl-fits-image-blank.fits": _blank_image(),
        "ctl-fits-image-uint32.fits": _bytes(
            fits.HDUList([fits.PrimaryHDU(np.arange(6, dtype=np.uint32) * 700000000)])
        ),
        "ctl-fits-table-types.fits": _typed_table(),
        "ctl-fits-ccddata-wcs.fits": _ccddata(),
        "ctl-fits-bintable-tdim-checksum.fits": _bytes(
            fits.HDUList([fits.PrimaryHDU(), _bin_table()]), checksum=True
        ),
    }
    return files | _ascii_formats()


def _ccddata() -> bytes:
    """astropy.nddata.CCDData with a WCS, an uncertainty and a mask, as ccdproc writes it."""
    from astropy import units as u
    from astropy.nddata import CCDData, StdDevUncertainty
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [4.0, 4.0]
    wcs.wcs.cdelt = [-0.0002, 0.0002]
    data = np.arange(64, dtype=np.float32).reshape(8, 8)
    ccd = CCDData(data, unit=u.adu, wcs=wcs, uncertainty=StdDevUncertainty(np.sqrt(data + 1)), mask=data > 60)
    ccd.header["EXPTIME"] = 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _bytes(ccd.to_hdu())


def _typed_table() -> bytes:
    """Table.write of unsigned, boolean, 2-D string, int8 and complex columns."""
    from astropy.table import Table

    tab = Table(
        {
            "u16": np.array([1, 65535], dtype=np.uint16),
            "u32": np.array([0, 4000000000], dtype=np.uint32),
            "ok": np.array([True, False]),
            "tags": np.array([["ecal", "hcal"], ["mu", ""]]),
            "i8": np.array([-128, 127], dtype=np.int8),
            "amp": np.array([1 + 2j, -0.5j], dtype=np.complex64),
        }
    )
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab.write(out, format="fits")
    return out.getvalue()


def _blank_image() -> bytes:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.array([[1, -32768], [3, 4]], dtype=np.int16))
    hdu.header["BLANK"] = -32768
    hdu.header["BUNIT"] = "adu"
    return _bytes(fits.HDUList([hdu]), checksum=True)


def _ascii_formats() -> dict[str, bytes]:
    from astropy.table import Table

    tab = Table(
        {"run": [1, 2], "energy": [0.5, 1e-9], "det": ["ecal", "µ-ch"]},
        meta={"comments": ["produced by run 42"]},
    )
    tab["energy"].unit = "GeV"
    files = {}
    for fmt, name in (
        ("ascii.ecsv", "ctl-astropy.ecsv"),
        ("ascii.ipac", "ctl-astropy-ipac.tbl"),
        ("ascii.fixed_width", "ctl-astropy-fixed.txt"),
        ("ascii.csv", "ctl-astropy.csv"),
        ("ascii.commented_header", "ctl-astropy-commented.dat"),
    ):
        out = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab.write(out, format=fmt)
        files[name] = out.getvalue().encode()
    return files


def _small_ascii_table() -> bytes:
    from astropy.io import fits

    cols = [
        fits.Column(name="N", format="I6", array=np.array([0, 5])),
        fits.Column(name="E", format="E12.4", array=np.array([1.0, 0.0])),
        fits.Column(name="D", format="D12.4", array=np.array([1.0, -3.0])),
        fits.Column(name="F", format="F10.4", array=np.array([0.5, -0.25])),
    ]
    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols)]))


def _patch_data(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the first `old` in the table's rows (after the two header blocks)."""
    at = data.index(old, 5760)
    return data[:at] + new + data[at + len(old) :]


def ascii_field_cases() -> dict[str, bytes]:
    """Second spellings of one value a reader returns alike: `-0` for 0, `E-00` for `E+00`
    (no writer writes them; each would be a free bit per value)."""
    table = _small_ascii_table()
    return {
        "ctl-fits-ascii-small.fits": table,
        "fits-ascii-int-minus-zero.fits": _patch_data(table, b"     0", b"    -0"),
        "fits-ascii-e-exp-minus-zero.fits": _patch_data(table, b"1.0000E+00", b"1.0000E-00"),
        "fits-ascii-d-exp-minus-zero.fits": _patch_data(table, b"1.0000D+00", b"1.0000D-00"),
        "fits-ascii-e-exp-lower.fits": _patch_data(table, b"1.0000E+00", b"1.0000e+00"),
        "fits-ascii-int-plus.fits": _patch_data(table, b"     5", b"    +5"),
        "fits-ascii-zero-exp5.fits": _patch_data(table, b"0.0000E+00", b"0.0000E+05"),
        "fits-ascii-zero-exp-minus-zero.fits": _patch_data(table, b"0.0000E+00", b"0.0000E-00"),
        "fits-ascii-f-no-leading-zero.fits": _patch_data(table, b"    0.5000", b"     .5000"),
        "fits-ascii-f-negative-no-leading-zero.fits": _patch_data(table, b"   -0.2500", b"    -.2500"),
        "fits-ascii-e-exp-one-digit.fits": _patch_data(table, b"  1.0000E+00", b"   1.0000E+0"),
        "fits-ascii-d-field-e-letter.fits": _patch_data(table, b"1.0000D+00", b"1.0000E+00"),
    }
