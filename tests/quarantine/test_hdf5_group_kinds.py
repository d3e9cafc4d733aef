"""A group is one kind, read as libhdf5 reads it (session 40, kinds.group / kinds.one_group,
attack rh5). libhdf5 decides by the link info message (H5G__obj_get_linfo): present, the
group's links are its link messages or dense storage and a symbol table is never read;
absent, its symbol table, and link messages are never read; neither, no group at all
(H5O__group_isa). Honest h5py groups of both kinds, under every libver bound, converted
groups and netCDF4 files pass, each group's kind the one its writer made; headers forged
to hold the other kind's messages too (a link, a link info or a group info message
retyped from an attribute of a version 1 header) are refused, and h5py shows the harm:
links and data the walk would have published that no reader lists."""

from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import kinds, objects
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

OLD, NEW = kinds.Group.SYMBOL_TABLE, kinds.Group.LINKS
_ONE = "libhdf5 reads one kind of group"


def _h5(*steps, **kw) -> bytes:
    buf = io.BytesIO()
    for i, step in enumerate(steps):
        with h5py.File(buf, "w" if i == 0 else "r+", **kw) as f:
            step(f)
    return buf.getvalue()


def _addr(data: bytes, path: str) -> int:
    with h5py.File(io.BytesIO(data), "r") as f:
        return h5py.h5o.get_info(f[path].id).addr


def _kind(data: bytes, path: str) -> kinds.Group:
    """kinds.group of the header of `path`, its messages read by the walk's own reader."""
    f = File(data, len(data))
    messages = objects.header(objects.Walker(f, Ledger(f)), _addr(data, path), path)
    return kinds.group({m.kind: m for m in messages})


def _v1(data: bytes, addr: int) -> list[tuple[int, int, int]]:
    """(type, data address, size) of the messages of the version 1 header at `addr`, its
    continuation blocks' too."""
    assert data[addr] == 1, "forged headers are version 1 (no checksum)"
    count, size = struct.unpack_from("<2xH4xI", data, addr)
    out, blocks = [], [(addr + 16, size)]
    for start, length in blocks:
        pos = start
        while pos < start + length:
            kind, size = struct.unpack_from("<HH", data, pos)
            out.append((kind, pos + 8, size))
            if kind == 0x10:
                blocks.append(struct.unpack_from("<QQ", data, pos + 8))
            pos += 8 + size
    assert len(out) == count
    return out


def _retype(data: bytes, path: str, attr: bytes, kind: int, body, declared: int = 0) -> bytes:  # noqa: ANN001
    """The attribute `attr` of `path` (a version 1 message) made a message of `kind`
    holding `body` (or body(its size)); with `declared`, that long, a null message after
    it taking the rest."""
    addr, out = _addr(data, path), bytearray(data)
    at, size = next((at, size) for k, at, size in _v1(data, addr)
                    if k == 0x0C and data[at + 8 : at + 9 + len(attr)] == attr + b"\0")
    out[at - 8 : at - 6] = kind.to_bytes(2, "little")
    out[at - 4] = 0x01 if kind == 0x0A else 0  # a group info message is constant (H5G_obj_insert)
    body = body(size) if callable(body) else body
    if declared:
        out[at - 6 : at - 4] = declared.to_bytes(2, "little")
        body = body.ljust(declared, b"\0") + struct.pack("<HHI", 0, size - declared - 8, 0)
        out[addr + 2 : addr + 4] = (len(_v1(data, addr)) + 1).to_bytes(2, "little")
    assert len(body) <= size
    out[at : at + size] = body.ljust(size, b"\0")
    return bytes(out)


def _soft(name: bytes):  # noqa: ANN202
    """A soft link message as libhdf5 writes one, its value filling the message."""
    def body(room: int) -> bytes:
        value = (b"PAYLOAD-" * room)[: room - 6 - len(name)]
        return bytes([1, 0x08, 1, len(name)]) + name + len(value).to_bytes(2, "little") + value
    return body


def _hard(name: bytes, target: int) -> bytes:
    return bytes([1, 0x00, len(name)]) + name + target.to_bytes(8, "little")


_LINFO = bytes(2) + b"\xff" * 16  # version 0, no creation order: no dense storage
_GINFO = bytes(2)  # version 0, libhdf5's default phase change and estimates


# --- honest groups: admitted, each the kind its writer made ---------------------------------------
def _groups(f) -> None:
    g = f.create_group("g")
    g["d"] = np.arange(4)
    g["s"] = h5py.SoftLink("/g/d")
    f.create_group("t", track_order=True)["x"] = np.arange(2)
    many = f.create_group("many")  # dense under the new kind (more than 8 links)
    for i in range(20):
        many[f"m{i:02d}"] = np.arange(2)
    f.attrs["note"] = "kinds"


_LIBVERS = [None, "earliest", "v108", "v110", "v112", "v114", "latest"]


@pytest.mark.parametrize("libver", _LIBVERS, ids=[str(v) for v in _LIBVERS])
def test_honest_groups_pass_each_its_kind(libver):
    data = _h5(_groups, **({"libver": libver} if libver else {}))
    assert _refusal(data) == ""
    old = libver in (None, "earliest")  # libhdf5's earliest bound writes symbol tables
    for path in ("/", "g", "many"):
        assert _kind(data, path) is (OLD if old else NEW), path
    assert _kind(data, "t") is NEW  # tracking link order needs the new kind under every bound
    assert _kind(data, "g/d") is kinds.Group.NONE


@pytest.mark.parametrize("libver", [None, ("earliest", "v110")], ids=["def", "v110"])
def test_converted_groups_pass_as_the_new_kind(libver):
    """libhdf5 2.0 converts an old-style group given a non-ASCII link name (converted.py)."""
    kw = {"libver": libver} if libver else {}
    data = _h5(_groups, lambda f: f["g"].create_group("größe"), **kw)
    assert b"TREE" in data and _refusal(data) == ""
    assert (_kind(data, "/"), _kind(data, "g")) == (OLD, NEW)


def test_netcdf4_groups_pass(tmp_path):
    netcdf4 = pytest.importorskip("netCDF4")
    with netcdf4.Dataset(tmp_path / "n.nc", "w") as ds:
        ds.createDimension("x", 3)
        ds.createVariable("v", "f8", ("x",))[:] = [1, 2, 3]
        sub = ds.createGroup("run")
        sub.createVariable("w", "i4", ("x",))[:] = [4, 5, 6]
    data = (tmp_path / "n.nc").read_bytes()
    assert _refusal(data) == ""
    assert (_kind(data, "/"), _kind(data, "run")) == (NEW, NEW)  # netCDF-C tracks link order


# --- forged: the other kind's messages in a group's header ---------------------------------------
def _old(path: str, *attrs: str, size: int = 8):
    """An old-style file: /g holding the dataset d, attributes on `path` to retype."""
    def build(f):
        f.create_group("g")["d"] = np.arange(3)
        for a in attrs:
            f[path].attrs[a] = np.zeros(size)
    return _h5(build)


def _listed(data: bytes, path: str) -> list[str]:
    with h5py.File(io.BytesIO(data), "r") as f:
        return list(f[path])


@pytest.mark.parametrize("path", ["g", "/"])
def test_a_link_message_in_an_old_group_is_refused(path):
    data = _old(path, "pad")
    forged = _retype(data, path, b"pad", 0x06, _soft(b"evil"))
    assert _listed(forged, path) == _listed(data, path), "harm: h5py lists no link 'evil'"
    assert forged.count(b"PAYLOAD-") >= 8
    shown = "/g" if path == "g" else "/"
    assert _refusal(forged).startswith(f"hdf5: {shown} holds a symbol table and link messages: {_ONE}")


def test_a_hard_link_message_in_the_old_root_is_refused():
    """A second name for /g/d no reader lists (the walk would count it as a link)."""
    data = _old("/", "pad")
    forged = _retype(data, "/", b"pad", 0x06, _hard(b"twin", _addr(data, "g/d")), declared=16)
    assert "twin" not in _listed(forged, "/")
    assert _refusal(forged).startswith(f"hdf5: / holds a symbol table and link messages: {_ONE}")


def test_a_group_info_message_in_an_old_group_is_refused():
    data = _old("g", "pad")
    forged = _retype(data, "g", b"pad", 0x0A, _GINFO, declared=8)
    assert _listed(forged, "g") == ["d"]
    assert _refusal(forged).startswith(f"hdf5: /g holds a symbol table and a group info message: {_ONE}")


@pytest.mark.parametrize("path", ["g", "/"])
def test_a_link_info_message_over_a_symbol_table_is_refused(path):
    data = _old(path, "pad", size=2)
    forged = _retype(data, path, b"pad", 0x02, _LINFO, declared=24)
    assert _listed(data, path) and _listed(forged, path) == [], "harm: libhdf5 reads an empty group"
    shown = "/g" if path == "g" else "/"
    assert _refusal(forged).startswith(f"hdf5: {shown} holds a link info message and a symbol table: {_ONE}")
    assert "here the new kind" in _refusal(forged)


def test_link_info_and_a_link_over_a_symbol_table_are_refused():
    """libhdf5 lists the link message's link, never the symbol table's dataset."""
    data = _old("g", "pad", "soft", size=2)
    forged = _retype(data, "g", b"pad", 0x02, _LINFO, declared=24)
    forged = _retype(forged, "g", b"soft", 0x06, _soft(b"other"))
    assert _listed(forged, "g") == ["other"]
    assert _refusal(forged).startswith(f"hdf5: /g holds a link info message and a symbol table: {_ONE}")


def _converted_empty() -> bytes:
    """/g made empty and old-style, then converted by a non-ASCII link: its old table empty."""
    def first(f):
        f.create_group("g").attrs["pad"] = np.zeros(8)
    return _h5(first, lambda f: f["g"].create_group("größe"))


def test_a_converted_group_with_its_symbol_table_back_is_refused():
    """converted.py's case is a group without a symbol table message: one put back (the
    table libhdf5 left, as the root's entry caches it) makes a group of both kinds."""
    data = _converted_empty()
    assert _refusal(data) == "" and _kind(data, "g") is NEW
    g = _addr(data, "g")
    at = data.index(struct.pack("<QII", g, 1, 0)) + 16  # the root's entry for /g: its cache
    forged = _retype(data, "g", b"pad", 0x11, data[at : at + 16], declared=16)
    assert _listed(forged, "g") == ["größe"]
    assert _refusal(forged).startswith(f"hdf5: /g holds a link info message and a symbol table: {_ONE}")


def _no_group(kind: int, body: bytes, declared: int = 0) -> bytes:
    """/e an old-style group whose symbol table message is made null (zeros): neither kind."""
    def build(f):
        f.create_group("e").attrs["pad"] = np.zeros(8)
    data = _h5(build)
    out = bytearray(_retype(data, "e", b"pad", kind, body, declared))
    ((at, size),) = [(at, size) for k, at, size in _v1(data, _addr(data, "e")) if k == 0x11]
    out[at - 8 : at - 6] = bytes(2)
    out[at : at + size] = bytes(size)
    return bytes(out)


@pytest.mark.parametrize(("kind", "body", "declared", "held"), [
    (0x06, _soft(b"evil"), 0, "link messages"),
    (0x0A, _GINFO, 8, "a group info message"),
])
def test_group_messages_in_no_group_are_refused(kind, body, declared, held):
    forged = _no_group(kind, body, declared)
    with h5py.File(io.BytesIO(forged), "r") as f, pytest.raises(Exception):  # noqa: B017, PT011
        f["e"]  # harm: libhdf5 cannot tell what object it is (no reader lists its links)
    assert _refusal(forged).startswith(
        f"hdf5: the object header of /e holds {held} and neither a symbol table nor a link info message"
    )


def test_a_link_message_in_a_dataset_is_refused():
    """Already refused by the object's kind (kinds.check): no dataset holds links."""
    data = _h5(lambda f: f.create_dataset("d", data=np.arange(3)).attrs.__setitem__("pad", np.zeros(8)))
    forged = _retype(data, "d", b"pad", 0x06, _soft(b"evil"))
    assert _refusal(forged).startswith("hdf5: the object header of /d is a group (link messages)")
