"""The direct blocks a fractal heap skipped, as its free-space manager lists them, today
and in an earlier state.

libhdf5 allocates a heap's direct blocks at its allocation iterator, entry after entry
of an indirect block. An object larger than the next entry's block makes it skip to the
first entry whose row is large enough (H5HF__man_dblock_new): each run of skipped
entries becomes one "first row" section (H5HFsection.c: the indirect block's heap
offset, the row, column and number of entries; its size the first row's block less the
block prefix; its other rows only counted, as ghost sections). A later, smaller object
finds no room in the allocated blocks and takes the run's first entry: the run shrinks
from its start. So in any state of the heap the runs are the maximal runs of
unallocated entries below the iterator, and the iterator is the end of the last block
allocated (the heap allocates no entry before it but from a run).

An earlier state's list (oldsections.py) holds the runs of that state: entries that are
today's blocks allocated later, or still holes. Which ones is pinned by the state where
creation order is tracked (oldstates.states); else each run must be one such a state
can have (Rows.admissible)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

FIRST_ROW = 1  # H5HF_FSPACE_SECT_FIRST_ROW
DATA = 6  # a first row section's row, column and entries, after the block's heap offset

Run = tuple[int, int, int, int]  # (indirect block's heap offset, row, column, entries)
Entry = tuple[int, int, int]  # (indirect block's heap offset, row, column)
Section = tuple[int, int, int, bytes]  # (size, heap offset, type, serialized data)


def row_size(start: int, row: int) -> int:
    """The size of a block in `row` of a doubling table whose blocks start at `start`
    bytes: rows 0 and 1 that size, each later row twice the one before (fractalheap.py
    too)."""
    return start << max(row - 1, 0)


def row_offset(width: int, start: int, row: int) -> int:
    """Where `row`'s first block starts, in heap offsets from its indirect block's
    (`width` blocks a row)."""
    return 0 if row == 0 else width * start << (row - 1)


def merge(empty: Iterable[Entry], width: int) -> list[Run]:
    """The runs of consecutive entries of one indirect block among `empty` (in order)."""
    runs: list[Run] = []
    for block, row, col in empty:
        last = runs[-1] if runs else None
        if last and last[0] == block and last[1] * width + last[2] + last[3] == row * width + col:
            runs[-1] = (*last[:3], last[3] + 1)
        else:
            runs.append((block, row, col, 1))
    return runs


@dataclass(frozen=True, slots=True, kw_only=True)
class Rows:
    """A heap's doubling table and the direct-block entries of its indirect blocks."""

    width: int
    start: int  # the starting block size
    prefix: int  # a direct block's prefix: a section ends where its block ends
    off_size: int
    entries: tuple[Entry, ...] = ()  # every direct-block entry, in order
    allocated: frozenset[int] = frozenset()  # the heap offsets of the entries allocated today

    def row_size(self, row: int) -> int:
        return row_size(self.start, row)

    def where(self, entry: Entry) -> int:
        block, row, col = entry
        return block + row_offset(self.width, self.start, row) + col * self.row_size(row)

    def end(self, entry: Entry) -> int:
        return self.where(entry) + self.row_size(entry[1])

    def section(self, run: Run) -> Section:
        """The first row section libhdf5 writes for a run."""
        block, row, col, count = run
        data = block.to_bytes(self.off_size, "little") + struct.pack("<HHH", row, col, count)
        return self.row_size(row) - self.prefix, self.where(run[:3]), FIRST_ROW, data

    def state(self, ends: frozenset[int]) -> list[Section]:
        """The first row sections of the state whose allocated blocks end at `ends`."""
        iterator = max(ends, default=0)
        empty = (e for e in self.entries if self.where(e) < iterator and self.end(e) not in ends)
        return [self.section(run) for run in merge(empty, self.width)]

    def admissible(self) -> dict[tuple[int, bytes], tuple[int, frozenset[int]]]:
        """(heap offset, data) -> (size, the ends of the entries it covers) of each run
        an earlier state may have listed: entries of one indirect block, each allocated
        later or never, after an entry allocated then (a block's first entry is allocated
        first) and before one (the block whose allocation skipped them): both today's."""
        out: dict[tuple[int, bytes], tuple[int, frozenset[int]]] = {}
        index = {e: i for i, e in enumerate(self.entries)}
        for i, first in enumerate(self.entries):
            before = self.entries[i - 1] if i else None
            if not before or before[0] != first[0] or self.where(before) not in self.allocated:
                continue
            for j in range(i + 1, len(self.entries)):
                after = self.entries[j]
                if after[0] != first[0] or index[after] - i != self._distance(first, after):
                    break
                if self.where(after) in self.allocated:
                    size, offset, _, data = self.section((*first, j - i))
                    out[offset, data] = (size, frozenset(self.end(e) for e in self.entries[i:j]))
        return out

    def _distance(self, first: Entry, later: Entry) -> int:
        return (later[1] - first[1]) * self.width + later[2] - first[2]
