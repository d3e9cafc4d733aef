"""Strings of HDF5 and ROOT files for independent attack o on text (session 39,
tests/quarantine/test_attack_independent_otext.py).

Hostile: ESC sequences inside strings that real writers store as given (h5py's attribute
of the root group, uproot's histogram and tree titles) and readers hand raw to a terminal:
`print(f.attrs["status"])`, ROOT's `f->ls()` / `.ls` and `rootls -l` print titles, uproot's
`print(f["h"].title)`. The FITS row refuses such controls in table strings since session
38 ("print(Table.read(f)) hands its bytes raw to a terminal"); the text row admits no ESC
but `ESC [ A` and no climb of 9 rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Climb 9 rows, erase the line there, write a forged summary; retitle the terminal.
ESC = "\x1b[9A\x1b[2K\rsha256sum -c: all 412 files OK\x1b]0;vmguard: 0 refused\x07"


def _h5(path: Path) -> bytes:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["status"] = ESC
        f.create_dataset("energy", data=np.arange(16.0))
    return path.read_bytes()


def _root_hist(path: Path) -> bytes:
    import uproot
    from uproot.writing.identify import to_TAxis, to_TH1x

    counts = np.array([0.0, 3.0, 5.0, 0.0])
    axis = to_TAxis("xaxis", "", 2, 0.0, 2.0)
    hist = to_TH1x(fName="h", fTitle=ESC, data=counts, fEntries=8.0, fTsumw=8.0,
                   fTsumw2=8.0, fTsumwx=10.5, fTsumwx2=16.0, fSumw2=counts, fXaxis=axis)
    with uproot.recreate(path) as f:
        f["h"] = hist
    return path.read_bytes()


def _root_tree(path: Path) -> bytes:
    import uproot

    with uproot.recreate(path) as f:
        f.mktree("events", {"energy": np.float64}, title=ESC)
        f["events"].extend({"energy": np.arange(3.0)})
    return path.read_bytes()


def string_hostile(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    return {
        "strings/run.h5": _h5(work / "run.h5"),
        "strings/hist.root": _root_hist(work / "hist.root"),
        "strings/tree.root": _root_tree(work / "tree.root"),
    }
