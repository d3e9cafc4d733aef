"""Attack p content (session 39): ordinary output of real tools (no hand edits) for the
claims the hostile cases attack: astropy's and fitsio's scaled, compressed and named
HDUs; JSON numbers from json, orjson and pandas; tar archives from GNU tar, bsdtar and
tarfile with an Active Directory uid and dates before 1970."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import warnings
from pathlib import Path

import numpy as np

ROWS = b"x,y\n1,2\n3,4\n"
AD_UID = 1846201104  # SSSD's id mapping of an Active Directory user (over 07777777)
OLD = -86400 * 365  # 1969-01-01


def astropy_controls() -> dict[str, bytes]:
    from astropy.io import fits

    out = {}
    raw = np.arange(12, dtype="f8").reshape(3, 4) * 0.5 + 10
    hdu = fits.PrimaryHDU(raw)
    hdu.scale("int16", bscale=0.5, bzero=10)  # BSCALE, BZERO written by astropy
    out["ctl-p-astropy-scaled.fits"] = _bytes(fits.HDUList([hdu]))
    unsigned = fits.PrimaryHDU(np.arange(8, dtype="u8").reshape(2, 4))  # BZERO 9223372036854775808
    out["ctl-p-astropy-uint64.fits"] = _bytes(fits.HDUList([unsigned]))
    blank = fits.PrimaryHDU(np.array([[1, 2], [3, -32768]], dtype="i2"))
    blank.header["BLANK"] = -32768
    named = fits.ImageHDU(np.arange(6, dtype=">u2").reshape(2, 3), name="SCI", ver=2)
    named.header["EXTLEVEL"] = 1
    named.header["INHERIT"] = True
    out["ctl-p-astropy-blank-named.fits"] = _bytes(fits.HDUList([blank, named]))
    cols = [fits.Column(name="flux", format="I", bzero=32768, array=np.array([0, 1, 65535], "u2")),
            fits.Column(name="n", format="J", null=-1, array=np.array([1, -1, 3])),
            fits.Column(name="m", format="6E", dim="(3,2)", array=np.ones((3, 2, 3), "f4"))]  # fmt: skip
    table = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    out["ctl-p-astropy-scaled-table.fits"] = _bytes(fits.HDUList([fits.PrimaryHDU(), table]))
    image = np.random.default_rng(2).normal(50, 3, (32, 32)).astype("f4")
    for kind in ("RICE_1", "GZIP_2"):
        comp = fits.CompImageHDU(image, compression_type=kind, name="COMP")
        out[f"ctl-p-astropy-{kind.lower()}.fits"] = _bytes(fits.HDUList([fits.PrimaryHDU(), comp]))
    return out


def _bytes(hdul) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul.writeto(buf)
    return buf.getvalue()


def fitsio_controls(work: Path) -> dict[str, bytes]:
    try:
        import fitsio
    except ImportError:
        return {}
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    image = np.random.default_rng(1).normal(100, 5, (20, 20)).astype("f4")
    cases = {
        "ctl-p-fitsio-dither1.fits": dict(compress="rice", qlevel=4, qmethod="SUBTRACTIVE_DITHER_1"),
        "ctl-p-fitsio-dither2.fits": dict(compress="rice", qlevel=4, qmethod="SUBTRACTIVE_DITHER_2"),
        "ctl-p-fitsio-nodither.fits": dict(compress="gzip", qlevel=8, qmethod="NO_DITHER"),
    }
    for name, kw in cases.items():
        fitsio.write(str(work / name), image, clobber=True, extname="SCI", **kw)
        out[name] = (work / name).read_bytes()
    uint = work / "u.fits"
    fitsio.write(str(uint), np.arange(6, dtype="u2").reshape(2, 3), clobber=True, extname="RAW", extver=3)
    out["ctl-p-fitsio-uint16.fits"] = uint.read_bytes()
    return out


def json_controls() -> dict[str, bytes]:
    doc = {"big": 2**64 + 1, "neg": -(2**70), "zero": -0.0, "max": 1.7976931348623157e308, "tiny": 5e-324,
           "e": 1e22, "deep": [[[[[1]]]]]}  # fmt: skip
    out = {"ctl-p-json-numbers.json": json.dumps(doc).encode(),
           "ctl-p-json-numbers-indent.json": json.dumps(doc, indent=2).encode()}  # fmt: skip
    try:
        import orjson

        out["ctl-p-orjson-numbers.json"] = orjson.dumps({"i": 2**63 - 1, "f": [-0.0, 1e-7, 1.5e300]})
    except ImportError:
        pass
    import pandas as pd

    frame = pd.DataFrame({"a": [1e-300, 1.7e308, -0.0], "b": [2**53 + 1, -(2**62), 0]})
    out["ctl-p-pandas-split.json"] = frame.to_json(orient="split").encode()
    out["ctl-p-pandas-records.json"] = frame.to_json(orient="records", double_precision=15).encode()
    return out


def _tarinfo(name: str, uid: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid, info.mtime = len(ROWS), 0o644, uid, uid, mtime
    return info


def tar_controls(work: Path) -> dict[str, bytes]:
    out = {}
    for fmt, label in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
            t.addfile(_tarinfo("ad.csv", AD_UID, 1733443200), io.BytesIO(ROWS))
            t.addfile(_tarinfo("old.csv", 1000, OLD), io.BytesIO(ROWS))
        out[f"ctl-p-tarfile-{label}-ad-old.tar"] = buf.getvalue()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.addfile(_tarinfo(LONG, 1000, 1733443200), io.BytesIO(ROWS))
    out["ctl-p-tarfile-ustar-long.tar"] = buf.getvalue()
    return out | _tool_tars(work) | _gnu_long(work / "long")


LONG = "a" * 40 + "/" + "b" * 40 + "/" + "c" * 40 + "/d.csv"


def _gnu_long(work: Path) -> dict[str, bytes]:
    """GNU tar's ustar and posix archives of a 127-byte path (split prefix/name)."""
    if not shutil.which("tar"):
        return {}
    (work / LONG).parent.mkdir(parents=True, exist_ok=True)
    (work / LONG).write_bytes(ROWS)
    out = {}
    for fmt in ("ustar", "posix"):
        subprocess.run(["tar", f"--format={fmt}", "-cf", f"{fmt}.tar", LONG], cwd=work, check=True)
        out[f"ctl-p-gnutar-{fmt}-long.tar"] = (work / f"{fmt}.tar").read_bytes()
    return out


def _tool_tars(work: Path) -> dict[str, bytes]:
    """GNU tar and bsdtar, run as root, with --owner/--mtime: members owned by an AD uid
    and one dated 1969 (written in base-256 by GNU tar's gnu format)."""
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "ad.csv").write_bytes(ROWS)
    (src / "old.csv").write_bytes(ROWS)
    os.utime(src / "old.csv", (OLD, OLD))
    os.utime(src / "ad.csv", (1733443200, 1733443200))
    runs = {}
    if shutil.which("tar"):
        for fmt in ("gnu", "oldgnu", "pax", "posix"):
            runs[f"ctl-p-gnutar-{fmt}-ad-old.tar"] = ["tar", f"--format={fmt}", f"--owner=:{AD_UID}",
                                                      f"--group=:{AD_UID}", "-cf"]  # fmt: skip
    if shutil.which("bsdtar"):
        runs["ctl-p-bsdtar-gnutar-ad.tar"] = ["bsdtar", "--format=gnutar", "--uid", str(AD_UID), "--gid",
                                              str(AD_UID), "-cf"]  # fmt: skip
        runs["ctl-p-bsdtar-pax-ad.tar"] = ["bsdtar", "--format=pax", "--uid", str(AD_UID), "--gid", str(AD_UID),
                                           "-cf"]  # fmt: skip
        runs["ctl-p-bsdtar-default.tar"] = ["bsdtar", "-cf"]  # macOS's tar: restricted pax, ustar headers
    out = {}
    for name, cmd in runs.items():
        proc = subprocess.run(
            [*cmd, str(work / name), "ad.csv", "old.csv"], cwd=src, capture_output=True, check=False
        )
        if proc.returncode == 0:
            out[name] = (work / name).read_bytes()
    return out
