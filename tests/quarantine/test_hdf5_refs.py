"""References in HDF5 elements (issue #13, "vet to the last byte"): an object reference
names an object header the walk reached (or is h5py's null reference, 0; the superblock
extension is no object), and a dataset region reference's global heap object is walked to
its last byte (regions.py): the dataset it names, its serialized selection's fields, every
coordinate inside the dataset. h5py's references pass and read back (the controls); one
byte changed where no reader looks is refused naming the rule."""

from __future__ import annotations

import io

import pytest

from tests.quarantine.test_hdf5_bits import _changed, _offset
from tests.quarantine.test_hdf5_compound import _h5
from tests.quarantine.test_hdf5_walk import _refusal

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")
h5r = h5py.h5r


def _objrefs(f):
    d = f.create_dataset("data", data=np.arange(10))
    g = f.create_group("g")
    f.create_dataset("refs", data=np.array([f.ref, d.ref, g.ref, h5py.Reference()], dtype=h5py.ref_dtype))
    d.attrs["self"] = d.ref
    row = np.dtype([("n", "<i4"), ("r", h5py.ref_dtype)])
    f.create_dataset("rows", data=np.array([(1, g.ref), (2, d.ref)], dtype=row))


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_object_references_name_objects_of_the_file(libver):
    data = _h5(_objrefs, libver=libver)
    assert _refusal(data) == ""
    with h5py.File(io.BytesIO(data), "r") as f:
        target = h5py.h5o.get_info(f["data"].id).addr
        where = {name: _offset(data, name) for name in ("refs", "rows")}
    # a reference made to name a data extent (no object header): refused
    for at in (where["refs"] + 8, where["rows"] + 12 + 4):
        assert int.from_bytes(data[at : at + 8], "little") == target
        wrong = bytearray(data)
        wrong[at : at + 8] = where["refs"].to_bytes(8, "little")
        assert f"an object reference to no object (address {where['refs']})" in _refusal(bytes(wrong))


def test_an_object_reference_to_the_superblock_extension_is_refused():
    """The superblock extension has an object header, but it is no object of the file."""
    data = _h5(_objrefs, libver="latest", fs_strategy="aggregate")  # writes an extension
    assert _refusal(data) == ""
    extension = int.from_bytes(data[20:28], "little")
    assert extension != 2**64 - 1
    at = _offset(data, "refs") + 8
    wrong = bytearray(data)
    wrong[at : at + 8] = extension.to_bytes(8, "little")
    assert f"an object reference to no object (address {extension})" in _refusal(bytes(wrong))


# ------------------------------------------------------------------ region references


def _regions(f):
    d = f.create_dataset("data", data=np.arange(10))
    two = f.create_dataset("two", data=np.zeros((6, 7)))
    points = d.id.get_space()
    points.select_elements(np.array([[1], [4], [7]]))
    none = d.id.get_space()
    none.select_none()
    refs = [
        d.regionref[2:5],
        d.regionref[1:9:2],
        two.regionref[1:3, 2:6],
        two.regionref[()],
        d.regionref[[1, 4, 7]],
        d.regionref[[1, 2, 5]],  # not regular: blocks (v1, or v3 under libver='latest')
        two.regionref[[0, 3, 4], 1:3],
        h5r.create(f.id, b"data", h5r.DATASET_REGION, points),
        h5r.create(f.id, b"data", h5r.DATASET_REGION, none),
        h5py.RegionReference(),
    ]
    f.create_dataset("regionrefs", data=np.array(refs, dtype=h5py.regionref_dtype))
    f.attrs["r"] = d.regionref[3:4]


def _objects(data: bytes) -> list[tuple[int, bytes]]:
    """(address, bytes) of each object of the first global heap collection."""
    at, out = data.index(b"GCOL"), []
    pos = at + 16
    while int.from_bytes(data[pos : pos + 2], "little"):
        length = int.from_bytes(data[pos + 8 : pos + 16], "little")
        out.append((pos + 16, data[pos + 16 : pos + 16 + length]))
        pos += 16 + -(-length // 8) * 8
    return out


@pytest.mark.parametrize("libver", ["earliest", "v110", "latest"])
def test_region_references_pass_and_read_back(libver):
    data = _h5(_regions, libver=libver)
    assert _refusal(data) == ""
    forms = {(o[8], o[12], o[16] if o[12] > 1 else None) for _, o in _objects(data)}  # type, version, flags
    assert {"earliest": (2, 1, None), "v110": (2, 2, 1), "latest": (2, 3, 0)}[libver] in forms
    with h5py.File(io.BytesIO(data), "r") as f:
        refs = f["regionrefs"][()]
        assert list(f["data"][refs[0]]) == [2, 3, 4]
        assert f["two"][refs[2]].shape == (2, 4)


def test_a_region_reference_is_refused_for_each_byte_a_reader_would_not_return():
    data = _h5(_regions)
    objects = _objects(data)
    first_at, first = objects[0]  # d.regionref[2:5]: address, v1 hyperslab, one block
    assert first[8:16] == bytes.fromhex("0200000001000000")
    cases = {
        "names no dataset of the file": (first_at, first_at.to_bytes(8, "little")),
        "is not its declared length": (first_at + 20, b"\x11"),
        "has reserved bytes set": (first_at + 16, b"\x01"),
        "selects outside its dataset": (first_at + 36, b"\x0a"),  # the block's end: 10
        "ends before it starts": (first_at + 32, b"\x05"),  # start 5 > end 4
    }
    for reason, (at, raw) in cases.items():
        wrong = bytearray(data)
        wrong[at : at + len(raw)] = raw
        assert reason in _refusal(bytes(wrong)), reason
    second_at, second = objects[1]  # [1:9:2]: four blocks in order
    wrong = bytearray(data)
    wrong[second_at + 32 : second_at + 40] = second[40:48]  # block 1 = block 2
    assert "are not in order" in _refusal(bytes(wrong))
    touching = _changed(data, second_at + 40, 2)  # block 2 (3..3) made 2..3: it touches 1..1
    assert "are not in order and apart" in _refusal(touching)


def test_a_regular_hyperslab_holds_no_free_field():
    """libver='latest': start, stride, count, block; a single block's stride is 1."""
    data = _h5(_regions, libver="latest")
    at, first = _objects(data)[0]  # [2:5]: start 2, stride 1, count 1, block 3 in 2 bytes
    assert first[16:18] == b"\x01\x02" and first[22:30] == bytes.fromhex("0200010001000300")
    assert "is not one libhdf5 writes" in _refusal(_changed(data, at + 24, 0x07))  # stride 7
    assert "selects outside its dataset" in _refusal(_changed(data, at + 28, 0x09))  # block 9
    assert "has flags 3" in _refusal(_changed(data, at + 16, 0x03))
    at, second = _objects(data)[1]  # [1:9:2]: start 1, stride 2, count 4, block 1
    assert second[22:30] == bytes.fromhex("0100020004000100")
    assert "is not one libhdf5 writes" in _refusal(_changed(data, at + 28, 2))  # blocks that touch
