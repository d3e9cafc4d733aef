"""FITS files for the independent content attack d: astropy's output (controls) and copies
patched where no reader looks (heap and table gaps, padding bits, PCOUNT of an image).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from tests.support.attack_dcontent_files import MARK

# ---------------------------------------------------------------- FITS


def _hdul(hdus: list) -> bytes:
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


def _cards(data: bytes, start: int) -> tuple[dict[bytes, bytes], dict[bytes, int], int]:
    """A header's values and card offsets, and where its data starts."""
    values: dict[bytes, bytes] = {}
    where: dict[bytes, int] = {}
    off = start
    while True:
        card = data[off : off + 80]
        key = card[:8].strip()
        values.setdefault(key, card[10:30].strip())
        where.setdefault(key, off)
        off += 80
        if key == b"END":
            return values, where, start + -(-(off - start) // 2880) * 2880


def _hdu_at(data: bytes, index: int) -> tuple[int, int, int]:
    """(header offset, data offset, data size) of HDU index (images and tables)."""
    off = 0
    for i in range(index + 1):
        values, _, start = _cards(data, off)
        n = int(values[b"NAXIS"])
        product = int(np.prod([int(values[b"NAXIS%d" % (k + 1)]) for k in range(n)])) if n else 0
        size = abs(int(values[b"BITPIX"])) // 8 * (product + int(values.get(b"PCOUNT", b"0")))
        if i == index:
            return off, start, size
        off = start + -(-size // 2880) * 2880
    raise AssertionError("unreachable")


def _set(data: bytes, header: int, key: bytes, value: int) -> bytes:
    _, where, _ = _cards(data, header)
    card = (key.ljust(8) + b"= " + str(value).encode().rjust(20)).ljust(80)
    return data[: where[key]] + card + data[where[key] + 80 :]


def _add(data: bytes, header: int, key: bytes, value: int) -> bytes:
    _, where, start = _cards(data, header)
    end = where[b"END"]
    assert end + 160 <= start, "no free card before the header's end"
    card = (key.ljust(8) + b"= " + str(value).encode().rjust(20)).ljust(80)
    return data[:end] + card + b"END".ljust(80) + data[end + 160 :]


def _redata(data: bytes, index: int, body: bytes, fill: bytes = b"\0") -> bytes:
    """HDU index's data section replaced by body, filled to 2880 again."""
    _, start, size = _hdu_at(data, index)
    end = start + -(-size // 2880) * 2880
    return data[:start] + body + fill * (-len(body) % 2880) + data[end:]


def fits_files() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    vla = _hdul(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="e", format="D", array=rng.normal(size=10)),
                    fits.Column(name="v", format="PJ()", array=[[1, 2], [3]] * 5),
                ]
            ),
        ]
    )
    ascii_t = _hdul(
        [
            fits.PrimaryHDU(),
            fits.TableHDU.from_columns(
                [
                    fits.Column(name="a", format="I5", array=np.arange(10)),
                    fits.Column(name="b", format="E12.4", array=rng.normal(size=10)),
                ]
            ),
        ]
    )
    ext = _hdul([fits.PrimaryHDU(), fits.ImageHDU(np.arange(20, dtype="i2"))])
    bits = _hdul(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="b", format="3X", array=np.array([[1, 0, 1]] * 4, dtype=bool)),
                    fits.Column(name="l", format="L", array=np.array([True, False, True, False])),
                ]
            ),
        ]
    )
    table = Table({"e": rng.normal(size=10) * u.GeV, "id": np.arange(10)}, meta={"RUN": 7})
    out, ecsv = io.BytesIO(), io.StringIO()
    table.write(out, format="fits")
    table.write(ecsv, format="ascii.ecsv")
    groups = fits.GroupData(
        rng.normal(size=(4, 1, 2, 2)).astype("f4"),
        parnames=["u", "v"],
        pardata=[rng.normal(size=4).astype("f4"), rng.normal(size=4).astype("f4")],
        bitpix=-32,
    )
    rice = fits.CompImageHDU(rng.integers(0, 100, (64, 64)).astype("i4"), compression_type="RICE_1")
    comment = fits.Header()
    comment["COMMENT"] = "<img src=x onerror=alert(1)>"
    return {
        "ctl-vla.fits": vla,
        "ctl-ascii-table.fits": ascii_t,
        "ctl-image-ext.fits": ext,
        "ctl-bits.fits": bits,
        "ctl-astropy-table.fits": out.getvalue(),
        "ctl-astropy-table.ecsv": ecsv.getvalue().encode(),
        "ctl-groups.fits": _groups(groups),
        "ctl-rice.fits": _hdul([fits.PrimaryHDU(), rice]),
        "fits-bit-padding.fits": _bit_padding(bits),
        "fits-logical-other.fits": _logical_other(bits),
        "fits-heap-unreferenced.fits": _heap_unreferenced(vla),
        "fits-theap-gap.fits": _theap_gap(vla),
        "fits-image-pcount.fits": _image_pcount(ext),
        "fits-second-pcount.fits": _second_card(ext, b"PCOUNT  =                   20", MARK[:40]),
        "fits-image-gcount2.fits": _second_card(ext, b"GCOUNT  =                    2", ext[-2880:][:40]),
        "fits-ascii-column-gap.fits": _ascii_gap(ascii_t),
        "fits-comment-markup.html": _hdul([fits.PrimaryHDU(np.arange(4, dtype="i2"), header=comment)]),
    }


def _heap_unreferenced(vla: bytes) -> bytes:
    """Bytes after the heap's last array, inside PCOUNT: no descriptor points there."""
    header, start, size = _hdu_at(vla, 1)
    values, _, _ = _cards(vla, header)
    patched = _redata(vla, 1, vla[start : start + size] + MARK)
    return _set(patched, header, b"PCOUNT", int(values[b"PCOUNT"]) + len(MARK))


def _groups(groups: fits.GroupData) -> bytes:
    """Random groups (astropy writes them to a path only: a BytesIO raises on its arrays)."""
    with tempfile.TemporaryDirectory() as where:
        fits.GroupsHDU(groups).writeto(Path(where) / "g.fits")
        return (Path(where) / "g.fits").read_bytes()


def _bit_padding(bits: bytes) -> bytes:
    """The 5 bits of each row's 3X byte that hold no bit of the column: set."""
    _, start, _ = _hdu_at(bits, 1)
    x = bytearray(bits)
    for row in range(4):
        x[start + 2 * row] |= 0x1F
    return bytes(x)


def _logical_other(bits: bytes) -> bytes:
    """Logical bytes other than T, F and 0 (astropy reads them as False: the byte is lost)."""
    _, start, _ = _hdu_at(bits, 1)
    x = bytearray(bits)
    x[start + 1], x[start + 3] = ord("Z"), ord("Q")
    return bytes(x)


def _theap_gap(vla: bytes) -> bytes:
    """THEAP moves the heap away from the table: the bytes between are in no column or array."""
    header, start, size = _hdu_at(vla, 1)
    values, _, _ = _cards(vla, header)
    table = int(values[b"NAXIS1"]) * int(values[b"NAXIS2"])
    body = vla[start : start + table] + MARK + vla[start + table : start + size]
    patched = _redata(vla, 1, body)
    patched = _set(patched, header, b"PCOUNT", int(values[b"PCOUNT"]) + len(MARK))
    return _add(patched, header, b"THEAP", table + len(MARK))


def _image_pcount(ext: bytes) -> bytes:
    """An IMAGE extension with PCOUNT > 0: the bytes after the image belong to no pixel."""
    header, start, size = _hdu_at(ext, 1)
    patched = _redata(ext, 1, ext[start : start + size] + MARK[:40])
    return _set(patched, header, b"PCOUNT", 20)  # BITPIX 16: 20 x 2 bytes


def _second_card(ext: bytes, card: bytes, more: bytes) -> bytes:
    """A card added before END (a second PCOUNT, a GCOUNT) that would make more bytes data;
    the bytes follow the image (controls: refused)."""
    header, start, size = _hdu_at(ext, 1)
    patched = _redata(ext, 1, ext[start : start + size] + more)
    _, where, _ = _cards(patched, header)
    end = where[b"END"]
    return patched[:end] + card.ljust(80) + b"END".ljust(80) + patched[end + 160 :]


def _ascii_gap(table: bytes) -> bytes:
    """An ASCII table whose TBCOL2 leaves 8 columns of each row to no field."""
    header, start, size = _hdu_at(table, 1)
    values, _, _ = _cards(table, header)
    width, rows, col2 = int(values[b"NAXIS1"]), int(values[b"NAXIS2"]), int(values[b"TBCOL2"]) - 1
    body = b"".join(
        table[start + r * width : start + r * width + col2]
        + MARK[:8]
        + table[start + r * width + col2 : start + (r + 1) * width]
        for r in range(rows)
    )
    patched = _redata(table, 1, body, fill=b" ")
    patched = _set(patched, header, b"NAXIS1", width + 8)
    return _set(patched, header, b"TBCOL2", col2 + 9)
