"""Ordinary controls for test_attack_independent_ncontent.py (real tools, no hand edits):
JSON from Python's json, numpy's tolist and pandas; gzip from GNU gzip and Python's
gzip; tar from GNU tar and Python's tarfile. And one bomb measured: a gzip of 9 KB that
inflates to 4 MB of JSON nested 999 deep (the tokenizer's slowest input)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = b"run,energy,ok\n1,12.5,true\n2,13.25,false\n"


def json_controls() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    arr = rng.normal(size=(4, 3))
    rec = {"run": 42, "energies": arr.tolist(), "label": "caf\u00e9 <b>", "ok": True, "none": None}
    frame = pd.DataFrame({"e": arr[:, 0], "n": [1, 2, 3, 4], "s": ["a/b", "c", "d", "\u00e9"]})
    f16 = rng.normal(size=20).astype(np.float16)
    return {
        "ctl-n-pandas-table-iso.json": frame.to_json(orient="table", date_format="iso").encode(),
        "ctl-n-pandas-dp15.json": frame.to_json(double_precision=15, force_ascii=False).encode(),
        "ctl-n-numpy-f16-tolist.json": json.dumps(f16.tolist()).encode(),
        "ctl-n-json-dumps.json": json.dumps(rec).encode(),
        "ctl-n-json-indent.json": (json.dumps(rec, indent=2, ensure_ascii=False) + "\n").encode(),
        "ctl-n-json-compact.json": json.dumps(rec, separators=(",", ":"), sort_keys=True).encode(),
        "ctl-n-numpy-tolist.json": json.dumps(arr.tolist()).encode(),
        "ctl-n-pandas-records.json": frame.to_json(orient="records").encode(),
        "ctl-n-pandas-split.json": frame.to_json(orient="split", indent=4).encode(),
    }


# Python's json writes NaN, which the json row refuses ("no NaN/Infinity"): named .json it
# is refused by name-type.
NAN = {"ctl-n-json-nan.json": json.dumps([1.0, float("nan")]).encode()}


def many_keys(work: Path) -> dict[str, bytes]:
    """Large objects within the json row's bound ("at most 1 Mi keys or 32 Mi characters of
    keys in the objects open at once"): json.dumps of 1,030,000 keys of 31 characters
    (31.9 million characters)."""
    work.mkdir(parents=True, exist_ok=True)
    return {
        "ctl-n-json-31char-keys.json": json.dumps({f"k{i:030d}": 0 for i in range(1_030_000)}).encode(),
    }


def gzip_controls(work: Path) -> dict[str, bytes]:
    """Each written under the name it is published as (FNAME)."""
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, argv in (("ctl-n-gzip.csv", ["gzip"]), ("ctl-n-gzip-9.csv", ["gzip", "-9"]),
                       ("ctl-n-gzip-n.csv", ["gzip", "-n"])):  # fmt: skip
        (work / name).write_bytes(ROWS * 200)
        subprocess.run([*argv, name], cwd=work, check=True)
        files[name + ".gz"] = (work / (name + ".gz")).read_bytes()
    with gzip.open(work / "ctl-n-python.log.gz", "wt") as f:
        f.write("step 1 done\n" * 100)
    with gzip.open(work / "ctl-n-python.log.gz", "at") as f:
        f.write("step 2 done\n")
    files["ctl-n-python.log.gz"] = (work / "ctl-n-python.log.gz").read_bytes()
    files["ctl-n-python-compress.json.gz"] = gzip.compress(json.dumps({"a": [1, 2.5]}).encode())
    return files


def tar_controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    src = work / "run7"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.csv").write_bytes(ROWS)
    (src / "sub" / "b.log").write_bytes(b"done\n")
    (src / "sub" / ("long-" + "x" * 120 + ".csv")).write_bytes(ROWS)
    for p in [src, src / "sub", *src.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    files = {}
    for name, fmt in (("ctl-n-gnutar.tar", "gnu"), ("ctl-n-gnutar-pax.tar", "posix")):
        subprocess.run(["tar", "cf", str(work / name), f"--format={fmt}", "run7"], cwd=work, check=True)
        files[name] = (work / name).read_bytes()
    subprocess.run(["tar", "czf", str(work / "ctl-n-gnutar.tar.gz"), "run7"], cwd=work, check=True)
    files["ctl-n-gnutar.tar.gz"] = (work / "ctl-n-gnutar.tar.gz").read_bytes()
    for name, fmt in (
        ("ctl-n-tarfile-pax.tar", tarfile.PAX_FORMAT),
        ("ctl-n-tarfile-gnu.tar", tarfile.GNU_FORMAT),
    ):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
            t.add(src, arcname="run7")
        files[name] = buf.getvalue()
    return files


UNIT = b"[" * 999 + b"]" * 999


def nested_bomb(megabytes: int = 4) -> bytes:
    count = megabytes * 1_000_000 // (len(UNIT) + 1)
    return gzip.compress(b"[" + b",".join([UNIT] * count) + b"]", mtime=0)
