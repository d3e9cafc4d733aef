"""Fields pinned after the fourth HDF5 attack (issue #13, session 31): a string stored
with its length holds no NUL before its end (fields.stored_string: link names, soft link
values, attribute names), a contiguous dataset of no elements has the undefined address,
each header message has the version libhdf5 writes under the libver bound its header
shows (versions.py), and the B-tree K values are libhdf5's defaults. Each rule: h5py's
own output passes under earliest, v110 and latest (the controls), the field changed is
refused naming it."""

from __future__ import annotations

import ctypes
import struct
import tempfile
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.quarantine.test_hdf5_msgs import _refused, _vet  # noqa: E402 - one pair of both passes
from tests.support.hdf5_attack_c_bytes import find, h5file, put  # noqa: E402
from tests.support.hdf5_attack_d_bytes import patch_root  # noqa: E402
from vmguard.quarantine.validators.hdf5 import fields  # noqa: E402
from vmguard.quarantine.validators.stream import Invalid  # noqa: E402

DATASPACE, FILL, LAYOUT, PIPELINE, ATTRIBUTE, LINK = 0x01, 0x05, 0x08, 0x0B, 0x0C, 0x06
LIBVERS = ("earliest", ("v110", "v110"), "latest")
UNDEFINED = b"\xff" * 8


def _everything(f) -> None:  # noqa: ANN001
    """What the rules touch, as h5py writes it: links hard and soft, attributes (scalar,
    string, empty, of a committed type), datasets of no elements, chunked and filtered."""
    f["T"] = np.dtype("<i4")
    d = f.create_dataset("d", data=np.arange(6.0))
    d.attrs["a"] = 1
    d.attrs["text"] = "value"
    d.attrs["none"] = h5py.Empty("f8")
    d.attrs.create("typed", 5, dtype=f["T"])
    f.create_dataset("empty", shape=(0,), dtype="f8")
    f.create_dataset("null", data=h5py.Empty("f8"))
    f.create_dataset("scalar", data=2.0)
    f.create_dataset("gz", data=np.arange(40), chunks=(8,), compression="gzip", shuffle=True, fletcher32=True)
    f.create_dataset("grow", data=np.arange(5), chunks=(4,), maxshape=(None,))
    f.create_dataset("filled", data=np.arange(4.0), fillvalue=3.0)
    f["soft"] = h5py.SoftLink("/d")
    g = f.create_group("ordered", track_order=True)
    g.create_dataset("x", data=np.arange(3), track_order=True).attrs["y"] = 2


@pytest.mark.parametrize("libver", LIBVERS, ids=str)
def test_h5py_output_passes(libver):
    _vet(h5file(_everything, libver=libver))


@pytest.mark.parametrize(("first", "second"), [("earliest", "latest"), ("latest", "earliest"), ("earliest", "v110")])
def test_a_file_written_in_sessions_of_two_bounds_passes(first, second):
    """Objects and attributes added under another libver take that bound's versions:
    a v3 attribute in a v1 header, a v1 attribute and dataspace in a v2 one."""
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver=first) as f:
            f.create_dataset("a", data=np.arange(3)).attrs["x"] = 1
            f.create_dataset("r", shape=(4,), maxshape=(None,), chunks=(2,), dtype="f4")
            f.create_group("g", track_order=True)
        with h5py.File(path, "a", libver=second) as f:
            f["a"].attrs["y"] = h5py.Empty("f8")
            f["a"].attrs["x"] = 2.0
            f["r"].resize((10,))  # its dataspace rewritten, in its own version
            f["r"][:] = 1
            f["g"].create_dataset("d", data=[1])
            f.create_dataset("b", data=np.arange(4), chunks=(2,), compression="gzip")
        _vet(path.read_bytes())


def _libhdf5() -> ctypes.CDLL:
    """h5py's own libhdf5 (already loaded): h5py has no attribute creation property list."""
    found = sorted(Path(h5py.__file__).parent.parent.glob("h5py.libs/libhdf5-*.so*"))
    if not found:
        pytest.skip("h5py's libhdf5 is not a bundled library here")
    return ctypes.CDLL(str(found[0]))


def test_a_utf8_attribute_name_under_earliest_passes():
    """libhdf5 writes an attribute of a UTF-8 name (H5Pset_char_encoding, as netCDF-4
    does) as version 3 under any bound, in a version 1 header too."""
    lib = _libhdf5()
    lib.H5Pcreate.restype = lib.H5Acreate2.restype = ctypes.c_int64  # hid_t

    def build(f) -> None:  # noqa: ANN001
        d = f.create_dataset("d", data=np.arange(3))
        acpl = lib.H5Pcreate(ctypes.c_int64.in_dll(lib, "H5P_CLS_ATTRIBUTE_CREATE_ID_g"))
        assert acpl >= 0 and lib.H5Pset_char_encoding(ctypes.c_int64(acpl), 1) >= 0
        space = h5py.h5s.create(h5py.h5s.SCALAR)
        attr = lib.H5Acreate2(ctypes.c_int64(d.id.id), "é".encode(), ctypes.c_int64(h5py.h5t.STD_I32LE.id),
                              ctypes.c_int64(space.id), ctypes.c_int64(acpl), ctypes.c_int64(0))
        assert attr >= 0 and lib.H5Aclose(ctypes.c_int64(attr)) >= 0 and lib.H5Pclose(ctypes.c_int64(acpl)) >= 0

    buf = h5file(build, libver="earliest")
    hdr, msg = find(buf, "d", ATTRIBUTE)
    assert hdr.version == 1 and buf[msg.body] == 3 and buf[msg.body + 8] == 1
    _vet(buf)


def test_stored_string():
    assert fields.stored_string(b"abc", "x") == b"abc"
    assert fields.stored_string(b"abc\0", "x", terminated=True) == b"abc"
    assert fields.stored_string(b"", "x") == b""  # h5py's empty string: no byte hidden
    for raw, terminated in ((b"a\0b", False), (b"ab\0", False), (b"\0", False), (b"a\0b\0", True)):
        with pytest.raises(Invalid, match="holds a NUL before its end"):
            fields.stored_string(raw, "x", terminated=terminated)
    for raw in (b"ab", b""):
        with pytest.raises(Invalid, match="lacks its final NUL"):
            fields.stored_string(raw, "x", terminated=True)


@pytest.mark.parametrize("libver", ["latest", ("v110", "v110")], ids=str)
def test_a_link_name_with_a_nul_is_refused(libver):
    buf = h5file(lambda f: f.create_dataset("aXPWND", data=np.arange(3)), libver=libver)
    _vet(buf)
    patch_root(buf, buf.index(b"aXPWND") + 1, b"\0")
    _refused(buf, r"the name of a link of / \(6 bytes\) holds a NUL")


@pytest.mark.parametrize("libver", ["latest", ("v110", "v110")], ids=str)
def test_a_soft_link_value_with_a_nul_is_refused(libver):
    def build(f) -> None:  # noqa: ANN001
        f.create_dataset("d", data=np.arange(3))
        f["s"] = h5py.SoftLink("/dXPW")

    buf = h5file(build, libver=libver)
    _vet(buf)
    patch_root(buf, buf.index(b"/dXPW") + 2, b"\0")
    _refused(buf, r"the value of the soft link 's' in / \(5 bytes\)")


@pytest.mark.parametrize("libver", LIBVERS, ids=str)
def test_an_attribute_name_with_a_nul_inside_is_refused(libver):
    buf = h5file(lambda f: f.create_dataset("d", data=[1]).attrs.create("aXPWND", 1), libver=libver)
    hdr, _ = find(buf, "d", ATTRIBUTE)
    put(buf, hdr, buf.index(b"aXPWND") + 1, b"\0")
    _refused(buf, r"the name of an attribute of /d \(7 bytes\) holds a NUL")


@pytest.mark.parametrize("libver", LIBVERS, ids=str)
@pytest.mark.parametrize("empty", [lambda: {"shape": (0,), "dtype": "f8"}, lambda: {"data": h5py.Empty("f8")}],
                         ids=["no-elements", "null"])
def test_an_empty_contiguous_dataset_has_the_undefined_address(libver, empty):
    buf = h5file(lambda f: [f.create_dataset("bulk", data=np.arange(512.0)), f.create_dataset("e", **empty())],
                 libver=libver)
    hdr, msg = find(buf, "e", LAYOUT)
    assert buf[msg.body:msg.body + 10] == b"\x03\x01" + UNDEFINED
    _vet(buf)
    put(buf, hdr, msg.body + 2, struct.pack("<Q", 0x5750))
    _refused(buf, "the contiguous dataset /e has no elements and the address 22352")


@pytest.mark.parametrize("libver", LIBVERS, ids=str)
def test_a_contiguous_layout_is_version_3_under_every_bound(libver):
    buf = h5file(lambda f: f.create_dataset("c", data=np.arange(4)), libver=libver)
    hdr, msg = find(buf, "c", LAYOUT)
    assert buf[msg.body:msg.body + 2] == b"\x03\x01"
    put(buf, hdr, msg.body, b"\x04")
    _refused(buf, r"the layout message of /c has version 4, where libhdf5 writes \[3\]")


def test_a_chunked_layout_of_a_v1_header_is_version_3():
    """A version 4 layout (the chunk indexes of v110 and later) in a version 1 header:
    the v4 message's own fields are refused first or the version is."""
    buf = h5file(lambda f: f.create_dataset("c", data=np.arange(8), chunks=(4,)))
    hdr, msg = find(buf, "c", LAYOUT)
    assert hdr.version == 1 and buf[msg.body:msg.body + 2] == b"\x03\x02"
    put(buf, hdr, msg.body, b"\x04")
    with pytest.raises(Invalid):
        _vet(buf)


def _v1_dataset(buf: bytearray, mtype: int, new: bytes) -> bytearray:
    hdr, msg = find(buf, "c", mtype)
    assert hdr.version == 1
    put(buf, hdr, msg.body, new.ljust(msg.size, b"\0"))
    return buf


def test_a_v1_header_takes_the_earliest_bounds_dataspace_and_fill_value():
    """libhdf5 writes a version 1 header only under earliest, and there dataspace 1
    (a null one 2) and fill value 2; the same content in the next version is refused."""
    buf = h5file(lambda f: f.create_dataset("c", data=np.arange(4)))
    _, space = find(buf, "c", DATASPACE)
    _, fill = find(buf, "c", FILL)
    old_space, old_fill = bytes(buf[space.body:space.body + 24]), bytes(buf[fill.body:fill.body + 8])
    assert old_space[:4] == b"\x01\x01\x01\x00" and old_fill == b"\x02\x02\x02\x01\x00\x00\x00\x00"
    _vet(buf)
    v2 = _v1_dataset(bytearray(buf), DATASPACE, b"\x02\x01\x01\x01" + old_space[8:24])
    _refused(v2, r"the dataspace message of /c has version 2, where libhdf5 writes \[1\] under earliest")
    v3 = _v1_dataset(bytearray(buf), FILL, b"\x03\x0a")
    _refused(v3, r"the fill value message of /c has version 3, where libhdf5 writes \[2\] under earliest")


def test_a_v2_header_takes_a_later_bounds_fill_value():
    """A version 2 header with no creation order or phase change is a later bound's:
    its fill value version 3, not the earliest bound's 2 (same content)."""
    buf = h5file(lambda f: f.create_dataset("c", data=np.arange(4)), libver="latest")
    hdr, msg = find(buf, "c", FILL)
    assert hdr.version == 2 and bytes(buf[msg.body:msg.body + 2]) == b"\x03\x0a"
    put(buf, hdr, msg.body, b"\x02\x02")  # the same times; 'defined' would be 1, no room: refused either way
    with pytest.raises(Invalid):
        _vet(buf)


@pytest.mark.parametrize(("first", "second"), [("earliest", "latest"), ("latest", "earliest")])
def test_objects_copied_across_bounds_pass(first, second):
    """h5py's copy (H5Ocopy) keeps a header's version and its dataset messages, but
    encodes each attribute under the destination's bound, its dataspace as it was."""
    with tempfile.TemporaryDirectory() as where:
        src, dst = Path(where) / "s.h5", Path(where) / "d.h5"
        with h5py.File(src, "w", libver=first) as f:
            f.create_dataset("d", data=np.arange(4.0), chunks=(2,), compression="gzip").attrs["a"] = 1
            f["d"].attrs["n"] = h5py.Empty("f8")
            f.create_group("g", track_order=True).attrs["s"] = "x"
        with h5py.File(src, "r") as s, h5py.File(dst, "w", libver=second) as f:
            for name in s:
                s.copy(name, f)
        data = dst.read_bytes()
    hdr, msg = find(data, "d", ATTRIBUTE)
    assert hdr.version == (1 if first == "earliest" else 2)
    assert data[msg.body] == (3 if second == "latest" else 1)  # the destination's
    _vet(data)


def test_a_v2_attribute_without_shared_parts_is_refused():
    buf = h5file(lambda f: f.create_dataset("c", data=[1]).attrs.create("a", 1.0))
    hdr, msg = find(buf, "c", ATTRIBUTE)
    assert buf[msg.body] == 1
    put(buf, hdr, msg.body, b"\x02")  # v2 does not pad its fields: refused, whichever rule first
    with pytest.raises(Invalid):
        _vet(buf)


def test_a_version_0_superblock_has_libhdf5s_k_values():
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(3)) for n in "ab"])
    assert struct.unpack_from("<HH", buf, 16) == (4, 16)
    struct.pack_into("<HH", buf, 16, 4, 8)
    _refused(buf, r"the superblock gives the B-tree K values \{'leaf': 4, 'group': 8\}")


@pytest.mark.parametrize("libver", LIBVERS, ids=str)
def test_h5py_datatypes_pass_and_copied_across_bounds(libver):
    """Compound, enum, array and variable-length types at any depth, in datasets,
    attributes and a committed type, as h5py writes them and as h5py's copy moves them
    into a file of the other bound (datatypes keep their versions there)."""
    inner = np.dtype([("x", "i2"), ("y", "f4")])
    types = [inner, np.dtype([("a", "i4"), ("b", "f8", (3,))]), h5py.enum_dtype({"R": 0}, basetype="i1"),
             np.dtype(np.bool_), np.dtype([("c", inner), ("k", np.bool_)])]

    def build(f) -> None:  # noqa: ANN001
        for k, t in enumerate(types):
            f.create_dataset(f"d{k}", shape=(2,), dtype=t).attrs.create("a", np.zeros((), t), dtype=t)
        f.create_dataset("arr", shape=(2,), dtype=np.dtype(("i4", (2,))))
        f.create_dataset("v", shape=(2,), dtype=h5py.vlen_dtype(inner))
        f["T"] = inner
        f.create_dataset("t", shape=(2,), dtype=f["T"])

    other = "latest" if libver == "earliest" else "earliest"
    with tempfile.TemporaryDirectory() as where:
        src, dst = Path(where) / "s.h5", Path(where) / "d.h5"
        with h5py.File(src, "w", libver=libver) as f:
            build(f)
        with h5py.File(src, "r") as s, h5py.File(dst, "w", libver=other) as f:
            for name in s:
                s.copy(name, f)
        _vet(src.read_bytes())
        _vet(dst.read_bytes())


def test_an_earliest_enum_is_version_1():
    """An enum in a version 1 header: version 1 (2 only with an array in the type);
    version 2 reads alike and is refused."""
    buf = h5file(lambda f: f.create_dataset("e", shape=(2,), dtype=h5py.enum_dtype({"R": 0}, basetype="i1")))
    hdr, msg = find(buf, "e", 0x03)
    assert hdr.version == 1 and buf[msg.body] == 0x18
    put(buf, hdr, msg.body, b"\x28")
    _refused(buf, r"a datatype of /e has compound, enum or array types of versions \[2\]")


def test_a_later_bounds_datatype_has_one_version_at_every_depth():
    """A compound of a compound under latest: one version (3, 4 or 5) for both; the
    inner one changed to another of them is refused."""
    inner = np.dtype([("x", "i2"), ("y", "f4")])
    buf = h5file(lambda f: f.create_dataset("c", shape=(2,), dtype=np.dtype([("c", inner), ("k", "i1")])),
                 libver="latest")
    hdr, msg = find(buf, "c", 0x03)
    outer = buf[msg.body]
    assert outer & 0x0F == 6 and outer >> 4 in (3, 4, 5)
    at = buf.index(b"c\0", msg.body + 8) + 2 + 1  # after the member name and its 1-byte offset
    assert buf[at] == outer
    put(buf, hdr, at, bytes([0x06 | (3 if outer >> 4 != 3 else 4) << 4]))
    _refused(buf, "a datatype of /c has compound, enum or array types of versions")
