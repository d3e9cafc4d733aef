"""A fractal heap's free-space manager (an `FSHD` header and its `FSSE` section list):
HDF5 keeps it so the next write finds room in the heap. Both are claimed and their
checksums recomputed; the sections are recomputed from the heap (fractalheap.py) and
the list must be exactly their serialization as libhdf5 writes it (H5FScache.c: by
size, then heap offset; zeros after): a "single" section for each free range inside a
direct block, and for each run of direct blocks of one indirect block not yet
allocated below the heap's allocation iterator (blocks libhdf5 skipped to place a
larger object) one "first row" section naming the run (H5HFsection.c); its other rows
are "ghost" sections, counted but not written. The header's counts and bytes are those
sections'. An indirect block not yet allocated below the iterator (an "indirect"
section: a skip over a megabyte of links or attributes at once) is refused."""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import oldsections, skipped, tuning
from .btree2 import enc_size
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .fractalheap import Heap
    from .objects import Walker

HEADER = 82
_PREFIX = 17  # FSSE, version, the header's address, checksum
_SINGLE = 0  # H5HF_FSPACE_SECT_SINGLE

Section = tuple[int, int, int, bytes]  # (size, heap offset, type, serialized data)


def match(w: Walker, heap: Heap, gaps: list[tuple[int, int]]) -> None:
    """The free-space manager of `heap` lists exactly `gaps` ((heap offset, length))
    and the runs of blocks the heap skipped."""
    address, free = heap.fields["manager"], heap.fields["free"]
    held = sum(n for _, n in gaps)
    extra = free - held - heap.unallocated  # and the blocks not yet allocated
    bound = heap.free_bound
    if not (0 < extra <= bound if heap.reverted else extra == 0):
        raise Invalid(
            f"hdf5: {heap.what} counts {free} bytes of free space where its direct blocks "
            f"hold {held} and those not yet allocated {heap.unallocated}"
            + (f" (its root block reverted: 1 to {bound} more)" if heap.reverted else "")
        )
    sections, ghosts = expected(heap, gaps)
    if address == UNDEFINED:
        if sections:
            raise Invalid(f"hdf5: {heap.what} has free space but no free-space manager")
        return
    live = _manager(w, heap, address, (sections, ghosts))
    blocks = [(start + heap.prefix, start + size) for start, size, _ in heap.blocks]
    widths = (enc_size(heap.table[2]), heap.off_size)
    tracked = (address, heap.orders)
    tails = oldsections.tails(heap.what, widths, blocks, heap.objects, tracked, rows(heap), live)
    w.ledger.sections.add(address, tails)


def expected(heap: Heap, gaps: list[tuple[int, int]]) -> tuple[list[Section], list[int]]:
    """The sections libhdf5 serializes for `heap` (sorted as it writes them) and the
    sizes of the ghost sections it only counts."""
    sections: list[Section] = [(n, offset, _SINGLE, b"") for offset, n in gaps]
    ghosts: list[int] = []
    for block, row, col, count in _runs(heap):
        last = (row * heap.table[0] + col + count - 1) // heap.table[0]
        sections.append(rows(heap).section((block, row, col, count)))
        ghosts += [heap.row_size(r) - heap.prefix for r in range(row + 1, last + 1)]
    return sorted(sections), ghosts


def rows(heap: Heap) -> skipped.Rows:
    """The heap's direct-block entries, as skipped.py reads them."""
    return skipped.Rows(width=heap.table[0], start=heap.table[1], prefix=heap.prefix, off_size=heap.off_size,
                        entries=tuple(sorted(heap.entries)), allocated=frozenset(b[0] for b in heap.blocks))


def _runs(heap: Heap) -> list[tuple[int, int, int, int]]:
    """(indirect block's heap offset, row, column, entries) of each run of consecutive
    unallocated direct block entries of one indirect block below the heap's allocation
    iterator."""
    from .fractalheap import direct_rows  # fractalheap imports this module

    below = []
    for block, row, col in heap.holes:
        if block + heap.row_offset(row) + col * heap.row_size(row) >= heap.fields["iterator"]:
            continue
        if row >= direct_rows(heap):
            raise Invalid(
                f"hdf5: {heap.what} has an unallocated indirect block below its allocation "
                "iterator (an indirect free-space section: not supported)"
            )
        below.append((block, row, col))
    return skipped.merge(below, heap.table[0])


def _manager(w: Walker, heap: Heap, address: int, want: tuple[list[Section], list[int]]) -> bytes:
    """Check the manager's header and its live list; the list before its checksum (b"": none)."""
    f, name = w.file, f"the free-space manager of {heap.what}"
    w.ledger.claim_checked(address, HEADER, name)
    f.signature(address, b"FSHD", name)
    version, client, space, total, serial, ghost, classes = f.unpack("4xBBQQQQH", address, name)
    bits, max_size, at, size, allocated = f.unpack("14xHQQQQ", address + 30, name)
    tuning.free_space(f.unpack("HH", address + 40, name), f"{name} at {address}")
    if (version, client, classes, bits) != (0, 0, 4, heap.table[3]):
        raise Invalid(
            f"hdf5: {name} at {address} is not a fractal heap's of version 0 "
            f"(version, client, section classes, address bits {(version, client, classes, bits)})"
        )
    if max_size != heap.table[2]:
        raise Invalid(
            f"hdf5: {name} gives {max_size} as its largest section, where the heap's largest "
            f"direct block is {heap.table[2]}"
        )
    sections, ghosts = want
    _counts(name, (total, serial, ghost, space), want)
    raw = _serialized(sections, (enc_size(serial), enc_size(max_size), heap.off_size))
    if at == UNDEFINED:
        if serial or size or allocated:
            raise Invalid(f"hdf5: {name} counts serialized sections but has no section list")
        return b""
    if (size, allocated) != (_PREFIX + len(raw),) * 2:
        raise Invalid(
            f"hdf5: {name} gives its section list {size} bytes used and {allocated} allocated, "
            f"where its sections take {_PREFIX + len(raw)}"
        )
    _section_list(w, heap, (address, at, size), raw)
    return b"FSSE" + bytes(1) + address.to_bytes(8, "little") + raw


def _counts(name: str, got: tuple[int, int, int, int], want: tuple[list[Section], list[int]]) -> None:
    """The header's section counts (all, serialized, ghost) and bytes are the sections'."""
    sections, ghosts = want
    counts = (len(sections) + len(ghosts), len(sections), len(ghosts))
    if got[:3] != counts:
        raise Invalid(
            f"hdf5: {name} counts {got[0]} sections, {got[1]} serialized and {got[2]} ghost, "
            f"where the heap's free space makes them {counts}"
        )
    space = sum(s[0] for s in sections) + sum(ghosts)
    if got[3] != space:
        raise Invalid(f"hdf5: {name} counts {got[3]} bytes in its sections, where they hold {space}")


def _serialized(sections: list[Section], widths: tuple[int, int, int]) -> bytes:
    """The sections as H5FS writes them: for each size, ascending, (count, size), then
    each section of that size by heap offset (offset, type, data)."""
    count_size, len_size, off_size = widths
    out = bytearray()
    for size, group in groupby(sections, key=lambda s: s[0]):
        same = list(group)
        out += len(same).to_bytes(count_size, "little") + size.to_bytes(len_size, "little")
        for _, offset, kind, data in same:
            out += offset.to_bytes(off_size, "little") + bytes([kind]) + data
    return bytes(out)


def _section_list(w: Walker, heap: Heap, where: tuple[int, int, int], raw: bytes) -> None:
    address, at, size = where
    f, name = w.file, f"the free-space section list of {heap.what}"
    w.ledger.claim_checked(at, size, name)
    f.signature(at, b"FSSE", name)
    if f.unpack("4xBQ", at, name) != (0, address):
        raise Invalid(f"hdf5: {name} at {at} has another version or header")
    if f.bytes(at + 13, size - _PREFIX, name) != raw:
        raise Invalid(
            f"hdf5: the sections of {name} at {at} are not the free space of its direct blocks "
            "(and the runs of blocks the heap skipped) as libhdf5 writes them"
        )
