"""FITS files for the table and tile tests (test_fits_tables.py, test_fits_tiles.py):
real astropy output of every column type, variable-length arrays, ASCII tables and
tile-compressed images, and the patching helpers that turn them into hostile copies."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table

from tests.support.attack_dcontent_fits import _cards, _hdu_at, _set
from vmguard.quarantine.validators import Invalid, Stream
from vmguard.quarantine.validators import fits as fitsv


def check(data: bytes, size: int = 4096) -> str:
    return fitsv.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))


def check_or_none(data: bytes) -> str | None:
    """The refusal's message, or None when the file passes."""
    try:
        check(data)
    except Invalid as err:
        return str(err)
    return None


def write(*hdus) -> bytes:  # noqa: ANN002
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(out)
    return out.getvalue()


def table_at(data: bytes, index: int = 1) -> tuple[int, int, int, int]:
    """(data offset, NAXIS1, NAXIS2, PCOUNT) of a table HDU."""
    header, start, _ = _hdu_at(data, index)
    values, _, _ = _cards(data, header)
    return start, int(values[b"NAXIS1"]), int(values[b"NAXIS2"]), int(values[b"PCOUNT"])


def patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def string_card(data: bytes, header: int, key: bytes, text: str) -> bytes:
    _, where, _ = _cards(data, header)
    card = (key.ljust(8) + b"= " + f"'{text:<8}'".encode()).ljust(80)
    return data[: where[key]] + card + data[where[key] + 80 :]


def with_tiles(data: bytes, tiles: list[bytes], element: int = 1) -> bytes:
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


def tiles_of(data: bytes, element: int = 1) -> list[bytes]:
    start, naxis1, rows, _ = table_at(data)
    heap = start + rows * naxis1
    descs = [struct.unpack(">ii", data[start + r * naxis1 : start + r * naxis1 + 8]) for r in range(rows)]
    return [data[heap + o : heap + o + c * element] for c, o in descs]


RNG = np.random.default_rng(31)


def every_column() -> bytes:
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
    return write(fits.BinTableHDU.from_columns(cols))


def compressed() -> dict[str, bytes]:
    ints = RNG.integers(0, 1000, (40, 50)).astype("i2")
    floats = RNG.normal(size=(40, 50)).astype("f4")
    out = {}
    for kind in ("RICE_1", "GZIP_1", "GZIP_2", "PLIO_1", "HCOMPRESS_1"):
        image = ints.clip(0, 1000) if kind == "PLIO_1" else ints
        out[f"{kind}-int"] = write(fits.CompImageHDU(image, compression_type=kind))
    for kind in ("RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1"):
        out[f"{kind}-float"] = write(fits.CompImageHDU(floats, compression_type=kind))
    for kind in ("GZIP_1", "RICE_1"):  # edge tiles: 40 x 50 in tiles of 16 x 16
        out[f"{kind}-edge-tiles"] = write(fits.CompImageHDU(ints, compression_type=kind, tile_shape=(16, 16)))
    for dtype in ("f4", "f8"):  # a constant row is no noise to quantize: a raw GZIP_COMPRESSED_DATA tile
        image = RNG.normal(size=(20, 30)).astype(dtype)
        image[3] = 7.0
        out[f"RICE_1-{dtype}-constant-row"] = write(fits.CompImageHDU(image, compression_type="RICE_1"))
    out["GZIP_1-lossless-float"] = write(
        fits.CompImageHDU(floats, compression_type="GZIP_1", quantize_level=0)
    )
    return out


def astropy_table() -> bytes:
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


def controls() -> dict[str, bytes]:
    ascii_cols = [
        fits.Column(name="a", format="A4", array=["ab", "cdef", "", "g"]),
        fits.Column(name="i", format="I6", array=[1, -20, 300, 4]),
        fits.Column(name="f", format="F9.3", array=[1.5, 2.25, -3.0, 0.001]),
        fits.Column(name="e", format="E13.5", array=[1e-3, 2e5, -3.0, 7.0]),
        fits.Column(name="d", format="D25.17", array=[1.0, 2.0, 3.0, 4.0]),
    ]
    return {
        "every-column": every_column(),
        "astropy-table": astropy_table(),
        "ascii": write(fits.TableHDU.from_columns(ascii_cols)),
        "empty-table": write(fits.BinTableHDU.from_columns([fits.Column(name="v", format="PJ()", array=[])])),
        "all-empty-arrays": write(
            fits.BinTableHDU.from_columns([fits.Column(name="v", format="PJ()", array=[[], [], []])])
        ),
        "image-and-table": write(
            fits.ImageHDU(RNG.normal(size=(30, 40))),
            fits.BinTableHDU.from_columns([fits.Column(name="y", format="D", array=RNG.normal(size=500))]),
        ),
        **compressed(),
    }


CONTROLS = controls()
