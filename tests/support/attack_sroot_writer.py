"""uproot itself, writing what a compromised job could make it write (attack s root, session 40).

A guest runs any code: here it runs uproot's own TTree writer with one line changed, so each
branch's fFileName (TBranch 13's TString after the basket arrays, empty in every uproot file)
names another file, and uproot's TH1 writer with a drawing option and an axis time format, which
its public `to_TH1x`/`to_TAxis` take as arguments.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np
import uproot
import uproot.writing._cascadetree as cascadetree

_EMPTY = '            # empty fFileName\n            out.append(b"\\x00")\n'


def _tree_class(file_name: bytes):
    """uproot's Tree class whose branches stream `file_name` as fFileName."""
    source = inspect.getsource(cascadetree)
    assert _EMPTY in source, "uproot's TTree writer changed: fFileName no longer written empty"
    line = f"            out.append({bytes([len(file_name)]) + file_name!r})\n"
    spec = importlib.util.spec_from_loader("attack_sroot_cascadetree", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source.replace(_EMPTY, line), cascadetree.__file__, "exec"), module.__dict__)  # noqa: S102  # nosec B102
    return module.Tree


def tree_with_file_name(path: Path, file_name: bytes) -> bytes:
    """A tree of one extend whose branches name `file_name` as the file of their baskets."""
    original = cascadetree.Tree
    cascadetree.Tree = _tree_class(file_name)
    try:
        with uproot.recreate(path, compression=None) as f:
            tree = f.mktree("tr", {"xx": np.float64}, title="events")
            tree.extend({"xx": np.arange(5, dtype=np.float64)})
    finally:
        cascadetree.Tree = original
    return path.read_bytes()


def hist_with(path: Path, option: str = "", time_format: str = "") -> bytes:
    """A clean-keyed TH1D whose fOption and x axis fTimeFormat hold what the job passed."""
    from uproot.writing.identify import to_TAxis, to_TH1x

    counts = np.array([0, 3, 4, 5, 0], dtype=np.float64)
    axis = to_TAxis("xaxis", "", 3, 0.0, 3.0, fTimeFormat=time_format)
    hist = to_TH1x("h", "counts", counts, 12.0, 12.0, 12.0, 12.0, 20.0, counts, axis,
                   fOption=option)  # fmt: skip
    with uproot.recreate(path, compression=None) as f:
        f["h"] = hist
    return path.read_bytes()


def listed(made: Path, text: str) -> dict[str, bytes]:
    """Strings the docs list as not reached, written by uproot's public writers: a keyed
    TList of TObjStrings ("objects of other classes") and a histogram's axis bin labels."""
    from uproot.writing.identify import to_TAxis, to_TH1x, to_THashList, to_TList, to_TObjString

    with uproot.recreate(made / "list.root", compression=None) as f:
        f["notes"] = to_TList([to_TObjString("ok"), to_TObjString(text)], name="notes")
    labels = to_THashList([to_TObjString("a"), to_TObjString(text), to_TObjString("c")])
    counts = np.array([0, 3, 4, 5, 0], dtype=np.float64)
    axis = to_TAxis("xaxis", "", 3, 0.0, 3.0, fLabels=labels)
    hist = to_TH1x("h", "counts", counts, 12.0, 12.0, 12.0, 12.0, 20.0, counts, axis)
    with uproot.recreate(made / "labels.root", compression=None) as f:
        f["h"] = hist
    return {"l-tlist.root": (made / "list.root").read_bytes(),
            "l-labels.root": (made / "labels.root").read_bytes()}  # fmt: skip


def long_strings(made: Path, text: str) -> dict[str, bytes]:
    """`text` past byte 255 of a long TString (255 then a 4-byte length): a TObjString in a
    subdirectory, compressed with zlib."""
    from uproot.writing.identify import to_TObjString

    pad = "p_{T} " * 60
    with uproot.recreate(made / "long-s.root", compression=uproot.ZLIB(4)) as f:
        f["sub/note"] = to_TObjString(pad + text)
    return {"r-long-objstring.root": (made / "long-s.root").read_bytes()}
