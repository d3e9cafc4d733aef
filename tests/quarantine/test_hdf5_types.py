"""Datatype and shared messages hold what libhdf5 writes (issue #13, attack c; fill
values, dataspaces and object kinds: test_hdf5_fills.py).

Each rule: h5py's own output passes (and holds the bytes the rule expects: the control),
and every other value of the pinned field is refused with a reason naming the rule.
Classes: a v1 compound member's 28 dimension bytes, a v2 array's permutation, an opaque
tag's padding, float layouts (the exponent bias was 4 free bytes), datatype versions,
time precision, version 1 shared messages, and attribute field refusals that name their
rule.
"""
from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_compound import _h5
from tests.quarantine.test_hdf5_walk import _refusal

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

from h5py import h5d, h5s, h5t  # noqa: E402

from tests.support.hdf5_attack_c_bytes import find, h5file, move_into_nil, put  # noqa: E402
from tests.support.hdf5_attack_c_types import shared_dtype_v1  # noqa: E402

PAIR = np.dtype([("a", "<i4"), ("b", "<f8")])
NON_IEEE = "not supported: non-IEEE float"


def _patched(data: bytes, path: str, kind: int, offset: int, new: bytes) -> bytes:
    """`data` with `new` at `offset` into the body of the first `kind` message of `path`."""
    buf = bytearray(data)
    hdr, msg = find(buf, path, kind)
    put(buf, hdr, msg.body + offset, new)
    return bytes(buf)


def _body(data: bytes, path: str, kind: int) -> bytes:
    _, msg = find(data, path, kind)
    return bytes(data[msg.body : msg.body + msg.size])


def _readable(data: bytes, path: str) -> None:
    with h5py.File(io.BytesIO(data), "r") as f:
        f[path].id.get_type()


# ------------------------------------------------------------------ v1 compound members

_MEMBER_CASES = {  # (build, object holding the message, message type, name in the refusal)
    "dataset": (lambda f: f.create_dataset("t", data=np.zeros(3, PAIR)), "t", 0x03, "/t"),
    "attribute": (lambda f: f.attrs.create("row", np.zeros((), PAIR)), "/", 0x0C, "/"),
    "committed": (lambda f: f.__setitem__("T", PAIR), "T", 0x03, "/T"),
}


@pytest.mark.parametrize("where", sorted(_MEMBER_CASES))
def test_the_28_bytes_after_a_v1_compound_member_offset_are_zeros(where):
    """libhdf5 writes dimensionality 0 and 27 more zeros (reserved, permutation, four
    sizes) and reads none of them: every byte but zero is refused, naming the rule."""
    build, path, kind, name = _MEMBER_CASES[where]
    data = _h5(build)
    assert _refusal(data) == ""
    body = _body(data, path, kind)
    at = body.index(b"a\0\0\0\0\0\0\0") + 8 + 4  # member a: name (8), offset (4)
    assert body[at : at + 28] == bytes(28)
    for i in range(1, 28):
        assert f"the dimension fields of a version 1 compound member of {name} hold data" in _refusal(
            _patched(data, path, kind, at + i, b"P")
        ), i
    assert f"a version 1 compound member of {name} with 1 array dimensions" in _refusal(
        _patched(data, path, kind, at, b"\x01")
    )


# ------------------------------------------------------------------ array permutation


def test_a_v2_array_permutation_is_0_1_2_as_libhdf5_writes_it():
    """libhdf5 encodes a 'fake' permutation: dimension i gets i (not 0 for all)."""
    data = _h5(lambda f: f.create_dataset("t", data=np.zeros(2, [("a", "(2,3,4)<i4")])))
    assert _refusal(data) == ""
    dims = struct.pack("<3I", 2, 3, 4)
    at = data.index(dims + struct.pack("<3I", 0, 1, 2)) + 12
    for permutation in ((0, 0, 0), (1, 0, 2), (0, 1, 3)):
        changed = data[:at] + struct.pack("<3I", *permutation) + data[at + 12 :]
        assert "permutation of an array datatype of /t are not what libhdf5 writes" in _refusal(changed)
    reserved = data[: at - 15] + b"P" + data[at - 14 :]  # the 3 bytes after the rank
    assert "the reserved bytes or permutation of an array datatype of /t" in _refusal(reserved)


def test_an_attribute_array_permutation_is_checked_too():
    def build(f):
        tid = h5t.array_create(h5t.STD_I32LE, (2, 2))
        h5py.h5a.create(f.id, b"arr", tid, h5s.create_simple((1,)))

    data = _h5(build)
    assert _refusal(data) == ""
    at = data.index(struct.pack("<4I", 2, 2, 0, 1)) + 12
    assert "permutation of an array datatype of /" in _refusal(data[:at] + b"\x02" + data[at + 1 :])


# ------------------------------------------------------------------ opaque tags


def _opaque(tag: bytes):
    def build(f):
        tid = h5t.create(h5t.OPAQUE, 4)
        if tag:
            tid.set_tag(tag)
        h5d.create(f.id, b"o", tid, h5s.create_simple((2,)))

    return build


@pytest.mark.parametrize("tag", [b"", b"a", b"abcdefg", b"abcdefgh", b"abcdefghi"])
def test_an_opaque_tag_is_padded_with_nuls_to_a_multiple_of_8(tag):
    """libhdf5 writes (length + 7) & ~7 bytes: a tag of 8 characters has no NUL. Every
    byte after the first NUL is refused (a byte in the NUL's place makes a longer tag, one
    a reader gets); so is one more block of 8 NULs."""
    data = bytes(h5file(_opaque(tag)))
    assert _refusal(data) == ""
    body = _body(data, "o", 0x03)
    padded = -(-len(tag) // 8) * 8
    assert body[1] == padded and body[8 : 8 + padded] == tag.ljust(padded, b"\0")
    for i in range(len(tag) + 1, padded):
        assert "the tag of an opaque datatype of /o is not NUL-padded" in _refusal(
            _patched(data, "o", 0x03, 8 + i, b"P")
        )
    buf = bytearray(data)
    hdr, msg = find(buf, "o", 0x03)
    longer = bytearray(body[: 8 + padded]) + bytes(8)
    longer[1] = padded + 8
    move_into_nil(buf, hdr, msg, bytes(longer))
    _readable(bytes(buf), "o")
    assert "the tag of an opaque datatype of /o is not NUL-padded" in _refusal(bytes(buf))


# ------------------------------------------------------------------ floats


def _typed(tid, name: bytes = b"x"):
    def build(f):
        h5d.create(f.id, name, tid, h5s.create_simple((2,)))

    return build


def test_every_float_h5py_writes_passes():
    def build(f):
        for kind in ("<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<c8", ">c16", np.longdouble):
            f.create_dataset(np.dtype(kind).str, data=np.zeros(3, kind))
        f.attrs["x"] = np.float32(1.5)
        f.create_dataset("t", data=np.zeros(2, PAIR))
        f["T"] = np.dtype(">f8")
        for ieee in ("IEEE_F128LE", "IEEE_F128BE"):
            h5d.create(f.id, ieee.encode(), getattr(h5t, ieee), h5s.create_simple((2,)))

    assert _refusal(_h5(build)) == ""


def _float(change):
    tid = h5t.IEEE_F32LE.copy()
    change(tid)
    return tid


_FLOAT_CHANGES = {
    "bias": lambda t: t.set_ebias(128),
    "bias-payload": lambda t: t.set_ebias(struct.unpack("<I", b"PWND")[0]),
    "exponent-size": lambda t: t.set_fields(31, 24, 7, 0, 23),
    "mantissa-size": lambda t: t.set_fields(31, 23, 8, 0, 22),
    "sign-location": lambda t: t.set_fields(0, 23, 8, 1, 22),
    "normalisation": lambda t: t.set_norm(h5t.NORM_MSBSET),
    "internal-pad": lambda t: t.set_inpad(h5t.PAD_ONE),
    "low-pad": lambda t: t.set_pad(h5t.PAD_ONE, h5t.PAD_ZERO),
    "24-bits": lambda t: (t.set_fields(23, 16, 7, 0, 16), t.set_precision(24), t.set_ebias(63)),
}


@pytest.mark.parametrize("change", sorted(_FLOAT_CHANGES))
def test_a_float_of_any_other_layout_is_refused(change):
    data = _h5(_typed(_float(_FLOAT_CHANGES[change])))
    _readable(data, "x")
    assert NON_IEEE in _refusal(data)


def test_a_non_ieee_float_is_refused_in_attributes_and_compound_members():
    odd = _float(_FLOAT_CHANGES["bias"])

    def attribute(f):
        h5py.h5a.create(f.id, b"a", odd, h5s.create_simple((1,)))

    def member(f):
        tid = h5t.create(h5t.COMPOUND, 4)
        tid.insert(b"m", 0, odd)
        h5d.create(f.id, b"t", tid, h5s.create_simple((2,)))

    assert f"datatype of / is {NON_IEEE}" in _refusal(_h5(attribute))
    assert f"datatype of /t is {NON_IEEE}" in _refusal(_h5(member))


@pytest.mark.parametrize("kind", ["<f4", "<i4", "S3"])
def test_atomic_datatypes_are_version_1(kind):
    data = _h5(lambda f: f.create_dataset("x", data=np.zeros(2, kind)))
    assert _refusal(data) == ""
    head = _body(data, "x", 0x03)[0]
    assert head >> 4 == 1
    for version in (2, 3, 4, 5):
        changed = _patched(data, "x", 0x03, 0, bytes([version << 4 | head & 0x0F]))
        assert f"an atomic datatype of /x has version {version} (libhdf5 writes 1)" in _refusal(changed)


def test_a_composite_datatype_has_a_version_libhdf5_writes():
    """Compound, enum and variable-length types: 1 to 5; an array: 2 to 5."""
    table = _h5(lambda f: f.create_dataset("t", data=np.zeros(2, PAIR)))
    assert _body(table, "t", 0x03)[0] == 0x16
    for version in (0, 6, 15):
        changed = _patched(table, "t", 0x03, 0, bytes([version << 4 | 6]))
        assert f"a datatype of class 6 of /t has version {version}, which libhdf5 never writes" in _refusal(
            changed
        )
    arrays = _h5(lambda f: f.create_dataset("t", data=np.zeros(2, [("a", "(2,)<i4")])))
    at = arrays.index(bytes([0x2A, 0, 0, 0, 8, 0, 0, 0, 1]))  # the member's array: v2, 8 bytes, rank 1
    changed = arrays[:at] + b"\x1a" + arrays[at + 1 :]
    assert "a datatype of class 10 of /t has version 1, which libhdf5 never writes" in _refusal(changed)


def test_a_time_datatype_uses_all_its_bits():
    data = _h5(_typed(h5t.UNIX_D32LE))
    assert _refusal(data) == ""
    assert _body(data, "x", 0x03)[8:10] == struct.pack("<H", 32)
    changed = _patched(data, "x", 0x03, 8, struct.pack("<H", 24))
    assert "a time datatype of /x has 24 bits of precision in 4 bytes" in _refusal(changed)


# ------------------------------------------------------------------ shared messages


def test_a_version_1_shared_message_is_refused_as_not_supported():
    """HDF5 1.6 and older wrote a whole symbol table entry (48 bytes), later libraries
    read 24: no layout to pin that h5py could write; refused naming the version."""
    data = bytes(shared_dtype_v1())
    assert "a version 1 shared message (HDF5 1.6 and older) in /d is not supported" in _refusal(data)


def test_a_shared_message_names_a_committed_object():
    def build(f):
        f["T"] = np.dtype("<i4")
        f.create_dataset("d", data=np.arange(3, dtype="<i4"), dtype=f["T"])

    data = _h5(build)
    assert _refusal(data) == "" and _body(data, "d", 0x03)[:2] == b"\x02\x02"
    for kind in (0, 3, 0x50):
        assert f"has version 2 and type {kind}" in _refusal(_patched(data, "d", 0x03, 1, bytes([kind])))


# ------------------------------------------------------------------ attribute fields


def test_an_attribute_field_refusal_names_the_rule_broken():
    """v1 attribute: the datatype declared 12 bytes (its content) and padded to 16."""
    data = _h5(lambda f: f.create_dataset("d", data=np.arange(3)).attrs.create("x", np.int32(1)))
    body = _body(data, "d", 0x0C)
    assert body[:1] == b"\x01" and struct.unpack_from("<H", body, 4)[0] == 12
    padding = _patched(data, "d", 0x0C, 8 + 8 + 12, b"P")  # header, name "x" padded, datatype
    assert "the padding after the datatype of an attribute of /d holds data" in _refusal(padding)
    declared = _patched(data, "d", 0x0C, 4, struct.pack("<H", 16))
    assert "the datatype of an attribute of /d is declared 16 bytes where its content is 12" in _refusal(declared)
