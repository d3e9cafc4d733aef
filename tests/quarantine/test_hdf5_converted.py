"""A symbol-table group libhdf5 2.0 turned into a new-style group when given a non-ASCII
link name, and the B-tree and local heap it left (session 39, attack oh5's
FALSE_REJECTIONS; converted.py): the cached entry still names them, or (a root reopened
later) nothing does and they lie where libhdf5 made them with the root. Admitted: that
table walked as a symbol table reaching nothing, every name one of the group's links now
to the same object, zeros elsewhere; a name, an address or a free block changed, or a
group without a non-ASCII link, refused."""

from __future__ import annotations

import io
import re
import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

_CACHED = "a symbol table entry's cache type or scratch pad is not its group's B-tree and heap"


def _file(*steps, **kw) -> bytes:
    buf = io.BytesIO()
    for i, step in enumerate(steps):
        with h5py.File(buf, "w" if i == 0 else "r+", **kw) as f:
            step(f)
    return buf.getvalue()


def _sub(f) -> None:
    g = f.create_group("g")
    g.create_group("a")
    g["s"] = h5py.SoftLink("/g/a")
    g.create_dataset("d", data=[1, 2])


def _utf8(f) -> None:
    f["g"].create_group("größe")


CONTROLS = {
    "root": (lambda f: f.create_group("größe"),),
    "root-later": (lambda f: f.create_group("a"), lambda f: f.create_group("ünter")),
    "root-three": (lambda f: f.create_group("a"), lambda f: f.create_group("ß"), lambda f: f.create_group("b")),
    "sub": (_sub, _utf8),
    "sub-one": (lambda f: (_sub(f), _utf8(f)),),
    "soft": (lambda f: f.create_dataset("données", data=[1]), lambda f: f.__setitem__("lien→", h5py.SoftLink("/données"))),
}


@pytest.mark.parametrize("libver", [None, ("earliest", "v110")], ids=["def", "v110"])
@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_converted_groups_pass(name, libver):
    kw = {"libver": libver} if libver else {}
    data = _file(*CONTROLS[name], **kw)
    assert b"TREE" in data, "control: the table libhdf5 left is in the file"
    assert _refusal(data) == ""


def _old_heap(data: bytes) -> tuple[int, int]:
    """(data segment, size) of /g's old local heap: the one holding the name 'a'."""
    for m in re.finditer(rb"HEAP\0", data):
        size, _, segment = struct.unpack_from("<QQQ", data, m.start() + 8)
        if b"\0a\0" in data[segment:segment + size] or data[segment + 8:segment + 10] == b"a\0":
            return segment, size
    raise AssertionError("control: /g's old heap")


def _forged(data: bytes, at: int, new: bytes) -> str:
    out = bytearray(data)
    out[at:at + len(new)] = new
    return _refusal(bytes(out))


def test_a_left_table_changed_is_refused():
    data = _file(*CONTROLS["sub"])
    segment, size = _old_heap(data)
    name = data.index(b"a\0", segment, segment + size)
    assert _forged(data, name, b"a") == ""  # control
    assert "which is not a link of the group now" in _forged(data, name, b"b")
    free = segment + size - 8
    assert not any(data[free:free + 8])
    assert _forged(data, free, b"PWND") != ""  # data in its free block
    snod = data.index(b"SNOD", data.index(b"TREE", data.index(b"TREE") + 4))
    entries = [snod + 8 + 40 * i for i in range(struct.unpack_from("<H", data, snod + 6)[0])]
    header = max(entries, key=lambda e: struct.unpack_from("<Q", data, e + 8)[0]) + 8
    moved = struct.pack("<Q", struct.unpack_from("<Q", data, header)[0] + 8)
    assert _forged(data, header, moved) != ""  # an entry's object moved


def test_a_left_root_table_changed_is_refused():
    data = _file(*CONTROLS["root-three"])
    heap = data.index(b"HEAP\0")
    size, _, segment = struct.unpack_from("<QQQ", data, heap + 8)
    assert _forged(data, segment + size - 4, b"\0") == ""  # control
    assert _forged(data, segment + size - 4, b"W") != ""


def test_a_cached_table_of_a_group_libhdf5_never_converted_is_refused():
    """A new-style group of ASCII names only (track_order=True) whose entry caches a
    B-tree and heap: libhdf5 caches them only for a group of the old kind or one it
    converted (for a non-ASCII name)."""
    from vmguard.quarantine.validators.hdf5 import converted
    from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
    from vmguard.quarantine.validators.hdf5.objects import Walker

    w = Walker(File(bytes(64), 64), Ledger(File(bytes(64), 64)))
    w.cached[8] = {(16, 24)}
    w.named[8] = {b"ascii": 40}
    with pytest.raises(Exception, match=re.escape(_CACHED)):
        converted.settle(w)
