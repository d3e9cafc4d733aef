"""Controls of attack sh5: real multi-session netCDF4 / h5netcdf / h5py workflows that
leave the leftovers session 40 admitted (freed REFERENCE_LIST copies, dimension-only
header tails, `_Netcdf4Dimid` set twice, lists re-encoded by h5netcdf, reverted heaps)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5netcdf
import h5py
import netCDF4
import numpy as np


def h5_scale_sessions(path: Path) -> None:
    """h5py's attach_scale over three sessions (default libver): earlier lists freed."""
    with h5py.File(path, "w") as f:
        x = f.create_dataset("x", data=np.arange(4.0))
        x.make_scale("x")
        f.create_dataset("d", data=np.ones(4)).dims[0].attach_scale(x)
    for name in ("e", "g"):
        with h5py.File(path, "a") as f:
            f.create_dataset(name, data=np.zeros(4)).dims[0].attach_scale(f["x"])


def nc4_classic_coord(path: Path) -> None:
    """NETCDF4_CLASSIC coordinate variable: the dimension-only header's tail left."""
    with netCDF4.Dataset(path, "w", format="NETCDF4_CLASSIC") as d:
        d.createDimension("x", 5)
        d.createVariable("x", "f4", ("x",))[:] = np.arange(5)
        d.createVariable("t", "f8", ("x",))[:] = 1.0


def h5nc_coord(path: Path) -> None:
    """h5netcdf's coordinate variable: `_Netcdf4Dimid` set twice."""
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"x": 4}
        f.create_variable("x", ("x",), "f4")[:] = np.arange(4)
        f.create_variable("t", ("x",), "f8")[:] = 1.0


def nc4_then_h5nc(path: Path) -> None:
    """netCDF4-python twice, then h5netcdf appending: lists in either encoding."""
    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("x", 4)
        d.createVariable("x", "f4", ("x",))[:] = np.arange(4)
        d.createVariable("t", "f8", ("x",))[:] = 1.0
    with netCDF4.Dataset(path, "a") as d:
        d.createVariable("u", "f8", ("x",))[:] = 2.0
    with h5netcdf.File(path, "a") as f:
        f.create_variable("w", ("x",), "f8")[:] = 3.0


def nc4_sessions(path: Path, sessions: int) -> None:
    """netCDF4-python appending one variable a session."""
    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("x", 4)
        d.createVariable("x", "f4", ("x",))[:] = np.arange(4)
    for i in range(sessions):
        with netCDF4.Dataset(path, "a") as d:
            d.createVariable(f"u{i}", "f8", ("x",))[:] = i


def h5nc_then_nc4(path: Path) -> None:
    """h5netcdf's coordinate variable, then ONE netCDF4-python session appending."""
    h5nc_coord(path)
    with netCDF4.Dataset(path, "a") as d:
        d.createVariable("u", "f8", ("x",))[:] = 2.0


def h5_scales_latest(path: Path) -> None:
    """h5py's attach_scale over three sessions under libver='latest'."""
    for i, mode in enumerate("waa"):
        with h5py.File(path, mode, libver="latest") as f:
            if i == 0:
                f.create_dataset("x", data=np.arange(4.0)).make_scale("x")
            f.create_dataset(f"d{i}", data=np.ones(4)).dims[0].attach_scale(f["x"])


WRITERS: dict[str, Callable[[Path], None]] = {
    "h5-3sess.h5": h5_scale_sessions,
    "nc4c.nc": nc4_classic_coord,
    "h5nc.nc": h5nc_coord,
    "nc4-h5nc.nc": nc4_then_h5nc,
    "nc4-sess.nc": lambda p: nc4_sessions(p, 3),
    "nc4-sess5.nc": lambda p: nc4_sessions(p, 5),
    "h5nc-nc4.nc": h5nc_then_nc4,
    "h5-latest-3sess.h5": h5_scales_latest,
}


def controls(made: Path) -> dict[str, bytes]:
    """Each workflow's file, written here by the real tools."""
    made.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, write in WRITERS.items():
        write(made / name)
        out[f"ctl/{name}"] = (made / name).read_bytes()
    return out
