"""Attack o content (session 39): ordinary output of real tools (controls).

JSON from json, numpy and pandas (keys of non-ASCII characters, escaped or raw, deep
nesting, big integers json.dumps writes); tar from GNU tar and tarfile (long names, pax
and GNU forms, a ustar prefix); zip from Info-ZIP's zip and Python's zipfile (UTF-8 names).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np

ROWS = b"x,y\n1,2\n3,4\n"
LONG_DIR = "run-2026-12-06/" + "/".join(["calibration_step_outputs"] * 4)


def json_controls() -> dict[str, bytes]:
    import pandas as pd

    frame = pd.DataFrame({"t": [0.1, 2.5e-9, 3.0], "név": ["a", "é", "ü"], "n": [1, 2, 2**40]})
    nested: object = 1
    for _ in range(200):
        nested = {"k": nested}
    rng = np.random.default_rng(7)
    mixed = {"name": "line\u2028sep é", "vals": rng.normal(size=5).tolist(), "f32": np.float32([0.1, 1 / 3]).tolist(),
             "big": 2**60, "neg": -0.0, "tiny": 5e-324, "huge": 1.7976931348623157e308}  # fmt: skip
    files = {
        "ctl-o-json-sorted-indent4.json": json.dumps(mixed, sort_keys=True, indent=4).encode(),
        "ctl-o-json-compact-raw.json": json.dumps(mixed, separators=(",", ":"), ensure_ascii=False).encode(),
        "ctl-o-pandas-iso-dates.json": pd.DataFrame(
            {"t": pd.date_range("2026-01-01", periods=3, freq="h"), "x": [1e-9, 0.5, 123456.789]}
        )
        .to_json(date_format="iso", double_precision=15)
        .encode(),  # fmt: skip
        "ctl-o-pandas-table.json": pd.DataFrame({"x": [1.5, None], "s": ["a/b", "c"]})
        .to_json(orient="table")
        .encode(),
        "ctl-o-pandas-index-indent.json": pd.DataFrame({"x": [1.5, 2.0]}, index=["r/1", "r2"])
        .to_json(orient="index", indent=2)
        .encode(),
    }
    try:
        import orjson
    except ImportError:
        orjson = None
    if orjson is not None:
        numeric = {"a": rng.normal(size=(3, 3)), "b": np.float32([0.1, 2.5, 1e-8]), "i": np.arange(3)}
        files["ctl-o-orjson-indent.json"] = orjson.dumps(mixed, option=orjson.OPT_INDENT_2)
        files["ctl-o-orjson-numpy.json"] = orjson.dumps(numeric, option=orjson.OPT_SERIALIZE_NUMPY)
    return files | {
        "ctl-o-pandas-records.json": frame.to_json(orient="records").encode(),
        "ctl-o-pandas-split-raw.json": frame.to_json(orient="split", force_ascii=False).encode(),
        "ctl-o-numpy-tolist.json": json.dumps({"a": rng.normal(size=20).tolist()}).encode(),
        "ctl-o-keys-escaped.json": json.dumps({"Größe": 1, "日本": 2, "emoji 😀": 3}).encode(),
        "ctl-o-keys-raw.json": json.dumps(
            {"Größe": 1, "日本": 2, "emoji 😀": 3}, ensure_ascii=False
        ).encode(),
        "ctl-o-nested-200.json": json.dumps(nested).encode(),
        "ctl-o-int64.json": json.dumps([2**63 - 1, -(2**63)]).encode(),
        "ctl-o-indent.json": json.dumps({"a": [1, {"b": None}], "c": "d"}, indent=2).encode() + b"\n",
    }


def _tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.csv").write_bytes(ROWS)
    (root / "résumé.txt").write_bytes("naïve café\n".encode())
    deep = root / LONG_DIR
    deep.mkdir(parents=True, exist_ok=True)
    (deep / ("table_" * 12 + ".csv")).write_bytes(ROWS)
    for p in sorted(root.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


def tar_controls(made: Path) -> dict[str, bytes]:
    src = _tree(made / "src")
    files = {}
    for name, fmt in (("pax", tarfile.PAX_FORMAT), ("gnu", tarfile.GNU_FORMAT)):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
            t.add(src, arcname="out")
        files[f"ctl-o-tarfile-{name}.tar"] = out.getvalue()
    # a uid and gid as SSSD maps Active Directory users (over 07777777): the GNU format
    # writes them in base-256, as tarfile's GNU_FORMAT does; pax writes records
    ad = {"uid": 1846201104, "gid": 1846200513, "uname": "alice", "gname": "staff"}

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        for key, value in ad.items():
            setattr(info, key, value)
        return info

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        t.add(src / "a.csv", arcname="a.csv", filter=owned)
    files["ctl-o-tarfile-ad-uid.tar"] = out.getvalue()
    if shutil.which("tar"):
        # GNU tar's --owner/--group write what a user so mapped gets from a plain `tar cf`
        # (GNU tar's default format is gnu: `tar --show-defaults`)
        for name, fmt in (("ad-uid", "gnu"), ("ad-uid-pax", "pax")):
            path = made / f"{name}.tar"
            owner = ["--owner=alice:1846201104", "--group=staff:1846200513"]
            subprocess.run(
                ["tar", f"--format={fmt}", *owner, "-cf", str(path), "-C", str(src), "a.csv"], check=True
            )
            files[f"ctl-o-gnutar-{name}.tar"] = path.read_bytes()
        # a file dated before 1970 (as some unpacked archives leave): GNU tar writes
        # the negative mtime in base-256 (pax: an mtime record)
        old = made / "old" / "old.csv"
        old.parent.mkdir(exist_ok=True)
        old.write_bytes(ROWS)
        old.chmod(0o644)
        os.utime(old, (-86400 * 365, -86400 * 365))
        path = made / "mtime-1969.tar"
        subprocess.run(["tar", "-cf", str(path), "-C", str(old.parent), "old.csv"], check=True)
        files["ctl-o-gnutar-mtime-1969.tar"] = path.read_bytes()
        for name, opts in (
            ("gnu", ["--format=gnu"]),
            ("pax", ["--format=pax"]),
            ("ustar", ["--format=ustar"]),
        ):
            path = made / f"{name}.tar"
            subprocess.run(["tar", *opts, "-cf", str(path), "-C", str(made / "src"), "."], check=True)
            files[f"ctl-o-gnutar-{name}.tar"] = path.read_bytes()
    return files


def zip_controls(made: Path) -> dict[str, bytes]:
    src = _tree(made / "zsrc")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(src.rglob("*")):
            z.write(p, p.relative_to(src).as_posix())
    files = {"ctl-o-zipfile.zip": out.getvalue()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:  # zipfile's own API calls
        z.mkdir("results")
        z.writestr("results/a.csv", ROWS.decode())
        z.writestr("results/b.txt", b"hello\n", compress_type=zipfile.ZIP_STORED)
        with z.open("results/c.csv", "w") as f:
            f.write(ROWS)
    files["ctl-o-zipfile-api.zip"] = out.getvalue()
    if shutil.which("zip"):
        path = made / "infozip.zip"
        subprocess.run(["zip", "-qrX", str(path), "."], cwd=src, check=True)
        files["ctl-o-infozip.zip"] = path.read_bytes()
    return files


class _Stream(io.RawIOBase):
    """A pipe or socket as zipfile sees one: writable, not seekable."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)


def streamed_zips(made: Path) -> dict[str, bytes]:
    """Zips written to a stream: sizes in a data descriptor after each member's data."""
    src = _tree(made / "ssrc")
    out = _Stream()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(src / "a.csv", "a.csv")
    files = {"ctl-o-zipfile-unseekable.zip": bytes(out.data)}
    if shutil.which("zip"):
        proc = subprocess.run(["zip", "-qr", "-", "a.csv"], cwd=src, capture_output=True, check=True)
        files["ctl-o-zip-to-stdout.zip"] = proc.stdout
    return files
