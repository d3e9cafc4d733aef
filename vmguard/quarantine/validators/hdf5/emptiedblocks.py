"""The direct blocks of a fractal heap libhdf5 freed when a deletion emptied them,
recomputed (session 40, issue #13: netCDF-4's dense dimension scales appended to).

A direct block whose last object is deleted is freed (H5HF__man_dblock_delete; its root
indirect block too where only the first block is left: revertedroots.py), never
rewritten: what stays is the block as an earlier session's close wrote it. The only
deletion vet admits in a dense attribute heap is a dimension scale's REFERENCE_LIST
rewrite (scalelists.py), so such a block held one deleted copy of the list (the bodies
scalelists.deleted recomputes): its prefix (FHDB, version 0, the heap's address, its
heap offset, its checksum), the copy, its first object, then zeros. netCDF4-python
attaching two variables to such a scale in one later session, or h5netcdf appending to
netCDF4-python's file, leave the block's place not all reused: a later structure takes
its start, the rest stays. A gap is admitted where it is the end of such a block
recomputed whole (a block of one of the heap's direct-block heap offsets and sizes, one
of its deleted copies) that ends where the gap ends (libhdf5 allocated the structure
after it right after it: its place is pinned, no choice); each copy once, those the
heap's own free space shows (fractalheap._remains) included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .checksum import lookup3

if TYPE_CHECKING:
    from .fractalheap import Heap


@dataclass(slots=True)
class EmptiedBlocks:
    """The heaps of one file that hold deleted copies of a REFERENCE_LIST, and the
    emptied blocks found: (heap's address, block size) -> their addresses (an entry of a
    freed root of that row may name one: revertedroots.py; where the prefix is hidden,
    which heap offset a block had is not shown)."""

    heaps: list[Heap] = field(default_factory=list)
    found: dict[tuple[int, int], set[int]] = field(default_factory=dict)

    def add(self, heap: Heap) -> None:
        self.heaps.append(heap)

    def claims(self, buf: bytes | memoryview, gaps: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """(start, size, name) of the end of each emptied block that is a whole gap."""
        out = []
        for start, end in gaps:
            block = self._block(bytes(buf[start:end]), end) if self.heaps else None
            if block is not None:
                out.append((start, end - start, f"the end of an emptied direct block of {block.what}"))
        return out

    def _block(self, window: bytes, end: int) -> Heap | None:
        """The heap of which `window` is the end of an emptied block ending at `end`."""
        for heap in self.heaps:
            for offset, size in _blocks(heap):
                if len(window) > size or end < size:
                    continue
                for copy in heap.copies:
                    if _shows(heap, (offset, size), copy, window):
                        heap.copies = tuple(c for c in heap.copies if c is not copy)
                        self.found.setdefault((heap.address, size), set()).add(end - size)
                        return heap
        return None


def _blocks(heap: Heap) -> list[tuple[int, int]]:
    """(heap offset, size) of each direct-block entry of the heap's indirect blocks."""
    return sorted({(block + heap.row_offset(row) + col * heap.row_size(row), heap.row_size(row))
                   for block, row, col in heap.entries})


def _shows(heap: Heap, block: tuple[int, int], copy: bytes, window: bytes) -> bool:
    """`window` is the end of the block (heap offset, size) holding `copy` alone; its
    prefix, checksum included, recomputed only where the window shows it."""
    offset, size = block
    at = size - len(window)  # where the window starts in the block
    if heap.prefix + len(copy) > size:
        return False
    if at < heap.prefix:
        return _block(heap, offset, size, copy)[at:] == window
    tail = copy[at - heap.prefix :]
    return window.startswith(tail) and not window[len(tail) :].strip(b"\0")


def _block(heap: Heap, offset: int, size: int, copy: bytes) -> bytes:
    """The direct block at `offset` of `size` bytes holding `copy` alone, as libhdf5
    writes it (its checksum over the block with the checksum's bytes zero)."""
    head = b"FHDB" + bytes(1) + heap.address.to_bytes(8, "little") + offset.to_bytes(heap.off_size, "little")
    body = copy + bytes(size - heap.prefix - len(copy))
    if not heap.checksummed:
        return head + body
    return head + lookup3(head + bytes(4) + body).to_bytes(4, "little") + body
