"""Ordinary output of attack q (session 40), written by the real tools: JSON with unicode text
(json, orjson, pandas, JSON lines), h5py attributes and names with units, uproot's tree with a
unit title, astropy's table with string columns, tarfile's archive; and FITS string cells."""

from __future__ import annotations

import io
import json
from pathlib import Path

import h5py
import numpy as np
import orjson
import pandas as pd
import uproot
from astropy.table import Table

from tests.support.attack_qcontent_cases import TREE_TITLE, tar_control

RECORDS = [
    {"run": 4242, "detector": "PIX-L0", "unit": "GeV/c\u00b2", "pitch": "50 \u03bcm",
     "note": "\u0394\u03c6 < 0.1 rad, \u2264 3\u03c3", "ok": True},
    {"run": 4243, "detector": "\u00c9cran-2", "unit": "MeV", "pitch": "25 \u03bcm",
     "note": "tab\there, line\nbreak, 50% \u2192 done", "ok": False},
]


def _json(made: Path) -> dict[str, bytes]:
    frame = pd.DataFrame(RECORDS)
    return {
        "ctl/json-dumps.json": json.dumps(RECORDS).encode(),
        "ctl/json-utf8.json": json.dumps(RECORDS, ensure_ascii=False, indent=2).encode(),
        "ctl/orjson.json": orjson.dumps(RECORDS),
        "ctl/pandas.json": frame.to_json(orient="records").encode(),
        "ctl/pandas-lines.jsonl": frame.to_json(orient="records", lines=True).encode(),
        "ctl/json-lines.jsonl": b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS),
    }


def _h5(made: Path) -> bytes:
    path = made / "units.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("\u0394\u03c6", data=np.arange(4.0))
        d.attrs["unit"] = "GeV/c\u00b2"
        d.attrs["pitch"] = "50 \u03bcm"
        d.attrs.create("label", np.array(b"PIX-L0", dtype="S8"))
        f.attrs["notes"] = np.array(["run ok", "\u00c9cran 2\ttab"], dtype=h5py.string_dtype())
    return path.read_bytes()


def _root(made: Path) -> bytes:
    path = made / "units.root"
    with uproot.recreate(path) as f:
        f.mktree("events", {"pt": "f8"}, title=TREE_TITLE)
        f["events"].extend({"pt": np.linspace(1.0, 5.0, 20)})
        f["h_pt"] = (np.array([3.0, 5.0, 1.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    return path.read_bytes()


def _fits(made: Path) -> bytes:
    path = made / "table.fits"
    t = Table({"det": np.array([b"PIX-L0", b"GeV/cZZ"]), "e": [1.0, 2.0]})
    t["e"].unit = "GeV"
    t.write(path)
    return path.read_bytes()


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return _json(made) | {
        "ctl/units.h5": _h5(made),
        "ctl/units.root": _root(made),
        "ctl/table.fits": _fits(made),
        "ctl/logs.tar": tar_control(),
        "ctl/job.err": _tqdm_stderr().encode(),  # the same bars as text: admitted
    }


def fits_cases(table: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(refused, listed): astropy's table with its second cell patched in place."""
    def cell(value: bytes) -> bytes:
        return table.replace(b"GeV/cZZ", value.ljust(7, b"Z"))

    refused = {"fits/esc.fits": cell(b"\x1b[2J\x1bZ"), "fits/c1.fits": cell(b"x\xc2\x9b2J"),
               "fits/del.fits": cell(b"abc\x7fde")}
    return refused, {"fits/lone-9b.fits": cell(b"xx\x9b2J")}


def _tqdm_stderr() -> str:
    """Two nested tqdm bars as tqdm writes them to a file: CR and ESC [ A."""
    from tqdm import tqdm

    out = io.StringIO()
    for _ in tqdm(range(2), file=out, ascii=True, mininterval=0):
        for _ in tqdm(range(3), file=out, ascii=True, mininterval=0, leave=False):
            pass
    return out.getvalue()


def documented(made: Path) -> dict[str, bytes]:
    """Honest output a stated rule refuses: a Python label "$\\beta$" (not a raw string: BS
    then 'eta') through json.dumps, and a job's captured tqdm stderr kept as an h5py attribute
    (the same bars in a .err file are admitted text: ctl/job.err)."""
    made.mkdir(parents=True, exist_ok=True)
    label = {"xlabel": "$\beta\\gamma$", "ylabel": "events / 0.1"}  # BS: the bug is the case
    path = made / "stderr.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("pt", data=np.arange(3.0))
        f.attrs["stderr"] = _tqdm_stderr()
    cp = made / "cp1252.h5"
    with h5py.File(cp, "w") as f:  # a Windows program's char* title, code page 1252
        f.attrs["title"] = np.bytes_("\u201cpT\u201d \u2013 5 \u00b5m".encode("cp1252"))
    return {"doc/plot-labels.json": json.dumps(label).encode(),
            "doc/cp1252-title.h5": cp.read_bytes(),
            "doc/job-stderr.h5": path.read_bytes()}


def fitsio_cases(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(controls, refused) written by fitsio (cfitsio): a binary and an ASCII table with a
    string column, and a variable-length string column (PA, in the heap)."""
    import fitsio

    made.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}

    def write(name: str, rows, **kw) -> None:
        fitsio.write(str(made / name), rows, clobber=True, **kw)
        out[name] = (made / name).read_bytes()

    for cell, tag in ((b"GeV/c", "ok"), (b"\x1b[2J", "esc")):
        rows = np.array([(b"PIX-L0", 1.0), (cell, 2.0)], dtype=[("det", "S8"), ("e", "f8")])
        write(f"fitsio-{tag}.fits", rows)
        write(f"fitsio-ascii-{tag}.fits", rows, table_type="ascii")
        heap = np.zeros(2, dtype=[("s", object)])
        heap["s"][0], heap["s"][1] = "ok", cell.decode()
        write(f"fitsio-heap-{tag}.fits", heap)
    return ({f"ctl/{n}": b for n, b in out.items() if "-ok" in n},
            {f"fits/{n}": b for n, b in out.items() if "-esc" in n})
