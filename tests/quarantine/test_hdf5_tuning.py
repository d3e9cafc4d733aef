"""The tuning fields of dense storage (issue #13): how a fractal heap grows, when a
version 2 B-tree's nodes split and merge, when a heap's free-space manager shrinks.
No reader needs them, so each may hold only what libhdf5 writes: these tests read them
back from h5py's files of every kind (links, attributes, creation order tracked, huge
objects, dense storage forced from the first link, every libver) and check they are
vmguard's constants (tuning.py); then each field changed (checksum recomputed) is
refused naming libhdf5's value."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_dense import _h5
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from vmguard.quarantine.validators.hdf5 import tuning, walk

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

# structure signature: (checksummed length, {field: (offset, struct format)})
FIELDS = {
    b"FRHP": (hd.FRHP_LEN, {"id_len": (5, "<H"), "max_man": (10, "<I"), "width": (110, "<H"),
                            "start": (112, "<Q"), "direct": (120, "<Q"), "bits": (128, "<H"),
                            "start_rows": (130, "<H")}),
    b"BTHD": (hd.BTHD_LEN, {"node_size": (6, "<I"), "split": (14, "<B"), "merge": (15, "<B")}),
    b"FSHD": (hd.FSHD_LEN, {"shrink": (40, "<H"), "expand": (42, "<H")}),
}  # fmt: skip


def _everything(f):
    g = f.create_group("g", track_order=True)
    for i in range(40):
        g[f"link{i:02d}"] = np.arange(i % 3 + 1)
        g.attrs[f"a{i}"] = np.arange(i + 1)
    g.attrs["huge"] = np.arange(1000.0)  # 8 KB: a huge object (its own B-tree)
    plain = f.create_group("plain")
    for i in range(20):
        plain.attrs[f"s{i}"] = "x" * i
        plain[f"soft{i}"] = h5py.SoftLink(f"/nowhere/{i}")


def _forced_dense(f):
    """Dense attribute storage from the first attribute (the phase change h5py exposes)."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_attr_phase_change(0, 0)
    g = h5py.Group(h5py.h5g.create(f.id, b"d", gcpl=gcpl))
    g["x"] = np.arange(3)
    g.attrs["a"] = 1.0


@pytest.fixture(scope="module")
def files():
    out = {}
    for libver in ("earliest", ("v110", "v110"), "latest"):
        out[f"everything-{libver}"] = _h5(_everything, libver=libver)
        out[f"forced-{libver}"] = _h5(_forced_dense, libver=libver)
    return out


def _structures(data: bytes, sig: bytes) -> list[int]:
    return sorted(s for s in walk(data, len(data)) if data[s : s + 4] == sig)


def _read(data: bytes, at: int, sig: bytes) -> dict[str, int]:
    return {k: struct.unpack_from(fmt, data, at + off)[0] for k, (off, fmt) in FIELDS[sig][1].items()}


def test_libhdf5_writes_the_pinned_values(files):
    heaps, trees, managers = set(), set(), set()
    for data in files.values():
        assert _refusal(data) == ""
        for at in _structures(data, b"FRHP"):
            heaps.add(tuple(_read(data, at, b"FRHP").values()))
        trees |= {tuple(_read(data, at, b"BTHD").values()) for at in _structures(data, b"BTHD")}
        managers |= {tuple(_read(data, at, b"FSHD").values()) for at in _structures(data, b"FSHD")}
    assert heaps == set(tuning.HEAPS.values())  # links' and attributes', nothing else
    assert trees == {tuning.BTREE2} and managers == {tuning.FREE_SPACE}


CHANGES = [(b"FRHP", "max_man", 2748), (b"FRHP", "start_rows", 3), (b"FRHP", "start", 1024),
           (b"FRHP", "bits", 40), (b"BTHD", "split", 77), (b"BTHD", "merge", 33), (b"BTHD", "split", 0),
           (b"FSHD", "shrink", 61), (b"FSHD", "expand", 143)]  # fmt: skip


@pytest.mark.parametrize(("sig", "field", "value"), CHANGES)
def test_a_tuning_field_changed_is_refused(files, sig, field, value):
    data = bytearray(files["everything-latest"])
    structures = _structures(data, sig)
    assert structures, "the control: the file has the structure"
    length, fields = FIELDS[sig]
    off, fmt = fields[field]
    at = structures[0]
    assert struct.unpack_from(fmt, data, at + off)[0] != value
    struct.pack_into(fmt, data, at + off, value)
    hd.fix_after(data, at, length)
    assert "where libhdf5 writes" in _refusal(bytes(data))
