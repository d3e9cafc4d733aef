"""The bytes libhdf5 leaves behind when a local heap moves, recomputed.

libhdf5 creates a group's local heap as one allocation: its 32-byte header, then its data
block. When a name does not fit and the block cannot grow in place, it moves the data
block and frees the old bytes without clearing them (H5HL__dblk_realloc): what was last
written there stays, a copy of the heap as it was at a flush (`f.flush()`, or the close
before the file is reopened with 'a'); had it never been written, it is zeros. Names are
only appended, at the heap's free block, so that copy is recomputable from the heap as
it is now: its first F bytes (names and their zero padding), then the free block libhdf5
writes at F (next: 1, none; size: to the end of the old block; zeros after its 16-byte
header) up to the structure that follows the old block (smaller than the heap is now). F, where the copy's names end,
is a boundary between the current heap's names: the point the job flushed at, the one
thing the file does not fix. Later structures may have reused the start of the old block
(libhdf5 freed it): what is left must still be the copy's bytes at those offsets.

A stale block of a heap that had already moved once (a job that flushes after each new
name) is no copy at the header: it stays refused, with the remedy (h5repack)."""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass

_FREE_HEADER = 16  # a free block's next offset and size
_NONE = 1  # the free list's end (H5HL_FREE_NULL)
HEADER = 32  # a local heap's header: its old data block starts right after it


@dataclass(frozen=True, slots=True, kw_only=True)
class MovedHeap:
    """A local heap whose data block is no longer right after its header."""

    base: int  # where the old data block started: the header's address + HEADER
    segment: bytes  # the heap's data block as it is now
    bounds: tuple[int, ...]  # where a copy's names may end: the name starts after 0, sorted

    def explains(self, buf: bytes | memoryview, start: int, end: int) -> bool:
        """Whether bytes start..end (unclaimed, followed by a structure) are what is left
        of a copy of this heap made before it moved."""
        size, at = end - self.base, start - self.base
        if at < 0 or not 0 < size < len(self.segment):  # the block moved because it grew
            return False
        window = bytes(buf[start:end])
        last = bisect_right(self.bounds, size)
        return any(self._copy(f, size)[at:] == window for f in self.bounds[:last] if self._may(window, at, f, size))

    def _may(self, window: bytes, at: int, f: int, size: int) -> bool:
        """A cheap test: the free block header at f, where the window shows it, is the one
        a copy ending its names at f has (a window past that header would be zeros)."""
        if f + _FREE_HEADER <= at:
            return False
        if f < size and size - f < _FREE_HEADER:
            return False  # libhdf5 leaves no free block smaller than its header
        shown = self._copy(f, size)[max(at, f) : f + _FREE_HEADER]
        return window[max(at, f) - at : f + _FREE_HEADER - at] == shown

    def _copy(self, f: int, size: int) -> bytes:
        """The heap's first f bytes, then one free block to `size`."""
        if f == size:
            return self.segment[:f]
        return self.segment[:f] + struct.pack("<QQ", _NONE, size - f) + bytes(size - f - _FREE_HEADER)


def moved_heap(header: int, data: int, segment: bytes, names: list[int], free: int | None) -> MovedHeap | None:
    """The heap at `header` as a source of leftover bytes, if its data block moved.
    `names`: the offsets of its names; `free`: its first free block (None: full)."""
    if data == header + HEADER:
        return None
    end = len(segment) if free is None else free  # a copy's names end at or before the free space
    bounds = sorted({n for n in names if 0 < n <= end} | {end})
    return MovedHeap(base=header + HEADER, segment=segment, bounds=tuple(bounds))
