"""Ordinary files for the independent attack oh5 (issue #13, session 39): real h5py,
netCDF4-python and h5netcdf output, no byte edited. Multi-session workflows (reopened
with 'a'), UTF-8 link and attribute names, track_order, default libver and 'latest',
attributes added, deleted and rewritten, flushes, and netCDF writers (which track
creation order everywhere and mark names UTF-8)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_nh5_tools import sessions

LIBVERS = {"def": None, "latest": "latest"}


def _kw(lv: str) -> dict:
    return {} if LIBVERS[lv] is None else {"libver": LIBVERS[lv]}


def _utf8_steps(track: bool) -> list:
    def s1(f):
        g = f.create_group("größe", track_order=track)
        g.attrs["ñame"] = 1.0
        g.attrs["unit"] = "K"
        f.create_dataset("données", data=np.arange(10.0))

    def s2(f):
        g = f["größe"]
        g.attrs["température"] = np.arange(3.0)
        g.create_dataset("α", data=np.arange(4))
        f["données"].attrs["étiquette"] = "x"
        f.flush()
        f.create_group("βeta", track_order=track)

    def s3(f):
        g = f["größe"]
        for i in range(10):
            g.attrs[f"clé{i}"] = float(i)
        f["βeta"].attrs["ok"] = 1

    return [s1, s2, s3]


def _dense_utf8(track: bool) -> list:
    def s1(f):
        f.attrs["run"] = 1
        for i in range(4):
            f.attrs[f"μ{i}"] = np.arange(i + 1.0)

    def s2(f):
        for i in range(4, 12):
            f.attrs[f"μ{i}"] = np.arange(i + 1.0)
        f.create_group("σ", track_order=track)

    def s3(f):
        f["σ"].attrs["naïve"] = "yes"
        f.attrs["ascii_only"] = 3.5

    return [s1, s2, s3]


def _delete_steps() -> list:
    def s1(f):
        for i in range(5):
            f.attrs[f"a{i}"] = float(i)

    def s2(f):
        del f.attrs["a2"]
        f.attrs["neu"] = 2.0

    return [s1, s2]


def _flushes(track: bool) -> list:
    def s1(f):
        g = f.create_group("g", track_order=track)
        for i in range(12):
            g.attrs[f"k{i}"] = i
            f.flush()

    def s2(f):
        f["g"].create_dataset("d", data=np.ones(5))
        f["g"].attrs["k12"] = 12

    return [s1, s2]


def _soft(f) -> None:
    f["données"] = np.arange(3)
    f["lien→"] = h5py.SoftLink("/données")


def _group_a(f) -> None:
    f.create_group("a")


def _group_a_sub(f) -> None:
    f["a"].create_group("ünter")


def _moved(f) -> None:
    f.create_group("g").create_dataset("x", data=[1])


def _move_utf8(f) -> None:
    f.move("g/x", "g/ïx")


LIBVER_ARGS = {"def": {}, "latest": {"libver": "latest"}, "v110": {"libver": ("earliest", "v110")}}


def utf8_links() -> dict[str, bytes]:
    """UTF-8 link names under default libver, ('earliest', 'v110') and 'latest': a soft
    link, a group's subgroup made in a later session, a dataset renamed (f.move)."""
    out = {}
    for lv, kw in LIBVER_ARGS.items():
        out[f"ctl-oh5-soft-utf8-{lv}.h5"] = sessions([_soft], **kw)
        out[f"ctl-oh5-subgroup-utf8-later-{lv}.h5"] = sessions([_group_a, _group_a_sub], **kw)
        out[f"ctl-oh5-move-utf8-{lv}.h5"] = sessions([_moved, _move_utf8], **kw)
    return out


def h5py_controls() -> dict[str, bytes]:
    out = {}
    for lv in LIBVERS:
        for t in (False, True):
            tag = f"{'t' if t else 'u'}-{lv}"
            out[f"ctl-oh5-utf8-{tag}.h5"] = sessions(_utf8_steps(t), **_kw(lv),
                                                     track_order=t)
            out[f"ctl-oh5-dense-utf8-{tag}.h5"] = sessions(_dense_utf8(t), **_kw(lv),
                                                           track_order=t)
            out[f"ctl-oh5-flushes-{tag}.h5"] = sessions(_flushes(t), **_kw(lv))
        out[f"ctl-oh5-del-attr-{lv}.h5"] = sessions(_delete_steps(), **_kw(lv))
    # one session, default libver: a group given a subgroup with a non-ASCII name
    out["ctl-oh5-stab-utf8-group.h5"] = sessions([lambda f: f.create_group("größe")])
    out["ctl-oh5-stab-utf8-subgroup.h5"] = sessions(
        [lambda f: f.create_group("g").create_group("größe")])
    out["ctl-oh5-stab-utf8-dataset.h5"] = sessions(
        [lambda f: f.create_dataset("données", data=[1, 2])])
    for lv in LIBVERS:
        out[f"ctl-oh5-scales-t-{lv}.h5"] = sessions([_scales], track_order=True, **_kw(lv))
    return out


def _tool_file(steps: list[Callable[[Path, str], None]]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="attackoh5-") as where:
        path = Path(where) / "f.nc"
        for i, step in enumerate(steps):
            step(path, "w" if i == 0 else "a")
        return path.read_bytes()


def _nc_first(path: Path, mode: str) -> None:
    import netCDF4
    with netCDF4.Dataset(path, mode, format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("x", 5)
        v = ds.createVariable("température", "f8", ("time", "x"))
        v.units = "K"
        v[0:2, :] = np.arange(10.0).reshape(2, 5)
        ds.title = "première"
        ds.setncattr("ünïcode", "ok")


def _nc_second(path: Path, mode: str) -> None:
    import netCDF4
    with netCDF4.Dataset(path, mode) as ds:
        ds["température"][2, :] = np.ones(5)
        w = ds.createVariable("pression", "f4", ("x",))
        w[:] = np.arange(5.0)
        w.long_name = "pression de l'air"
        ds.history = "appended"
        grp = ds.createGroup("données")
        grp.source = "session 2"


def _nc_third(path: Path, mode: str) -> None:
    import netCDF4
    with netCDF4.Dataset(path, mode) as ds:
        ds["pression"].setncattr("valid_max", 2000.0)
        ds.renameAttribute("history", "histoire")
        ds.delncattr("title")
        ds["données"].createVariable("n", "i4", ())


def _h5n_first(path: Path, mode: str) -> None:
    import h5netcdf
    with h5netcdf.File(path, mode) as f:
        f.dimensions = {"t": None, "x": 4}
        v = f.create_variable("ϑ", ("t", "x"), float)
        f.resize_dimension("t", 2)
        v[...] = np.arange(8.0).reshape(2, 4)
        v.attrs["units"] = "rad"
        f.attrs["titre"] = "été"


def _h5n_second(path: Path, mode: str) -> None:
    import h5netcdf
    with h5netcdf.File(path, mode) as f:
        f.resize_dimension("t", 3)
        f["ϑ"][2, :] = np.ones(4)
        g = f.create_group("sub")
        g.create_variable("y", ("x",), "i4", data=np.arange(4, dtype="i4"))
        f.attrs["histoire"] = "deuxième"


def _nc_two(names: tuple[str, ...]) -> Callable[[Path, str], None]:
    """One netCDF-4 session: dimension x and a variable (x,) of each name (a name 'x'
    makes x a coordinate variable)."""
    def step(path: Path, mode: str) -> None:
        import netCDF4
        with netCDF4.Dataset(path, mode) as ds:
            ds.createDimension("x", 3)
            for name in names:
                ds.createVariable(name, "f8", ("x",))[:] = np.arange(3.0)
    return step


def _nc_rich(path: Path, mode: str) -> None:
    """A CF-style netCDF-4 file: time series of a gridded field, a coordinate variable
    shared by two variables, a compressed variable, strings, a group."""
    import netCDF4
    with netCDF4.Dataset(path, mode, format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", 6)
        ds.createDimension("lon", 8)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        ds.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-50, 50, 6)
        v = ds.createVariable("tas", "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                              fill_value=-999.0)
        v.units = "K"
        t[0:3] = [0, 1, 2]
        v[0:3] = np.linspace(250.0, 300.0, 144).reshape(3, 6, 8)
        s = ds.createVariable("station", str, ("lat",))
        s[0] = "Zürich"
        g = ds.createGroup("meta")
        g.createDimension("n", 3)
        g.createVariable("n", "i8", ("n",))[:] = [1, 2, 3]
        ds.Conventions = "CF-1.8"


def _nc_append(path: Path, mode: str) -> None:
    import netCDF4
    with netCDF4.Dataset(path, mode) as ds:
        n = len(ds.dimensions["time"])
        ds["time"][n:n + 2] = [n, n + 1]
        ds["tas"][n:n + 2] = np.ones((2, 6, 8))


def _nc_classic(path: Path, mode: str) -> None:
    import netCDF4
    with netCDF4.Dataset(path, mode, format="NETCDF4_CLASSIC") as ds:
        ds.createDimension("x", 4)
        ds.createVariable("v", "f8", ("x",))[:] = np.arange(4.0)
        ds.title = "c"


def _h5n_legacy(path: Path, mode: str) -> None:
    import h5netcdf.legacyapi as legacy
    with legacy.Dataset(path, mode) as ds:
        if mode == "w":
            ds.createDimension("t", None)
            ds.createVariable("v", "f4", ("t",))[0:3] = [1, 2, 3]
            ds.setncattr("a", 1)
        else:
            ds["v"][3:5] = [4, 5]


def _scales(f) -> None:
    x = f.create_dataset("x", data=np.arange(3.0))
    x.make_scale("x")
    for name in ("a", "b"):
        f.create_dataset(name, data=np.arange(3.0)).dims[0].attach_scale(x)


def tool_controls() -> dict[str, bytes]:
    out = {}
    try:
        import netCDF4  # noqa: F401
        out["ctl-oh5-netcdf4-1.nc"] = _tool_file([_nc_first])
        out["ctl-oh5-netcdf4-2.nc"] = _tool_file([_nc_first, _nc_second])
        out["ctl-oh5-netcdf4-3.nc"] = _tool_file([_nc_first, _nc_second, _nc_third])
        out["ctl-oh5-nc-two-vars.nc"] = _tool_file([_nc_two(("a", "b"))])
        out["ctl-oh5-nc-coord-one-var.nc"] = _tool_file([_nc_two(("x", "a"))])
        out["ctl-oh5-nc-coord-two-vars.nc"] = _tool_file([_nc_two(("x", "a", "b"))])
        out["ctl-oh5-nc-cf.nc"] = _tool_file([_nc_rich])
        out["ctl-oh5-nc-cf-append.nc"] = _tool_file([_nc_rich, _nc_append])
        out["ctl-oh5-nc-classic.nc"] = _tool_file([_nc_classic])
    except ImportError:
        pass
    try:
        import h5netcdf  # noqa: F401
        out["ctl-oh5-h5netcdf-1.nc"] = _tool_file([_h5n_first])
        out["ctl-oh5-h5netcdf-2.nc"] = _tool_file([_h5n_first, _h5n_second])
        out["ctl-oh5-h5netcdf-legacy-append.nc"] = _tool_file([_h5n_legacy, _h5n_legacy])
    except ImportError:
        pass
    return out


def _astropy_table(n: int):
    import astropy.units as u
    from astropy.table import Table
    table = Table({"x": np.arange(n, dtype=float) * u.m, "name": [f"é{i}" for i in range(n)]})
    table.meta["observer"] = "Zoë"
    return table


def _astropy_file(writes: list[dict]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="attackoh5-") as where:
        path = Path(where) / "t.h5"
        for kw in writes:
            _astropy_table(kw.pop("n")).write(path, serialize_meta=True, **kw)
        return path.read_bytes()


def astropy_controls() -> dict[str, bytes]:
    """astropy.table's HDF5 writer (through h5py): a table with units and metadata, two
    tables in two jobs (append=True), one compressed, one replaced (overwrite=True)."""
    try:
        import astropy.table  # noqa: F401
    except ImportError:
        return {}
    return {
        "ctl-oh5-astropy-one.h5": _astropy_file([{"n": 5, "path": "data"}]),
        "ctl-oh5-astropy-two-jobs.h5": _astropy_file([{"n": 5, "path": "a"},
                                                      {"n": 7, "path": "b", "append": True}]),
        "ctl-oh5-astropy-compressed.h5": _astropy_file([{"n": 500, "path": "a",
                                                         "compression": True}]),
        "ctl-oh5-astropy-overwrite.h5": _astropy_file([
            {"n": 5, "path": "a"}, {"n": 7, "path": "a", "append": True, "overwrite": True}]),
    }


def controls() -> dict[str, bytes]:
    return h5py_controls() | utf8_links() | tool_controls() | astropy_controls()
