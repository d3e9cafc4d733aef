"""Real netCDF-4 and h5py dimension-scale workflows vet admits whole (session 40, helper
ncfr: attack qh5's false rejections), and the bytes newly admitted for them pinned.

h5py under the default libver (version 1 headers) rewrites a scale's REFERENCE_LIST one
entry longer at each attach; a full header holds it in a continuation block of its own,
which libhdf5 frees unrewritten when the next attach deletes the list: the block keeps
the list as it was (oldlists.py). Every such workflow passes; a byte of the kept copy
changed, the copy shifted, two copies, or a byte after it, stay refused."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import deleteddims
from vmguard.quarantine.validators.hdf5.checksum import lookup3
from vmguard.quarantine.validators.hdf5.objects import walk


def _sessions(steps, **kw) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.h5"
        for i, step in enumerate(steps):
            with h5py.File(path, "w" if i == 0 else "a", **kw) as f:
                step(f)
        return path.read_bytes()


def _scale(name: str = "t", n: int = 5):
    def step(f: h5py.File) -> None:
        f[name] = np.arange(float(n))
        f[name].make_scale(name)

    return step


def _attach(*names: str, scale: str = "t", n: int = 5):
    def step(f: h5py.File) -> None:
        for name in names:
            f.create_dataset(name, data=np.ones(n)).dims[0].attach_scale(f[scale])

    return step


def _both(*steps):
    def step(f: h5py.File) -> None:
        for s in steps:
            s(f)

    return step


H5PY = {
    "scale-2-sessions": [_both(_scale(), _attach("v0")), _attach("v1")],
    "scale-4-sessions": [_both(_scale(), _attach("v0")), _attach("v1"), _attach("v2"), _attach("v3")],
    "scale-groups-2-sessions": [_both(_scale(), _attach("g/a", "g/b", "g/c")), _attach("h/w")],
    "scale-2-per-session": [_both(_scale(), _attach("v0", "v1")), _attach("v2", "v3"), _attach("v4")],
    "two-scales-3-sessions": [
        _both(_scale("t"), _scale("s", 3), _attach("v0"), _attach("w0", scale="s", n=3)),
        _both(_attach("v1"), _attach("w1", scale="s", n=3)),
        _attach("w2", scale="s", n=3),
    ],
    "12-scales-in-groups-3-sessions": [  # one scale a group: (20 in / alone move its heap
        # where remains.py does not look, refused before session 40 alike)
        _both(*(_scale(f"g{i}/t") for i in range(12)), *(_attach(f"g{i}/a", scale=f"g{i}/t") for i in range(12))),
        _both(*(_attach(f"g{i}/b", scale=f"g{i}/t") for i in range(12))),
        _both(*(_attach(f"g{i}/c", f"g{i}/d", scale=f"g{i}/t") for i in range(12))),
    ],
    "scale-then-data-sessions": [_both(_scale(), _attach("v0")), _attach("v1"), lambda f: f.__setitem__("z", [1])],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(H5PY))
def test_h5py_scales_attached_over_sessions_pass(name):
    assert _refusal(_sessions(H5PY[name])) == ""


def _stale(data: bytes) -> tuple[int, int]:
    """(start, end) of the earlier list a freed block keeps: the REFERENCE_LIST message
    outside every structure the walk claims."""
    claimed = sorted(walk(data, len(data)).items())
    at = data.find(b"REFERENCE_LIST")
    while any(s <= at < e for s, (e, _) in claimed):
        at = data.find(b"REFERENCE_LIST", at + 1)
    start = at - 16  # message header (8) and the attribute's fields (8) before the name
    return start, start + 8 + int.from_bytes(data[start + 2 : start + 4], "little")


@pytest.fixture(scope="module")
def two() -> tuple[bytes, int, int]:
    data = _sessions(H5PY["scale-2-sessions"])
    return (data, *_stale(data))


def test_the_copy_is_there(two):
    data, start, end = two
    assert data[start : start + 2] == b"\x0c\x00" and end - start == 192
    assert not data[end : end + 64].strip(b"\0")


@pytest.mark.parametrize("offset", [2, 4, 5, 17, 40, 80, 120, 140, 150, 160, 176, 184, 191])
def test_one_byte_of_the_copy_changed_is_refused(two, offset):
    data, start, _ = two
    at = start + offset
    assert "reached from no structure" in _refusal(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])


def test_a_chosen_byte_after_the_copy_is_refused(two):
    data, _, end = two
    assert "reached from no structure" in _refusal(data[: end + 8] + b"\x41" + data[end + 9 :])


def test_the_copy_shifted_is_refused(two):
    data, start, end = two
    moved = data[:start] + bytes(8) + data[start:end] + data[end + 8 :]
    assert "reached from no structure" in _refusal(moved)


def test_the_copy_twice_is_refused(two):
    data, start, end = two
    copy = data[start:end]
    assert "reached from no structure" in _refusal(data[:end] + copy + data[end + len(copy) :])


def test_the_live_list_s_own_length_is_refused(two):
    """A copy as long as the live list (dimensions 2, its entries) is no earlier state."""
    data, start, end = two
    live = data.find(b"REFERENCE_LIST", end) - 16
    size = 8 + int.from_bytes(data[live + 2 : live + 4], "little")
    forged = data[:start] + data[live : live + size] + data[start + size :]
    assert "reached from no structure" in _refusal(forged)


netCDF4 = pytest.importorskip("netCDF4")


def _nc(steps, fmt: str = "NETCDF4") -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.nc"
        for i, step in enumerate(steps):
            with netCDF4.Dataset(path, "w" if i == 0 else "a", format=fmt) as ds:
                step(ds)
        return path.read_bytes()


def _coords(*dims: str, n: int = 3, unlimited=(), attributes: int = 0, globals_: int = 0):
    def step(ds) -> None:
        for d in dims:
            ds.createDimension(d, None if d in unlimited else n)
        for d in dims:
            v = ds.createVariable(d, "f8", (d,))
            v[:] = np.arange(n)
            for i in range(attributes):
                v.setncattr(f"a{i}", i)
                if i < globals_:
                    ds.setncattr(f"g{i}", f"value {i}")

    return step


def _var(name: str, dims=("x",)):
    def step(ds) -> None:
        ds.createVariable(name, "f4", dims)[:] = 1

    return step


def _subgroup(ds) -> None:
    g = ds.createGroup("sub")
    g.createDimension("y", 3)
    g.createVariable("y", "i4", ("y",))[:] = [1, 2, 3]
    g.createVariable("w", "f8", ("x", "y"))[:] = 2.0


def _nc_both(*steps):
    def step(ds) -> None:
        for s in steps:
            s(ds)

    return step


NETCDF4 = {
    "coord-9-attributes": [_nc_both(_coords("x", attributes=9), _var("v"))],
    "coord-12-attributes": [_nc_both(_coords("x", attributes=12), _var("v"))],
    "group": [_nc_both(_coords("x"), _subgroup)],
    "group-2-sessions": [_coords("x"), _subgroup],
    "unlimited-2-sessions": [_nc_both(_coords("x", unlimited=("x",)), _var("v")), _var("w")],
    "3-sessions": [_nc_both(_coords("x"), _var("v")), _var("w"), _var("u")],
}
CLASSIC = {  # passing since session 40 (deleteddims.py): refused before
    "one-coordinate": [_coords("x")],
    "coordinate-and-variable": [_nc_both(_coords("x"), _var("v"))],
    "coordinate-2-sessions": [_coords("x"), _var("v")],
    "coordinate-of-100000": [_coords("x", n=100000)],
}


@pytest.mark.parametrize("name", sorted(NETCDF4))
def test_netcdf4_workflows_pass(name):
    assert _refusal(_nc(NETCDF4[name])) == ""


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_classic_coordinate_variables_pass(name):
    assert _refusal(_nc(CLASSIC[name], "NETCDF4_CLASSIC")) == ""


@pytest.mark.parametrize(
    "name, why",
    [
        ("two-coordinates", "the creation orders of the links of /"),  # documented: nc4-classic.nc
        ("unlimited-coordinate", "reached from no structure"),  # a chunked dimension-only dataset
    ],
)
def test_classic_still_refused(name, why):
    steps = {
        "two-coordinates": [_nc_both(_coords("x", "y"), _var("v", ("x", "y")))],
        "unlimited-coordinate": [_nc_both(_coords("t", unlimited=("t",)), _var("v", ("t",)))],
    }[name]
    assert why in _refusal(_nc(steps, "NETCDF4_CLASSIC"))


@pytest.fixture(scope="module")
def classic() -> tuple[bytes, int, int]:
    """The one-coordinate classic file and where the deleted header's tail lies."""
    data = _nc(CLASSIC["one-coordinate"], "NETCDF4_CLASSIC")
    start = max(e for _, (e, what) in walk(data, len(data)).items() if what == "the object header of /x")
    at = data.rfind(b"OHDR", 0, start)
    return data, start, at + len(deleteddims.header(3, 0))


def test_the_tail_is_the_dimension_only_header_s(classic):
    data, start, end = classic
    old = deleteddims.header(3, 0)
    assert data[start:end] == old[-(end - start) :] and end - start >= 8


@pytest.mark.parametrize("back", [1, 2, 4, 5, 8, 9, 12, 20])
def test_one_byte_of_the_tail_changed_is_refused(classic, back):
    data, _, end = classic
    at = end - back
    assert "reached from no structure" in _refusal(data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :])


@pytest.mark.parametrize("length, dimid", [(3, 1), (4, 0), (3, 0x41414141)])
def test_another_dimension_s_header_is_refused(classic, length, dimid):
    """A tail recomputed for another id or length (a chosen value, checksum right) is
    refused: both are pinned by the live variable."""
    data, start, end = classic
    forged = deleteddims.header(length, dimid)[-(end - start) :]
    assert "reached from no structure" in _refusal(data[:start] + forged + data[end:])


def test_a_stale_layout_in_a_null_is_its_unallocated_image():
    """nullpieces.before_storage: the null of /x (12 attributes moved to dense storage)
    holds the tail of its layout message as it was before the data was written (address
    undefined); that matched, the file's refusal is the next thing (bytes after /x's
    header, attack qh5's nc4-many-attrs.nc), and a byte of that stale tail changed is
    refused as the null it is."""
    data = _nc([_nc_both(_coords("x", attributes=12, globals_=12), _var("v"))])
    assert "after the object header of /x" in _refusal(data)
    at = data.find(b"\xff" * 8 + (24).to_bytes(8, "little"))
    head = data.rfind(b"OHDR", 0, at)
    assert data[head + 5] & 0x33 == 0x01  # chunk 0's size in 2 bytes, no times or phase change
    end = head + 8 + int.from_bytes(data[head + 6 : head + 8], "little")
    changed = bytearray(data)
    changed[at + 9] = 0x19
    changed[end : end + 4] = lookup3(bytes(changed[head:end])).to_bytes(4, "little")
    assert "a null message in the object header of /x" in _refusal(bytes(changed))
