"""A dimension scale's REFERENCE_LIST rewritten at each attach (session 39, attack oh5's
netCDF-4 false rejections; scalelists.py): H5DSattach_scale deletes the list and creates
it anew one entry longer, so an object tracking attribute creation order (every object
netCDF-C writes; h5py's track_order=True) shows one missing order per attach after the
first, and the deleted copies stay where libhdf5 freed them (a freed continuation block,
a dense heap's free space). Exactly that is admitted: at most entries - 1 orders
missing, all below the list's, the copies the list's first k entries with the k-th
missing order; a user's deletion beside it, more missing orders, a copy changed, are
refused."""

from __future__ import annotations

import io
import re
import struct
import tempfile
from pathlib import Path

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_nh5_nulls import headers
from tests.support.attack_nh5_tools import lookup3
from tests.support.hdf5_attack_c_bytes import resum
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import dense, scalelists

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

_ORDERS = "the creation orders of the attributes of /x are not"


def _scale(n: int, libver: str = "latest", attributes: int = 0, delete: bool = False) -> bytes:
    """/x a dimension scale tracking attribute order (and `attributes` floats: dense from
    9), attached to n datasets; `delete`: then one of its attributes deleted."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=libver) as f:
        x = f.create_dataset("x", data=np.arange(3.0), track_order=True)
        for i in range(attributes):
            x.attrs[f"u{i}"] = float(i)
        x.make_scale("x")
        for i in range(n):
            f.create_dataset(f"v{i}", data=np.arange(3.0)).dims[0].attach_scale(x)
        if delete:
            del x.attrs["u0"]
    return buf.getvalue()


@pytest.mark.parametrize("libver", ["latest", "earliest"])
@pytest.mark.parametrize("attributes", [0, 10])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_h5py_scales_attached_many_times_pass(n, attributes, libver):
    assert _refusal(_scale(n, libver, attributes)) == ""


@pytest.mark.parametrize("attributes", [2, 10])
def test_an_attribute_deleted_beside_the_rewrites_is_refused(attributes):
    assert _ORDERS in _refusal(_scale(3, attributes=attributes, delete=True))


def test_the_rule_on_its_own():
    dense.creation_orders([0, 1, 4, 2], (5, None), "/x", rewritten=(2, 4))  # 3 missing, below 4
    dense.creation_orders([0, 1, 4, 2], (5, None), "/x", rewritten=(1, 4))
    for orders, following, rewritten in (
        ([0, 1, 4, 2], 5, (0, 0)),  # no list: no gap
        ([0, 1, 4], 5, (1, 4)),  # two missing, one rewrite
        ([0, 1, 2, 3], 5, (1, 3)),  # the missing one above the list's order (3)
        ([0, 1, 3, 4], 5, (1, 2)),  # missing above the list's own order
        ([0, 1, 1, 3], 4, (2, 3)),  # twice the same
    ):
        with pytest.raises(Invalid, match="creation orders"):
            dense.creation_orders(orders, (following, None), "/x", rewritten=rewritten)


def _next_order(data: bytes, path: str, delta: int) -> bytes:
    """The attribute info message's next creation order of `path` moved by `delta`."""
    hdr = headers(data)[path]
    info = next(m for m in hdr.msgs if m.type == 0x15)
    assert data[info.body + 1] & 0x01, "control: tracked"
    out = bytearray(data)
    (following,) = struct.unpack_from("<H", data, info.body + 2)
    struct.pack_into("<H", out, info.body + 2, following + delta)
    resum(out, hdr)
    return bytes(out)


def test_more_missing_orders_than_rewrites_are_refused():
    data = _scale(3)
    assert _refusal(data) == ""
    assert _ORDERS in _refusal(_next_order(data, "x", 1))


# ------------------------------------------------------------------ netCDF-C's copies left behind


def _nc(steps) -> bytes:
    pytest.importorskip("netCDF4")
    import netCDF4

    with tempfile.TemporaryDirectory(prefix="scalelists-") as where:
        path = Path(where) / "f.nc"
        for i, step in enumerate(steps):
            with netCDF4.Dataset(path, "w" if i == 0 else "a", format="NETCDF4") as ds:
                step(ds)
        return path.read_bytes()


def _two_vars(ds) -> None:
    ds.createDimension("x", 3)
    for name in ("a", "b"):
        ds.createVariable(name, "f8", ("x",))[:] = np.arange(3.0)


def _third(ds) -> None:
    ds.createVariable("c", "f8", ("x",))[:] = np.arange(3.0)


def _lists(data: bytes) -> list[int]:
    return [m.start() for m in re.finditer(rb"REFERENCE_LIST\0", data)]


def _freed_copy(data: bytes) -> tuple[int, int, int]:
    """(where the deleted copy's name is, its freed OCHK block, the block's length)."""
    live = {headers(data)["x"].chunks[-1][0]}
    blocks = [m.start() for m in re.finditer(rb"OCHK", data) if m.start() not in live]
    for block in blocks:
        n = next(n for n in range(12, 4096)
                 if struct.unpack_from("<I", data, block + n - 4)[0] == lookup3(data[block:block + n - 4]))
        names = [at for at in _lists(data) if block < at < block + n]
        if names:
            return names[0], block, n
    raise AssertionError("control: a freed block holding a deleted copy")


def _forged_block(data: bytes, at: int, new: bytes) -> str:
    name, block, n = _freed_copy(data)
    out = bytearray(data)
    out[at:at + len(new)] = new
    struct.pack_into("<I", out, block + n - 4, lookup3(bytes(out[block:block + n - 4])))
    return _refusal(bytes(out))


@pytest.mark.parametrize("steps", [[_two_vars], [_two_vars, _third]], ids=["one", "appended"])
def test_netcdf_scales_pass(steps):
    """netCDF-4's plainest files (attack oh5's ctl-oh5-nc-two-vars, ctl-oh5-netcdf4-2)."""
    data = _nc(steps)
    assert len(_lists(data)) >= 2, "control: a deleted copy is in the file"
    assert _refusal(data) == ""


def test_a_changed_copy_in_a_freed_block_is_refused():
    data = _nc([_two_vars])
    name, _, _ = _freed_copy(data)
    value = name + len(scalelists.NAME) + 1 + 0x30 + 0x14  # after the name, datatype, dataspace
    assert _forged_block(data, value, bytes(data[value:value + 8])) == ""  # control: unchanged
    assert _forged_block(data, value + 8, b"\x07") != ""  # the entry's dimension index
    assert _forged_block(data, value, b"PWND") != ""  # its reference
    assert _forged_block(data, name - 11, b"\x02") != ""  # its order field (3: the missing one)


def _dense_first(ds) -> None:
    """x, a coordinate variable with 12 attributes (dense), attached to p."""
    ds.createDimension("x", 3)
    x = ds.createVariable("x", "f8", ("x",))
    for i in range(12):
        x.setncattr(f"a{i}", float(i))
    ds.createVariable("p", "f8", ("x",))


def _dense_second(ds) -> None:
    ds.createVariable("q", "f8", ("x",))
    ds["x"].setncattr("late", 2.0)


def _dense_one(ds) -> None:
    _dense_first(ds)
    for name in ("q", "r"):
        ds.createVariable(name, "f8", ("x",))


def test_a_dense_scale_in_one_session_passes():
    assert _refusal(_nc([_dense_one])) == ""


def test_a_dense_scale_appended_to_passes():
    """A false rejection until session 40: the rewrite in the later session empties a heap
    block, libhdf5 reverts the heap and frees its root indirect block, whose tail stays
    behind the free-space section list written over its start (revertedroots.py; its
    adversarial cases: test_hdf5_revertedroots.py)."""
    assert _refusal(_nc([_dense_first, _dense_second])) == ""


def test_a_deleted_copy_in_a_dense_heap_s_free_range():
    """fractalheap._remains on its own (the netCDF files whose heap holds a deleted copy
    as a whole file: test_a_dense_scale_appended_to_passes): the copy from the range's start or
    from that of an object placed there since, then zeros; each copy once."""
    from vmguard.quarantine.validators.hdf5.fractalheap import Heap, _remains

    copy = bytes(range(1, 61))

    def heap() -> Heap:
        return Heap(address=0, what="h", id_len=8, off_size=4, len_size=2, checksummed=True,
                    table=(4, 1024, 65536, 32), copies=((copy,),))

    assert _remains(heap(), copy + bytes(20), 100, [])
    assert _remains(heap(), copy[24:] + bytes(4), 124, [(100, 24)])  # an object took its start
    h = heap()
    assert _remains(h, copy, 100, []) and not _remains(h, copy, 300, [])  # once
    h.copies = ((bytes(60), copy),)  # a copy in two encodings (session 40: scalelists._reencoded)
    assert _remains(h, copy, 100, []) and h.copies == ()  # the other encoding once, then neither
    for data, gap, objects in (
        (copy[:-1] + b"\x00" + bytes(4), 100, []),  # changed
        (copy + b"\x01", 100, []),  # data after it
        (copy[24:], 124, []),  # no object took its start
        (copy[20:], 124, [(100, 24)]),  # not from that object's start
        (bytes(4) + copy, 96, []),  # not at the range's start
    ):
        assert not _remains(heap(), data, gap, objects)
