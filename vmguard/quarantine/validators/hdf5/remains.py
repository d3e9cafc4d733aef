"""The bytes libhdf5 leaves behind when a local heap moves, recomputed.

libhdf5 creates a group's local heap as one allocation: its 32-byte header, then its data
block. When a name does not fit and the block cannot grow in place, it moves the data
block and frees the old bytes without clearing them (H5HL__dblk_realloc): what was last
written there stays, a copy of the heap as it was at a flush (`f.flush()`, or the close
before the file is reopened with 'a'); had it never been written, it is zeros. Names are
only appended, at the heap's free block, so a copy is recomputable from the heap as it
is now: its first F bytes (names and their zero padding), then the free block libhdf5
writes at F (next: 1, none; size: to the end of the copy; zeros after its 16-byte
header). F, where the copy's names end, is a boundary between the current heap's names:
the point the job flushed at, the one thing the file does not fix.

Where and how large a copy is, is pinned. The first block is 88 bytes (libhdf5's size for
a group's defaults: the empty name, 4 names of up to 8 characters, a free block) and
follows the heap's header; each move doubles the block, and a block that moved again
after a flush leaves a copy wherever it was. libhdf5 freed it, so later structures may
take its start. So a copy is 88 x 2^k bytes, smaller than the heap now, at most one of
each size per heap, and starts right after the heap's header, where the unclaimed bytes
start, or where one of the structures right before them starts (what is left of it
must be the copy's bytes at those offsets); zeros after it. Or it ends where the
structure after the unclaimed bytes starts, zeros before it: libhdf5 allocated that
structure right after the block, which it freed later (a heap that moved in its first
session, then again: 7 names a session). What does not fit (a heap
grown by a name longer than itself, a group created with other heap sizes, a copy
split by structures after its start) stays refused, with the remedy (h5repack)."""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..stream import Invalid

_FREE_HEADER = 16  # a free block's next offset and size
_NONE = 1  # the free list's end (H5HL_FREE_NULL)
HEADER = 32  # a local heap's header: its first data block starts right after it
FIRST = 88  # the first data block of a group's heap, for the default group settings
MAX_TRIES = 200_000  # heap contents tried against windows, in all (one each, as h5py writes)


@dataclass(frozen=True, slots=True, kw_only=True)
class MovedHeap:
    """A local heap whose data block is no longer right after its header."""

    base: int  # where the first data block started: the header's address + HEADER
    segment: bytes  # the heap's data block as it is now
    bounds: tuple[int, ...]  # where a copy's names may end: the name starts after 0, sorted
    names: frozenset[bytes]  # the names it holds (Remains finds a copy's heap by them)
    sizes: tuple[int, ...]  # the sizes its block had: 88 x 2^k, smaller than it is now

    def match(self, window: bytes, start: int, bases: set[int], sizes: set[int]) -> int | None:
        """The size (one of `sizes`) of a copy of this heap that starts at one of `bases`
        and of which `window` (unclaimed bytes from `start`) is what is left, then zeros;
        or, zeros first, one that ends where the window ends (the block libhdf5 freed lay
        right before the structure allocated after it)."""
        for base in sorted(bases):
            for size in self.sizes:
                fits = size in sizes and base <= start < base + size <= start + len(window)
                if fits and self._left(window, start - base, size):
                    return size
        for size in self.sizes:
            zeros = len(window) - size
            before = size in sizes and zeros > 0 and not window[:zeros].strip(b"\0")
            if before and self._left(window[zeros:], 0, size):
                return size
        return None

    def _left(self, window: bytes, at: int, size: int) -> bool:
        """The window is a copy of `size` bytes from its offset `at` on, then zeros."""
        if window[size - at :].strip(b"\0"):
            return False
        shown = window[: size - at]
        last = bisect_right(self.bounds, size)
        ends = (f for f in self.bounds[:last] if self._may(shown, at, f, size))
        return any(self._copy(f, size)[at:] == shown for f in ends)

    def _may(self, shown: bytes, at: int, f: int, size: int) -> bool:
        """A cheap test: the free block header at f, where the window shows it, is the one
        a copy ending its names at f has (a window past that header would be zeros)."""
        if f + _FREE_HEADER <= at:
            return False
        if f < size and size - f < _FREE_HEADER:
            return False  # libhdf5 leaves no free block smaller than its header
        header = self._copy(f, size)[max(at, f) : f + _FREE_HEADER]
        return shown[max(at, f) - at : f + _FREE_HEADER - at] == header

    def _copy(self, f: int, size: int) -> bytes:
        """The heap's first f bytes, then one free block to `size`."""
        if f == size:
            return self.segment[:f]
        return self.segment[:f] + struct.pack("<QQ", _NONE, size - f) + bytes(size - f - _FREE_HEADER)


def moved_heap(
    header: int, data: int, segment: bytes, names: list[int], free: int | None
) -> MovedHeap | None:
    """The heap at `header` as a source of leftover bytes, if its data block moved.
    `names`: the offsets of its names; `free`: its first free block (None: full)."""
    if data == header + HEADER:
        return None
    end = len(segment) if free is None else free  # a copy's names end at or before the free space
    bounds = sorted({n for n in names if 0 < n <= end} | {end})
    held = frozenset(segment[n : segment.find(b"\0", n)] for n in names)
    sizes, size = [], FIRST
    while size < len(segment):
        sizes.append(size)
        size *= 2
    return MovedHeap(
        base=header + HEADER, segment=segment, bounds=tuple(bounds), names=held, sizes=tuple(sizes)
    )


class Remains:
    """The moved heaps of one file and the copies of them found so far (one of each size
    per heap; heaps of the same content share their count). A window is matched against
    the heaps whose first block it may lie in (right after their header), then against
    each distinct heap content once (groups written alike have the same names), those
    whose names it shows whole first: a file of many groups is not searched heap by heap
    for every window."""

    def __init__(self) -> None:
        self.bases: list[int] = []  # sorted
        self.at: dict[int, MovedHeap] = {}  # base -> heap
        self.alike: dict[bytes, list[MovedHeap]] = {}  # content -> heaps
        self.by_name: dict[bytes, set[bytes]] = {}  # name -> contents
        self.left: dict[bytes, dict[int, int]] = {}  # content -> size -> copies still possible
        self.reach = 0  # the largest copy: how far before a gap a first block may start
        self.tries = 0  # bounded: a crafted file of many heaps and windows costs no more

    def add(self, heap: MovedHeap) -> None:
        self.bases.insert(bisect_left(self.bases, heap.base), heap.base)
        self.at[heap.base] = heap
        self.alike.setdefault(heap.segment, []).append(heap)
        for name in heap.names:
            self.by_name.setdefault(name, set()).add(heap.segment)
        left = self.left.setdefault(heap.segment, {})
        for size in heap.sizes:
            left[size] = left.get(size, 0) + 1
        self.reach = max(self.reach, *heap.sizes, 0)

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the unclaimed bytes of `gap` are what is left of a copy of one of the
        heaps: right after its header, where they start, or where one of the structures
        right before them starts (`reused`: they took the start of the freed block)."""
        start, window = gap[0], bytes(buf[gap[0] : gap[1]])
        bases = {start, *reused}
        near = self.bases[bisect_left(self.bases, start - self.reach) : bisect_right(self.bases, start)]
        for base in reversed(near):  # the first blocks that may reach the gap
            if self._take([self.at[base]], window, start, {base} | bases):
                return True
        shown = [name for name in window.split(b"\0")[1:-1] if name in self.by_name]
        order = dict.fromkeys([*(c for name in shown for c in self.by_name[name]), *self.alike])
        return any(self._take(self.alike[content], window, start, bases) for content in order)

    def _take(self, heaps: list[MovedHeap], window: bytes, start: int, bases: set[int]) -> bool:
        """Match against heaps of one content; the copy found counts for one of them."""
        self.tries += 1
        if self.tries > MAX_TRIES:
            raise Invalid(
                f"hdf5: more than {MAX_TRIES} tries to match what earlier states of the file left "
                "(h5repack the file)"
            )
        left = self.left[heaps[0].segment]
        size = heaps[0].match(window, start, bases, {size for size, n in left.items() if n})
        if size is None:
            return False
        left[size] -= 1
        return True



def stale_free_header(padding: bytes, covered: int, offset: int, size: int) -> bool:
    """Whether the padding after a name at `offset` of a heap of `size` bytes is what a
    free block libhdf5 wrote there at a flush leaves: the name, inserted at that block's
    start later, covers the first `covered` bytes of the block's 16-byte header, and
    H5HL_insert writes no padding, so the header's next bytes stay (next: _NONE or a
    later offset; size: from 16 to the heap's end)."""
    window = (covered, covered + len(padding))
    if window[1] > _FREE_HEADER:
        return False
    nexts = ((_NONE, _NONE), (offset + 8, size - _FREE_HEADER))
    return any(_fits(padding, window, 0, bounds) for bounds in nexts) and _fits(
        padding, window, 8, (_FREE_HEADER, size - offset)
    )


def _fits(padding: bytes, window: tuple[int, int], field: int, bounds: tuple[int, int]) -> bool:
    """Whether a value in bounds, as the 8 little-endian bytes of the header at `field`, has
    the padding's bytes where the window (the padding's place in the header) meets them."""
    first, last = max(window[0], field), min(window[1], field + 8)
    if first >= last:
        return True  # the padding holds none of this field's bytes
    known = int.from_bytes(padding[first - window[0] : last - window[0]], "little")
    low_bits, high_bits = 8 * (first - field), 8 * (last - field)
    fixed = known << low_bits  # values matching: h << high_bits | fixed | (below low_bits)
    h = max(0, -(-(bounds[0] - fixed - (1 << low_bits) + 1) // (1 << high_bits)))
    return max(bounds[0], (h << high_bits) | fixed) <= bounds[1]
