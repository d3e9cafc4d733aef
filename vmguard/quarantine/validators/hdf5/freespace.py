"""A fractal heap's free-space manager (an `FSHD` header and its `FSSE` section list):
HDF5 keeps it so the next write finds room in the heap's direct blocks. Both are
claimed and their checksums recomputed; the list holds exactly the header's count of
"single" sections (a free range inside one direct block) and zeros after them, and its
sections are exactly the free space of the heap's direct blocks (fractalheap.settle):
a section that names an object's bytes or free space no section names is refused.
Row and indirect sections (free blocks not yet allocated) are refused: they come with
heaps of more blocks than a group or an attribute list of ordinary size fills."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from . import tuning
from .btree2 import enc_size
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .fractalheap import Heap
    from .objects import Walker

HEADER = 82
_SINGLE = 0  # H5HF_FSPACE_SECT_SINGLE: serialized without data


def match(w: Walker, heap: Heap, gaps: list[tuple[int, int]]) -> None:
    """The free-space manager of `heap` lists exactly `gaps` ((heap offset, length))."""
    address, free = heap.fields["manager"], heap.fields["free"]
    if free != sum(n for _, n in gaps) + heap.unallocated:  # and the blocks not yet allocated
        raise Invalid(
            f"hdf5: {heap.what} counts {free} bytes of free space where its direct blocks "
            f"hold {sum(n for _, n in gaps)} and those not yet allocated {heap.unallocated}"
        )
    if address == UNDEFINED:
        if gaps:
            raise Invalid(f"hdf5: {heap.what} has free space but no free-space manager")
        return
    listed = _sections(w, heap, address)
    if listed != gaps:
        raise Invalid(
            f"hdf5: the free-space sections of {heap.what} are not the free space of its direct blocks"
        )


def _sections(w: Walker, heap: Heap, address: int) -> list[tuple[int, int]]:
    f, name = w.file, f"the free-space manager of {heap.what}"
    w.ledger.claim_checked(address, HEADER, name)
    f.signature(address, b"FSHD", name)
    version, client, space, total, serial, ghost, classes = f.unpack("4xBBQQQQH", address, name)
    bits, max_size, at, size, allocated = f.unpack("14xHQQQQ", address + 30, name)
    tuning.free_space(f.unpack("HH", address + 40, name), f"{name} at {address}")
    expected = (0, 0, 0, serial, 4, heap.table[3], heap.table[2])  # classes: fractal heap sections
    if (version, client, ghost, total, classes, bits, max_size) != expected:
        raise Invalid(
            f"hdf5: {name} at {address} is not a fractal heap's of version 0 without ghost "
            "sections, its address space and largest section the heap's"
        )
    if at == UNDEFINED:
        if serial or space or size or allocated:
            raise Invalid(f"hdf5: {name} counts sections but has no section list")
        return []
    if not serial or size != allocated or size < 17:
        raise Invalid(f"hdf5: {name} has an empty or oversized section list")
    list_name = f"the free-space section list of {heap.what}"
    w.ledger.claim_checked(at, size, list_name)
    f.signature(at, b"FSSE", list_name)
    if f.unpack("4xBQ", at, list_name) != (0, address):
        raise Invalid(f"hdf5: {list_name} at {at} has another version or header")
    raw = f.bytes(at + 13, size - 17, list_name)
    found = _records(raw, (enc_size(serial), enc_size(max_size), (bits + 7) // 8), serial, list_name)
    if sum(n for _, n in found) != space:
        raise Invalid(f"hdf5: {name} counts {space} bytes where its sections hold {sum(n for _, n in found)}")
    return sorted(found)


def _records(raw: bytes, widths: tuple[int, int, int], serial: int, name: str) -> list[tuple[int, int]]:
    """(heap offset, length) of every section: groups of (count, size, records of
    (offset, type)), then zeros."""
    count_size, len_size, off_size = widths
    pos, found = 0, []
    while len(found) < serial:
        count = int.from_bytes(raw[pos : pos + count_size], "little")
        length = int.from_bytes(raw[pos + count_size : pos + count_size + len_size], "little")
        pos += count_size + len_size
        if not count or not length or len(found) + count > serial or pos + count * (off_size + 1) > len(raw):
            raise Invalid(f"hdf5: {name} lists sections its header does not count")
        for _ in range(count):
            if raw[pos + off_size] != _SINGLE:
                raise Invalid(
                    f"hdf5: {name} lists a section of type {raw[pos + off_size]} (only free "
                    "space inside direct blocks is supported)"
                )
            found.append((int.from_bytes(raw[pos : pos + off_size], "little"), length))
            pos += off_size + 1
    if raw[pos:].strip(b"\0"):
        raise Invalid(f"hdf5: the bytes after the sections of {name} hold data")
    return found
