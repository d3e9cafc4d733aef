"""Fill value messages, dataspaces and which messages an object header holds, as
libhdf5 writes them (issue #13, attack c; test_hdf5_types.py has the datatypes).

Each rule: h5py's own output passes (the control), and every other value of the pinned
field is refused with a reason naming the rule.
"""

from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_compound import _h5
from tests.quarantine.test_hdf5_types import _body, _patched, _readable
from tests.quarantine.test_hdf5_walk import _refusal

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

from h5py import h5d, h5s, h5t  # noqa: E402

from tests.support.hdf5_attack_c_bytes import addr_of, find, h5file, header, move_into_nil, resum  # noqa: E402

# ------------------------------------------------------------------ fill values

_FILLS = {
    "default": {},
    "value": {"fillvalue": 7},
    "chunked": {"chunks": (2,)},
    "chunked-value": {"chunks": (2,), "fillvalue": 7},
}


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_the_fill_value_messages_h5py_writes_pass(libver):
    def build(f):
        for name, kw in _FILLS.items():
            f.create_dataset(name, shape=(4,), dtype="<i4", **kw)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
        h5d.create(f.id, b"never", h5t.STD_I32LE, h5s.create_simple((4,)), dcpl=dcpl)

    assert _refusal(_h5(build, libver=libver)) == ""


def _valued(libver: str = "earliest") -> bytes:
    return _h5(lambda f: f.create_dataset("d", shape=(4,), dtype="<i4", fillvalue=7), libver=libver)


def test_an_undefined_fill_value_stores_no_value():
    """Version 2 with 'defined' 0: no size, no value (the message is 4 bytes, its v1
    padding zeros). Version 1 always has the size field: 0 when undefined; well formed,
    it is still refused for its version (libhdf5 since 1.8 writes 2 or 3: versions.py)."""
    data = _valued()
    assert _body(data, "d", 0x05)[:12] == bytes([2, 2, 2, 1, 4, 0, 0, 0, 7, 0, 0, 0])
    v2 = _patched(data, "d", 0x05, 3, b"\0")
    assert "a message of type 0x0005 of /d is declared 16 bytes where its content is 4" in _refusal(v2)
    v1 = _patched(data, "d", 0x05, 0, b"\x01\x02\x02\x00")
    _readable(v1, "d")
    assert "stores a value of 4 bytes yet says none is defined" in _refusal(v1)
    empty = _h5(lambda f: f.create_dataset("d", shape=(4,), dtype="<i4"))
    undefined_v1 = _patched(empty, "d", 0x05, 0, b"\x01\x02\x02\x00")
    _readable(undefined_v1, "d")
    assert "the fill value message of /d has version 1, where libhdf5 writes [2]" in _refusal(undefined_v1)


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (3, b"\x02", "gives defined 2 (libhdf5 writes 0 or 1)"),
        (1, b"\x00", "space allocation time 0"),
        (1, b"\x04", "space allocation time 4"),
        (2, b"\x03", "fill time 3"),
    ],
)
def test_the_fields_of_a_v2_fill_value_message_name_one_of_their_values(offset, value, reason):
    assert reason in _refusal(_patched(_valued(), "d", 0x05, offset, value))


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (0x6A, "has reserved flags set (0x6a)"),
        (0x3A, "says its value is both undefined and stored"),
        (0x0E, "fill time 3"),
        (0x08, "space allocation time 0"),
    ],
)
def test_the_flags_of_a_v3_fill_value_message_are_what_libhdf5_writes(flags, reason):
    data = _valued("latest")
    assert _body(data, "d", 0x05)[:2] == b"\x03\x2a"
    assert reason in _refusal(_patched(data, "d", 0x05, 1, bytes([flags])))


def test_a_v3_fill_value_said_to_be_there_has_bytes():
    data = _valued("latest")
    changed = _patched(data, "d", 0x05, 2, bytes(4))
    assert "says it has a value and stores 0 bytes" in _refusal(changed)


def test_a_stored_fill_value_is_one_element():
    """libhdf5 reads the element's bytes of a longer value: the rest would be published."""
    buf = h5file(lambda f: f.create_dataset("x", shape=(4,), dtype="<i4", fillvalue=7), libver="latest")
    hdr, msg = find(buf, "x", 0x05)  # version 3: no old fill value message beside it
    move_into_nil(buf, hdr, msg, bytes([3, 0x2A, 8, 0, 0, 0, 7, 0, 0, 0]) + b"PWND")
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        assert f["x"].fillvalue == 7
    assert "the fill value of /x is 8 bytes, its elements 4" in _refusal(bytes(buf))


def _with_message(build, path: str, kind: int, body: bytes) -> bytes:
    """A file (libver latest: v2 headers) whose object at `path` gets a message of `kind`
    in its header's NIL space (the rest stays a NIL message)."""
    buf = h5file(build, libver="latest")
    hdr = header(buf, addr_of(buf, path))
    nil = next(m for m in hdr.msgs if m.type == 0 and m.size >= len(body) + 4)
    flags = 0x01 if kind in (0x03, 0x05) else 0  # constant, as libhdf5 flags them (tuning.py)
    struct.pack_into(f"<BHB{len(body)}s", buf, nil.head, kind, len(body), flags, body)
    rest = nil.body + len(body)
    buf[rest : nil.body + nil.size] = bytes(nil.size - len(body))  # a deleted message's bytes too
    struct.pack_into("<BHB", buf, rest, 0, nil.size - len(body) - 4, 0)
    resum(buf, hdr)
    return bytes(buf)


_SCALAR = bytes([2, 0, 0, 0])  # dataspace v2, rank 0, scalar
_INT32 = bytes([0x10, 0x08, 0, 0, 4, 0, 0, 0, 0, 0, 32, 0])


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        (0x05, b"\x03\x0a", "is a group (group info, link info messages) and holds fill value messages"),
        (0x01, _SCALAR, "is a group (group info, link info messages) and holds dataspace messages"),
        (0x03, _INT32, "is a group (group info, link info messages) and holds datatype messages"),
    ],
)
def test_a_group_holds_no_dataset_or_datatype_message(kind, body, reason):
    """libhdf5 takes a header with group messages for a group and reads nothing else."""
    data = _with_message(lambda f: f.create_group("g"), "g", kind, body)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert isinstance(f["g"], h5py.Group)
    assert f"the object header of /g {reason}" in _refusal(data)


def test_a_committed_datatype_holds_no_dataset_message():
    def build(f):  # an attribute deleted: its message's room is a NIL message
        f["T"] = np.dtype("<i4")
        f["T"].attrs["room"] = np.zeros(4)
        del f["T"].attrs["room"]

    data = _with_message(build, "T", 0x01, _SCALAR)
    with h5py.File(io.BytesIO(data), "r") as f, pytest.raises(KeyError):
        f["T"]  # a datatype and a dataspace: libhdf5 takes it for a dataset, which has no layout
    assert "the object header of /T holds dataspace messages and no layout" in _refusal(data)


# ------------------------------------------------------------------ dataspace maxima


def test_a_dataspace_lists_maximum_dimensions_exactly_when_it_has_dimensions():
    """libhdf5 keeps maxima for any rank (the dimensions when none are given) and writes
    them; a scalar has none. The flag set on a scalar (no bytes follow) was a free bit."""
    data = _h5(lambda f: (f.attrs.create("x", np.float64(1)), f.create_dataset("d", data=np.arange(3))))
    assert _refusal(data) == ""
    _, msg = find(data, "/", 0x0C)
    body = bytes(data[msg.body : msg.body + msg.size])
    at = body.index(bytes([1, 0, 0, 0, 0, 0, 0, 0]), 16)  # the scalar dataspace, version 1
    assert "the dataspace of / has rank 0 and maximum dimensions" in _refusal(
        _patched(data, "/", 0x0C, at + 2, b"\x01")
    )
    assert _body(data, "d", 0x01)[:3] == b"\x01\x01\x01"
    assert "the dataspace of /d has rank 1 and no maximum dimensions" in _refusal(
        _patched(data, "d", 0x01, 2, b"\x00")
    )


def test_maximum_dimensions_are_the_dimensions_where_nothing_can_grow():
    """libhdf5 refuses to create a compact or contiguous dataset (or writes an attribute)
    with maxima beyond the dimensions; a reader reads past them: 8 free bytes each."""
    data = _h5(lambda f: (f.create_dataset("d", data=np.arange(3)), f["d"].attrs.create("a", [1, 2])))
    assert _refusal(data) == ""
    grown = _patched(data, "d", 0x01, 16, struct.pack("<Q", 7))  # v1: header 8, dims 8, maxima
    assert "the dataspace of /d has maximum dimensions (7,) beyond its dimensions (3,)" in _refusal(grown)
    below = _patched(data, "d", 0x01, 16, struct.pack("<Q", 2))
    assert "has maximum dimensions (2,) below its dimensions (3,)" in _refusal(below)
    _, msg = find(data, "d", 0x0C)
    body = bytes(data[msg.body : msg.body + msg.size])
    at = body.index(struct.pack("<QQ", 2, 2)) + 8
    changed = _patched(data, "d", 0x0C, at, struct.pack("<Q", 9))
    assert "the dataspace of an attribute of /d has maximum dimensions (9,)" in _refusal(changed)
    resizable = _h5(lambda f: f.create_dataset("r", data=np.arange(3), maxshape=(None,)))
    assert _refusal(resizable) == ""  # chunked: any maxima at or above the dimensions


def test_a_version_2_simple_dataspace_has_a_rank():
    data = _h5(lambda f: f.create_dataset("s", data=1.5), libver="latest")
    assert _refusal(data) == "" and _body(data, "s", 0x01)[:4] == bytes([2, 0, 0, 0])
    assert "a rank its kind does not have" in _refusal(_patched(data, "s", 0x01, 3, b"\x01"))
