"""The search of a gap for the continuation blocks libhdf5 freed: its rounds, passes and
work bound (what a freed block is, and which blocks there are: oldblocks.py).

A gap's unclaimed bytes are zeros and freed blocks, the first starting where the
unclaimed bytes start, right after another freed block, or where one of the 16
structures just before them starts, never after zeros (a chosen place: attack m h5);
a header has no more freed blocks than messages. The search stops at MAX_WORK (session
37: a 7 KB file of 3 tracked sessions spent the bound on checksumming each whole
choice). Session 38: each gap's starts are tried in rounds (no covered null and at most
CHEAP choices to checksum, then covered nulls, then all: attack m h5's sweep,
ctl-m-sw-mix9-*). Session 39: the first round tries what libhdf5 writes alone (FIRST:
hidden order fields 0, a hidden null the rest of one of the header's messages' slots, a
continuation message naming its own header's blocks: oldmessages.py, owned); each round
runs in passes of growing REACH a start, each try under TRY_WORK but in the ledger's
last round (patient): attack j and k h5's ctl-j-s5-l2-a2-*, ctl-j-runs-10-def-t,
ctl-k-members4-t-def-str."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from .oldmessages import Gap

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .oldmessages import Messages, Owner

MAX_WORK = 4_000_000  # bytes compared and checksummed, in all (a crafted file costs no more)
FIRST = True  # the first round tries what libhdf5 writes alone (order 0, own blocks, slots' rests)
TRY_WORK = 250_000  # the most a try spends until the ledger's last round (patient)
REACH = (100_000, 1_000_000, MAX_WORK)  # what one start may spend in a pass (all rounds), pass by pass
CHEAP = 4_096  # choices of hidden parts a block's checksum is matched against in the first pass


class GapSearch:
    """The rounds of a gap's search and the work spent on the file's freed blocks; what
    a block of an owner at a place may be is the subclass's (oldblocks.Blocks._block)."""

    owners: list[Owner]
    messages: Messages
    chunks: set[tuple[int, int]]
    owned: dict[tuple[int, int], set[int]]
    covered: dict[int, list[int]]

    def __init__(self) -> None:
        self.work = 0
        self.used: dict[int, int] = {}  # id(owner) -> its freed blocks found
        self.tier = 2  # explains: 0 puts off covered nulls and more than CHEAP choices, 1 the latter
        self.cap = MAX_WORK  # the work this try may reach
        self.start_cap = MAX_WORK  # and this start (a pass's REACH)
        self.reach = MAX_WORK  # the pass's
        self.spent = False  # and some start spent it
        self.patient = False  # the ledger's last round: a try may spend all the bound has left
        self.put_off = False  # and some were

    def _block(self, g: Gap, owner: Owner, start: int) -> Iterator[int]:
        raise NotImplementedError  # oldblocks.Blocks

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the unclaimed bytes of `gap` are freed blocks (the first may start
        where one of the structures right before it starts: `reused`) and zeros."""
        if not self.owners or self.work > MAX_WORK:
            return False
        g = Gap(buf=buf, start=gap[0], end=gap[1])
        # a gap waiting for a block found later (one a continuation message of it names)
        # spends no more than TRY_WORK a try, but in the last round
        self.cap = MAX_WORK if self.patient else min(MAX_WORK, self.work + TRY_WORK)
        starts = [*self.covered.get(gap[0], []), *reused, gap[0]]  # tried nearest first, grown over last
        try:
            return self._rounds(g, starts)
        except WorkSpent:
            return False
        finally:
            self.tier, self.messages.zeroed, self.cap, self.reach = 2, False, MAX_WORK, MAX_WORK

    def _rounds(self, g: Gap, starts: list[int]) -> bool:
        """Every start: hidden order fields 0, hidden nulls the rest of a slot and
        continuation messages naming the owner's blocks (oldmessages), without covered
        nulls, few choices to checksum; then with them; then all. Each round in passes,
        a start spending at most the pass's REACH: a wrong start's many choices do not
        keep the right one's few from being tried."""
        for self.tier in range(3):  # each while some were put off
            self.put_off = self.messages.narrowed = False
            self.messages.zeroed = FIRST and self.tier == 0
            for self.reach in REACH:
                self.spent = False
                if self._from(g, g.start, starts):
                    return True
                if not self.spent:
                    break
            if not (self.put_off or self.messages.narrowed):
                return False
        return False

    def _cheap(self, parts: list[tuple[bytes, ...]]) -> bool:
        """Whether this round checksums the choices of hidden `parts` (the first two: at
        most CHEAP; a wrong start's hidden messages may be many: the others first)."""
        if self.tier < 2 and prod(len(part) for part in parts) > CHEAP:
            self.put_off = True
            return False
        return True

    def note(self) -> str:
        """What a refusal adds when the search stopped at its bound."""
        if self.work <= MAX_WORK:
            return ""
        return f"; matching the continuation blocks libhdf5 freed stopped after {MAX_WORK} bytes compared"

    def _from(self, g: Gap, pos: int, starts: list[int]) -> bool:
        """The bytes from pos are zeros and freed blocks, the first starting at one of
        `starts` (then: at a non-zero byte)."""
        window = bytes(g.buf[pos : g.end])
        nonzero = len(window) - len(window.lstrip(b"\0"))
        if nonzero == len(window):
            return True
        shown = pos + nonzero
        order = list(reversed(starts))  # the nearest first; a block whose signature shows first
        if nonzero == 0:  # of all (a hidden start costs a search of what the structures
            order = [shown, *order]  # before it may cover); never after zeros (a chosen place)
        for start in dict.fromkeys(order):
            for owner in self.owners:
                if self._start(g, owner, start, bool(starts)):
                    return True
        return False

    def _start(self, g: Gap, owner: Owner, start: int, capped: bool) -> bool:
        """A block of `owner` starts at `start`, zeros and freed blocks after it; where
        `capped` (the gap's first block), spending at most the pass's reach."""
        if capped:
            self.start_cap = self.work + self.reach
        try:
            for end in self._block(g, owner, start):
                if self._from(g, end, []):
                    self._count(owner)
                    self.chunks.add((start, end - start))  # a block other blocks may name
                    self.owned.setdefault((start, end - start), set()).add(owner.at)
                    return True
        except _Spent:
            self.spent = True
        finally:
            self.start_cap = MAX_WORK
        return False

    def _count(self, owner: Owner) -> None:
        """One more freed block of `owner`: no more than its messages (each block held
        one at least; a file of more is not what libhdf5 leaves)."""
        self.used[id(owner)] = self.used.get(id(owner), 0) + 1
        if self.used[id(owner)] > len(owner.pieces):
            raise Invalid(
                f"hdf5: more freed continuation blocks of one object header than it has messages "
                f"({len(owner.pieces)}): not what libhdf5 leaves (h5repack the file)"
            )

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > self.cap:
            raise WorkSpent  # the gap is refused as unexplained, naming the bound (note)
        if self.work > self.start_cap:
            raise _Spent


class WorkSpent(Exception):
    """The work bound is spent: no more blocks are searched for in this file."""


class _Spent(Exception):
    """A start's share of the first round is spent: the next start is tried."""
