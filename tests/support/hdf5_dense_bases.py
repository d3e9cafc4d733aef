"""The ordinary h5py files the dense-storage attacks start from, and the controls
(test_attack_independent_dense.py): dense groups and attributes, ordered groups,
variable-length strings in chunks, huge heap objects; each written once per process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_bytes import write_h5

PAYLOAD = b"DENSE-PAYLOAD/" + hashlib.sha256(b"dense-exfil").hexdigest().encode() + b"/END"  # 82 B


# --- the ordinary files ----------------------------------------------------------------


def _links(n: int):
    def build(f) -> None:
        for i in range(n):
            f[f"d{i:03d}"] = np.arange(3)

    return build


def _attrs(f) -> None:
    f["x"] = np.arange(3)
    for i in range(30):
        f["x"].attrs[f"a{i:02d}"] = float(i)


def _str_attrs(f) -> None:
    f["x"] = np.arange(3)
    for i in range(30):
        f["x"].attrs[f"s{i:02d}"] = f"value {i} " * (i % 4 + 1)  # variable-length strings


def _tracked(f) -> None:
    g = f.create_group("g", track_order=True)
    for i in range(12):
        g[f"d{i}"] = np.arange(2)
    g.attrs["note"] = "tracked"


def _vlen_log(f) -> None:
    """A log of strings in a resizable dataset (chunked, gzip), and a string attribute."""
    f.attrs["note"] = "run 42"
    log = f.create_dataset("log", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
                           chunks=(16,), compression="gzip")  # fmt: skip
    for i in range(3):
        log.resize((log.shape[0] + 20,))
        log[-20:] = [f"step {i}.{j}: ok" for j in range(20)]


def _vlen_sparse(f) -> None:
    """A resizable log written in two places: chunks 1-3 never written, chunk 0 in part."""
    log = f.create_dataset("log", shape=(100,), maxshape=(None,), dtype=h5py.string_dtype(),
                           chunks=(16,), compression="gzip")  # fmt: skip
    log[0:10] = [f"first {i}" for i in range(10)]  # 10..15: in the extent, never written
    log[64:80] = [f"later {i}" for i in range(16)]


def _vlen_compound(f) -> None:
    """A table of (code, name) rows: a compound with a string member, aligned (7 bytes of padding)."""
    dt = np.dtype([("code", "i1"), ("name", h5py.string_dtype())], align=True)
    rows = np.zeros(40, dtype=dt)
    rows["code"], rows["name"] = np.arange(40), [f"name {i}" for i in range(40)]
    f.create_dataset("table", data=rows, maxshape=(None,), chunks=(16,), compression="gzip")


def _vlen_big_chunks(f) -> None:
    """20,000 strings in chunks of 8192 (128 KiB inflated: values across inflated pieces,
    about a hundred global heap collections)."""
    log = f.create_dataset("log", shape=(20_000,), maxshape=(None,), dtype=h5py.string_dtype(),
                           chunks=(8192,), compression="gzip", shuffle=True)  # fmt: skip
    log[:] = [f"record {i} " + "x" * (i % 23) for i in range(20_000)]


def _dense_link_kinds(f) -> None:
    """A dense group of hard, soft and cyclic links (the root linked from below)."""
    g = f.create_group("g")
    for i in range(8):
        g[f"d{i}"] = np.arange(i + 1)
    for i in range(4):
        g[f"soft{i}"] = h5py.SoftLink(f"/g/d{i}")
    g["nowhere"] = h5py.SoftLink("/does/not/exist")
    g["root"] = f["/"]
    g["alias"] = g["d0"]


def _dense_external(f) -> None:
    g = f.create_group("g")
    for i in range(10):
        g[f"d{i}"] = np.arange(3)
    g["ext"] = h5py.ExternalLink("/etc/passwd.h5", "/x")


def dense_external_link(d: Path) -> bytes:
    """h5py alone: an external link among 11 links of a dense group (a reader opens the
    file it names): refused as external links are in compact groups."""
    return bytes(write_h5(d / "ext.h5", _dense_external, libver="latest"))


def _vlen_compound_contiguous(f) -> None:
    dt = np.dtype([("code", "i1"), ("name", h5py.string_dtype())], align=True)
    rows = np.zeros(10, dtype=dt)
    rows["code"], rows["name"] = np.arange(10), [f"name {i}" for i in range(10)]
    f["table"] = rows


def _numeric_edge(f) -> None:
    f.create_dataset("z", data=np.arange(100, dtype="i8"), chunks=(64,), compression="gzip")
    f.create_dataset("r", data=np.arange(100, dtype="i8"), chunks=(64,))


def _big_attr(f) -> None:
    f["x"] = np.arange(3)
    f["x"].attrs["table"] = np.arange(20_000, dtype="f8")  # 160 KB: a huge heap object


def _long_soft(f) -> None:
    f["x"] = np.arange(3)
    for i in range(10):
        f[f"s{i}"] = h5py.SoftLink("/" + "a" * 6000 + str(i))  # link messages over 4 KiB


def _mixed(f) -> None:
    """One lab file of every new kind: dense group, many attributes, ordered group, a log."""
    runs = f.create_group("runs")
    for i in range(25):
        runs.create_dataset(f"r{i:02d}", data=np.arange(i + 1.0))
    for i in range(12):
        runs.attrs[f"cal{i}"] = np.arange(i + 1)
    _tracked(f)
    log = f.create_dataset("log", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
                           chunks=(32,), compression="gzip", shuffle=True)  # fmt: skip
    log.resize((50,))
    log[:] = [f"event {i}" * (i % 5 + 1) for i in range(50)]


def _large_mixed(f) -> None:
    """The mixed lab file and 1.6 MB of data: over 1 MiB, walked in its own process."""
    _mixed(f)
    f["big"] = np.arange(200_000.0)


BASES = {  # name: (builder, h5py.File keywords)
    "links20-latest": (_links(20), {"libver": "latest"}),
    "links500-latest": (_links(500), {"libver": "latest"}),
    "links20-v110": (_links(20), {"libver": ("v110", "v110")}),
    "attrs30-latest": (_attrs, {"libver": "latest"}),
    "strattrs-latest": (_str_attrs, {"libver": "latest"}),
    "tracked-earliest": (_tracked, {}),
    "tracked-latest": (_tracked, {"libver": "latest"}),
    "vlen-log-earliest": (_vlen_log, {}),
    "vlen-log-latest": (_vlen_log, {"libver": "latest"}),
    "vlen-sparse-latest": (_vlen_sparse, {"libver": "latest"}),
    "vlen-big-chunks": (_vlen_big_chunks, {}),
    "dense-link-kinds-latest": (_dense_link_kinds, {"libver": "latest"}),
    "mixed-latest": (_mixed, {"libver": "latest"}),
    "large-mixed-latest": (_large_mixed, {"libver": "latest"}),
    "numeric-edge": (_numeric_edge, {}),
}
EDGE_BASES = {  # legal, rarer: heap objects over the managed limit (huge objects)
    "big-attr-latest": (_big_attr, {"libver": "latest"}),
    "long-soft-links-latest": (_long_soft, {"libver": "latest"}),
    "vlen-compound": (_vlen_compound, {}),  # variable-length member of a compound
    "vlen-compound-contiguous": (_vlen_compound_contiguous, {}),
}


_BUILT: dict[str, bytes] = {}


def base(d: Path, name: str) -> bytearray:
    """The ordinary file, written once per process (every attack on it starts from the
    same bytes as its control) and left at d/NAME.h5 for h5py's look-ups."""
    if name not in _BUILT:
        build, kw = {**BASES, **EDGE_BASES}[name]
        _BUILT[name] = bytes(write_h5(d / f"{name}.h5", build, **kw))
    (d / f"{name}.h5").write_bytes(_BUILT[name])
    return bytearray(_BUILT[name])


def controls(d: Path, table: dict = BASES) -> dict[str, bytes]:
    return {f"{name}.h5": bytes(base(d, name)) for name in table}
