"""What earlier states of a fractal heap leave, recomputed: the free-space section lists
libhdf5 leaves when the heap's free space changes between sessions, and the root
indirect blocks it leaves when the root gains rows (OldSections._root) or the heap reverts
(revertedroots.py).

A fractal heap's free-space manager (freespace.py) writes its section list (`FSSE`) at
each close. When a later session adds links or attributes, the list is rewritten with
other sections, often of another size: libhdf5 frees the old list without clearing it
(non-persistent free space is not tracked across sessions) and allocates a new one
elsewhere. What stays is a list of an earlier state of the same heap, and that state is
recomputable from the heap as it is now: without deletions a heap only fills its direct
blocks, one object after the other, so each free section of an earlier state is the
tail of one of today's direct blocks from where it was filled up to then: it starts at
the block's first byte after its prefix or right after one of its objects, and ends at
the block's end. So an old list is admitted if it is exactly libhdf5's serialization
(H5FScache.c: the `FSSE` signature, version 0, the address of the heap's free-space
manager reached by the walk; for each size, ascending, the count and size, then each
section by heap offset: offset, type 0 "single", no data; the lookup3 checksum) of such
tails, at most one per direct block. Which blocks and which of their object boundaries
is free: at most sum over the blocks of log2(objects in the block + 2) bits a list, fewer
lists than the heap's objects (each session that added one leaves one), a tracked heap's
only its states, all below the file's last live structure (ledger.py), none the live
list's state (written once), a whole one where unclaimed bytes start (libhdf5 allocates
it right after what it allocated before, never after zeros: claims). A list
of any other section (first-row sections, a range inside a block, one that no state of
this heap had) stays refused with the ledger's reason (h5repack)."""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass, field

from . import oldstates, skipped
from .checksum import lookup3, sealed
from .hiddenlists import MAX_WORK, Capped, Exhausted, Search, counted
from .revertedroots import RevertedRoots

SIGNATURE = b"FSSE"
MAX_HIDDEN = 256  # bytes of an old list under the structure that took its start
FIRST_TRY = 2_000  # of them for the start of the structure that took a hidden list's start
_PREFIX = 13  # signature, version, the free-space manager's address
_SINGLE = 0  # H5HF_FSPACE_SECT_SINGLE
_WINDOW = 1 << 20  # unclaimed bytes searched for signatures this much at a time
MAX_SECTIONS = 100_000  # in one old list (a heap has at most freespace's blocks)
MAX_PINNED = 16  # enumerations of an untracked heap's states by what a hidden list shows, a file
SKIP_SHOWN = 4  # bytes a hidden list of a state with skips shows at least (its 4,096 more states would
# make a byte or two after any structure some state's last: session 38, test_hdf5_heldblocks)
MIN_SHOWN = 2  # bytes a recomputed hidden list or root shows at least unless it starts where the
# structure over it does (libhdf5 allocates from a freed range's start): one byte of a checksum
# is 8 bits against the choice of state and start (a heap's 15: attack ph5, a freed block's stale
# message size 0x22 for 0x23 taken as the last byte of a list one byte after the live one's start;
# the sweep's 3 lists or roots showing one byte start there)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tails:
    """What an old section list of one heap may hold."""

    what: str  # the heap
    widths: tuple[int, int]  # bytes of a section's size and heap offset
    ends: dict[int, int]  # where a section may start -> the end of its direct block
    objects: int  # the heap's objects: at most as many old lists
    states: tuple[bytes, ...] = ()  # the whole lists of its earlier states, if tracked (oldstates.py)
    blocks: tuple[oldstates.Block, ...] = ()  # if untracked: its direct blocks (oldstates.fills)
    known: frozenset[bytes] = frozenset()  # the states, for a look-up
    runs: dict[tuple[int, bytes], tuple[int, frozenset[int]]] = field(default_factory=dict)  # skipped.py
    rows: skipped.Rows | None = None  # if untracked: its entries, for states with skips (oldstates.skips)
    live: bytes = b""  # the live list before its checksum: the state of all the objects, never an old one


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """A fractal heap's root indirect block, whose earlier, smaller copies may remain."""

    what: str  # the heap
    off_size: int  # bytes of its block offset
    width: int  # entries a row
    entries: bytes  # its child addresses (8 bytes each), row by row


@dataclass(slots=True)
class OldSections:
    """The heaps of one file (by their free-space manager's address) and the old lists
    found for each."""

    heaps: dict[int, Tails] = field(default_factory=dict)
    found: dict[int, set[bytes]] = field(default_factory=dict)
    work: int = 0  # lists tried for starts under later lists (MAX_WORK)
    roots: dict[int, Root] = field(default_factory=dict)  # by the heap's header address
    old_roots: set[tuple[int, int]] = field(default_factory=set)  # (heap, rows): one copy per rows
    hidden_starts: dict[int, int] = field(default_factory=dict)  # claimed from -> the list's start
    root_blocks: dict[int, dict[bytes, tuple[int, int]]] = field(default_factory=dict)  # oldstates.roots
    fills: dict[int, tuple[bytes, ...]] = field(default_factory=dict)  # oldstates.fills, by manager
    pinned: dict[tuple[int, frozenset[int]], tuple[bytes, ...]] = field(default_factory=dict)  # and pinned
    skips: dict[int, tuple[bytes, ...]] = field(default_factory=dict)  # oldstates.skips, by manager
    reverts: RevertedRoots = field(default_factory=RevertedRoots)  # the roots reverted heaps freed

    def add(self, manager: int, tails: Tails) -> None:
        self.heaps[manager] = tails

    def add_root(self, heap: int, root: Root) -> None:
        self.roots[heap] = root

    def claims(
        self, buf: bytes | memoryview, gaps: list[tuple[int, int]], roots: bool = True
    ) -> list[tuple[int, int, str]]:
        """(start, size, name) of each old list and old root lying in the unclaimed
        `gaps`. A whole list starts where a gap starts: libhdf5 allocates a list from the
        start of a freed range or of the file's free end, right after what was allocated
        before it, never after zeros (its place is no chosen bytes: attack nh5), or right
        after another old list; one right after a hidden one is found once that one is
        claimed and the gaps are taken again (the ledger's rounds; old roots are searched
        in the first)."""
        out: list[tuple[int, int, str]] = []
        for start, end in gaps:
            pos = start
            while self.heaps and buf[pos : pos + 4] == SIGNATURE and (size := self._list(buf, pos, end)):
                manager = struct.unpack_from("<Q", buf, pos + 5)[0]
                out.append((pos, size, f"an old free-space section list of {self.heaps[manager].what}"))
                pos += size
            while roots and self.roots and (at := _find(buf, pos, end, b"FHIB")) is not None:
                size = self._root(buf, at, end)
                if size:
                    heap = struct.unpack_from("<Q", buf, at + 5)[0]
                    out.append((at, size, f"an old root indirect block of {self.roots[heap].what}"))
                pos = at + (size or 1)
        return out

    def _root(self, buf: bytes | memoryview, at: int, end: int) -> int:
        """The size of the earlier root indirect block at `at` (0: not one): libhdf5
        doubles a heap's root by writing a larger copy elsewhere and freeing the old one.
        It is the heap's (version 0, the heap's address, block offset 0), of a shape
        libhdf5 passes through (oldstates.shapes: 1, 2, 4 ... rows, fewer than the root's,
        or m rows a large block needed, its last row reached), the copies a chain,
        its children the root's first ones then undefined addresses (the blocks allocated
        by then), its checksum recomputed; one per rows (a root keeps its place until it
        doubles); or one a reverted heap freed (_reverted)."""
        if end - at < _PREFIX + 4:
            return 0
        heap = struct.unpack_from("<Q", buf, at + 5)[0]
        root = self.roots.get(heap)
        if root is None or buf[at + 4] != 0:
            return 0
        first = at + 13 + root.off_size
        if int.from_bytes(buf[at + 13 : first], "little"):
            return 0
        for rows, counts in oldstates.shapes(len(root.entries) // (8 * root.width), root.width):
            size = 8 * rows * root.width
            if first + size + 4 > end:
                break
            raw = bytes(buf[first : first + size])
            children = len(raw[: size].rstrip(b"\xff")) // 8 * 8
            kept = raw[:children] == root.entries[:children] and raw[children:] == b"\xff" * (size - children)
            shaped = children // 8 in counts and self._chained(heap, rows)
            if kept and shaped and _checksum(buf, at, first + size):
                self.old_roots.add((heap, rows))
                return first + size + 4 - at
        return self._reverted(heap, bytes(buf[at:end]))

    def _reverted(self, heap: int, shown: bytes) -> int:
        """The size of the root a reverted heap freed that `shown` starts with (0: none)."""
        for whole, _ in self.reverts.fits(heap, shown, range(1)):
            self.reverts.take(whole)
            return len(whole)
        return 0

    def _chained(self, heap: int, rows: int) -> bool:
        """No copy of the heap's root of `rows` rows yet, and the copies a chain."""
        others = [r for h, r in self.old_roots if h == heap]
        return rows not in others and oldstates.chained(rows, others)

    def hidden(self, buf: bytes | memoryview, before: tuple[int, int, str], end: int) -> tuple[int, str]:
        """The bytes from the end of the structure `before` (start, end, name) up to
        `end` that are the tail of an old list whose start that later structure took:
        how many (0: none), and its name. libhdf5 frees a list and allocates what comes
        next over it (often the next list); the hidden list is recomputed whole
        (checksum included) from a heap's tails, starting up to MAX_HIDDEN bytes before
        `before` ends. The later structure's own start is tried first (libhdf5 allocates
        from a freed block's start), up to FIRST_TRY lists, then each start nearest first."""
        start, pos, name = before
        start = self.hidden_starts.get(start, start)  # a hidden list: where it really starts
        shown = bytes(buf[pos:end])
        lowest = max(start, pos - MAX_HIDDEN)
        if not shown[:16].strip(b"\0"):
            return 0, ""
        firsts = [(start, FIRST_TRY)] if start == lowest else []
        size, what = self._recomputed(shown, pos, (pos - lowest, pos - start))
        if size:
            return size, f"{what} (its start under {name})"
        try:
            for first, cap in [*firsts, *((f, MAX_WORK) for f in range(pos - 1, lowest - 1, -1))]:
                until = self.work + cap  # for all the heaps and count sizes from this start
                for manager, tails in self.heaps.items():
                    for count_size in (1, 2):
                        raw = self._hidden_list((first, pos), shown, (manager, tails, count_size), until)
                        if raw is not None:
                            name = f"an old free-space section list of {tails.what} (its start under {name})"
                            return len(raw) - (pos - first), name
        except Exhausted:
            pass
        return 0, ""

    def _recomputed(self, shown: bytes, pos: int, hidden: tuple[int, int]) -> tuple[int, str]:
        """The bytes of `shown` that end a structure recomputed whole, hidden for 1 to
        `most` bytes: a heap's earlier list (one per state, _states) or an earlier root
        indirect block (libhdf5 frees the old root when it writes a larger one; one per
        rows, of the shapes _root admits; or when it reverts the heap: revertedroots). Of
        all that fit, the one that shows the most (a list shown for a byte or two fits by
        chance where the true one shows more); one
        showing a byte only if it starts where the structure over it does (`hidden`: at
        most, and the bytes hidden of one starting there: MIN_SHOWN)."""
        most, pinned = hidden
        fits: list[tuple[int, int, bytes, int]] = []  # (shown, -hidden, whole, heap or manager)
        for manager, tails in self.heaps.items():
            seen = self.found.get(manager, set())
            if len(seen) < max(tails.objects - 1, 1):
                found = oldstates.candidates(self._states(manager, shown), shown, most)
                skips = oldstates.candidates(self.skips.get(manager, ()), shown, most)
                found += [(whole, hidden) for whole, hidden in skips if len(whole) - hidden >= SKIP_SHOWN]
                fits += [(len(whole) - hidden, -hidden, whole, manager) for whole, hidden in found
                         if whole[:-4] not in seen and whole[:-4] != tails.live
                         and (len(whole) - hidden >= MIN_SHOWN or hidden == pinned)]
        for heap, root in self.roots.items():
            if heap not in self.root_blocks:  # computed once
                self.root_blocks[heap] = oldstates.roots(heap, root.off_size, root.width, root.entries)
            blocks = self.root_blocks[heap]
            fits += [(len(whole) - hidden, -hidden, whole, heap)
                     for whole, hidden in oldstates.candidates(tuple(blocks), shown, most)
                     if self._chained(heap, blocks[whole][0])
                     and (len(whole) - hidden >= MIN_SHOWN or hidden == pinned)]
        fits += self.reverts.hidden(shown, (most, pinned), MIN_SHOWN)  # the roots reverted heaps freed
        if not fits:
            return 0, ""
        size, hidden, whole, owner = max(fits)
        self.hidden_starts[pos] = pos + hidden
        if whole[:4] == b"FHIB" and whole not in self.root_blocks.get(owner, {}):
            self.reverts.take(whole)
            return size, f"an old root indirect block of {self.roots[owner].what} (the heap reverted)"
        if whole[:4] == b"FHIB":
            self.old_roots.add((owner, self.root_blocks[owner][whole][0]))
            return size, f"an old root indirect block of {self.roots[owner].what}"
        self._new(owner, whole[:-4], self.heaps[owner])
        return size, f"an old free-space section list of {self.heaps[owner].what}"

    def _states(self, manager: int, shown: bytes) -> tuple[bytes, ...]:
        """The whole lists of the heap's earlier states: by creation order if tracked
        (oldstates.states), else by its blocks' fill (oldstates.fills, computed once;
        if they are more than it computes, also those with the sections `shown` names);
        those with blocks skipped then, allocated since (oldstates.skips), made here too,
        are matched apart (_recomputed: SKIP_SHOWN)."""
        tails = self.heaps[manager]
        if tails.states or not tails.blocks:
            return tails.states
        prefix = SIGNATURE + bytes(1) + manager.to_bytes(8, "little")
        if manager not in self.fills:
            self.fills[manager] = oldstates.fills(prefix, tails.widths, tails.blocks)
            if tails.rows:  # and those with blocks skipped then, allocated since
                self.skips[manager] = oldstates.skips(prefix, tails.widths, tails.blocks, tails.rows)
        return self.fills[manager] + self._pinned(manager, shown)

    def _pinned(self, manager: int, shown: bytes) -> tuple[bytes, ...]:
        """Past MAX_STATES states, those whose blocks end where the sections `shown`
        names start (oldstates.pins), for at most MAX_PINNED shown tails a file."""
        tails = self.heaps[manager]
        prefix = SIGNATURE + bytes(1) + manager.to_bytes(8, "little")
        if len(self.fills[manager]) < oldstates.MAX_STATES:
            return ()
        pins = oldstates.pins(shown, tails.widths[1], tails.ends)
        if not pins or ((manager, pins) not in self.pinned and len(self.pinned) >= MAX_PINNED):
            return ()
        if (manager, pins) not in self.pinned:
            self.pinned[manager, pins] = oldstates.fills(prefix, tails.widths, tails.blocks, pins)
        return self.pinned[manager, pins]

    def _hidden_list(self, where: tuple[int, int], shown: bytes, heap: tuple, until: int) -> bytes | None:
        """The list of `heap` (manager, tails, count size) from where[0] whose bytes from
        where[1] on are `shown`, tried while the work is below `until`."""
        (first, pos), (manager, tails, count_size) = where, heap
        search = Search(tails, shown, pos - first, self, cap=until)
        try:
            raw = search.run(SIGNATURE + bytes(1) + manager.to_bytes(8, "little"), count_size)
        except Capped:
            return None
        if raw is None or not self._new(manager, raw[:-4], tails):
            return None
        self.hidden_starts[pos] = first
        return raw

    def _list(self, buf: bytes | memoryview, at: int, end: int) -> int:
        """The size of the old list at `at` (0: not one this file's heaps explain)."""
        if end - at < _PREFIX + 4 or buf[at + 4] != 0:
            return 0
        manager = struct.unpack_from("<Q", buf, at + 5)[0]
        tails = self.heaps.get(manager)
        if tails is None:
            return 0
        for count_size in range(1, 9):  # the old list's section count is not recorded
            raw = _parse(buf, (at, end), count_size, tails)
            if raw is not None and self._new(manager, raw, tails):
                return len(raw) + 4
        return 0

    def _new(self, manager: int, raw: bytes, tails: Tails) -> bool:
        """One more list of the heap: a state not seen before, fewer than its objects
        (each later session added one at least and wrote the live list: the state of all
        of them); of a heap tracking creation order, one of its states (oldstates.states),
        not any set of its blocks' tails."""
        seen = self.found.setdefault(manager, set())
        if raw in seen or raw == tails.live or len(seen) >= max(tails.objects - 1, 1):
            return False
        if tails.states and sealed(raw) not in tails.known:
            return False
        seen.add(raw)
        return True


def _find(buf: bytes | memoryview, pos: int, end: int, signature: bytes) -> int | None:
    """The first `signature` in [pos, end), searched a window at a time."""
    for at in range(pos, end, _WINDOW):
        window = bytes(buf[at : min(end, at + _WINDOW + 3)])
        hit = window.find(signature)
        if hit >= 0:
            return at + hit
    return None


def _parse(buf: bytes | memoryview, where: tuple[int, int], count_size: int, tails: Tails) -> bytes | None:
    """The list's bytes before its checksum, if it is a serialization of tails of the
    heap's blocks, and of runs of skipped blocks an earlier state had (skipped.py; none
    of them a block a tail lies in), with counts of `count_size` bytes, each group's
    count then the whole list's checksum; None if not."""
    at, end = where
    len_size, off_size = tails.widths
    pos, last, sections, blocks, covered = at + _PREFIX, (0, -1), 0, set(), set()
    while pos + count_size + len_size <= end:
        count = int.from_bytes(buf[pos : pos + count_size], "little")
        size = int.from_bytes(buf[pos + count_size : pos + count_size + len_size], "little")
        pos += count_size + len_size
        if not count or sections + count > MAX_SECTIONS or pos + count * (off_size + 1) > end:
            return None
        if size <= last[0]:  # one group per size, sizes ascending
            return None
        for _ in range(count):
            offset = int.from_bytes(buf[pos : pos + off_size], "little")
            if (size, offset) <= last:
                return None
            step = _section(buf, (pos + off_size, end), (size, offset), tails, (blocks, covered))
            if not step:
                return None
            last, pos = (size, offset), pos + off_size + step
        sections += count
        if pos + 4 <= end and _checksum(buf, at, pos):
            return bytes(buf[at:pos]) if counted(sections, count_size) and not blocks & covered else None
    return None


def _section(buf: bytes | memoryview, where: tuple[int, int], section: tuple[int, int], tails: Tails,
             seen: tuple[set[int], set[int]]) -> int:
    """The bytes of a section's type and data at where[0] (0: not one an earlier state
    of the heap had): a tail of a block no other section names, or a run of skipped
    blocks (skipped.Rows.admissible) none of which another run covers."""
    (pos, end), (size, offset), (blocks, covered) = where, section, seen
    if buf[pos] == _SINGLE:
        block = tails.ends.get(offset)
        if block is None or offset + size != block or block in blocks:
            return 0
        blocks.add(block)
        return 1
    data = bytes(buf[pos + 1 : min(end, pos + 1 + tails.widths[1] + skipped.DATA)])
    run = tails.runs.get((offset, data)) if buf[pos] == skipped.FIRST_ROW else None
    if run is None or run[0] != size or covered & run[1]:
        return 0
    covered.update(run[1])
    return 1 + len(data)


def _checksum(buf: bytes | memoryview, at: int, pos: int) -> bool:
    return struct.unpack_from("<I", buf, pos)[0] == lookup3(bytes(buf[at:pos]))


def tails(
    what: str, widths: tuple[int, int], blocks: list[tuple[int, int]], objects: dict[int, int],
    tracked: tuple[int, list[int]] = (0, []), rows: skipped.Rows | None = None, live: bytes = b"",
) -> Tails:
    """What an earlier state of a heap could have listed: for each direct block (heap
    offset of its first byte after the prefix, end; sorted), a tail from that byte or
    from the end of one of its objects, and runs of the entries of its indirect blocks
    (`rows`) it had skipped; and, for a heap whose objects' creation order is tracked
    (its manager's address, its objects' heap offsets in that order), each earlier
    state's list (oldstates.py). `live`: the live list before its checksum (libhdf5
    writes the state of all the objects once, as the live list: a copy is refused)."""
    manager, order = tracked
    prefix = SIGNATURE + bytes(1) + manager.to_bytes(8, "little")
    managed = [(o, objects[o]) for o in order if o in objects]  # huge objects lie in no block
    states = oldstates.states(prefix, widths, blocks, managed, rows) if managed else ()
    ends = dict(blocks)
    firsts = [first for first, _ in blocks]
    for offset, length in objects.items():
        i = bisect_right(firsts, offset) - 1
        if i >= 0 and offset + length < blocks[i][1]:
            ends[offset + length] = blocks[i][1]
    filled = () if managed else oldstates.blocks(blocks, objects)
    return Tails(what=what, widths=widths, ends=ends, objects=len(objects), states=states, blocks=filled,
                 known=frozenset(states), runs=rows.admissible() if rows else {},
                 rows=None if managed else rows, live=live)
