"""The continuation blocks libhdf5 frees when an object header's messages move to dense
storage, recomputed: what a freed block is, and which blocks there are (the search of a
gap for them, its rounds and work bound: oldsearch.py).

A version 2 object header that outgrows its first chunk gets a continuation block (an
OCHK chunk: its signature, messages, a gap shorter than a message header, the lookup3
checksum of all that). When the header's links or attributes move to dense storage,
libhdf5 empties the block and frees it without clearing it: what its last flush wrote
there stays, reached from nothing, and later structures may take its start (libhdf5
reuses freed space first). That image is a structure of the header's earlier state made
of messages the file still shows: the links and attributes now in its dense storage (the
same encoding), its own messages, its link or attribute info message as it was before
dense storage (moved.before_dense: its next order then, at most the current one), a
continuation message naming a block (one of the file's continuation blocks or of the
freed blocks found: the ledger tries unexplained gaps again while more are found), and
null messages: of zeros, right after a continuation message the tail of the message
libhdf5 moved out to make room for it (H5O__alloc_chunk writes the continuation over its
start), or, shown, what a live header's null message may hold (moved.py: the header's
image when it was freed had been condensed as a live one is). A shown continuation
message may also name a block whose start a structure the walk reached took (freed
since, its space reused). So a freed block is (its start: oldsearch.py) its messages,
each one of those of one header, in order, and every byte of it that no later structure
covers must be that image's, checksum included (one of the choices for what a later
structure covers must give it); zeros or another freed block after it. At most
MAX_HIDDEN whole messages lie under later structures, and a null message there only
right after a continuation one (the choices of hidden parts are checksummed depth
first, each prefix mixed once: checksum.any_lookup3; what hidden places offer is made
once per owner: session 37). Session 38: a continuation message or a null holding data
may lie partly under a later structure, an attribute's order field is its creation
order, a block holds one message of a kind but those of _REPEATED. Session 39: a header
that outgrew its block again and again displaced its messages one at a time
(H5O__alloc_chunk: a continuation message takes the start of the displaced one's slot,
a null the rest), so a freed block may be pairs of them under later structures, a pair
counted as one hidden message (SLOTS; the first round tries them: oldsearch.FIRST).
What is free: which messages, in which order (log2(messages of the header + 1) bits a
message), a null message's size (log2(its block) bits), an order field below the
header's next attribute order, which block a continuation names (log2(blocks)), which
structure took the start (log2(17) bits). What does not fit (a block holding a message
that changed since, data in a null message, a block under more later structures)
stays refused, naming h5repack (older free-space section lists: oldsections.py).
What one message at a place may be (pieces, nulls) is oldmessages.py's; here is a block,
message by message, and which blocks there are."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .checksum import any_lookup3, lookup3
from .oldmessages import EARLIER, NODE, SIGNATURE, SMEARED, Gap, Messages
from .oldsearch import GapSearch, WorkSpent

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .oldmessages import Owner

MAX_MESSAGES = 64  # in one block (libhdf5's blocks of h5py's files: a few)
MAX_HIDDEN = 2  # whole messages under a later structure (the sweeps: at most 2)
SLOTS = True  # a continuation message and the null after it count as one hidden message (their slot)
MAX_CHUNKS = 10_000  # blocks a stale continuation message may name
GROWN = 256  # bytes a header block grew in place over a freed block's start, at most
_WINDOW = 1 << 20  # unclaimed bytes searched for signatures this much at a time
_CONTINUATION = struct.pack("<BHB", 0x10, 16, 0)
_REPEATED = frozenset({0x00, 0x06, 0x0C, 0x10})  # null, link, attribute, continuation; others once


class Blocks(GapSearch):
    """The owners of one file and the blocks their freed ones may be (the search of a
    gap for them and the work it spent: oldsearch.GapSearch)."""

    def __init__(self) -> None:
        super().__init__()
        self.owners: list[Owner] = []
        self.chunks: set[tuple[int, int]] = set()  # (address, length) a continuation message may name
        self.owned: dict[tuple[int, int], set[int]] = {}  # such a block -> the headers it may be of
        self.starts: frozenset[int] = frozenset()  # where the structures the walk reached start
        self.messages = Messages(self._spend)  # what a message at a place may be (oldmessages.py)
        self.lasts: dict[int, int] = {}  # a v2 header block's start -> where its last message starts
        self.covered: dict[int, list[int]] = {}  # a gap's start -> blocks under a header grown over them

    def prepare(
        self,
        buf: bytes | memoryview,
        gaps: list[tuple[int, int, int]],
        live: list[tuple[int, int]],
        starts: frozenset[int],
    ) -> None:
        """The blocks a stale continuation message may name: the header's continuation
        blocks (`live`), the freed blocks whose start the unclaimed bytes show or a header
        block before them grew over (grown; `gaps`: start, end, the structure before it),
        and (shown) a block whose start a later structure took (`starts`)."""
        self.chunks, self.starts = set(live), starts
        if not self.owners:
            return
        try:
            named = _named(buf, gaps)
            for start, end, before in gaps:
                for at in self._grown(buf, start, before) if named else ():  # at most GROWN places
                    for length in named.get(at, ()):
                        if start < at + length <= end:
                            self._overgrown(Gap(buf=buf, start=start, end=end), at, length)
                for at in _signatures(buf, start, end):
                    if len(self.chunks) > MAX_CHUNKS:
                        return
                    g = Gap(buf=buf, start=at, end=end)
                    for owner in self.owners:
                        found = {(at, e - at) for e in self._block(g, owner, at)}
                        self.chunks |= found
                        for chunk in found:
                            self.owned.setdefault(chunk, set()).add(owner.at)
        except WorkSpent:
            return  # what is left unexplained is refused, naming the bound (note)

    def add(self, owner: Owner) -> None:
        if owner.pieces:
            self.owners.append(owner)

    def _grown(self, buf: bytes | memoryview, start: int, before: int) -> range:
        """Where a freed block may start under the header block (at `before`) that ends at
        `start`: in that block's last message, at most GROWN bytes before `start` (libhdf5
        grows a header block in place over the free space after it, H5O__alloc_extend_chunk:
        the null at its end, or a new one, by the bytes the message it places there needs;
        session 39, attack nh5's sweep 9: /g's first block grown 22 bytes over a root block
        freed before, which a freed block's stale continuation message names)."""
        if before < 0 or bytes(buf[before : before + 4]) not in (b"OHDR", SIGNATURE):
            return range(0)
        last = self.lasts.get(before)
        return range(0) if last is None else range(max(last + 1, start - GROWN), start)

    def _overgrown(self, g: Gap, at: int, length: int) -> None:
        """The block (at, length) a stale continuation message names, if a block of an
        owner lies there (its start hidden under the grown header block): then it is a
        block a continuation message may name and a start the gap's search tries."""
        for owner in self.owners:
            if any(end == at + length for end in self._block(g, owner, at)):
                self.chunks.add((at, length))
                self.covered.setdefault(g.start, []).append(at)
                return

    def _block(self, g: Gap, owner: Owner, start: int) -> Iterator[int]:
        """The ends of the blocks of `owner` starting at `start` whose image is what the
        gap shows of it (every byte at or after g.start)."""
        if self.messages.shows(g, start, SIGNATURE):
            yield from self._messages(g, owner, start + 4, [(SIGNATURE,)], 0, False, frozenset())

    def _messages(
        self, g: Gap, owner: Owner, at: int, parts: list[tuple[bytes, ...]], n: int, after: bool,
        kinds: frozenset[int],
    ) -> Iterator[int]:
        """The ends of the blocks whose image starts with `parts` (each a choice of
        equally long byte strings: one where the gap shows it) and goes on at `at`:
        after its messages, a gap shorter than a message header, then its checksum.
        `kinds`: the types of its messages so far, each but _REPEATED once in a header
        (an image holds each message once: two info messages are no block's)."""
        self._spend(NODE)  # hidden messages compare no bytes: each step costs still
        for gap in range(4 + owner.order):
            end = at + gap + 4
            shown = end > g.start and self.messages.shows(g, at, bytes(gap)) and self._ends(g, end)
            if shown and self._summed(g, parts, at, gap):
                yield end
        if n >= MAX_MESSAGES:
            return
        for message in self._candidates(g, owner, at, after):
            size = sum(len(part[0]) for part in message if part)
            kind = message[0][0][0] if message[0] else -1
            # a null holding the rest of the slot a continuation message took counts with it
            slot = SLOTS and after and kind == 0 and self.messages.zeroed
            if not all(message) or (at + size <= g.start and n >= MAX_HIDDEN and not slot):  # n + 1 hidden
                continue  # a later structure covers more of it than the sweeps show
            if kind in kinds and kind not in _REPEATED:
                continue
            stale = {-1} if message[-1] is EARLIER else set()  # an attribute's earlier value
            if stale & kinds:
                continue  # one a block (the sweeps: one)
            following = message[0] == (_CONTINUATION,)
            last = message[-1] is SMEARED  # libhdf5 condensed the block: its one null ends it
            more = MAX_MESSAGES if last else n + (not slot)
            seen = kinds | {kind} | stale
            yield from self._messages(g, owner, at + size, parts + message, more, following, seen)

    def _ends(self, g: Gap, end: int) -> bool:
        """A block may end at `end`: it shows data (what shows only zeros needs no
        block), and zeros or another block's signature follow."""
        if not bytes(g.buf[g.start : end]).strip(b"\0"):
            return False
        rest = bytes(g.buf[end : min(g.end, end + 4)])
        return not rest.strip(b"\0") or rest == SIGNATURE[: len(rest)]

    def _summed(self, g: Gap, parts: list[tuple[bytes, ...]], at: int, gap: int) -> bool:
        """One choice of the hidden parts makes the checksum the gap shows at at + gap
        (its bytes a later structure covers: any value)."""
        skip = min(4, max(0, g.start - at - gap))  # low bytes of the checksum covered
        shown = bytes(g.buf[at + gap + skip : at + gap + 4])
        if at + gap + 4 > g.end:
            return False
        want = int.from_bytes(bytes(skip) + shown, "little")
        mask = (0xFFFFFFFF << 8 * skip) & 0xFFFFFFFF
        return self._cheap(parts) and any_lookup3([*parts, (bytes(gap),)], (want, mask), self._spend)

    def _candidates(self, g: Gap, owner: Owner, at: int, after: bool) -> Iterator[list[tuple[bytes, ...]]]:
        """The messages that may lie at `at`, as parts: the owner's pieces (those of one
        header alike where all of it is hidden); a continuation message naming a block;
        a null message of zeros, its size as shown, or where hidden right after a
        continuation message (the rest of the message libhdf5 moved out to make room
        for it: H5O__alloc_chunk), up to the owner's largest message; a null message
        under a later structure holding what a live header's may."""
        yield from self.messages.pieces(g, owner, at)
        yield from self._continuations(g, owner, at)
        yield from self.messages.nulls(g, owner, at, after)
        if self.tier < 1 and self.messages.covers(g, owner, at):
            self.put_off = True  # each value of a covered byte checked (256), for each owner: tried later
        else:
            yield from self.messages.covered_null(g, owner, at)

    def _continuations(self, g: Gap, owner: Owner, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """A continuation message at `at` naming a block: any block found where its data
        is hidden, those whose shown bytes fit where partly, the block it shows if a
        stale continuation message may name it (names)."""
        width = 4 + owner.order
        chunks = sorted(self.chunks)
        if self.messages.zeroed:  # first the owner's own blocks (and those of no known owner): a
            self.messages.narrowed = True  # header's continuation message names its own
            chunks = [c for c in chunks if owner.at in self.owned.get(c, {owner.at})]
        named = tuple(struct.pack("<QQ", *c) for c in chunks)
        if at + width + 16 <= g.start:
            yield [(_CONTINUATION,), self.messages.field(g, at + 4, owner), named]
        elif at + width < g.start:  # its data partly covered: the blocks whose shown bytes fit
            fits = tuple(n for n in named if self.messages.shows(g, at + width, n))
            if fits and self.messages.shows(g, at, _CONTINUATION):
                yield [(_CONTINUATION,), self.messages.field(g, at + 4, owner), fits]
        elif self.messages.shows(g, at, _CONTINUATION) and at + width >= g.start and at + width + 16 <= g.end:
            shown = struct.unpack_from("<QQ", g.buf, at + width)
            if self.names(g.buf, *shown, owner.at):
                yield [
                    (_CONTINUATION,),
                    self.messages.field(g, at + 4, owner),
                    (struct.pack("<QQ", *shown),),
                ]

    def names(
        self, buf: bytes | memoryview, address: int, length: int, header: int, reused: bool = True
    ) -> bool:
        """Whether a (stale) continuation message of the header at `header` may name the
        block: a continuation or found freed block (`chunks`, with heldblocks.py's), an
        OCHK block with its checksum, or (`reused`) one whose start a structure the walk
        reached took (freed and reused since: libhdf5 allocates from a free range's
        start); never the superblock's place nor the header's own (attack nh5 named them)."""
        if (address, length) in self.chunks:
            return True
        if address in (0, header):
            return False
        try:
            if self._chunk(buf, address, length):
                return True
        except WorkSpent:
            return False
        return reused and address in self.starts and length >= 8 and address + length <= len(buf)

    def _chunk(self, buf: bytes | memoryview, address: int, length: int) -> bool:
        """An OCHK block with its checksum lies at address (a freed one libhdf5 named)."""
        if length < 8 or address + length > len(buf) or bytes(buf[address : address + 4]) != SIGNATURE:
            return False
        self._spend(length)
        block = bytes(buf[address : address + length])
        if lookup3(block[:-4]) != int.from_bytes(block[-4:], "little"):
            return False
        self.chunks.add((address, length))
        return True

def _named(buf: bytes | memoryview, gaps: list[tuple[int, int, int]]) -> dict[int, set[int]]:
    """address -> the lengths the continuation messages the gaps show whole give it (the
    first MAX_CHUNKS, the first megabyte of each gap)."""
    out: dict[int, set[int]] = {}
    for start, end, _ in gaps:
        window = bytes(buf[start : min(end, start + _WINDOW)])
        at = window.find(_CONTINUATION)
        while at >= 0 and len(out) <= MAX_CHUNKS:
            for width in (4, 6):  # without and with an order field
                if at + width + 16 <= len(window):
                    address, length = struct.unpack_from("<QQ", window, at + width)
                    out.setdefault(address, set()).add(length)
            at = window.find(_CONTINUATION, at + 1)
    return out


def _signatures(buf: bytes | memoryview, start: int, end: int) -> Iterator[int]:
    """Where OCHK starts in buf[start:end], read a window at a time (a large file's gaps
    are not copied whole)."""
    for base in range(start, end, _WINDOW):
        window = bytes(buf[base : min(end, base + _WINDOW + len(SIGNATURE) - 1)])
        at = window.find(SIGNATURE)
        while 0 <= at < _WINDOW:
            yield base + at
            at = window.find(SIGNATURE, at + 1)
