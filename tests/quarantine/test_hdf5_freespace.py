"""A fractal heap's free-space manager, recomputed (issue #13): plain attributes of mixed
sizes under libver='latest' make libhdf5 skip direct blocks to place a larger object,
and the skipped blocks become "row" sections (a serialized first row, ghost rows); the
walk once refused every such file. Ordinary h5py output of a small sweep of sizes and
counts passes; every field of the manager changed (checksum recomputed) is refused with
a reason that names the rule it breaks."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_elision import vet
from tests.quarantine.test_hdf5_dense import _h5
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import put
from vmguard.quarantine.model import Verdict
from vmguard.quarantine.validators.hdf5 import fractalheap, freespace
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Walker

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

MIXED = (168, 500, 1000, 2000, 4000, 8000, 15000, 300, 700, 3000)  # found refused, session 29


def _attributes(sizes):
    def build(f):
        g = f.create_group("g")
        for i, n in enumerate(sizes):
            g.attrs[f"a{i}"] = np.zeros(n, "u1")

    return build


@pytest.fixture(scope="module")
def mixed() -> bytes:
    return _h5(_attributes(MIXED), libver="latest")


def _manager(data: bytes) -> tuple[int, int, int]:
    """(FSHD address, serialized sections, ghost sections) of the file's one manager."""
    at = data.index(b"FSHD")
    return at, *struct.unpack_from("<QQ", data, at + 22)


def test_mixed_size_attributes_are_published_byte_identical(tmp_path, mixed):
    at, serial, ghosts = _manager(mixed)
    assert ghosts >= 1 and b"\x01" in mixed[hd.free_space(mixed, at).list_addr :], "control: row sections"
    entries = vet(tmp_path, {"mixed.h5": mixed})
    assert entries["mixed.h5"].verdict is Verdict.ACCEPTED, entries["mixed.h5"]
    assert (tmp_path / "pub" / "run1" / "mixed.h5").read_bytes() == mixed


SWEEP = [
    (count, sizes, libver)
    for count in (1, 3, 10, 40)
    for sizes in ((168, 15000), (1, 4000, 9000, 500), (3000, 200, 2500), (4090, 4100, 60))
    for libver in ("latest", "earliest")
]


@pytest.mark.parametrize(("count", "sizes", "libver"), SWEEP)
def test_ordinary_attribute_mixes_pass(count, sizes, libver):
    data = _h5(_attributes([sizes[i % len(sizes)] for i in range(count)]), libver=libver)
    assert _refusal(data) == ""


def test_links_and_attributes_mixed_in_one_group_pass():
    def build(f):
        g = f.create_group("g", track_order=True)
        for i in range(60):
            g.attrs[f"a{i}"] = np.zeros((i * 977) % 9000 + 1, "u1")
            g.create_group(f"link{i}" + "x" * (i % 50))

    assert _refusal(_h5(build, libver="latest")) == ""


@pytest.mark.parametrize(
    ("field", "delta", "named"),
    [
        ("total_space", 1, "bytes in its sections, where they hold"),
        ("sections", 1, "sections, 8 serialized and 1 ghost"),
        ("serialized", 1, "serialized and 1 ghost, where the heap's free space makes them"),
        ("ghosts", 1, "ghost, where the heap's free space makes them"),
        ("list_used", 8, "bytes used and"),
        ("list_alloc", 8, "allocated, where its sections take"),
    ],
)
def test_each_count_of_the_manager_is_refused_naming_its_rule(mixed, field, delta, named):
    data = bytearray(mixed)
    fs = hd.free_space(data, _manager(mixed)[0])
    now = {"serialized": 8, "ghosts": 1}.get(field) or getattr(fs, field)
    hd.set_free_space(data, fs, **{field: now + delta})
    assert named in _refusal(bytes(data))


def test_the_largest_section_is_the_heaps_largest_direct_block(mixed):
    data = bytearray(mixed)
    at = _manager(mixed)[0]
    put(data, at + 46, 1 << 20)
    hd.fix_after(data, at, hd.FSHD_LEN)
    assert "as its largest section, where the heap's largest direct block is 65536" in _refusal(bytes(data))


def _row_section(data: bytes) -> int:
    """The file offset of the first row section's entry count (its last 2 bytes)."""
    fs = hd.free_space(data, _manager(data)[0])
    raw = data[fs.list_addr + 13 : fs.list_addr + fs.list_used - 4]
    at = raw.index(b"\x01\x00\x00\x00\x00\x00")  # type 1, then its indirect block at heap offset 0
    return fs.list_addr + 13 + at + 1 + 5 + 4


@pytest.mark.parametrize("change", [1, -1])
def test_a_row_section_naming_other_blocks_is_refused(mixed, change):
    data = bytearray(mixed)
    at, fs = _row_section(mixed), hd.free_space(mixed, _manager(mixed)[0])
    put(data, at, struct.unpack_from("<H", data, at)[0] + change, "<H")
    hd.fix_after(data, fs.list_addr, fs.list_used - 4)
    assert "are not the free space of its direct blocks (and the runs of blocks" in _refusal(bytes(data))
    assert _refusal(mixed) == ""  # control


def test_sections_out_of_libhdf5s_order_are_refused(mixed):
    """Two single sections swapped (each a group of its own size): the same free space,
    another order; libhdf5 writes them by size, ascending."""
    data = bytearray(mixed)
    fs = hd.free_space(mixed, _manager(mixed)[0])
    start = fs.list_addr + 13
    first, second = data[start : start + 10], data[start + 10 : start + 20]
    assert first[-1] == second[-1] == 0, "control: two single sections first"
    data[start : start + 20] = second + first
    hd.fix_after(data, fs.list_addr, fs.list_used - 4)
    assert "are not the free space of its direct blocks" in _refusal(bytes(data))


@pytest.mark.parametrize(("count", "step"), [(600, 7919), (800, 7919), (700, 104729)])
def test_skipped_blocks_under_a_child_indirect_block_pass(count, step):
    """Near a megabyte of attributes: the heap's root indirect block holds indirect
    blocks, and libhdf5 skips direct blocks inside one of them (a first row section
    naming that block's heap offset)."""
    sizes = [(i * step) % 4000 + 1 if i % 3 else i % 200 + 1 for i in range(count)]
    data = _h5(_attributes(sizes), libver="latest")
    f = File(data, len(data))
    heap = fractalheap.open_heap(Walker(f, Ledger(f)), data.index(b"FRHP"), "/g", "attribute")
    assert any(block and row < fractalheap.direct_rows(heap) for block, row, _, _ in freespace._runs(heap))
    assert _refusal(data) == ""
