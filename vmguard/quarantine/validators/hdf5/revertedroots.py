"""The root indirect block libhdf5 frees when it reverts a fractal heap, recomputed
(session 40, issue #13: netCDF-4's dense dimension scales appended to).

When a deletion empties every direct block of a heap but its first, libhdf5 reverts
the heap (H5HF__man_iblock_root_revert): the first block becomes its root again and
the root indirect block is freed, never rewritten. What stays is that block as an
earlier session's close wrote it: FHIB, version 0, the heap's address, block offset 0,
the first block's address, those of the c - 1 blocks emptied since, undefined
addresses, its checksum. netCDF-C and h5netcdf do it to a coordinate variable whose
attributes are dense: each variable a later session gives its dimension rewrites the
scale's REFERENCE_LIST (scalelists.py), which empties the heap's second block; the new
list, one entry longer, grows the heap again, and libhdf5 writes a new root elsewhere,
its blocks allocated from the free space the emptied ones left. The free-space section
list written at close usually takes the old root's start: its undefined entries and
checksum stay behind it.

So such an old root is recomputed from the live one (fractalheap.reverted marks the
heap): its rows those of the live root or of a smaller copy (oldstates.shapes), its
first c >= 2 entries the live root's, but for at most one, j, the address the block at
that heap offset had then: libhdf5 allocates the new block from the free range the
emptied one joined, overlapping its place (the old address up to its block size - 1
bytes before or after the live one's: the workflows of test_hdf5_revertedroots show
-84, 0, 20, 37 and 74); or, where the new block lies elsewhere, the emptied block found
where a gap shows its end (emptiedblocks.py), or a live direct block of its size, of any
heap (libhdf5 gave the freed place to a block of that size: two dimensions' scales
appended to in turn); the rest undefined; its checksum recomputed. Where entry j lies
under the structure that took the old root's start, each of those places is tried
against the checksum the tail shows (log2(2 x block size - 1 + such blocks) bits: 11
for netCDF's 1 KiB first blocks and a few scales, the one choice; a tail of any other
byte is refused); each old root once, at most MAX_CHECKSUMS checksums a file (a crafted
file costs no more)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import UNDEFINED, oldstates
from .checksum import lookup3

MAX_CHECKSUMS = 1 << 17  # windows' checksums computed, a file (14 us each: about 2 s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reverted:
    """A reverted heap's live root indirect block, the source of its freed ones."""

    head: bytes  # FHIB, version 0, the heap's address, block offset 0
    width: int  # entries a row
    entries: tuple[int, ...]  # its child addresses, row by row
    sizes: tuple[int, ...]  # the block size of each entry's row (0: an indirect block's)


@dataclass(slots=True)
class RevertedRoots:
    """The reverted heaps of one file (by their header's address) and the old roots
    found; the checksums of each window computed once."""

    heaps: dict[int, Reverted] = field(default_factory=dict)
    found: set[bytes] = field(default_factory=set)
    sums: dict[tuple[int, int, int, int], list[tuple[int, int]]] = field(default_factory=dict)
    emptied: dict[tuple[int, int], set[int]] = field(default_factory=dict)  # EmptiedBlocks.found
    blocks: dict[int, set[int]] = field(default_factory=dict)  # size -> the live direct blocks' addresses
    spent: int = 0

    def fits(self, heap: int, shown: bytes, hidden: range) -> list[tuple[bytes, int]]:
        """(whole, bytes of it hidden) of each old root of the heap whose bytes after
        the first h (h in `hidden`) `shown` starts with."""
        root = self.heaps.get(heap)
        if root is None:
            return []
        out = []
        for rows, _ in [*oldstates.shapes(len(root.entries) // root.width, root.width),
                        (len(root.entries) // root.width, range(0))]:
            for c in range(2, rows * root.width + 1):
                if c <= len(root.entries) and all(e != UNDEFINED for e in root.entries[:c]):
                    out += [(w, h) for h in hidden for w in self._wholes(heap, (rows, c), shown, h)]
        return [(w, h) for w, h in out if w not in self.found]

    def hidden(self, shown: bytes, hidden: tuple[int, int], least: int) -> list[tuple[int, int, bytes, int]]:
        """(bytes shown, -bytes hidden, whole, heap) of each old root of any heap that
        `shown` ends, hidden for 1 to hidden[0] bytes, showing `least` bytes or more
        unless it starts where the structure over it does (hidden[1]: oldsections.MIN_SHOWN)."""
        most, pinned = hidden
        return [(len(whole) - h, -h, whole, heap) for heap in self.heaps
                for whole, h in self.fits(heap, shown, range(1, most + 1))
                if len(whole) - h >= least or h == pinned]

    def take(self, whole: bytes) -> None:
        self.found.add(whole)

    def _wholes(self, heap: int, shape: tuple[int, int], shown: bytes, h: int) -> list[bytes]:
        """The old roots of `shape` (rows, children) whose bytes from h on `shown` starts
        with: the live entries, or one of them (j) moved within its window."""
        root, (rows, c) = self.heaps[heap], shape
        entries = list(root.entries[:c]) + [UNDEFINED] * (rows * root.width - c)
        body = root.head + b"".join(e.to_bytes(8, "little") for e in entries)
        if len(shown) < len(body) + 4 - h or h >= len(body) + 4:
            return []
        moved = _moved(body, shown[: len(body) - h] if h < len(body) else b"", h, (len(root.head), c))
        if moved is None:
            return []
        out = []
        for j in moved:
            for v, s in self._sums(heap, body, (rows, c, j)):
                whole = _with(body, len(root.head) + 8 * j, v) + s.to_bytes(4, "little")
                if shown.startswith(whole[h:]):
                    out.append(whole)
        return out

    def _sums(self, heap: int, body: bytes, key: tuple[int, int, int]) -> list[tuple[int, int]]:
        """(address, checksum) for entry j at each place of its window (j 0: the live
        body itself), computed once per shape and entry, within MAX_CHECKSUMS."""
        root, j = self.heaps[heap], key[2]
        if (heap, *key) in self.sums:
            return self.sums[heap, *key]
        at = len(root.head) + 8 * j
        live = int.from_bytes(body[at : at + 8], "little")
        size = root.sizes[j]
        known = {*self.emptied.get((heap, size), ()), *self.blocks.get(size, ())}  # emptied, or its size's
        window = range(live - size + 1, live + size) if size else range(0)
        places = [live] if j == 0 else sorted({*window, *known} - {live})
        if self.spent + len(places) > MAX_CHECKSUMS:
            return []
        self.spent += len(places)
        self.sums[heap, *key] = [(v, lookup3(_with(body, at, v))) for v in places]
        return self.sums[heap, *key]


def _with(body: bytes, at: int, value: int) -> bytes:
    return body[:at] + value.to_bytes(8, "little") + body[at + 8 :]


def _moved(body: bytes, shown: bytes, h: int, shape: tuple[int, int]) -> list[int] | None:
    """The entries that may differ from the live body where `shown` (the body's bytes
    from h on, as far as they show) holds it: 0 (none) and each of entries 1..c-1 not
    shown whole, or the one entry 1..c-1 the shown bytes differ in; None if they differ
    elsewhere or in two entries."""
    head, c = shape
    differ = {(h + i - head) // 8 for i, (a, b) in enumerate(zip(body[h:], shown, strict=False)) if a != b}
    if not differ:
        return [0] + [j for j in range(1, c) if head + 8 * j < h]
    if len(differ) == 1 and 1 <= min(differ) < c:
        return sorted(differ)
    return None
