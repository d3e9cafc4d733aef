"""Attack o content (session 39): FITS scaling cards that astropy and cfitsio read apart.

Every hostile file is astropy's own plain file with one card put before END: a card
the validator's spelling rule lets through because it names no keyword the validator
reads (BSCALE, BZERO, TSCALn, TZEROn are none of them), spelled so that one reader takes
it as the scaling keyword and the other does not: one file, two images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from astropy.io import fits

BLOCK = 2880


def _with_card(raw: bytes, header_at: int, card: str) -> bytes:
    """`raw` with `card` as the last card before END of the header at `header_at`."""
    out = bytearray(raw)
    block = out[header_at : header_at + BLOCK].decode("ascii")
    cards = [block[i : i + 80] for i in range(0, BLOCK, 80)]
    end = next(i for i, c in enumerate(cards) if c.startswith("END "))
    assert not cards[-1].strip()  # room left in the block: the file's size is unchanged
    cards.insert(end, card.ljust(80))
    cards.pop()
    out[header_at : header_at + BLOCK] = "".join(cards).encode("ascii")
    return bytes(out)


def plain_image() -> bytes:
    out = io.BytesIO()
    fits.PrimaryHDU(np.arange(6, dtype=np.int16).reshape(2, 3)).writeto(out)
    return out.getvalue()


def plain_table() -> bytes:
    out = io.BytesIO()
    column = fits.Column(name="v", format="J", array=np.arange(3, dtype=np.int32))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([column])]).writeto(out)
    return out.getvalue()


# name: (card, hdu, column): the image cards cfitsio scales by and astropy ignores
# (astropy wants '= ' in columns 9-10 and files HIERARCH BSCALE under the header only);
# the table cards astropy scales by (a HIERARCH card is filed under its name) and
# cfitsio reads otherwise
CARDS = {
    "fits-o-bscale-no-space.fits": ("BSCALE  =2.0", 0, None),
    "fits-o-bscale-column-10.fits": ("BSCALE   = 2.0", 0, None),
    "fits-o-bzero-no-space.fits": ("BZERO   =100", 0, None),
    "fits-o-hierarch-bscale.fits": ("HIERARCH BSCALE = 2.0", 0, None),
    "fits-o-hierarch-bzero.fits": ("HIERARCH BZERO = 100", 0, None),
    "fits-o-hierarch-tscal1.fits": ("HIERARCH TSCAL1 = 2.0", 1, "v"),
    "fits-o-hierarch-tzero1.fits": ("HIERARCH TZERO1 = 7", 1, "v"),
}


# name: card: a value astropy cannot parse (fits.open fails: "Empty or corrupt FITS file")
# and cfitsio reads, scaling by its first number; the validator reads no BSCALE
UNREADABLE = {
    "fits-o-bscale-trailing-number.fits": "BSCALE  = 2.0 2",
    "fits-o-bscale-spaced-numbers.fits": "BSCALE  =        2.0     3",
}


def unreadable() -> dict[str, bytes]:
    return {name: _with_card(plain_image(), 0, card) for name, card in UNREADABLE.items()}


def plain(name: str) -> bytes:
    return plain_image() if CARDS[name][1] == 0 else plain_table()


def hostile() -> dict[str, bytes]:
    return {name: _with_card(plain(name), hdu * BLOCK, card) for name, (card, hdu, _) in CARDS.items()}


def astropy_values(data: bytes, hdu: int, column: str | None) -> np.ndarray:
    with fits.open(io.BytesIO(data)) as f:
        values = f[hdu].data if column is None else f[hdu].data[column]
        return np.array(values, dtype=float).ravel()


def controls(made: Path) -> dict[str, bytes]:
    """astropy's own output: string columns (fixed and variable-length), headers
    updated in place with HISTORY, COMMENT, HIERARCH and long (CONTINUE) strings."""
    files = {}
    strings = fits.Column(name="name", format="12A", array=np.array([b"alpha", b"beta gamma", b""]))
    numbers = fits.Column(name="flux", format="E", array=np.array([1.5, -2.0, 3.25], dtype=np.float32))
    varlen = fits.Column(name="tags", format="PA()", array=np.array([b"a", b"bcd", b""], dtype=object))
    ints = fits.Column(name="hits", format="PJ()", array=[np.arange(n, dtype=np.int32) for n in (0, 2, 5)])
    for name, cols in (
        ("ctl-o-string-table.fits", [strings, numbers]),
        ("ctl-o-varlen-table.fits", [varlen, ints, strings]),
    ):
        out = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(out)
        files[name] = out.getvalue()
    from astropy.table import Table

    out = io.BytesIO()
    Table({"obj": ["M31", "NGC 1300"], "z": [0.001, 0.005]}).write(out, format="fits")
    files["ctl-o-astropy-table.fits"] = out.getvalue()
    made.mkdir(parents=True, exist_ok=True)
    path = made / "updated.fits"
    path.write_bytes(plain_image())
    with fits.open(path, mode="update") as f:
        h = f[0].header
        h["OBSERVER"] = "A. Person"
        h["HIERARCH ESO DET CHIP NAME"] = "CCD-42"
        h["LONGSTR"] = "a long string value " * 6
        h.add_history("flat-fielded by pipeline 2.1")
        h.add_comment("updated in place")
        h["BSCALE"] = 1.0
        h["BZERO"] = 0.0
    files["ctl-o-updated-header.fits"] = path.read_bytes()
    return files


def fitsio_controls(made: Path) -> dict[str, bytes]:
    """cfitsio's own output through fitsio (empty where fitsio is not installed): images
    (plain, RICE and GZIP tiles), tables (binary, ASCII, variable-length, rows appended to
    one with variable-length columns: fitsio's append), a header updated in place."""
    try:
        import fitsio
    except ImportError:
        return {}
    made.mkdir(parents=True, exist_ok=True)
    rows = np.zeros(3, dtype=[("name", "S10"), ("x", "f8"), ("n", "i4")])
    rows["name"], rows["x"], rows["n"] = [b"a", b"bcd", b""], [1.0, 2.5, -3.0], [1, 2, 3]
    arrays = np.zeros(3, dtype=[("v", "O"), ("s", "O")])
    arrays["v"] = [np.arange(n, dtype="f8") for n in (2, 0, 5)]
    arrays["s"] = ["ab", "cdef", ""]
    noise = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)

    def update(path: str) -> None:
        fitsio.write(path, rows)
        with fitsio.FITS(path, "rw") as f:
            f[1].write_key("OBSERVER", "someone", comment="who")
            f[1].write_history("processed")
            f[1].write_comment("a comment")
            f[1].write_key("LONGSTR", "x" * 120)
            f[0].write_key("DATE-OBS", "2026-12-06")

    def append(path: str) -> None:
        fitsio.write(path, arrays)
        with fitsio.FITS(path, "rw") as f:
            f[-1].append(arrays)

    def rewrite(path: str) -> None:
        fitsio.write(path, arrays)
        new = arrays.copy()
        new["v"] = [np.arange(n, dtype="f8") * 2 for n in (1, 3, 2)]
        new["s"] = ["z", "yy", "xxx"]
        with fitsio.FITS(path, "rw") as f:
            f[1].write(new, firstrow=0)

    def append_fixed(path: str) -> None:
        fitsio.write(path, rows)
        with fitsio.FITS(path, "rw") as f:
            f[-1].append(rows)

    def insert_column(path: str) -> None:
        fitsio.write(path, rows)
        with fitsio.FITS(path, "rw") as f:
            f[-1].insert_column("y", np.arange(3, dtype="i4"))

    def extensions(path: str) -> None:
        fitsio.write(path, np.arange(100, dtype="f4").reshape(10, 10))
        fitsio.write(path, rows)
        fitsio.write(path, arrays)

    def overwrite(path: str) -> None:
        fitsio.write(path, np.arange(100, dtype="i2").reshape(10, 10))
        with fitsio.FITS(path, "rw") as f:
            f[0].write(np.arange(100, dtype="i2").reshape(10, 10) * 3)

    writers = {
        "ctl-o-fitsio-image.fits": lambda p: fitsio.write(
            p, np.arange(12, dtype=np.float32).reshape(3, 4), header={"OBSERVER": "me"}
        ),
        "ctl-o-fitsio-rice.fits": lambda p: fitsio.write(
            p, np.arange(10000, dtype=np.int32).reshape(100, 100), compress="rice"
        ),
        "ctl-o-fitsio-gzip.fits": lambda p: fitsio.write(p, noise, compress="gzip"),
        "ctl-o-fitsio-table.fits": lambda p: fitsio.write(p, rows),
        "ctl-o-fitsio-ascii-table.fits": lambda p: fitsio.write(p, rows, table_type="ascii"),
        "ctl-o-fitsio-varlen.fits": lambda p: fitsio.write(p, arrays),
        "ctl-o-fitsio-varlen-appended.fits": append,
        "ctl-o-fitsio-updated.fits": update,
        "ctl-o-fitsio-varlen-rewritten.fits": rewrite,
        "ctl-o-fitsio-appended.fits": append_fixed,
        "ctl-o-fitsio-column-inserted.fits": insert_column,
        "ctl-o-fitsio-extensions.fits": extensions,
        "ctl-o-fitsio-image-overwritten.fits": overwrite,
    }
    files = {}
    for name, write in writers.items():
        path = made / name
        path.unlink(missing_ok=True)
        write(str(path))
        files[name] = path.read_bytes()
    return files


def astropy_varlen_updated(made: Path) -> dict[str, bytes]:
    """A variable-length column's array changed in place with fits.open(mode='update')."""
    made.mkdir(parents=True, exist_ok=True)
    path = made / "varlen-updated.fits"
    column = fits.Column(name="v", format="PD()", array=[np.arange(n, dtype="f8") for n in (2, 0, 5)])
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([column])]).writeto(path, overwrite=True)
    with fits.open(path, mode="update") as f:
        f[1].data["v"][0] = np.arange(2, dtype="f8") + 100
    return {"ctl-o-astropy-varlen-updated.fits": path.read_bytes()}


def heap_use(data: bytes) -> tuple[int, int, set[int]]:
    """(PCOUNT, the bytes HDU 1's P descriptors point to, their starts) from the raw rows:
    whether every heap byte is some array's (nothing stale, only the order unusual)."""
    sizes = {"D": 8, "E": 4, "J": 4, "K": 8, "I": 2, "A": 1, "B": 1, "L": 1}
    with fits.open(io.BytesIO(data)) as f:
        header, start = f[1].header, f[1]._data_offset
    kinds = [header[f"TFORM{n + 1}"].lstrip("0123456789") for n in range(header["TFIELDS"])]
    assert all(k.startswith("P") for k in kinds)
    rows = np.frombuffer(data, ">i4", header["NAXIS2"] * 2 * len(kinds), start).reshape(
        header["NAXIS2"], len(kinds), 2
    )
    used = sum(int(rows[r, c, 0]) * sizes[k[1]] for r in range(len(rows)) for c, k in enumerate(kinds))
    return header["PCOUNT"], used, {int(o) for o in rows[:, :, 1].ravel()}


def extname_continued() -> bytes:
    """EXTNAME 'SCI&' then CONTINUE 'X': astropy names the HDU SCIX (its long-string
    convention), cfitsio SCI& (fits_movnam_hdu reads the one card); astropy itself
    splits a string only past 68 characters, so no writer writes this pair."""
    table = plain_table()
    return _with_card(_with_card(table, BLOCK, "EXTNAME = 'SCI&'"), BLOCK, "CONTINUE  'X'")
