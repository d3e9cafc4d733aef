"""Earlier fractal-heap states admitted only where the file's history could have freed
them (session 35, h5hist; attack j: tests/quarantine/test_attack_independent_jh5.py).

libhdf5 gives back the free space at the end of the file at close, so nothing freed (a
list, a root, a continuation block, a chunk's earlier version), nor the tail of it, lies
past the last structure the walk reached; a heap
tracking creation order has its old lists among its states only, fewer than its
objects; an old root indirect block has a shape libhdf5 passes through (1, 2, 4 ...
rows, each copy holding more children than the rows before it), one per rows."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_oldblocks import _freed
from tests.quarantine.test_hdf5_oldsections import _file, _old_list, _old_root, _olds, _resum, _zeros
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_jh5_lists import appended
from tests.support.hdf5_attack_c_bytes import lookup3
from vmguard.quarantine.validators.hdf5 import oldstates

pytest.importorskip("h5py")

UNDEFINED = b"\xff" * 8


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {case: _file(case) for case in ("tracked-attrs-12x2", "latest-attrs-30x3")}


def test_the_shapes_a_root_passes_through():
    assert oldstates.shapes(1, 4) == []
    assert oldstates.shapes(4, 4) == [(1, range(2, 5)), (2, range(5, 9))]
    assert [r for r, _ in oldstates.shapes(9, 4)] == [1, 2, 3, 4, 8]  # 3: a large block's (session 39)
    assert oldstates.shapes(9, 4)[3] == (4, range(9, 17))
    assert oldstates.shapes(9, 4)[2] == (3, range(9, 13))


def test_an_old_list_moved_past_the_last_structure_is_refused(files):
    """The file's own old list, passing where libhdf5 left it, zeroed there and appended
    after the last structure (end-of-file raised): libhdf5 would have cut it off."""
    data, start, end = _old_list(files)
    assert _refusal(bytes(data)) == ""
    old = bytes(data[start : end + 4])
    data[start : end + 4] = bytes(len(old))
    moved = appended(bytes(data), [old])
    assert "are reached from no structure" in _refusal(moved)


@pytest.mark.parametrize("shown", [3, 13])
def test_an_old_lists_tail_past_the_last_structure_is_refused(files, shown):
    """Its last bytes, "hidden" under the file's last structure, the list zeroed where it was."""
    data, start, end = _old_list(files)
    tail = bytes(data[end + 4 - shown : end + 4])
    data[start : end + 4] = bytes(end + 4 - start)
    assert "are reached from no structure" in _refusal(appended(bytes(data), [tail]))


def test_a_tracked_heaps_list_of_no_earlier_state_is_refused(files):
    """A copy of the live list (the state of all the heap's objects: a serialization of
    its blocks' tails, but no earlier state) in a gap of zeros."""
    data = bytes(files["tracked-attrs-12x2"])
    olds = {s for s, _, _ in _olds(data)}
    live = next(a for a in range(len(data)) if data[a : a + 4] == b"FSSE" and a not in olds)
    end = next(e for e in range(live + 17, len(data) - 3)
               if struct.unpack_from("<I", data, e)[0] == lookup3(data[live:e]))
    copy = data[live : end + 4]
    at = _zeros(data, len(copy))
    assert "a free-space section list nothing refers to" in _refusal(data[:at] + copy + data[at + len(copy) :])


def test_the_old_root_left_has_a_shape_libhdf5_passes_through(files):
    data, start, end = _old_root(files)
    size = end - (start + 18)
    rows, children = size // 32, len(bytes(data[start + 18 : end]).rstrip(b"\xff")) // 8
    assert (rows, children) in {(r, c) for r, counts in oldstates.shapes(rows + 1, 4) for c in counts}


@pytest.mark.parametrize("children", [1, 0])
def test_an_old_root_of_a_shape_no_growth_writes_is_refused(files, children):
    """The file's own old root with fewer children (the rest undefined, checksum
    recomputed): a root of 1 row is written with 2 children at least."""
    data, start, end = _old_root(files)
    first = start + 18 + 8 * children
    data[first:end] = UNDEFINED * ((end - first) // 8)
    assert "are reached from no structure" in _refusal(_resum(data, start, end))


def test_a_freed_continuation_block_moved_past_the_last_structure_is_refused():
    """The same for every freed structure: the file's own freed OCHK block, passing where
    libhdf5 left it, zeroed there and appended after the last structure."""
    data, _, (start, end) = _freed()
    assert _refusal(bytes(data)) == ""
    block = bytes(data[start:end]).rstrip(b"\0")
    data[start:end] = bytes(end - start)
    assert _refusal(bytes(data)) == ""
    assert "are reached from no structure" in _refusal(appended(bytes(data), [block]))
