"""The direct block of a dense attribute heap that a REFERENCE_LIST rewrite emptied,
recomputed (session 40, emptiedblocks.py): netCDF4-python attaching two variables to a
coordinate variable with dense attributes in one later session frees the heap's second
block (and reverts the heap: revertedroots.py), and a later structure takes only its
start: the rest, the deleted list's copy then zeros, stays. Admitted: exactly the end of
that block recomputed (its prefix, the copy alone, zeros) ending where the gap ends; a
byte of the copy or of the zeros changed, the copy shifted, are refused."""

from __future__ import annotations

import pytest

from tests.quarantine.test_hdf5_revertedroots import REVERTED, UNCLAIMED, WORKFLOWS, _nc
from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import emptiedblocks
from vmguard.quarantine.validators.hdf5.fractalheap import Heap
from vmguard.quarantine.validators.hdf5.objects import walk

EMPTIED = "the end of an emptied direct block of the fractal heap of the attributes of /x"


@pytest.fixture(scope="module")
def stale() -> tuple[bytes, int, int]:
    """The file, and where the end of its emptied block lies."""
    data = _nc(WORKFLOWS["nc-2-variables-in-the-second-session"])
    extents = walk(data, len(data))
    ((start, end),) = [(s, e) for s, (e, what) in extents.items() if what == EMPTIED]
    assert any(REVERTED in what for _, what in extents.values()), "control: its root freed too"
    assert data[start + 1] and not data[end - 64 : end].strip(b"\0"), "control: the copy's end, zeros"
    return data, start, end


def _changed(data: bytes, at: int, value: int) -> bytes:
    out = bytearray(data)
    out[at] = value
    return bytes(out)


def test_a_byte_of_the_copy_changed_is_refused(stale):
    data, start, end = stale
    at = start + len(data[start:end].rstrip(b"\0")) - 1  # the copy's last non-zero byte
    assert UNCLAIMED in _refusal(_changed(data, at, data[at] ^ 0x40))


@pytest.mark.parametrize("back", [1, 100, 900])
def test_a_byte_in_its_zeros_is_refused(stale, back):
    data, _, end = stale
    assert data[end - back] == 0
    assert UNCLAIMED in _refusal(_changed(data, end - back, 0x2A))


def test_the_copy_shifted_is_refused(stale):
    data, start, end = stale
    shifted = data[:start] + bytes(1) + data[start : end - 1] + data[end:]
    assert UNCLAIMED in _refusal(shifted)


def _heap() -> Heap:
    return Heap(address=848, what="h", id_len=8, off_size=5, len_size=2, checksummed=True,
                table=(4, 1024, 65536, 40), entries=[(0, 0, 0), (0, 0, 1)], copies=((bytes(range(1, 95)),),))


def test_a_block_shown_from_its_prefix():
    """Where the window shows the prefix, its heap offset and checksum are the block's."""
    heap = _heap()
    block = emptiedblocks._block(heap, 1024, 1024, heap.copies[0][0])
    assert block[:4] == b"FHDB" and len(block) == 1024
    found = emptiedblocks.EmptiedBlocks(heaps=[heap])
    assert emptiedblocks._shows(heap, (1024, 1024), heap.copies[0][0], block[10:])
    assert not emptiedblocks._shows(heap, (0, 1024), heap.copies[0][0], block[10:])  # another heap offset
    forged = bytearray(block)
    forged[19] ^= 1  # its checksum
    assert not emptiedblocks._shows(heap, (1024, 1024), heap.copies[0][0], bytes(forged[10:]))
    buf = bytes(6) + block
    assert found.claims(buf, [(16, 6 + 1024)]) == [(16, 1014, "the end of an emptied direct block of h")]
    assert found.found == {(848, 1024): {6}} and heap.copies == ()  # each copy once
