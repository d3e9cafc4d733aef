"""Third HDF5 attack: controls, ordinary h5py output the lab may write (issue #13).

Each must be published byte-identical; files refused by a documented rule (lzf, scale-
offset, n-bit, external links, a user block) are listed in DOCUMENTED_REFUSALS instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import h5file

STR_VLEN = h5py.string_dtype("utf-8")
STR_ASCII = h5py.string_dtype("ascii")


def _strings(f) -> None:
    a = f.attrs
    a["py"] = "plain str"
    a["bytes"] = b"plain bytes"
    a["utf8"] = "énergie ✓"
    a["empty"] = ""
    a["np_fixed"] = np.bytes_("fixed")
    a["fixed_arr"] = np.array([b"ab", b"cde"], "S3")
    a.create("vlen_arr", ["x", "yy", ""], dtype=STR_VLEN)
    a.create("ascii_vlen", b"ascii", dtype=STR_ASCII)
    a.create("utf8_fixed", b"ab", dtype=h5py.string_dtype("utf-8", 4))
    a["list"] = ["one", "two"]
    a["empty_attr"] = h5py.Empty("f")


def _links(f) -> None:
    d = f.create_dataset("data/x", data=np.arange(5.0))
    f["alias"] = d
    f["data/again"] = d
    f["soft"] = h5py.SoftLink("/data/x")
    f["dangling"] = h5py.SoftLink("/nowhere")
    f.create_group("empty")


def _shapes(f) -> None:
    f.create_dataset("empty0", shape=(0,), dtype="f8")
    f.create_dataset("empty0c", shape=(0, 3), maxshape=(None, 3), dtype="i4", chunks=(4, 3))
    f.create_dataset("scalar", data=3.5)
    f.create_dataset("nullspace", data=h5py.Empty("i4"))
    f.create_dataset("bools", data=np.array([True, False]))
    f.create_dataset("cplx", data=np.arange(3) * (1 + 2j))
    f.create_dataset("half", data=np.arange(4, dtype="f2"))
    f.create_dataset("enum", data=np.array([0, 1], "u1"),
                     dtype=h5py.enum_dtype({"a": 0, "b": 1}, basetype="u1"))
    f.create_dataset("opaque", data=np.zeros(3, "V4"))
    f.create_dataset("nd", data=np.arange(24, dtype="<i2").reshape(2, 3, 4))


def _chunked(f) -> None:
    f.create_dataset("fl", data=np.arange(1000.0), chunks=(100,), fletcher32=True)
    f.create_dataset("gz", data=np.arange(1000), chunks=(300,), compression="gzip",
                     compression_opts=9, shuffle=True, fletcher32=True)
    r = f.create_dataset("grow", shape=(0, 4), maxshape=(None, 4), chunks=(8, 4), dtype="f4")
    r.resize((20, 4))
    r[:] = 1.5
    f.create_dataset("fill", shape=(10,), chunks=(4,), dtype="i4", fillvalue=-1)


def _dense_attrs(f) -> None:
    d = f.create_dataset("d", data=np.arange(3))
    for i in range(12):
        d.attrs[f"a{i:02d}"] = np.arange(i + 1)
    d.attrs["big"] = np.arange(20000, dtype="f8")


def _committed(f) -> None:
    f["T"] = np.dtype([("x", "<f8"), ("n", "<i4")])
    f.create_dataset("rows", data=np.zeros(4, f["T"].dtype), dtype=f["T"])
    f["T"].attrs["unit"] = "m"


def _refs(f) -> None:
    d = f.create_dataset("target", data=np.arange(3))
    f.create_dataset("refs", data=np.array([d.ref, f.ref], h5py.ref_dtype))
    f.attrs["ref"] = d.ref


def _comment(f) -> None:
    d = f.create_dataset("d", data=np.arange(3))
    h5py.h5o.set_comment(d.id, b"a comment")


def _tracked(f) -> None:
    g = f.create_group("ordered", track_order=True)
    for i in range(4):
        g.create_dataset(f"x{i}", data=np.arange(i + 1))
        g.attrs[f"k{i}"] = i


def _many(f) -> None:
    g = f.create_group("runs")
    for i in range(60):
        g.create_dataset(f"run{i:03d}", data=np.arange(i % 5 + 1))
        g.attrs[f"k{i:02d}"] = i


def _layouts(f) -> None:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple((4,))
    ds = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, space, dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(4, dtype="<i4"))
    f.create_dataset("edge2d", data=np.arange(35.0).reshape(5, 7), chunks=(2, 3),
                     compression="gzip")
    f.create_dataset("vlen_gz", data=["a", "bb", "ccc"] * 5, dtype=STR_VLEN, chunks=(4,),
                     compression="gzip", shuffle=True)
    f.create_dataset("nanfill", shape=(6,), dtype="f8", chunks=(4,), fillvalue=np.nan)
    f.create_dataset("scalar_str", data="run 42", dtype=STR_VLEN)
    f.create_dataset("early", shape=(8,), dtype="i2", chunks=(4,)).id.get_create_plist()
    f.attrs["root_attr"] = np.arange(3.0)


def _swmr(f) -> None:
    d = f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(16,), dtype="f8")
    f.swmr_mode = True
    for i in range(5):
        d.resize((d.shape[0] + 7,))
        d[-7:] = i
        d.flush()


CASES = {
    "strings": _strings, "links": _links, "shapes": _shapes, "chunked": _chunked,
    "committed": _committed, "refs": _refs, "comment": _comment, "tracked": _tracked,
    "many": _many, "layouts": _layouts,
}
KWARGS = {
    "default": {}, "latest": {"libver": "latest"}, "v108-v112": {"libver": ("v108", "v112")},
    "times": {"track_times": True}, "v110-v114": {"libver": ("v110", "v114")},
    "v200": {"libver": "v200"}
}


def _make(build, **kw) -> bytes:
    if "track_times" in kw:
        kw.pop("track_times")
        inner = build

        def build(f):  # noqa: F811 - h5py's track_times is a per-dataset option
            orig = f.create_dataset
            f.create_dataset = lambda *a, **k: orig(*a, track_times=True, **k)
            inner(f)
    return bytes(h5file(build, **kw))


def _append(step, libver: str) -> bytes:
    """A file written, closed, reopened with 'a' and given more by step(f): a job that
    appends its runs to its output file."""
    with tempfile.TemporaryDirectory(prefix="attackh5c-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver=libver) as f:
            f.create_dataset("a", data=np.arange(5))
            f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
        with h5py.File(path, "a") as f:
            step(f)
        return path.read_bytes()


def _grow_log(f) -> None:
    f["log"].resize((100,))
    f["log"][:] = 1.0
    f.attrs["runs"] = 1


def _add_runs(f) -> None:
    for i in range(12):
        f.create_dataset(f"run_{i:02d}_appended_in_a_later_session", data=np.arange(i + 1))


APPENDS = {"grow": _grow_log, "add12": _add_runs}


def _flushed_log(f) -> None:
    """A job that grows a log and a table of strings, flushing after each block."""
    d = f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(16,), dtype="f8")
    s = f.create_dataset("lines", shape=(0,), maxshape=(None,), chunks=(8,), dtype=STR_VLEN)
    for k in range(6):
        d.resize((d.shape[0] + 40,))
        d[-40:] = k
        s.resize((s.shape[0] + 5,))
        s[-5:] = [f"block {k} line {j}" for j in range(5)]
        f.attrs[f"block_{k}"] = k
        f.flush()


def _flushed(f) -> None:
    """One session: a dataset, f.flush() (a long job's checkpoint), 12 more datasets."""
    f.create_dataset("a", data=np.arange(5))
    f.flush()
    _add_runs(f)


def _grid() -> dict:
    out = {}
    for case, build in CASES.items():
        for variant, kw in KWARGS.items():
            out[f"ctl-{case}-{variant}.h5"] = lambda b=build, k=kw: _make(b, **k)
    for case in ("links", "many", "shapes"):
        out[f"ctl-{case}-file-order.h5"] = lambda b=CASES[case]: _make(b, track_order=True)
        out[f"ctl-{case}-file-order-latest.h5"] = lambda b=CASES[case]: _make(
            b, track_order=True, libver="latest")
    out["ctl-aligned.h5"] = lambda: _make(_chunked, alignment_threshold=1,
                                          alignment_interval=4096)
    out["ctl-meta-block.h5"] = lambda: _make(_layouts, meta_block_size=65536)
    out["ctl-swmr.h5"] = lambda: _make(_swmr, libver="latest")
    for name, step in APPENDS.items():
        for libver in ("earliest", "latest"):
            out[f"ctl-append-{name}-{libver}.h5"] = lambda s=step, v=libver: _append(s, v)
    out["ctl-flush-log-earliest.h5"] = lambda: _make(_flushed_log)
    out["ctl-flush-log-latest.h5"] = lambda: _make(_flushed_log, libver="latest")
    out["ctl-flush-add12-earliest.h5"] = lambda: _make(_flushed)
    out["ctl-flush-add12-latest.h5"] = lambda: _make(_flushed, libver="latest")
    out["ctl-dense-attrs-latest.h5"] = lambda: _make(_dense_attrs, libver="latest")
    out["ctl-page-strategy.h5"] = lambda: _make(
        _chunked, fs_strategy="page", fs_page_size=4096, libver="latest")
    return out


def _documented(f) -> None:
    f.create_dataset("d", data=np.arange(100), chunks=(10,), compression="lzf")


def _scaleoffset(f) -> None:
    f.create_dataset("d", data=np.arange(100), chunks=(10,), scaleoffset=0)


def _external_link(f) -> None:
    f["ext"] = h5py.ExternalLink("other.h5", "/x")


def _userblock() -> bytes:
    return bytes(h5file(lambda f: f.create_dataset("d", data=np.arange(3)), userblock_size=512))


def _family() -> bytes:
    """h5py's family driver, one member: a superblock with a driver info block."""
    with tempfile.TemporaryDirectory(prefix="attackh5c-") as where:
        with h5py.File(f"{where}/fam%d.h5", "w", driver="family", memb_size=1 << 20) as f:
            f.create_dataset("x", data=np.arange(10))
        return Path(where, "fam0.h5").read_bytes()


def _two_unlimited(f) -> None:
    f.create_dataset("m", shape=(4, 4), maxshape=(None, None), chunks=(2, 2), dtype="i4")


# name: (builder, what the refusal must name). Refusals the docs announce.
DOCUMENTED = {
    "doc-lzf.h5": (lambda: _make(_documented), "lzf"),
    "doc-scaleoffset.h5": (lambda: _make(_scaleoffset), "scale-offset"),
    "doc-external-link.h5": (lambda: _make(_external_link), "external link"),
    "doc-userblock.h5": (_userblock, "user block"),
    "doc-family-driver.h5": (_family, "driver"),
    "doc-two-unlimited-latest.h5": (lambda: _make(_two_unlimited, libver="latest"),
                                    "version 2 B-tree"),
    "doc-fsm-persist.h5": (lambda: _make(_shapes, fs_strategy="fsm", fs_persist=True),
                           "free-space"),
}
MISLEADING: dict[str, str] = {}

CONTROLS = _grid()
