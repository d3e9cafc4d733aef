"""A binary table's heap layout from its P/Q descriptors (FITS 4.0, 7.3.5): the heap is
exactly the arrays the descriptors point to, each once, in one of the two orders writers
use: the arrays of each column in turn (astropy), or of each row in turn (cfitsio). An
empty array points where that order is, or to 0. Only running sums are kept while the
rows stream by; the arrays whose bytes have rules of their own (logical, bits, strings,
tiles) are listed for the heap's pass (fitstable.py)."""

from __future__ import annotations

import heapq
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import attrgetter, sub
from typing import TYPE_CHECKING

from .stream import Invalid

if TYPE_CHECKING:
    from .fitstable import Column

MAX_CHECKED = 1_000_000  # heap arrays whose bytes are checked (logical, bit, string, tiles): 32 MB kept
MAX_STRINGS = 4_000_000  # where each PA()/QA() string starts, in runs of strings one after another: 32 MB


@dataclass(frozen=True)
class HeapArray:
    """A heap array whose bytes have rules (logical, bits, a string, a tile)."""

    offset: int
    size: int
    column: Column
    count: int  # elements (bits for X)
    row: int
    starts: Sequence[int] = field(default=(), compare=False)  # a run of strings: where each starts


@dataclass
class _State:
    """Both orders' progress: which still holds, and where each expects the next array."""

    by_row: bool = True
    row_pos: int = 0
    by_column: bool = True
    base: list[int | None] | None = None  # column order: where each column's arrays start
    run: list[int] | None = None  # bytes of each column's arrays so far
    empty: list[int | None] | None = None  # an empty array's offset before its column's start


class HeapLayout:
    """The descriptors of a table's array columns, batch by batch of rows."""

    def __init__(self, arrays: list[Column], heap: int, checked_columns: frozenset[int]) -> None:
        self.arrays, self.heap, self.checked_columns = arrays, heap, checked_columns
        n = len(arrays)
        self.state = _State(base=[None] * n, run=[0] * n, empty=[None] * n)
        # per column checked: offsets, sizes, counts and rows of its non-empty arrays, as
        # machine integers (the worker has 256 MiB of address space)
        self.kept = {
            k: tuple(array("q") for _ in range(4))
            for k, c in enumerate(arrays)
            if c.element in "LXA" or c.number in checked_columns
        }
        self.starts = {k: array("q") for k, c in enumerate(arrays) if c.element == "A"}

    def add(self, data: bytes, naxis1: int, first: int) -> dict[int, array]:
        """One batch of rows; returns each array column's element counts by row (by its
        column number)."""
        descs = [_descriptors(data, naxis1, c) for c in self.arrays]
        if any(min(counts, default=0) < 0 or min(offsets, default=0) < 0 for counts, offsets in descs):
            raise Invalid(f"fits: a negative array descriptor in a row from {first + 1}")
        sizes = [_sizes(c, counts) for c, (counts, _) in zip(self.arrays, descs, strict=True)]
        if not self._fast(descs, sizes):
            self._slow(descs, sizes, first)
        for k, (offsets, sizes_k, counts, rows) in self.kept.items():
            runs = self.arrays[k].element in "LA"  # logical arrays or strings one after another: one run
            starts = self.starts.get(k)
            for r, (count, offset, size) in enumerate(zip(*descs[k], sizes[k], strict=True)):
                if size and starts is not None:
                    starts.append(offset)
                if size and runs and offsets and offsets[-1] + sizes_k[-1] == offset:
                    sizes_k[-1] += size
                    counts[-1] += count
                elif size:
                    offsets.append(offset)
                    sizes_k.append(size)
                    counts.append(count)
                    rows.append(first + r)
        if sum(len(kept[0]) for kept in self.kept.values()) > MAX_CHECKED:
            raise Invalid(
                f"fits: more than {MAX_CHECKED} logical, bit, string or compressed arrays to check in a table"
            )
        if sum(map(len, self.starts.values())) > MAX_STRINGS:
            raise Invalid(f"fits: more than {MAX_STRINGS} variable-length strings (PA(), QA()) in a table")
        return {c.number: counts for c, (counts, _) in zip(self.arrays, descs, strict=True)}

    def checked(self) -> Iterator[HeapArray]:
        """The arrays to check, in heap order (each column's are in order already)."""
        columns = (
            map(
                HeapArray,
                offsets,
                sizes,
                repeat(self.arrays[k]),
                counts,
                rows,
                repeat(self.starts.get(k, ())),
            )
            for k, (offsets, sizes, counts, rows) in self.kept.items()
        )
        return heapq.merge(*columns, key=attrgetter("offset"))

    def _fast(self, descs: list[tuple[array, array]], sizes: list[list[int]]) -> bool:
        """A batch without empty arrays, checked by running sums at C speed: each array's
        offset minus the bytes before it in an order is that order's start. False when
        the batch needs the descriptor-by-descriptor pass (an empty array, or neither order)."""
        if any(min(s, default=1) == 0 for s in sizes):
            return False
        st = self.state
        row_sizes = list(chain.from_iterable(zip(*sizes, strict=True)))
        row_offsets = chain.from_iterable(zip(*(o for _, o in descs), strict=True))
        row_starts = list(accumulate(row_sizes, initial=st.row_pos))
        by_row = st.by_row and set(map(sub, row_offsets, row_starts)) <= {0}
        by_column, bases, runs = st.by_column, list(st.base), list(st.run)
        for k, (_, offsets) in enumerate(descs):
            starts = list(accumulate(sizes[k], initial=runs[k]))
            found = set(map(sub, offsets, starts))
            runs[k] = starts[-1]
            if len(found) > 1 or (bases[k] is not None and found - {bases[k]}):
                by_column = False
            elif found and bases[k] is None:
                bases[k] = found.pop()
                by_column = by_column and st.empty[k] in (None, bases[k])
        if not (by_row or by_column):
            return False
        st.by_row, st.by_column, st.base, st.run = by_row, by_column, bases, runs
        st.row_pos = row_starts[-1]
        return True

    def _slow(self, descs: list[tuple[array, array]], sizes: list[list[int]], first: int) -> None:
        """Descriptor by descriptor, in row order: raises at the first that neither order allows."""
        for r, row in enumerate(
            zip(*(zip(c, o, s, strict=True) for (c, o), s in zip(descs, sizes, strict=True)), strict=True)
        ):
            for k, (_, offset, size) in enumerate(row):
                self._row_order(offset, size)
                self._column_order(k, offset, size)
                if not (self.state.by_row or self.state.by_column):
                    raise Invalid(
                        f"fits: the array of column {self.arrays[k].number}, row {first + r + 1} is at heap "
                        f"offset {offset}: a binary table's heap holds each array once, column by column "
                        "(astropy) or row by row (cfitsio), with no gap"
                    )

    def _row_order(self, offset: int, size: int) -> None:
        st = self.state
        if size == 0:
            st.by_row = st.by_row and offset in (0, st.row_pos)
            return
        st.by_row = st.by_row and offset == st.row_pos
        st.row_pos += size

    def _column_order(self, k: int, offset: int, size: int) -> None:
        st = self.state
        base = st.base[k]
        if size == 0:
            if offset == 0:
                return
            if base is None:
                st.by_column = st.by_column and st.empty[k] in (None, offset)
                st.empty[k] = offset
            else:
                st.by_column = st.by_column and offset == base + st.run[k]
            return
        if base is None:
            base = st.base[k] = offset
            st.by_column = st.by_column and st.empty[k] in (None, base)
        st.by_column = st.by_column and offset == base + st.run[k]
        st.run[k] += size

    def finish(self) -> None:
        """The arrays fill the heap: each column starts where the one before ends."""
        st, pos = self.state, 0
        for k in range(len(self.arrays)):
            start = st.base[k] if st.base[k] is not None else st.empty[k]
            st.by_column = st.by_column and start in (None, pos)
            pos += st.run[k]
        if not ((st.by_row and st.row_pos == self.heap) or (st.by_column and pos == self.heap)):
            used = st.row_pos if st.by_row else pos
            raise Invalid(
                f"fits: a binary table's heap of {self.heap} bytes (PCOUNT) is not its arrays "
                f"({used} bytes) laid out as astropy (column by column) or cfitsio (row by row) "
                "writes them: bytes no descriptor points to, or an array elsewhere"
            )


def _descriptors(data: bytes, naxis1: int, column: Column) -> tuple[array, array]:
    """The counts and the offsets of one array column's descriptors in each row of a batch."""
    size = 8 if column.kind == "P" else 16
    packed = bytearray(len(data) // naxis1 * size)
    for j in range(size):
        packed[j::size] = data[column.offset + j :: naxis1]
    values = array("i" if size == 8 else "q", packed)
    assert values.itemsize == size // 2  # noqa: S101 (C int and long long on Linux)
    if sys.byteorder == "little":
        values.byteswap()
    return values[0::2], values[1::2]


def _sizes(column: Column, counts: array) -> list[int]:
    """Heap bytes of each array."""
    if column.element == "X":
        return [-(-c // 8) for c in counts]
    return list(map(column.array_bytes(1).__mul__, counts))
