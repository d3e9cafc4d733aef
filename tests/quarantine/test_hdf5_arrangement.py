"""Where an HDF5 file's structures lie and in what order (issue #13, session 31: the
fourth attack's global heap, header order and null message classes), and the h5py output
those rules must not refuse: dimension scales, strings overwritten (empty ones too),
datasets of every creation kind with attributes added, deleted and rewritten later.

Pinned (arrangement.py, storage.py): a header without continuation blocks starts with
its kind's creation messages in libhdf5's order and ends with its one null message;
global heap objects lie in the order of their numbers; every object is named by a value
but an empty value's (libhdf5 never frees it). Crafted files break one rule each."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support.hdf5_attack_c_bytes import addr_of, h5file, header, resum  # noqa: E402
from tests.support.hdf5_attack_d_bytes import data_offset, gcol_objects  # noqa: E402
from tests.support.hdf5_attack_d_cases import _reorder  # noqa: E402
from tests.support.hdf5_attack_d_ctl import write  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402

STR = h5py.string_dtype()
LIBVERS = {"earliest": "earliest", "latest": "latest", "v110": ("v110", "v110")}


def _scales(f) -> None:
    """Two axes made scales, attached to two datasets (netCDF-4's layout), one detached."""
    x, y = f.create_dataset("x", data=np.arange(4.0)), f.create_dataset("y", data=np.arange(3.0))
    x.make_scale("x")
    y.make_scale()
    for name in ("t", "u"):
        d = f.create_dataset(name, data=np.zeros((4, 3)))
        d.dims[0].attach_scale(x)
        d.dims[1].attach_scale(y)
        d.dims[0].label = "x"
    f["u"].dims[1].detach_scale(y)


def _kinds(f) -> None:
    """A dataset of each creation kind: compact, a fill value, times, tracked attribute
    order with every filter, a committed datatype, a wide compound, a resized one."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, h5py.h5s.create_simple((10,)), dcpl=dcpl)
    f.create_dataset("fill", shape=(10,), dtype="i4", fillvalue=7)
    f.create_dataset("times", data=np.arange(3), track_times=True)
    d = f.create_dataset("tracked", data=np.arange(100), chunks=(10,), compression="gzip",
                         shuffle=True, fletcher32=True, track_order=True)
    d.attrs["a"], d.attrs["b"] = 1, "s"
    f["T"] = np.dtype("<f4")
    f["T"].attrs["unit"] = "m"
    f.create_dataset("typed", data=np.arange(3, dtype="f4"), dtype=f["T"])
    f.create_dataset("wide", data=np.zeros(3, [(f"m{i:03d}", "<i4") for i in range(60)]))
    f.create_dataset("ext", shape=(0,), maxshape=(None,), chunks=(5,), dtype="f8").resize((12,))


def _later(f) -> None:
    """Attributes added, deleted and rewritten in a later session."""
    f["fill"].attrs["x"] = np.arange(3)
    f["times"].attrs["k"], f["times"].attrs["q"] = 2.0, 1
    del f["times"].attrs["k"]
    f["tracked"].attrs["c"] = 3
    f["typed"].attrs["z"] = 1
    f["typed"].attrs["z"] = 2


def _overwritten(seed: int):
    """Strings and sequences overwritten at random, empty ones among them, and grown."""
    def build(f) -> None:
        r = random.Random(seed)
        s = f.create_dataset("s", data=[f"v{i}" * r.randint(0, 9) for i in range(10)], dtype=STR,
                             maxshape=(None,))
        v = f.create_dataset("v", (5,), dtype=h5py.vlen_dtype("i4"))
        for k in range(30):
            s[r.randrange(10)] = "x" * r.randint(0, 40)
            if k % 3 == 0:
                v[r.randrange(5)] = np.arange(r.randint(0, 9), dtype="i4")
            if k == 15:
                s.resize((14,))
                s[10:14] = ["a", "", "c", "d"]
    return build


def _reopened(f) -> None:
    f["s"][3], f["s"][0] = "reopened", "again" * 10


ORDINARY = {
    "scales": lambda v: write(_scales, libver=v),
    "kinds": lambda v: write(_kinds, libver=v),
    "kinds-later": lambda v: write(_kinds, [_later], libver=v),
    **{f"overwritten-{seed}": lambda v, s=seed: write(_overwritten(s), [_reopened], libver=v)
       for seed in range(4)},
}


@pytest.mark.parametrize("libver", sorted(LIBVERS))
@pytest.mark.parametrize("case", sorted(ORDINARY))
def test_ordinary_h5py_output_passes(case, libver):
    assert _refusal(ORDINARY[case](LIBVERS[libver])) == "accepted"


def _dataset(libver: str) -> bytearray:
    return h5file(lambda f: f.create_dataset("d", data=np.arange(4, dtype="i4")), libver=libver)


def _displaced(sizes: list[int]) -> set[tuple[int, ...]]:
    """The orders of messages 0..n-2 (the null last) that libhdf5 can leave: its own, and
    one message of at least 16 bytes moved after the others (displaced by a continuation
    message, moved back when the continuation block emptied)."""
    n = len(sizes) - 1
    moved = {tuple([k for k in range(n) if k != m] + [m, n]) for m in range(n) if sizes[m] >= 16}
    return moved | {tuple(range(n + 1))}


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_every_other_order_of_a_datasets_messages_is_refused(libver):
    """Dataspace, datatype, fill value, layout, null: every other order (120 in all)."""
    base = _dataset(libver)
    msgs = header(base, addr_of(base, "/d")).msgs
    assert [m.type for m in msgs] == [1, 3, 5, 8, 0]
    allowed = _displaced([m.size for m in msgs])
    assert len(allowed) == {"earliest": 3, "latest": 2}[libver]  # the datatype: 16 and 12 bytes
    for order in itertools.permutations(range(5)):
        data = bytearray(base)
        _reorder(data, "/d", list(order))
        refusal = _refusal(data)
        if order in allowed:
            assert refusal == "accepted", order
        else:
            assert "is not where libhdf5 writes it" in refusal or "is not its last message" in refusal, order


def test_a_committed_datatypes_messages_reordered_are_refused():
    def typed(f) -> None:
        f["T"] = np.dtype("<i2")  # its datatype message: 12 bytes, too few for one displaced
        f["T"].attrs["unit"] = "m"

    data = h5file(typed, libver="latest")
    assert [m.type for m in header(data, addr_of(data, "/T")).msgs] == [3, 0x15, 0x0C]
    assert _refusal(data) == "accepted"
    _reorder(data, "/T", [1, 0, 2])
    assert "the datatype message of /T is not where libhdf5 writes it" in _refusal(data)


def test_a_groups_info_messages_after_its_links_are_refused():
    """Link info, group info, link, null: the group info after the link is refused; the
    link info after the others is what a link info rewritten for dense storage leaves."""
    base = h5file(lambda f: f.create_group("g").create_dataset("x", data=np.arange(2)), libver="latest")
    assert [m.type for m in header(base, addr_of(base, "/g")).msgs] == [2, 0x0A, 6, 0]
    for order, refusal in (((0, 2, 1, 3), "the group info message of /g is not where"),
                           ((2, 0, 1, 3), "the link info message of /g is not where"),
                           ((1, 2, 0, 3), "accepted")):
        data = bytearray(base)
        _reorder(data, "/g", list(order))
        assert refusal in _refusal(data), order


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_free_space_cut_into_null_messages_is_refused(libver):
    """The header's one null message cut in two, both zeros (the first 8 or 16 bytes)."""
    for first in (8, 16):
        data = _dataset(libver)
        hdr = header(data, addr_of(data, "/d"))
        nil = hdr.msgs[-1]
        width = nil.body - nil.head
        rest = nil.size - first - width
        pack = "<HHB3x" if hdr.version == 1 else "<BHB"
        data[nil.head:nil.body + nil.size] = (struct.pack(pack, 0, first, 0) + bytes(first)
                                             + struct.pack(pack, 0, rest, 0) + bytes(rest))
        if hdr.version == 1:
            struct.pack_into("<H", data, hdr.start + 2, struct.unpack_from("<H", data, hdr.start + 2)[0] + 1)
        resum(data, hdr)
        assert "holds 2 null messages and no continuation block" in _refusal(data)


def _strings(values: list[str]) -> bytearray:
    return h5file(lambda f: f.create_dataset("s", data=values, dtype=STR))


def test_global_heap_objects_out_of_number_order_are_refused():
    data = _strings(["ab", "cd", "ef"])
    one, two, _ = (o for o in gcol_objects(data, data.index(b"GCOL")) if o.index)
    width = two.at - one.at
    data[one.at:one.at + 2 * width] = data[two.at:two.at + width] + data[one.at:one.at + width]
    assert "holds object 1 after object 2" in _refusal(data)


def test_an_object_named_by_no_value_is_refused_unless_empty():
    """An empty value overwritten leaves its object of 0 bytes (libhdf5 never frees it):
    passes; a string attribute rewritten leaves the old string: refused, naming h5repack."""
    def emptied(f) -> None:
        f.create_dataset("s", data=["a", ""], dtype=STR)[1] = "q"

    def status(f) -> None:
        f.attrs["status"] = "running"
        f.attrs["status"] = "done"

    data = h5file(emptied)
    sizes = [o.size for o in gcol_objects(data, data.index(b"GCOL")) if o.index]
    assert len(sizes) == 3 and sizes.count(0) == 1  # two values, three objects
    assert _refusal(data) == "accepted"
    assert "(libhdf5 leaves the variable-length values of an attribute rewritten or deleted in the " \
           "global heap: the remains of a deleted object: h5repack the file)" in _refusal(h5file(status))


def test_a_value_naming_an_absent_object_is_refused():
    data = _strings(["a", ""])
    at = data_offset(data, "/s")
    struct.pack_into("<I", data, at + 16 + 12, 5)  # the empty value's object index
    assert "lacks object 5, which a value refers to" in _refusal(data)


def test_a_dimension_list_naming_no_object_is_refused():
    """DIMENSION_LIST's heap object holds the scale's address: moved by 8, it names none."""
    data = bytearray(write(_scales))
    scale = struct.pack("<Q", addr_of(data, "/x"))
    heap = data.index(b"GCOL")
    where = data.index(scale, heap)
    assert any(o.at + 16 == where and o.size == 8 for o in gcol_objects(data, heap))
    data[where:where + 8] = struct.pack("<Q", addr_of(data, "/x") + 8)
    assert "an object reference to no object" in _refusal(data)
