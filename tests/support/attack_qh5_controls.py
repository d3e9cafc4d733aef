"""Ordinary output of attack q h5 (session 40): h5py groups libhdf5 converts for a non-ASCII
link name, dimension scales attached in one or several sessions and across groups, and
netCDF4-python / h5netcdf files with dimensions, groups and appended variables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np


def _sessions(path: Path, steps: list[Callable[[h5py.File], None]], **kw) -> None:
    """Each step in a session of its own (the first creates the file)."""
    for i, step in enumerate(steps):
        with h5py.File(path, "w" if i == 0 else "a", **kw) as f:
            step(f)


def _datasets(group: str, names: list[str]) -> Callable[[h5py.File], None]:
    def step(f: h5py.File) -> None:
        g = f.require_group(group)
        for i, name in enumerate(names):
            g.create_dataset(name, data=np.arange(3) + i)

    return step


def _root(names: list[str]) -> Callable[[h5py.File], None]:
    def step(f: h5py.File) -> None:
        for i, name in enumerate(names):
            f[name] = np.arange(i + 1)

    return step


def h5py_groups(made: Path) -> dict[str, Path]:
    """Old-style groups given a non-ASCII name: `f[name] = ...` converts (UTF-8 link),
    `create_dataset` does not; later sessions add ASCII links."""
    d10 = [f"d{i:02d}" for i in range(10)]
    plans = {
        "g-create-mu.h5": [_datasets("g", d10), _datasets("g", ["μm"])],
        "g-create-mu-late.h5": [_datasets("g", d10), _datasets("g", ["μm", "late0", "late1"])],
        "root-converted.h5": [_root([f"x{i}" for i in range(5)]), _root(["größe"])],
        "root-converted-3s.h5": [_root(["a", "b"]), _root(["größe"]), _root(["c", "d", "é"])],
        "g-converted.h5": [_datasets("g", ["a", "b", "c"]), lambda f: f["g"].__setitem__("ß", [1])],
    }
    out = {}
    for name, steps in plans.items():
        _sessions(made / name, steps)
        out[name] = made / name
    return out


def _scale(f: h5py.File, where: str = "t") -> h5py.Dataset:
    f[where] = np.arange(5.0)
    f[where].make_scale("t")
    return f[where]


def _attach(names: list[str]) -> Callable[[h5py.File], None]:
    def step(f: h5py.File) -> None:
        for name in names:
            f.create_dataset(name, data=np.ones(5)).dims[0].attach_scale(f["t"])

    return step


def h5py_scales(made: Path) -> dict[str, Path]:
    """h5py's dims: a scale attached to 5 datasets, across groups, and in two sessions."""
    plans = {
        "dims-one-session.h5": [lambda f: (_scale(f), _attach([f"v{i}" for i in range(5)])(f))],
        "dims-groups-one-session.h5": [lambda f: (_scale(f), _attach([f"grp/v{i}" for i in range(3)])(f))],
        "dims-two-sessions.h5": [lambda f: (_scale(f), _attach(["v0"])(f)), _attach(["v1"])],
        "dims-groups-two-sessions.h5": [
            lambda f: (_scale(f), _attach([f"grp/v{i}" for i in range(3)])(f)),
            _attach(["g2/w"]),
        ],
    }
    out = {}
    for name, steps in plans.items():
        _sessions(made / name, steps)
        out[name] = made / name
    with h5py.File(made / "dims-tracked.h5", "w", track_order=True) as f:
        t = f.create_dataset("t", data=np.arange(5.0), track_order=True)
        t.make_scale("t")
        for i in range(12):
            t.attrs[f"a{i}"] = i
        for i in range(3):
            f.create_dataset(f"v{i}", data=np.zeros(5), track_order=True).dims[0].attach_scale(t)
    out["dims-tracked.h5"] = made / "dims-tracked.h5"
    return out


def _nc_base(ds, groups: bool) -> None:
    ds.createDimension("time", None)
    ds.createDimension("x", 4)
    t = ds.createVariable("time", "f8", ("time",))
    t.units = "s"
    ds.createVariable("x", "f4", ("x",))[:] = np.arange(4)
    v = ds.createVariable("temp", "f4", ("time", "x"))
    v.units = "K"
    t[0:2] = [0, 1]
    v[0:2, :] = 1.5
    if groups:
        g = ds.createGroup("sub")
        g.createDimension("y", 3)
        g.createVariable("y", "i4", ("y",))[:] = [1, 2, 3]
        g.createVariable("w", "f8", ("time", "y"))[0:2, :] = 2.0
        g.createVariable("w2", "f8", ("x", "y"))[:] = 3.0


def netcdf(made: Path) -> dict[str, Path]:
    import netCDF4

    out = {}
    for name, groups, sessions, fmt in (
        ("nc4-simple.nc", False, 1, "NETCDF4"),
        ("nc4-groups.nc", True, 1, "NETCDF4"),
        ("nc4-appended.nc", True, 3, "NETCDF4"),
        ("nc4-classic.nc", False, 1, "NETCDF4_CLASSIC"),
    ):
        path = out[name] = made / name
        with netCDF4.Dataset(path, "w", format=fmt) as ds:
            _nc_base(ds, groups)
        for s in range(1, sessions):
            with netCDF4.Dataset(path, "a") as ds:
                ds.createVariable(f"extra{s}", "f8", ("time", "x"))[:] = s
                ds["time"][1 + s] = 1 + s
                ds.setncattr(f"history{s}", f"session {s}")
    out |= _netcdf_small(made)
    return out


def _netcdf_small(made: Path) -> dict[str, Path]:
    import netCDF4

    out = {}
    with netCDF4.Dataset(made / "nc4-classic-min.nc", "w", format="NETCDF4_CLASSIC") as ds:
        ds.createDimension("x", 3)
        ds.createVariable("v", "f4", ("x",))[:] = 1
    with netCDF4.Dataset(made / "nc4-classic-coord.nc", "w", format="NETCDF4_CLASSIC") as ds:
        ds.createDimension("x", 3)
        ds.createVariable("x", "f4", ("x",))[:] = 1
    with netCDF4.Dataset(made / "nc4-subgroup.nc", "w") as ds:
        ds.createDimension("x", 4)
        g = ds.createGroup("sub")
        g.createDimension("y", 3)
        g.createVariable("y", "i4", ("y",))[:] = [1, 2, 3]
        g.createVariable("w2", "f8", ("x", "y"))[:] = 3.0
    with netCDF4.Dataset(made / "nc4-many-attrs.nc", "w") as ds:
        ds.createDimension("x", 3)
        x = ds.createVariable("x", "f8", ("x",))
        x[:] = [1, 2, 3]
        for i in range(12):
            x.setncattr(f"att{i}", i)
            ds.setncattr(f"g{i}", f"value {i}")
        ds.createVariable("v", "f8", ("x",))[:] = 0
    with netCDF4.Dataset(made / "nc4-strings.nc", "w") as ds:
        ds.createDimension("n", 2)
        s = ds.createVariable("names", str, ("n",))
        s[0], s[1] = "alpha", "beta γ"
    for name in ("nc4-classic-min.nc", "nc4-classic-coord.nc", "nc4-subgroup.nc",
                 "nc4-many-attrs.nc", "nc4-strings.nc"):  # fmt: skip
        out[name] = made / name
    return out


def h5netcdf_files(made: Path) -> dict[str, Path]:
    import h5netcdf

    path = made / "h5nc-coord.nc"
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"x": 5}
        f.create_variable("x", ("x",), float)[:] = np.arange(5)
        f.create_group("sub").create_variable("w", ("x",), "i4")[:] = 1
    with h5netcdf.File(path, "a") as f:
        f.create_variable("late", ("x",), "f4")[:] = 7
    return {"h5nc-coord.nc": path}


def dense_deleted(made: Path) -> dict[str, Path]:
    """14 float attributes (dense storage), then every third deleted in a later session."""
    out = {}
    for libver, track in (("latest", False), (None, True)):
        name = f"dense-del-{libver or 'tracked'}.h5"
        kw = {"libver": libver} if libver else {}
        with h5py.File(made / name, "w", **kw) as f:
            d = f.create_dataset("d", data=np.arange(4), track_order=track)
            for i in range(14):
                d.attrs[f"a{i:02d}"] = np.arange(i + 1.0)
        with h5py.File(made / name, "a", **kw) as f:
            for i in range(0, 14, 3):
                del f["d"].attrs[f"a{i:02d}"]
        out[name] = made / name
    return out


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    paths = h5py_groups(made) | h5py_scales(made) | netcdf(made)
    paths |= h5netcdf_files(made) | dense_deleted(made)
    return {name: path.read_bytes() for name, path in paths.items()}
