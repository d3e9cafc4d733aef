"""Fourth HDF5 attack: controls, ordinary h5py output the first three did not write
(issue #13, session 31).

Datatypes (bool, complex, big-endian, signed enums, variable-length integer and float
sequences, compounds of arrays, arrays of compounds, nested compounds, fixed strings of
each padding), hard links to one object from many groups (also added in a later
session), deep groups tracking order, 150 attributes on a version 1 header (continuation
blocks; 50 more in a later session), a group of 700 datasets, 150 chunks in a v1 B-tree,
a log resized 100 times, attributes modified in place, attributes of a committed
datatype, shrunk and overwritten (compressed) chunked datasets, overwritten
variable-length strings, copies (H5Ocopy), a SWMR log of strings, early allocation,
committed string and enum types, a 36 KB JSON configuration in string attributes, a
table of reference columns, chunks written with write_direct_chunk (some raw, deflate
skipped by the filter mask), files appended to under another libver, files written through a file object or the core driver's
image: each under several `libver` ranges. Each must be
published byte-identical; FALSE_REJECTIONS says what is refused.
"""

from __future__ import annotations

import io
import json
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np

STR = h5py.string_dtype()


def write(build, later=(), **kw) -> bytes:
    """A file written by h5py on disk, then reopened with 'a' once per step in later."""
    with tempfile.TemporaryDirectory(prefix="attackh5d-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", **kw) as f:
            build(f)
        for step in later:
            with h5py.File(path, "a") as f:
                step(f)
        return path.read_bytes()


def _types(f) -> None:
    f["bool"] = np.array([True, False, True])
    f["c16"] = np.arange(4) * (1 + 1j)
    f["c16be"] = (np.arange(4) * (1 - 1j)).astype(">c16")
    f["c8"] = (np.arange(4) * (1 + 1j)).astype("c8")
    f["be_i4"] = np.arange(5, dtype=">i4")
    f["be_f2"] = np.arange(5, dtype=">f2")
    f.create_dataset("enum_neg", data=np.array([-1, 0, 1], "i1"),
                     dtype=h5py.enum_dtype({"lo": -1, "z": 0, "hi": 1}, basetype="i1"))
    f.create_dataset("enum_u2", data=np.array([1, 2], "<u2"),
                     dtype=h5py.enum_dtype({"a": 1, "b": 2}, basetype="<u2"))
    vi = f.create_dataset("vint", (4,), dtype=h5py.vlen_dtype(np.int32))
    vi[0], vi[1], vi[2] = np.arange(3, dtype="i4"), np.arange(0, dtype="i4"), np.arange(7, dtype="i4")
    vf = f.create_dataset("vf64", (3,), dtype=h5py.vlen_dtype(np.float64), chunks=(2,),
                          compression="gzip", shuffle=True)
    vf[0], vf[1], vf[2] = np.arange(2.0), np.arange(5.0), np.arange(1.0)
    rows = np.zeros(6, [("pos", "<f4", (3,)), ("id", "<i8"), ("tag", "S5")])
    rows["pos"], rows["id"], rows["tag"] = np.arange(18).reshape(6, 3), np.arange(6), b"ab"
    f["cmp_arr"] = rows
    nested = np.zeros(3, [("inner", [("x", "<i2"), ("y", "<f8")]), ("flag", "?")])
    nested["inner"]["x"] = [1, 2, 3]
    f["nested"] = nested
    f["arr_of_cmp"] = np.zeros(3, np.dtype((np.dtype([("a", "<i4"), ("b", "<f4")]), (2,))))
    f["arr2d"] = np.zeros(4, np.dtype(("<f8", (2, 3))))
    pair = np.dtype([("a", "<i4"), ("b", "<f8")])
    f.create_dataset("vlen_cmp", (2,), dtype=h5py.vlen_dtype(pair))[0] = np.zeros(2, pair)
    f.attrs.create("vint_attr", data=[np.arange(2, dtype="i2"), np.arange(5, dtype="i2")],
                   dtype=h5py.vlen_dtype(np.int16))
    f.attrs["cplx"] = 1 + 2j
    f.attrs["flag"] = True
    f.create_dataset("opaque", data=np.frombuffer(b"\x01\x02\x03\x04\x05\x06", "V3"))


def _fixed_pads(f) -> None:
    """Fixed strings of each padding, converted by libhdf5 from h5py's NULLPAD."""
    for pad, name in ((h5py.h5t.STR_NULLTERM, b"nullterm"), (h5py.h5t.STR_SPACEPAD, b"spacepad"),
                      (h5py.h5t.STR_NULLPAD, b"nullpad")):
        ftype, mtype = h5py.h5t.C_S1.copy(), h5py.h5t.C_S1.copy()
        ftype.set_size(8)
        ftype.set_strpad(pad)
        mtype.set_size(8)
        mtype.set_strpad(h5py.h5t.STR_NULLPAD)
        ds = h5py.h5d.create(f.id, name, ftype, h5py.h5s.create_simple((3,)))
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([b"ab", b"abcdefgh", b""], "S8"), mtype=mtype)


def _links(f) -> None:
    d = f.create_dataset("data/x", data=np.arange(4))
    for i in range(40):
        f[f"g{i % 5}/alias{i}"] = d
    f["soft"] = h5py.SoftLink("/data/x")


def _more_links(f) -> None:
    for i in range(10):
        f[f"later{i}"] = f["data/x"]


def _deep_tracked(f) -> None:
    g = f
    for i in range(30):
        g = g.create_group(f"lvl{i}", track_order=True)
        g.attrs["i"] = i
    g["x"] = np.arange(3)


def _many_attrs(f) -> None:
    d = f.create_dataset("d", data=np.arange(3))
    for i in range(150):
        d.attrs[f"attribute_number_{i:03d}"] = np.arange(i % 7 + 1, dtype="f8")


def _attrs_later(f) -> None:
    for i in range(150, 200):
        f["d"].attrs[f"attribute_number_{i:03d}"] = np.arange(5.0)


def _big_group(f) -> None:
    g = f.create_group("runs")
    for i in range(700):
        g.create_dataset(f"run{i:05d}", data=np.int32(i))


def _many_chunks(f) -> None:
    f.create_dataset("img", data=np.arange(300 * 40, dtype="f4").reshape(300, 40), chunks=(2, 40),
                     compression="gzip", shuffle=True)
    f.create_dataset("raw", data=np.arange(5000, dtype="i2"), chunks=(10,))


def _resized(f) -> None:
    d = f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(4,), dtype="f8")
    for k in range(100):
        d.resize((d.shape[0] + 9,))
        d[-9:] = k
    g = f.create_dataset("ggg", shape=(0,), chunks=(10,), maxshape=(None,), dtype="i4")
    for n in (500, 120, 700, 30, 300):
        g.resize((n,))
        g[:] = np.arange(n)


def _modified(f) -> None:
    d = f.create_dataset("d", data=np.arange(3))
    for i in range(12):
        d.attrs[f"a{i}"] = i
    f.attrs["n"] = 0
    for k in range(5):
        d.attrs.modify("a3", k)
        f.attrs.modify("n", k)


def _committed_attrs(f) -> None:
    f["T"] = np.dtype([("x", "<f8"), ("n", "<i4")])
    f.attrs.create("row", data=np.zeros((), f["T"].dtype), dtype=f["T"])
    f["d"] = np.arange(3)
    f["d"].attrs.create("rows", data=np.zeros(2, f["T"].dtype), dtype=f["T"])
    f["S"] = STR
    f["E"] = h5py.enum_dtype({"a": 0, "b": 1}, basetype="u1")
    f.create_dataset("s", data=["x", "yy"], dtype=f["S"])
    f.create_dataset("e", data=np.array([0, 1], "u1"), dtype=f["E"])


def _rewritten(f) -> None:
    """Chunks shrunk and overwritten (compressed chunks move when they grow), strings
    overwritten in place."""
    rng = np.random.default_rng(1)
    f.create_dataset("shrunk", data=rng.random(1000), chunks=(100,), maxshape=(None,),
                     compression="gzip").resize((950,))
    f.create_dataset("grown", data=np.zeros(1000), chunks=(100,), compression="gzip")[:] = rng.random(1000)
    f.create_dataset("zeroed", data=rng.random(1000), chunks=(100,), compression="gzip")[:] = 0.0
    s = f.create_dataset("s", data=["alpha", "beta", "gamma"], dtype=STR)
    s[1] = "a much longer replacement string"
    s[2] = "GAMMA"


def _copies(f) -> None:
    g = f.create_group("src")
    g.attrs["note"] = "n"
    g.create_dataset("z", data=np.arange(1000), chunks=(100,), compression="gzip")
    g.create_dataset("s", data=["a", "bb"], dtype=STR)
    f.copy("src", "dst")
    f.copy(g["z"], "z2")


def _early(f) -> None:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((4,))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_deflate(4)
    h5py.h5d.create(f.id, b"early", h5py.h5t.STD_I32LE, h5py.h5s.create_simple((10,)), dcpl=dcpl)


def _tracked(f) -> None:
    d = f.create_dataset("d", data=np.arange(3), track_order=True)
    g = f.create_group("g", track_order=True)
    for i in range(12):
        d.attrs[f"z{20 - i}"] = i
        g[f"n{20 - i}"] = np.arange(i + 1)


def _swmr_strings(f) -> None:
    d = f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(4,), dtype=STR)
    f.swmr_mode = True
    for i in range(6):
        d.resize((d.shape[0] + 3,))
        d[-3:] = [f"line {i}.{j}" for j in range(3)]
        d.flush()


def _big_strings(f) -> None:
    """A job's configuration (JSON, 36 KB) kept as string attributes and strings."""
    cfg = json.dumps({f"key{i}": list(range(i % 30)) for i in range(800)})
    f.attrs["config"] = cfg
    f.attrs["fixed"] = np.bytes_(cfg[:30000].encode())
    f.create_dataset("d", data=np.arange(3)).attrs["cfg"] = cfg
    f.create_dataset("long", data=[cfg[:5000], cfg[:9000], "x"], dtype=STR)
    f.create_dataset("many", data=[f"str{i}" * (i % 50) for i in range(3000)], dtype=STR,
                     chunks=(500,), compression="gzip")


def _ref_rows(f) -> None:
    """A table with an object reference and a region reference column."""
    t = f.create_dataset("t", data=np.arange(3))
    rows = np.zeros(2, [("ref", h5py.ref_dtype), ("rref", h5py.regionref_dtype), ("v", "<f4")])
    rows["ref"][0], rows["ref"][1] = t.ref, f.ref
    rows["rref"][0], rows["rref"][1] = t.regionref[0:2], t.regionref[1:]
    f.create_dataset("rows", data=rows)


def _direct_chunks(f) -> None:
    """Chunks written pre-compressed with write_direct_chunk, every other one stored raw
    with deflate skipped by its filter mask (as libhdf5 skips an optional filter)."""
    d = f.create_dataset("d", shape=(40,), chunks=(10,), dtype="<i4", compression="gzip")
    for k in range(4):
        raw = (np.arange(10, dtype="<i4") + k).tobytes()
        if k % 2:
            d.id.write_direct_chunk((k * 10,), raw, filter_mask=1)
        else:
            d.id.write_direct_chunk((k * 10,), zlib.compress(raw, 6))


def _first_session(f) -> None:
    f.create_dataset("a", data=np.arange(5))
    f.create_group("g").attrs["x"] = 1


def _second_session(f) -> None:
    f.create_dataset("b", data=np.arange(100), chunks=(10,), compression="gzip")
    f.create_dataset("g/c", data=np.arange(3))
    f["g"].attrs["y"] = "s"
    f.create_dataset("r", shape=(0,), maxshape=(None,), chunks=(4,), dtype="f4").resize((9,))
    for i in range(10):
        f[f"h/n{i}"] = np.int8(i)


def _sessions(first, second) -> bytes:
    """A file written under one libver and appended to under another (h5py's libver
    of the later session: new objects take its formats, the superblock stays)."""
    with tempfile.TemporaryDirectory(prefix="attackh5d-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver=first) as f:
            _first_session(f)
        with h5py.File(path, "a", libver=second) as f:
            _second_session(f)
        return path.read_bytes()


def _in_memory(build, driver: str, **kw) -> bytes:
    """The same file written through a Python file object, or the core driver's image."""
    if driver == "fileobj":
        bio = io.BytesIO()
        with h5py.File(bio, "w", **kw) as f:
            build(f)
        return bio.getvalue()
    f = h5py.File(f"image-{id(build)}.h5", "w", driver="core", backing_store=False, **kw)
    build(f)
    f.flush()
    image = f.id.get_file_image()
    f.close()
    return image


CASES = {
    "types": _types, "fixed-pads": _fixed_pads, "links": _links, "deep-tracked": _deep_tracked,
    "many-attrs": _many_attrs, "big-group": _big_group, "many-chunks": _many_chunks,
    "resized": _resized, "modified": _modified, "committed-attrs": _committed_attrs,
    "rewritten": _rewritten, "copies": _copies, "early": _early, "tracked": _tracked,
    "big-strings": _big_strings, "ref-rows": _ref_rows, "direct-chunks": _direct_chunks,
}
LIBVERS = {
    "earliest": "earliest", "latest": "latest", "v108-v110": ("v108", "v110"),
    "v110-v112": ("v110", "v112"), "v112-latest": ("v112", "latest"), "v200": "v200",
}


def _grid() -> dict:
    out = {f"ctl-{case}-{name}.h5": (lambda b=build, v=libver: write(b, libver=v))
           for case, build in CASES.items() for name, libver in LIBVERS.items()}
    out["ctl-links-later-earliest.h5"] = lambda: write(_links, [_more_links])
    out["ctl-attrs-later-earliest.h5"] = lambda: write(_many_attrs, [_attrs_later])
    out["ctl-deep-tracked-file-order.h5"] = lambda: write(_deep_tracked, track_order=True)
    out["ctl-swmr-strings-latest.h5"] = lambda: write(_swmr_strings, libver="latest")
    out["ctl-swmr-strings-v110.h5"] = lambda: write(_swmr_strings, libver=("v110", "v110"))
    for first, second in (("earliest", "latest"), ("latest", "earliest"), ("v108", "v200")):
        out[f"ctl-sessions-{first}-{second}.h5"] = lambda a=first, b=second: _sessions(a, b)
    for driver in ("fileobj", "image"):
        for libver in ("earliest", "latest"):
            out[f"ctl-{driver}-{libver}.h5"] = lambda d=driver, v=libver: _in_memory(_links, d, libver=v)
    return out


def _dimension_scales(f) -> None:
    """The HDF5 Dimension Scales API, as h5py's dims (and netCDF-4) use it: an axis
    dataset made a scale and attached to a dimension of the data."""
    x = f.create_dataset("x", data=np.linspace(0, 1, 5))
    x.make_scale("x")
    d = f.create_dataset("d", data=np.arange(5.0))
    d.dims[0].attach_scale(x)
    d.dims[0].label = "x"


def _status(f) -> None:
    """A job that records its state in a string attribute and updates it when done."""
    f.create_dataset("d", data=np.arange(3))
    f.attrs["status"] = "running"
    f.attrs["status"] = "done"


CONTROLS = {
    **_grid(),
    "ctl-dimension-scales-earliest.h5": lambda: write(_dimension_scales),
    "ctl-dimension-scales-latest.h5": lambda: write(_dimension_scales, libver="latest"),
    # refused (documented) until the continuation blocks libhdf5 freed were recomputed (oldblocks.py)
    "ctl-links-moved-dense-after-reopen-latest.h5": lambda: write(_links, [_more_links], libver="latest"),
}

FALSE_REJECTIONS: dict[str, str] = {}

# name: (builder, what the refusal must say). Refusals the docs announce, with a remedy.
DOCUMENTED = {
    "doc-paged-fixed-array-latest.h5": (
        lambda: write(lambda f: f.create_dataset("stack", data=np.ones((1100, 4), "f4"), chunks=(1, 4)),
                      libver="latest"), "paged fixed array"),
    "doc-string-attribute-rewritten.h5": (lambda: write(_status),
                                          "the remains of a deleted object: h5repack the file"),
}
MISLEADING: dict[str, str] = {}


def controls() -> dict[str, bytes]:
    return {name: build() for name, build in CONTROLS.items()}


def documented() -> dict[str, bytes]:
    return {name: build() for name, (build, _) in DOCUMENTED.items()}
