"""Attack p content (session 39): hostile FITS, tar and JSON bytes, forged by hand from
real tool output (fitsio, tarfile), one field or card changed.

Each case: what one reader shows that another does not, or bytes no reader shows.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np

SHOWN = b"x,y\n1,2\n"


# --- FITS: tile-compression keywords neither the rules nor the "acted on" list hold ---


def quantized(path: Path) -> bytes:
    """fitsio's RICE-compressed float image, quantized with SUBTRACTIVE_DITHER_1: its
    header holds ZQUANTIZ and ZDITHER0, which both readers act on to restore the floats."""
    import fitsio

    rng = np.random.default_rng(1)
    image = rng.normal(100, 5, (20, 20)).astype("f4")
    fitsio.write(str(path), image, compress="rice", qlevel=4, qmethod="SUBTRACTIVE_DITHER_1", clobber=True)
    return path.read_bytes()


def _card(text: str) -> bytes:
    assert len(text) <= 80
    return text.ljust(80).encode()


def _recard(data: bytes, keyword: str, card: bytes) -> bytes:
    """The file with its one `keyword` card (columns 1-8) replaced by `card` (same size)."""
    at = [i for i in range(0, len(data), 80) if data[i : i + 8] == keyword.ljust(8).encode()]
    assert len(at) == 1, keyword
    return data[: at[0]] + card + data[at[0] + 80 :]


def compressed_int(path: Path) -> bytes:
    """fitsio's RICE-compressed int16 image (no quantization: no ZSCALE, ZZERO, ZBLANK)."""
    import fitsio

    fitsio.write(str(path), np.arange(400, dtype="i2").reshape(20, 20), compress="rice", clobber=True)
    return path.read_bytes()


def _before_end(data: bytes, card: bytes) -> bytes:
    """`card` put before the compressed HDU's END (END moves one card into the blank fill)."""
    end = next(i for i in range(2880, len(data), 80) if data[i : i + 8] == b"END     ")
    assert data[end + 80 : end + 160] == b" " * 80
    return data[:end] + card + data[end : end + 80] + data[end + 160 :]


def _after(data: bytes, keyword: str, card: bytes) -> bytes:
    """`card` put right after the `keyword` card (the cards after it move one down)."""
    at = next(i for i in range(0, len(data), 80) if data[i : i + 8] == keyword.ljust(8).encode())
    end = next(i for i in range(at, len(data), 80) if data[i : i + 8] == b"END     ")
    assert data[end + 80 : end + 160] == b" " * 80
    return data[: at + 80] + card + data[at + 80 : end + 80] + data[end + 160 :]


def _respell(keyword: str, text: str):
    return lambda data: _recard(data, keyword, _card(text))


def _add(*texts: str):
    def edit(data: bytes) -> bytes:
        for text in texts:
            data = _before_end(data, _card(text))
        return data

    return edit


def _continued(data: bytes) -> bytes:
    return _after(
        _recard(data, "ZQUANTIZ", _card("ZQUANTIZ= 'NO_DITHER&'")), "ZQUANTIZ", _card("CONTINUE  ''")
    )


# name: (the plain file, "float" (quantized) or "int", the edit). ZDITHER0 chooses the
# dither sequence, ZQUANTIZ whether there is one: other floats from the same integers;
# ZSCALE, ZZERO and ZBLANK as keywords scale or blank the whole image (cfitsio or astropy)
CARDS = {
    "fits-p-zdither0-noblank.fits": ("float", _respell("ZDITHER0", "ZDITHER0=7")),
    "fits-p-zdither0-float.fits": ("float", _respell("ZDITHER0", "ZDITHER0=                  7.5")),
    "fits-p-zdither0-hierarch.fits": ("float", _respell("ZDITHER0", "HIERARCH ZDITHER0 = 7")),
    "fits-p-zquantiz-noblank.fits": ("float", _respell("ZQUANTIZ", "ZQUANTIZ='NO_DITHER'")),
    "fits-p-zquantiz-hierarch.fits": ("float", _respell("ZQUANTIZ", "HIERARCH ZQUANTIZ = 'NO_DITHER'")),
    "fits-p-zquantiz-continued.fits": ("float", _continued),
    "fits-p-zdither0-twice.fits": ("float", _add("ZDITHER0=                    7")),
    "fits-p-zscale-zzero.fits": (
        "int",
        _add("ZSCALE  =                  2.0", "ZZERO   =                100.0"),
    ),
    "fits-p-zblank.fits": ("int", _add("ZBLANK  =                    5")),
}


def astropy_table() -> bytes:
    """astropy's binary table of a string (3A), a bit (8X) and a logical (L) column."""
    from astropy.io import fits

    bits = np.array([[1, 0, 1, 0, 0, 0, 0, 0], [0] * 8], dtype=bool)
    cols = [fits.Column(name="s", format="3A", array=np.array(["ab", "cde"])),
            fits.Column(name="x", format="8X", array=bits),
            fits.Column(name="b", format="L", array=np.array([True, False]))]  # fmt: skip
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buf)
    return buf.getvalue()


# TZEROn and TSCALn (listed, spelled as the rule holds them) on columns the standard
# gives no scaling: astropy ignores them, cfitsio (fitsio) acts on them
TABLE_CARDS = {
    "fits-p-tzero-string.fits": "TZERO1  =                   10",
    "fits-p-tzero-bits.fits": "TZERO2  =                   10",
    "fits-p-tzero-logical.fits": "TZERO3  =                    1",
    "fits-p-tscal-logical.fits": "TSCAL3  =                  2.0",
}


def table_hostile(plain: bytes) -> dict[str, bytes]:
    return {name: _before_end(plain, _card(text)) for name, text in TABLE_CARDS.items()}


def fits_hostile(plain: dict[str, bytes]) -> dict[str, bytes]:
    """Each case: fitsio's plain compressed image (`plain["float"]` or `plain["int"]`)
    with one tile-compression card respelled in place or cards added (same size)."""
    return {name: edit(plain[kind]) for name, (kind, edit) in CARDS.items()}


# --- tar ---


def _tar(members, fmt=tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for info, data in members:
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _checksum(raw: bytearray, at: int = 0) -> None:
    raw[at + 148 : at + 156] = b" " * 8
    raw[at + 148 : at + 156] = b"%06o\0 " % sum(raw[at : at + 512])


def _info(name: str, mtime: float = 1733443200, uid: int = 1000) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid = mtime, uid, uid
    return info


def tar_mtime_rounding_mixed() -> bytes:
    """tarfile's pax archive of two members dated 1733443200.7: tarfile writes the header
    mtime rounded (1733443201) behind each record; the second's is made GNU tar's
    truncation (1733443200): each member chooses a writer, a bit no reader shows (every
    reader takes the pax record)."""
    raw = bytearray(_tar([(_info("a.csv", 1733443200.7), SHOWN), (_info("b.csv", 1733443200.7), SHOWN)],
                         tarfile.PAX_FORMAT))  # fmt: skip
    heads = [
        i for i in range(0, len(raw), 512) if raw[i + 257 : i + 262] == b"ustar" and raw[i + 156] == ord("0")
    ]
    assert len(heads) == 2 and raw[heads[1] + 136 : heads[1] + 148] == b"%011o\0" % 1733443201
    raw[heads[1] + 136 : heads[1] + 148] = b"%011o\0" % 1733443200
    _checksum(raw, heads[1])
    return bytes(raw)


def tar_pax_writers_mixed(work: Path) -> bytes | None:
    """tarfile's pax member `a.csv` then GNU tar's pax member `b.csv` (its
    `./PaxHeaders/b.csv` header, mode 0644 and mtime, atime and ctime records), both
    dated x.7; GNU tar's member device fields made tarfile's empty ones (the rule holds
    them alike): each member's extended header a writer's choice, every reader shows the
    two members as written."""
    import shutil
    import subprocess

    if not shutil.which("tar"):
        return None
    work.mkdir(parents=True, exist_ok=True)
    (work / "b.csv").write_bytes(SHOWN)
    os.utime(work / "b.csv", (1733443200.7, 1733443200.7))
    subprocess.run(["tar", "--format=pax", "--owner=:1000", "--group=:1000", "-cf", "g.tar", "b.csv"],
                   cwd=work, check=True)  # fmt: skip
    gnu = bytearray((work / "g.tar").read_bytes())
    assert gnu[:18] == b"./PaxHeaders/b.csv" and gnu[1024:1029] == b"b.csv"
    gnu[1024 + 329 : 1024 + 345] = bytes(16)
    _checksum(gnu, 1024)
    first = _tar([(_info("a.csv", 1733443200.7), SHOWN)], tarfile.PAX_FORMAT)
    assert first[:14] == b"././@PaxHeader"
    return first[:2048] + bytes(gnu[:2048]) + bytes(1024)


LONG = "a" * 40 + "/" + "b" * 40 + "/" + "c" * 40 + "/d.csv"  # 127 bytes: three ustar splits


def tar_prefix_split(prefix_len: int = 81) -> bytes:
    """tarfile's ustar member named LONG (prefix 'aaa...', the shortest prefix that fits;
    GNU tar writes the longest, 'aaa.../bbb.../ccc...') respelled with the split at the
    middle slash: every reader joins prefix/name to LONG, no writer splits there (a
    choice among a path's slashes, a few bits a member)."""
    raw = bytearray(_tar([(_info(LONG), SHOWN)], tarfile.USTAR_FORMAT))
    assert raw[345:500].rstrip(b"\0") == LONG[:40].encode()
    raw[0:100] = LONG[prefix_len + 1 :].encode().ljust(100, b"\0")
    raw[345:500] = LONG[:prefix_len].encode().ljust(155, b"\0")
    _checksum(raw)
    return bytes(raw)


def _base256(n: int, width: int) -> bytes:
    return bytes([0x80]) + n.to_bytes(width - 1, "big")


def tar_base256_small(field: str) -> bytes:
    """tarfile's GNU member with its uid (or mtime) respelled in base-256 though octal
    holds it (1000, 1733443200): tarfile and GNU tar read the same number, neither
    writes it so; the spelling is a free bit a field."""
    raw = bytearray(_tar([(_info("a.csv"), SHOWN)]))
    at, width, value = {"uid": (108, 8, 1000), "mtime": (136, 12, 1733443200)}[field]
    assert int(raw[at : at + width - 1], 8) == value
    raw[at : at + width] = _base256(value, width)
    _checksum(raw)
    return bytes(raw)


def tar_uid_negative() -> bytes:
    """tarfile's GNU member with uid -2 (tarfile writes it so, 0xff then two's
    complement: as 32-bit nfsnobody, 4294967294, reads): tarfile shows -2, GNU tar
    refuses the value (out of uid_t range) and gives the member its own uid."""
    return _tar([(_info("a.csv", uid=-2), SHOWN)])


def tar_size_negative() -> bytes:
    """A GNU member whose size is base-256 -1 (0xff ... ff) and no data: tarfile reads a
    size of -1, GNU tar refuses the archive."""
    raw = bytearray(_tar([(_info("a.csv"), b"")]))
    raw[124:136] = b"\xff" * 12
    _checksum(raw)
    return bytes(raw)


def tar_hostile() -> dict[str, bytes]:
    return {
        "tar-p-mtime-rounding-mixed.tar": tar_mtime_rounding_mixed(),
        "tar-p-base256-small-uid.tar": tar_base256_small("uid"),
        "tar-p-base256-small-mtime.tar": tar_base256_small("mtime"),
        "tar-p-uid-negative.tar": tar_uid_negative(),
        "tar-p-size-negative.tar": tar_size_negative(),
        "tar-p-prefix-split-middle.tar": tar_prefix_split(),
    }


# --- JSON ---


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def json_deep() -> dict[str, bytes]:
    """Arrays nested 999 and 300 deep (under the json row's 1000 levels): json.loads
    raises RecursionError on the first, jq 1.6 stops at depth 257 on both."""
    return {"json-p-deep-999.json": nested(999), "json-p-deep-300.json": nested(300)}


HALFWAY = 2**1024 - 2**970  # rounds (to even) to 2**1024: inf to strtod and JavaScript


def json_refused() -> dict[str, bytes]:
    """Hostile JSON the rows refuse (kept so they stay refused): the integer halfway past
    the largest double (JSON.parse: Infinity; jq 1.6: 1.7976931348623157e+308;
    json.loads: the integer), its negative, and the keys "\\ufffd\\ufffd" and
    "\\udc00\\udc00" in one object (jq 1.6 reads the second as the first: one key)."""
    return {
        "json-p-int-halfway.json": b"[%d]" % HALFWAY,
        "json-p-int-halfway-negative.json": b"[%d]" % -HALFWAY,
        "json-p-two-lone-lows.json": b'{"\\ufffd\\ufffd":"shown","\\udc00\\udc00":"hidden"}',
    }
