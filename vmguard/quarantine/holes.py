"""Sparse files: holes in the copy where its bytes are zero, never where the guest's were.

A guest can write a file of a few blocks that claims gigabytes of zeros. Expanding it
silently would fill the public area with zeros; so its data ranges are found with
SEEK_DATA/SEEK_HOLE and only those are read (a hole reads as zeros), or the policy
refuses such files (`sparse_files: refuse`). A filesystem without SEEK_HOLE reports one
data range: the file is then read whole, as it always was.

Which blocks of the copy are holes is decided by its bytes alone: every aligned BLOCK of
zeros is left a hole (not written), every other block is written, whatever the guest's
map was. The guest's map (which 4 KiB blocks of zeros it punched) would otherwise be
published bit for bit: a channel no validator or scanner sees, as no byte differs.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Protocol

BLOCK = 4096  # the hole granularity of the copy: a page, and the block of most filesystems
_ZERO_BLOCK = bytes(BLOCK)
_ZERO_CHUNK = bytes(1 << 20)  # copy.py's chunk: sliced whole, it is itself (no copy)


def _zeros(n: int) -> bytes:
    return _ZERO_CHUNK[:n] if n <= len(_ZERO_CHUNK) else bytes(n)


class Sliceable(Protocol):
    """bytes or an mmap: indexing gives an int, slicing gives bytes (compared by memcmp)."""

    def __getitem__(self, key: int | slice) -> int | bytes: ...


def data_ranges(fd: int, size: int) -> list[tuple[int, int]] | None:
    """The (start, end) ranges of data in a file with holes; None if it has no hole.
    Moves the file offset: read it with pread."""
    if size == 0 or os.lseek(fd, 0, os.SEEK_HOLE) >= size:
        return None  # one lseek for an ordinary file
    ranges, pos = [], 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as err:
            if err.errno != errno.ENXIO:  # ENXIO: nothing but a hole from pos on
                raise
            break
        if start >= size:
            break
        pos = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        ranges.append((start, pos))
    return ranges


def pieces(ranges: list[tuple[int, int]] | None, size: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, is_data) in order, covering the whole file. Data pieces start on a
    BLOCK boundary (a hole's zeros around a data range are read as data), so each block
    of the copy is judged whole, by its bytes (written_runs)."""
    pos = 0
    for start, end in _aligned(ranges if ranges is not None else [(0, size)], size):
        if start > pos:
            yield pos, start, False
        yield start, end, True
        pos = end
    if pos < size:
        yield pos, size, False


def _aligned(ranges: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The ranges widened to BLOCK boundaries (at most to the size), overlaps merged."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        start, end = start - start % BLOCK, min(size, -(-end // BLOCK) * BLOCK)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def written_runs(buf: Sliceable, length: int, offset: int = 0, size: int = -1) -> list[tuple[int, int]]:
    """The (start, end) runs of buf[:length] (at `offset` in a file of `size` bytes,
    default: ending with buf) the copy writes: all but its aligned all-zero BLOCKs, which
    stay holes. A block only partly in buf is written (pieces() keeps that to the odd
    short read); the file's last, shorter block is judged as a block."""
    size = offset + length if size < 0 else size
    runs: list[tuple[int, int]] = []
    pos = 0
    for zero in _zero_blocks(buf, length, -offset % BLOCK, offset + length == size):
        if zero > pos:
            runs.append((pos, zero))
        pos = min(zero + BLOCK, length)
    if pos < length:
        runs.append((pos, length))
    return runs


def _zero_blocks(buf: Sliceable, length: int, first: int, to_the_end: bool) -> list[int]:
    """Where the all-zero blocks start in buf[:length] (blocks from `first` on, BLOCK
    apart; a shorter last one only if it ends the file). The first byte of every block,
    taken in one strided copy, rules out most blocks of data without a Python step each;
    only a block starting with a zero is compared whole (memcmp)."""
    heads = bytes(memoryview(buf)[first:length:BLOCK])  # type: ignore[arg-type]
    if heads and length - (first + (len(heads) - 1) * BLOCK) < BLOCK and not to_the_end:
        heads = heads[:-1]  # a block only partly in buf: written
    end = min(first + len(heads) * BLOCK, length)
    if heads and heads.count(0) == len(heads) and buf[first:end] == _zeros(end - first):
        return list(range(first, end, BLOCK))  # all zeros, seen by one memcmp
    zeros = []
    i = heads.find(0)
    while i >= 0:
        pos = first + i * BLOCK
        end = min(pos + BLOCK, length)
        if buf[pos:end] == _ZERO_BLOCK[: end - pos]:
            zeros.append(pos)
        i = heads.find(0, i + 1)
    return zeros


def written_size(size: int, blocks: int) -> int:
    """The bytes a copy of this file writes, from its stat: its allocated blocks (st_blocks
    counts 512-byte units) when fewer than its size, as the holes stay holes. A source
    that compresses may count fewer than the copy writes: the free-space check is then
    short, and a copy that runs out of space stops with exit 3, nothing published."""
    return min(size, blocks * 512)
