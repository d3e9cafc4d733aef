"""Sparse files: where a file's data is, so its holes are copied as holes.

A guest can write a file of a few blocks that claims gigabytes of zeros. Expanding it
silently would fill the public area with zeros; so its data ranges are found with
SEEK_DATA/SEEK_HOLE and the copy writes only those (the holes stay holes, the hash is
the hash of every byte, zeros included), or the policy refuses such files
(`sparse_files: refuse`). A filesystem without SEEK_HOLE reports one data range: the
file is then read whole, as it always was.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator


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
    """(start, end, is_data) in order, covering the whole file."""
    pos = 0
    for start, end in ranges if ranges is not None else [(0, size)]:
        if start > pos:
            yield pos, start, False
        yield start, end, True
        pos = end
    if pos < size:
        yield pos, size, False


def written_size(size: int, blocks: int) -> int:
    """The bytes a copy of this file writes, from its stat: its allocated blocks (st_blocks
    counts 512-byte units) when fewer than its size, as the holes stay holes. A source
    that compresses may count fewer than the copy writes: the free-space check is then
    short, and a copy that runs out of space stops with exit 3, nothing published."""
    return min(size, blocks * 512)
