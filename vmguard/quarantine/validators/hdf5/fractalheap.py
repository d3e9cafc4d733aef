"""Fractal heaps (`FRHP` header, `FHDB` direct and `FHIB` indirect blocks): where dense
link and attribute storage keeps its messages. The header and every block it reaches
are claimed, their checksums recomputed, each block where its doubling table puts it
(its heap offset, its size by its row); only managed objects are accepted (no huge
objects, no tiny ones: none can hold a link or attribute message of HDF5's ID sizes),
no I/O filters. Each object is located from its heap ID (heap.find); once every index
has reached its objects (heap.settle), the bytes of each direct block that are no
object are zeros, and exactly the free-space sections (freespace.py) the header's free
space manager lists."""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import btree2, freespace, oldsections, skipped, tuning
from .checksum import lookup3
from .ledger import UNDEFINED
from .revertedroots import Reverted

if TYPE_CHECKING:
    from .objects import Walker

HEADER = 146
MAX_BLOCKS = 100_000  # blocks of one heap: far beyond a group's or an object's attributes
_LAYOUT = "4xBHHBIQQQQQQQQQQQQHQQHHQH"
_FLAGS = 0x02  # H5G_ and H5A_FHEAP_MAN_CHECKSUM_DBLOCKS: direct blocks checksummed


@dataclass(slots=True)
class Heap:
    """One fractal heap: its doubling table, its direct blocks, the objects reached."""

    address: int
    what: str
    id_len: int
    off_size: int  # bytes of a heap offset (in heap IDs, block offsets, sections)
    len_size: int  # bytes of an object's length in a heap ID
    checksummed: bool  # direct blocks end their prefix with a checksum
    table: tuple[int, int, int, int]  # width, starting block size, maximum direct block size, bits
    fields: dict[str, int] = field(default_factory=dict)  # the header's counters
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (heap offset, size, file address)
    objects: dict[int, int] = field(default_factory=dict)  # heap offset -> length
    orders: list[int] = field(default_factory=list)  # heap offsets in creation order, if tracked
    reverted: bool = False  # libhdf5 reverted its root indirect block (fractalheap.reverted)
    unallocated: int = 0  # the free space of the direct blocks indirect blocks leave undefined
    holes: list[tuple[int, int, int]] = field(default_factory=list)  # (block's heap offset, row, column)
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # and of every direct-block entry
    huge: dict[int, tuple[int, int]] = field(default_factory=dict)  # huge object ID -> (address, length)
    huge_reached: set[int] = field(default_factory=set)
    copies: tuple[tuple[bytes, ...], ...] = ()  # deleted copies of a REFERENCE_LIST, each in its encodings

    @property
    def prefix(self) -> int:
        return 13 + self.off_size + (4 if self.checksummed else 0)

    @property
    def free_bound(self) -> int:
        """How much more free space than its blocks hold the header of a reverted heap
        may count: the bytes of the objects its first block held at the revert
        (H5HF__hdr_empty zeroed the count, the revert added the whole block's room; later
        insertions and removals adjust it by their own lengths), which the file no longer
        shows: at least 1 (an empty first block is freed, not reverted to), at most that
        block's room."""
        return self.table[1] - self.prefix if self.reverted else 0

    def row_size(self, row: int) -> int:
        return skipped.row_size(self.table[1], row)

    def row_offset(self, row: int) -> int:
        return skipped.row_offset(self.table[0], self.table[1], row)

    def find(self, heap_id: bytes, reached: set[int]) -> tuple[int, int, int]:
        """(heap offset, file address, length) of the managed object a heap ID names (a huge
        one's: _huge); `reached` holds the objects this index named before (an object
        named twice by one index)."""
        if len(heap_id) == self.id_len and heap_id[0] == 0x10:
            return self._huge(heap_id, reached)
        if len(heap_id) != self.id_len or heap_id[0]:
            raise Invalid(
                f"hdf5: a heap ID into {self.what} is not a managed or huge object's (tiny "
                "objects are not supported)"
            )
        offset = int.from_bytes(heap_id[1 : 1 + self.off_size], "little")
        length = int.from_bytes(heap_id[1 + self.off_size : 1 + self.off_size + self.len_size], "little")
        if heap_id[1 + self.off_size + self.len_size :].strip(b"\0") or offset in reached:
            raise Invalid(
                f"hdf5: a heap ID into {self.what} holds data after its length or names object {offset} again"
            )
        reached.add(offset)
        i = bisect_right(self.blocks, (offset, UNDEFINED)) - 1
        start, size, address = self.blocks[i] if i >= 0 else (0, 0, 0)
        if not length or offset < start + self.prefix or offset + length > start + size:
            raise Invalid(
                f"hdf5: a heap ID names bytes {offset}..{offset + length} of {self.what}, "
                "which lie in no direct block"
            )
        if self.objects.setdefault(offset, length) != length:
            raise Invalid(f"hdf5: two heap IDs give object {offset} of {self.what} two lengths")
        return offset, address + offset - start, length

    def _huge(self, heap_id: bytes, reached: set[int]) -> tuple[int, int, int]:
        """(-ID, file address, length) of the huge object a heap ID names (its ID, the
        key of the heap's huge object index)."""
        key = int.from_bytes(heap_id[1:], "little")
        if key not in self.huge or -key in reached:
            raise Invalid(f"hdf5: a heap ID names huge object {key} of {self.what}, which it lacks, or again")
        reached.add(-key)
        self.huge_reached.add(key)
        return -key, *self.huge[key]


def open_heap(w: Walker, address: int, what: str, kind: str) -> Heap:
    """The heap's header and blocks, claimed and checked; kind: of its objects, "link"
    or "attribute" (tuning.HEAPS)."""
    f, name = w.file, f"the fractal heap of {what}"
    w.ledger.claim_checked(address, HEADER, name)
    f.signature(address, b"FRHP", name)
    (version, id_len, filters, flags, max_man, next_huge, huge_tree, free, manager, *counts) = f.unpack(
        _LAYOUT, address, name
    )
    man_size, man_alloc, iterator, man_objects, huge_size, huge_objects, tiny_size, tiny_objects = counts[:8]
    width, start, direct, bits, start_rows, root, rows = counts[8:]
    if version or filters:
        raise Invalid(f"hdf5: {name} has version {version} or I/O filters (not supported)")
    if flags != _FLAGS:
        raise Invalid(
            f"hdf5: {name} has flags {flags:#04x}, where libhdf5 writes {_FLAGS:#04x} (direct blocks "
            "checksummed, huge object IDs not wrapped)"
        )
    if tiny_size or tiny_objects:
        raise Invalid(f"hdf5: {name} holds tiny objects (not supported)")
    _table(name, width, start, direct, bits)
    tuning.heap(kind, (id_len, max_man, width, start, direct, bits, start_rows), name)
    off_size = (bits + 7) // 8
    len_size = min((direct.bit_length() - 1 + 7) // 8, btree2.enc_size(max_man))
    if id_len < 1 + off_size + len_size or id_len > 64 or max_man > direct:
        raise Invalid(f"hdf5: {name} has heap IDs of {id_len} bytes or objects of {max_man}")
    heap = Heap(
        address=address,
        what=name,
        id_len=id_len,
        off_size=off_size,
        len_size=len_size,
        checksummed=bool(flags & 0x02),
        table=(width, start, direct, bits),
    )
    _huge(w, heap, huge_tree, (next_huge, huge_size, huge_objects))
    heap.fields = {
        "free": free,
        "manager": manager,
        "size": man_size,
        "allocated": man_alloc,
        "iterator": iterator,
        "objects": man_objects,
    }
    if root == UNDEFINED:
        if rows or man_size or man_alloc or iterator or man_objects or free or manager != UNDEFINED:
            raise Invalid(f"hdf5: {name} has no blocks but counts space or objects")
    elif rows == 0:
        _direct(w, heap, root, 0, start)
    else:
        _indirect(w, heap, root, 0, rows)
        entries = w.file.bytes(root + 13 + heap.off_size, 8 * rows * width, name)
        old = oldsections.Root(what=name, off_size=off_size, width=width, entries=entries)
        w.ledger.sections.add_root(address, old)  # its smaller copies may remain
    heap.blocks.sort()
    for _, size, block in heap.blocks:  # a freed root of another heap may name its place
        w.ledger.sections.reverts.blocks.setdefault(size, set()).add(block)
    _counters(heap, root, rows)
    if heap.reverted and rows:  # and the root it freed when it reverted (revertedroots)
        w.ledger.sections.reverts.heaps[address] = _revertible(heap, entries)
    return heap


def _revertible(heap: Heap, entries: bytes) -> Reverted:
    """The live root of a reverted heap (its child addresses `entries`), as the source
    of the root it freed."""
    width, n = heap.table[0], len(entries) // 8
    sizes = [heap.row_size(i // width) if i // width < direct_rows(heap) else 0 for i in range(n)]
    head = b"FHIB" + bytes(1) + heap.address.to_bytes(8, "little") + bytes(heap.off_size)
    children = tuple(int.from_bytes(entries[8 * i : 8 * i + 8], "little") for i in range(n))
    return Reverted(head=head, width=width, entries=children, sizes=tuple(sizes))


def _counters(heap: Heap, root: int, rows: int) -> None:
    """The header's managed space (the root block's span), allocated space (the direct
    blocks') and allocation iterator (the end of the last direct block under a root
    indirect block; 0 for a root direct block), or those of a reverted heap (reverted)."""
    span = 0 if root == UNDEFINED else heap.table[1] if rows == 0 else heap.row_offset(rows)
    allocated = sum(size for _, size, _ in heap.blocks)
    end = max((start + size for start, size, _ in heap.blocks), default=0) if rows else 0
    got = (heap.fields["size"], heap.fields["allocated"], heap.fields["iterator"])
    heap.reverted = root != UNDEFINED and got == reverted(heap, (span, allocated, end), rows)
    if got != (span, allocated, end) and not heap.reverted:
        raise Invalid(
            f"hdf5: {heap.what} counts managed space, allocated space and its next block as "
            f"{got}, where its blocks make them {(span, allocated, end)}"
        )


def reverted(heap: Heap, counts: tuple[int, int, int], rows: int) -> tuple[int, int, int]:
    """The counters libhdf5 keeps once it reverted the root indirect block to its first
    direct block (a deletion emptied every other block: H5HF__man_iblock_root_revert
    detaches the first block, the emptied root indirect block resets the header to an
    empty heap, H5HF__hdr_empty, then the header counts the first block's span and puts
    the iterator after it, but not its allocation). So the first block is never counted
    as allocated again, also once the heap grows a root indirect block anew, and under
    a root direct block the iterator stays after it."""
    span, allocated, end = counts
    return span, allocated - heap.table[1], end if rows else heap.table[1]


def _huge(w: Walker, heap: Heap, tree: int, counts: tuple[int, int, int]) -> None:
    """Huge objects (larger than the heap's managed objects: a large attribute), each an
    extent of its own named by a record (address, length, ID) of a version 2 B-tree of
    type 1, keyed by ID; the header counts them, their bytes and the last ID. Only
    unfiltered objects reached through the index (heap IDs of less than 17 bytes)."""
    next_id, size, count = counts
    if tree == UNDEFINED:
        if next_id:
            raise Invalid(
                f"hdf5: {heap.what} gives {next_id} as its next huge object ID but holds no "
                "huge objects (libhdf5 writes 0)"
            )
        if size or count:
            raise Invalid(f"hdf5: {heap.what} counts huge objects but has no index of them")
        return
    if heap.id_len > 16:
        raise Invalid(f"hdf5: {heap.what} keeps huge objects in their heap IDs (not supported)")
    before = 0
    for _, rec in btree2.records(w, tree, 1, (24, heap.what)):
        address, length, key = struct.unpack("<QQQ", rec)
        if key <= before or not w.ledger.claim(address, length, f"a huge object of {heap.what}"):
            raise Invalid(
                f"hdf5: the huge object index of {heap.what} is not in key order or names an object twice"
            )
        heap.huge[key], before = (address, length), key
    lengths = sum(n for _, n in heap.huge.values())
    if (len(heap.huge), lengths, next_id) != (count, size, before):
        raise Invalid(
            f"hdf5: {heap.what} counts {count} huge objects of {size} bytes, the last {next_id}, where its "
            f"index holds {len(heap.huge)} of {lengths}, the last {before}"
        )


def _table(name: str, width: int, start: int, direct: int, bits: int) -> None:
    powers = all(n > 0 and n & (n - 1) == 0 for n in (width, start, direct))
    if not powers or start > direct or not 8 <= bits <= 64 or direct > 1 << bits or width > 1 << 16:
        raise Invalid(f"hdf5: {name} has an impossible doubling table")


def direct_rows(heap: Heap) -> int:
    return (heap.table[2].bit_length() - heap.table[1].bit_length()) + 2


def _direct(w: Walker, heap: Heap, address: int, offset: int, size: int) -> None:
    name = f"a direct block of {heap.what}"
    if not w.ledger.claim(address, size, name):
        raise Invalid(f"hdf5: {name} at {address} is reached twice (a loop)")
    if len(heap.blocks) >= MAX_BLOCKS:
        raise Invalid(f"hdf5: {heap.what} has more than {MAX_BLOCKS} blocks")
    raw = bytearray(w.file.bytes(address, size, name))
    _block_prefix(heap, raw, b"FHDB", offset, (address, name))
    if heap.checksummed:
        at = 13 + heap.off_size
        stored = int.from_bytes(raw[at : at + 4], "little")
        raw[at : at + 4] = bytes(4)
        if lookup3(bytes(raw)) != stored:
            raise Invalid(f"hdf5: the checksum of {name} at {address} is not its bytes'")
    heap.blocks.append((offset, size, address))


def _block_prefix(heap: Heap, raw: bytes, sig: bytes, offset: int, where: tuple[int, str]) -> None:
    """Signature, version 0, the heap's header address and the block's own heap offset."""
    address, name = where
    header = int.from_bytes(raw[5:13], "little")
    own = int.from_bytes(raw[13 : 13 + heap.off_size], "little")
    if raw[:4] != sig or raw[4] != 0 or header != heap.address or own != offset:
        raise Invalid(
            f"hdf5: {name} at {address} is not the {sig.decode()} block of its heap at heap offset {offset}"
        )


def _indirect(w: Walker, heap: Heap, address: int, offset: int, rows: int) -> None:
    """An indirect block of `rows` rows: direct blocks in the first rows, indirect
    blocks (each spanning one entry of its row) in the rest."""
    width, name = heap.table[0], f"an indirect block of {heap.what}"
    if rows > heap.table[3]:
        raise Invalid(f"hdf5: {name} at {address} has {rows} rows")
    entries = rows * width
    size = 13 + heap.off_size + 8 * entries + 4
    if not w.ledger.claim_checked(address, size, name):
        raise Invalid(f"hdf5: {name} at {address} is reached twice (a loop)")
    raw = w.file.bytes(address, size, name)
    _block_prefix(heap, raw, b"FHIB", offset, (address, name))
    at = 13 + heap.off_size
    for i in range(entries):
        child = int.from_bytes(raw[at + 8 * i : at + 8 * i + 8], "little")
        row, col = divmod(i, width)
        where = offset + heap.row_offset(row) + col * heap.row_size(row)
        if row < direct_rows(heap):
            heap.entries.append((offset, row, col))
        if child == UNDEFINED:
            heap.unallocated += _free_under(heap, row)
            heap.holes.append((offset, row, col))
        elif row < direct_rows(heap):
            _direct(w, heap, child, where, heap.row_size(row))
        else:
            _indirect(w, heap, child, where, _child_rows(heap, row))


def _child_rows(heap: Heap, row: int) -> int:
    """The rows of an indirect block in `row` (it spans one entry of its row)."""
    first_row_bits = heap.table[1].bit_length() - 1 + heap.table[0].bit_length() - 1
    return heap.row_size(row).bit_length() - first_row_bits


def _free_under(heap: Heap, row: int) -> int:
    """The free space of the direct blocks one entry of `row` spans once allocated
    (HDF5 counts it as the heap's free space as soon as the entry's indirect block exists)."""
    return _free((*heap.table[:3], heap.prefix), row)


@lru_cache(maxsize=4096)
def _free(table: tuple[int, int, int, int], row: int) -> int:
    """_free_under for (width, starting block size, maximum direct block size, prefix):
    each row once (an indirect row sums the rows below it)."""
    width, start, direct, prefix = table
    size = start << max(row - 1, 0)
    if row < direct.bit_length() - start.bit_length() + 2:
        return size - prefix
    rows = size.bit_length() - (start.bit_length() - 1 + width.bit_length() - 1)
    return width * sum(_free(table, r) for r in range(rows))


def settle(w: Walker, heap: Heap) -> None:
    """Once every index reached its objects: the header counts them; every direct
    block's bytes are its prefix, objects (not overlapping) or free space of zeros, the
    free space exactly the sections the free-space manager lists."""
    if heap.huge_reached != heap.huge.keys():
        raise Invalid(f"hdf5: a huge object of {heap.what} is named by no record")
    if heap.fields["objects"] != len(heap.objects):
        raise Invalid(
            f"hdf5: {heap.what} counts {heap.fields['objects']} objects where {len(heap.objects)} are reached"
        )
    gaps: list[tuple[int, int]] = []
    objects = sorted(heap.objects.items())
    for block in heap.blocks:
        gaps += _block_gaps(w, heap, block, objects)
    freespace.match(w, heap, sorted(gaps))


def _block_gaps(w: Walker, heap: Heap, block: tuple[int, int, int], objects: list) -> list[tuple[int, int]]:
    """(heap offset, length) of the free space of one direct block, checked to be zeros."""
    start, size, address = block
    pos, gaps = start + heap.prefix, []
    for offset, length in objects[bisect_right(objects, (pos, -1)) :]:
        if offset >= start + size:
            break
        if offset < pos:
            raise Invalid(f"hdf5: objects of {heap.what} overlap at heap offset {offset}")
        gaps.append((pos, offset - pos))
        pos = offset + length
    gaps.append((pos, start + size - pos))
    for gap, length in gaps:
        at = address + gap - start
        data = w.file.bytes(at, length, heap.what)
        if length and data.strip(b"\0") and not _remains(heap, data, gap, objects):
            raise Invalid(
                f"hdf5: bytes {at}..{at + length} of a direct block of {heap.what} are no "
                "object and not zeros (free space is zeros; the remains of a deleted link or "
                "attribute: h5repack the file)"
            )
    return [(gap, length) for gap, length in gaps if length]


def _remains(heap: Heap, data: bytes, gap: int, objects: list[tuple[int, int]]) -> bool:
    """A deleted copy of a dimension scale's REFERENCE_LIST (scalelists.earlier) in the
    free space `data` at heap offset `gap`: its bytes from where it started (the gap's
    start, or that of objects placed there since: libhdf5 places an object at the start
    of a free section), then zeros; each copy once (session 39, attack oh5: netCDF-C
    rewrites the list of a scale whose attributes are dense at each attach)."""
    for copies in heap.copies:
        for copy in copies:  # (one encoding of the copy, once)
            starts = [gap] + [o for o, n in objects if gap - len(copy) < o and o + n <= gap]
            for start in starts:
                tail = copy[gap - start :]
                if tail and data.startswith(tail) and not data[len(tail) :].strip(b"\0"):
                    heap.copies = tuple(c for c in heap.copies if c is not copies)
                    return True
    return False
