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
after it right after it: its place is pinned, no choice), or where, inside the gap, a
root indirect block of that heap naming the block's address starts (session 40: h5netcdf
appending twice to netCDF4-python's file; the revert freed that root, allocated right
after the block, and the ledger claims it then as revertedroots.py recomputes it); each
copy once (in either encoding: scalelists.earlier), those the heap's own free space shows
(fractalheap._remains) included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .checksum import lookup3

_NAMING = 13 + 8 + 8 * 64  # an old root's bytes read for the entry naming the block: 64 entries

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
        """(start, size, name) of the end of each emptied block that is a whole gap, or
        that ends where an old root indirect block of its heap naming it starts (_named)."""
        out = []
        for start, end in gaps:
            for stop in [end, *_roots(buf, start, end)] if self.heaps else ():
                root = bytes(buf[stop : min(stop + _NAMING, end)]) if stop < end else b""
                block = self._block(bytes(buf[start:stop]), stop, root)
                if block is not None:
                    out.append((start, stop - start, f"the end of an emptied direct block of {block.what}"))
                    break
        return out

    def _block(self, window: bytes, end: int, root: bytes) -> Heap | None:
        """The heap of which `window` is the end of an emptied block ending at `end`
        (before the old root `root`, where given: one of that heap naming the block)."""
        for heap in self.heaps:
            for offset, size in _blocks(heap):
                if len(window) > size or end < size or (root and not _named(heap, root, end - size)):
                    continue
                for copies in heap.copies:
                    if any(_shows(heap, (offset, size), copy, window) for copy in copies):
                        heap.copies = tuple(c for c in heap.copies if c is not copies)
                        self.found.setdefault((heap.address, size), set()).add(end - size)
                        return heap
        return None


def _roots(buf: bytes | memoryview, start: int, end: int) -> list[int]:
    """Where an old root indirect block starts inside the gap."""
    window = bytes(buf[start:end])
    out, at = [], window.find(b"FHIB", 1)
    while at > 0:
        out.append(start + at)
        at = window.find(b"FHIB", at + 1)
    return out


def _named(heap: Heap, root: bytes, address: int) -> bool:
    """`root` starts a root indirect block of the heap (version 0, block offset 0) one of
    whose child entries is `address`: a root the heap's revert freed, allocated right
    after the block it names (the ledger claims it then: revertedroots.py)."""
    first = 13 + heap.off_size
    if root[4:first] != bytes(1) + heap.address.to_bytes(8, "little") + bytes(heap.off_size):
        return False
    entries = root[first : first + (len(root) - first) // 8 * 8]
    return address in {int.from_bytes(entries[i : i + 8], "little") for i in range(0, len(entries), 8)}


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
