"""The tail of a continuation block that held a header's attributes (or links) one after
the other, freed when they moved to dense storage, recomputed whole.

A version 2 header given one attribute a session (or a few) keeps them in a continuation
block that libhdf5 extends in place while it ends the file (H5O__chunk_extend: the
messages are appended in the order they were added, then a gap shorter than a message
header and the block's checksum). When they move to dense storage, libhdf5 inserts them
into the new heap in the header's order (H5O__attr_to_dense walks its messages) and frees
the block without clearing it; the heap's blocks, B-trees and lists are then allocated
over its start, and its last bytes stay: the end of the last attribute and the checksum.
oldblocks.py matches freed blocks whose hidden part is at most 2 messages; here many are.

The block is recomputed from today's dense storage: its messages are a run of the
header's dense objects in the order they were added (creation order where it is
tracked, its order field that order; else their order in the heap, which the move
followed), each exactly as the heap holds it, then a gap of zeros, then the lookup3
checksum of all that. It starts where one of the structures right before the shown
bytes starts (libhdf5 allocated it from the freed block's start) or where they start;
zeros follow it. So every shown byte, checksum included, is fixed by (the start, the
message a continuation message displaced into it if any, the run's first and last
message, the gap): log2(17 x (m + 1) x n^2 x 6) bits a block for a header of m messages
and n dense objects, one block per run, at most n blocks; a freed block holding any
other message (or messages in another order) stays refused (h5repack)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from .checksum import sealed

SIGNATURE = b"OCHK"
MAX_IMAGES = 4_096  # dense objects of one header tried (a header holds at most 65,535 bytes of them)
MAX_WORK = 1_000_000  # bytes checksummed (lookup3: 4 MB/s), and NODE a run's first message tried, a file
NODE = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """The messages one header held, as its blocks hold them, in the order it got them."""

    images: tuple[bytes, ...]  # each: type, size, flags 0, its order field, its body
    movers: tuple[bytes, ...] = ()  # the header's messages a continuation message may displace
    gap: int  # the largest gap before a block's checksum: a message header's size - 1


@dataclass(slots=True)
class HeldBlocks:
    headers: list[Held] = field(default_factory=list)
    used: set[tuple[int, bytes, int, int]] = field(default_factory=set)  # (header, mover, first, end)
    found: set[tuple[int, int]] = field(default_factory=set)  # (address, length) of each block found
    work: int = 0

    def add(self, held: Held) -> None:
        if 1 < len(held.images) <= MAX_IMAGES:
            self.headers.append(held)

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the unclaimed bytes of `gap` are the tail of such a block starting at
        one of the structures `reused` (right before the gap) or at the gap, then zeros."""
        start, end = gap
        shown = bytes(buf[start:end])
        last = len(shown.rstrip(b"\0"))
        if not last or not self.headers:
            return False
        try:
            for first in dict.fromkeys([*reused, start]):
                for h, held in enumerate(self.headers):
                    if self._block(buf, (first, start, start + last, end), h, held):
                        return True
        except _Spent:
            pass  # the gap is refused as unexplained
        return False

    def _block(self, buf: bytes | memoryview, where: tuple[int, int, int, int], h: int, held: Held) -> bool:
        """A block of `held` from where[0] whose bytes from where[1] on are the buffer's,
        ending (its checksum's last byte) at most 4 bytes past the last non-zero one."""
        at, shown, last, end = where
        ends = [0, *accumulate(len(image) for image in held.images)]
        for mover in (b"", *held.movers):
            fixed = len(SIGNATURE) + len(mover) + 4  # and the checksum
            for i in range(len(held.images)):
                self._spend(NODE)
                # the block ends at at + fixed + ends[j] - ends[i] + gap, in [last, last + 4]
                lo = bisect_left(ends, last - at - fixed - held.gap + ends[i], i + 1)
                hi = bisect_right(ends, last + 4 - at - fixed + ends[i], lo)
                for j in range(lo, hi):
                    size = fixed - 4 + ends[j] - ends[i]
                    if self._gap(buf, (at, shown, last, end), held, (size, mover, i, j), h):
                        return True
        return False

    def _gap(self, buf: bytes | memoryview, where: tuple[int, int, int, int], held: Held,
             run: tuple[int, bytes, int, int], h: int) -> bool:
        """The block of the run (its messages' size, the displaced message, first, end)
        with one of the gaps before its checksum."""
        (at, shown, last, end), (size, mover, i, j) = where, run
        for g in range(held.gap + 1):
            stop = at + size + g + 4  # the block's end
            key = (h, mover, i, j)
            if last <= stop <= min(last + 4, end) and stop > shown and key not in self.used:
                body = SIGNATURE + mover + b"".join(held.images[i:j]) + bytes(g)
                if self._same(buf, (at, shown, stop), body) and self._one_more(h, held):
                    self.used.add(key)
                    self.found.add((at, stop - at))  # a block a stale continuation message may name
                    return True
        return False

    def _one_more(self, h: int, held: Held) -> bool:
        """No more blocks of a header than its messages (each held one at least)."""
        return sum(1 for key in self.used if key[0] == h) < len(held.images)

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > MAX_WORK:
            raise _Spent

    def _same(self, buf: bytes | memoryview, where: tuple[int, int, int], body: bytes) -> bool:
        at, shown, stop = where
        self._spend(len(body))
        whole = sealed(body)
        return bytes(buf[shown:stop]) == whole[shown - at :]


class _Spent(Exception):
    """The work bound is spent: no more blocks are tried in this file."""
