"""FITS files for test_attack_independent_icontent.py: astropy's ASCII tables with what
session 34 pinned (an exponent 0 as `+00`, NaN/INF case by field letter, with d = 0 one
form a column) and the siblings of those pins; compressed images as a lab writes them.
"""

from __future__ import annotations

import io
import warnings

import numpy as np


def _bytes(hdus) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdus.writeto(out)
    return out.getvalue()


def _ascii(cols) -> bytes:
    from astropy.io import fits

    return _bytes(fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols)]))


def _column(name: str, form: str, values) -> object:
    from astropy.io import fits

    return fits.Column(name=name, format=form, array=np.array(values))


def _patch(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the first `old` in the table's rows (after the two header blocks)."""
    assert len(old) == len(new)
    at = data.index(old, 5760)
    return data[:at] + new + data[at + len(old) :]


def _nonfinite_table() -> bytes:
    inf, nan = float("inf"), float("nan")
    return _ascii([
        _column("F", "F10.3", [1.5, nan, -inf]),
        _column("E", "E12.4", [nan, inf, 2.5]),
        _column("D", "D14.5", [-inf, 3.0, nan]),
    ])  # fmt: skip


def _d0_table() -> bytes:
    return _ascii([_column("E0", "E9.0", [3.0, 250.0]), _column("D0", "D9.0", [4.0, 1e-5])])


def ascii_controls() -> dict[str, bytes]:
    """astropy's own ASCII tables: non-finite values, tiny and huge exponents, d = 0."""
    return {
        "ctl-fits-ascii-nonfinite.fits": _nonfinite_table(),
        "ctl-fits-ascii-d0.fits": _d0_table(),
        "ctl-fits-ascii-tiny.fits": _ascii(
            [
                _column("P", "E12.4", [1e-120, 5e-324, 1e300]),
                _column("Q", "D25.16", [1e-200, 2.2250738585072014e-308, 1.7976931348623157e308]),
            ]
        ),  # fmt: skip
    }


def ascii_hostile() -> dict[str, bytes]:
    """Second spellings of values the table holds, each read back alike by astropy."""
    nonfinite = _nonfinite_table()
    d0 = _d0_table()
    cases = {
        # The case pin's siblings: mixed case is read as NaN/inf by astropy as well.
        "fits-ascii-e-nan-mixed.fits": (nonfinite, b"         NAN", b"         NaN"),
        "fits-ascii-d-inf-mixed.fits": (nonfinite, b"          -INF", b"          -Inf"),
        "fits-ascii-f-inf-long.fits": (nonfinite, b"      -inf", b" -infinity"),
        "fits-ascii-e-inf-plus.fits": (nonfinite, b"         INF", b"        +INF"),
        "fits-ascii-f-nan-upper.fits": (nonfinite, b"       nan", b"       NAN"),
        # d = 0 one form a column: the sibling columns E and D, mixed within a column.
        # (astropy writes `3E+00.`: the point after the exponent, where it leaves a blank.)
        "fits-ascii-e0-point-mixed.fits": (d0, b"   3E+00.", b"    3E+00"),
        "fits-ascii-d0-point-mixed.fits": (d0, b"   4D+00.", b"    4D+00"),
        # Exponent spellings beyond +00: a leading 0 in a 3-digit exponent.
        "fits-ascii-e-exp3-zero.fits": (nonfinite, b"  2.5000E+00", b" 2.5000E+000"),
    }
    return {name: _patch(data, old, new) for name, (data, old, new) in cases.items()}


def comp_controls() -> dict[str, bytes]:
    """Tile-compressed images astropy writes with options a lab uses."""
    from astropy.io import fits

    rng = np.random.default_rng(7)
    img = rng.normal(100, 5, (64, 64)).astype(np.float32)
    img[3, 3] = np.nan
    ints = rng.integers(0, 4000, (64, 64)).astype(np.int32)
    made = {
        "ctl-comp-hcompress-lossy.fits": fits.CompImageHDU(
            img, compression_type="HCOMPRESS_1", hcomp_scale=2.5
        ),
        "ctl-comp-rice-nodither.fits": fits.CompImageHDU(img, compression_type="RICE_1", quantize_method=-1),
        "ctl-comp-gzip2-int32.fits": fits.CompImageHDU(ints, compression_type="GZIP_2", tile_shape=(16, 64)),
        "ctl-comp-rice-q-negative.fits": fits.CompImageHDU(
            img, compression_type="RICE_1", quantize_level=-0.01
        ),
    }
    return {name: _bytes(fits.HDUList([fits.PrimaryHDU(), hdu])) for name, hdu in made.items()}


def fitsio_controls(work) -> dict[str, bytes]:
    """cfitsio's own output through fitsio, where installed (not a project dependency):
    ASCII and binary tables with NaN/INF, variable-length arrays, each compression."""
    try:
        import fitsio
    except ImportError:
        return {}
    work.mkdir(parents=True, exist_ok=True)
    inf, nan = float("inf"), float("nan")
    rec = np.zeros(3, dtype=[("RUN", "i4"), ("E", "f8"), ("F", "f4"), ("DET", "S8")])
    rec["RUN"], rec["E"], rec["F"] = [1, 42, -7], [1.5e-120, nan, -inf], [0.5, inf, nan]
    rec["DET"] = [b"ecal", b"hcal", b"mu"]
    vla = np.zeros(3, dtype=[("X", "O"), ("S", "O")])
    vla["X"] = [np.arange(3, dtype="f8"), np.arange(0, dtype="f8"), np.arange(5, dtype="f8")]
    vla["S"] = ["a", "bcd", ""]
    rng = np.random.default_rng(3)
    img = rng.normal(100, 5, (64, 64)).astype("f4")
    img[2, 2] = nan
    ints = rng.integers(0, 4000, (64, 64)).astype("i4")
    writes = {
        "ctl-fitsio-ascii.fits": (rec, {"table_type": "ascii"}),
        "ctl-fitsio-bin.fits": (rec, {}),
        "ctl-fitsio-vla.fits": (vla, {}),
        "ctl-fitsio-plio.fits": (ints, {"compress": "PLIO"}),
        "ctl-fitsio-dither2.fits": (img, {"compress": "RICE", "qmethod": "SUBTRACTIVE_DITHER_2"}),
        "ctl-fitsio-gzip-lossless.fits": (img, {"compress": "GZIP", "qlevel": None}),
        **{
            f"ctl-fitsio-{c.lower()}.fits": (img, {"compress": c})
            for c in ("RICE", "GZIP", "GZIP_2", "HCOMPRESS")
        },
    }
    files = {}
    for name, (data, kw) in writes.items():
        fitsio.write(str(work / name), data, **kw)
        files[name] = (work / name).read_bytes()
    return files
