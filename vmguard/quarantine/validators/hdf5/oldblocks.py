"""The continuation blocks libhdf5 frees when an object header's messages move to dense
storage, recomputed.

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
since, its space reused). So a freed block is (its
start: where the unclaimed bytes start, right after another freed block, or where one
of the 16 structures just before them starts, never after zeros (a chosen place: attack
m h5); its messages, each one of those of
one header, in order) and every byte of it that no later structure covers must be that
image's, checksum included (one of the choices for what a later structure covers must
give it); zeros or another freed block after it. At most MAX_HIDDEN whole messages lie
under later structures, and a null message there only right after a continuation one;
a header has no more freed blocks than messages; the search stops at MAX_WORK (the
choices of hidden parts are checksummed depth first, each prefix mixed once:
checksum.any_lookup3; what hidden places offer is made once per owner: session 37, a
7 KB file of 3 tracked sessions spent the bound on checksumming each whole choice;
session 38: a continuation message or a null holding data may lie partly under a later
structure, an attribute's order field is its creation order, a block holds one message
of a kind but those of _REPEATED, and each gap's starts are tried in rounds (explains:
no covered null and at most CHEAP choices to checksum, then covered nulls, then all):
attack m h5's sweep, ctl-m-sw-mix9-*).
What is free: which messages, in which order (log2(messages of the header + 1) bits a
message), a null message's size (log2(its block) bits), an order field below the
header's next attribute order, which block a continuation names (log2(blocks)), which
structure took the start (log2(17) bits). What does not fit (a block holding a message
that changed since, data in a null message, a block under more later structures)
stays refused, naming h5repack (older free-space section lists: oldsections.py)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from .checksum import any_lookup3, lookup3

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_WORK = 4_000_000  # bytes compared and checksummed, in all (a crafted file costs no more)
MAX_MESSAGES = 64  # in one block (libhdf5's blocks of h5py's files: a few)
MAX_HIDDEN = 2  # whole messages under a later structure (the sweeps: at most 2)
NODE = 64  # the work a step of the search counts, whatever it compares
LEFTOVER_WORK = 4  # the work a byte of a null message matched as moved.py does counts
COVERED_WORK = 16  # and each value of a covered byte, as CPU-costly (a refused sweep file: 2.0 s at 4)
MAX_CHUNKS = 10_000  # blocks a stale continuation message may name
CHEAP = 4_096  # choices of hidden parts a block's checksum is matched against in the first pass
_WINDOW = 1 << 20  # unclaimed bytes searched for signatures this much at a time
_CONTINUATION = struct.pack("<BHB", 0x10, 16, 0)
_SIGNATURE = b"OCHK"
_SMEARED = (b"",)  # marks a null message holding what a live header's may (nothing more follows)
_REPEATED = frozenset({0x00, 0x06, 0x0C, 0x10})  # null, link, attribute, continuation; others once


@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """One message a freed block may hold: its header (type, size, flags) and data."""

    head: bytes
    body: bytes
    wild: int  # the offset in body of a byte any value up to `most` matches (-1: none)
    most: int = 255
    order: int = -1  # its order field (a tracked attribute's creation order: libhdf5 writes it), -1: any


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """What the freed blocks of one version 2 object header may hold."""

    pieces: tuple[Piece, ...]
    order: int  # the width of each message's order field (0 or 2)
    orders: int  # an order field's values: below this
    leftover: Callable[[bytes], bool]  # a shown null message's data is what libhdf5 leaves (moved.py)
    at: int  # the header's address (none of its blocks was ever there)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Gap:
    buf: bytes | memoryview
    start: int  # bytes before it are a later structure's: not the block's (hidden)
    end: int


class Blocks:
    """The owners of one file and the work spent matching freed blocks against them."""

    def __init__(self) -> None:
        self.owners: list[Owner] = []
        self.work = 0
        self.used: dict[int, int] = {}  # id(owner) -> its freed blocks found
        self.chunks: set[tuple[int, int]] = set()  # (address, length) a continuation message may name
        self.starts: frozenset[int] = frozenset()  # where the structures the walk reached start
        self.tails: dict[int, dict[int, set[bytes]]] = {}  # id(owner) -> _tails
        self.leftovers: dict[tuple[int, int, int], bool] = {}  # (id(owner), at, size) -> _leftover
        self.alike: dict[tuple[int, int], dict[bytes, tuple[bytes, ...]]] = {}  # (id(owner), fits) -> _alike
        self.values: dict[tuple[int, int], tuple[bytes, ...]] = {}  # (width, below) -> hidden _values
        self.covered: dict[tuple[int, int, int, int], tuple[bytes, ...]] = {}  # _covered_null's data
        self.tier = 2  # explains: 0 puts off covered nulls and more than CHEAP choices, 1 the latter
        self.put_off = False  # and some were

    def prepare(
        self,
        buf: bytes | memoryview,
        gaps: list[tuple[int, int]],
        live: list[tuple[int, int]],
        starts: frozenset[int],
    ) -> None:
        """The blocks a stale continuation message may name: the header's continuation
        blocks (`live`), the freed blocks whose start the unclaimed bytes show, and
        (shown) a block whose start a later structure took (`starts`)."""
        self.chunks, self.starts = set(live), starts
        if not self.owners:
            return
        try:
            for start, end in gaps:
                for at in _signatures(buf, start, end):
                    if len(self.chunks) > MAX_CHUNKS:
                        return
                    g = _Gap(buf=buf, start=at, end=end)
                    for owner in self.owners:
                        self.chunks |= {(at, e - at) for e in self._block(g, owner, at)}
        except _Exhausted:
            return  # what is left unexplained is refused, naming the bound (note)

    def add(self, owner: Owner) -> None:
        if owner.pieces:
            self.owners.append(owner)

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int], reused: list[int]) -> bool:
        """Whether the unclaimed bytes of `gap` are freed blocks (the first may start
        where one of the structures right before it starts: `reused`) and zeros."""
        if not self.owners or self.work > MAX_WORK:
            return False
        g = _Gap(buf=buf, start=gap[0], end=gap[1])
        try:  # every start: without covered nulls, few choices to checksum; then with them; then all
            for self.tier in range(3):  # each while some were put off
                self.put_off = False
                if self._from(g, gap[0], [*reused, gap[0]]):
                    return True
                if not self.put_off:
                    return False
            return False
        except _Exhausted:
            return False
        finally:
            self.tier = 2

    def note(self) -> str:
        """What a refusal adds when the search stopped at its bound."""
        if self.work <= MAX_WORK:
            return ""
        return f"; matching the continuation blocks libhdf5 freed stopped after {MAX_WORK} bytes compared"

    def _from(self, g: _Gap, pos: int, starts: list[int]) -> bool:
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
                for end in self._block(g, owner, start):
                    if self._from(g, end, []):
                        self._count(owner)
                        self.chunks.add((start, end - start))  # a block other blocks may name
                        return True
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

    def _block(self, g: _Gap, owner: Owner, start: int) -> Iterator[int]:
        """The ends of the blocks of `owner` starting at `start` whose image is what the
        gap shows of it (every byte at or after g.start)."""
        if self._shows(g, start, _SIGNATURE):
            yield from self._messages(g, owner, start + 4, [(_SIGNATURE,)], 0, False, frozenset())

    def _messages(
        self, g: _Gap, owner: Owner, at: int, parts: list[tuple[bytes, ...]], n: int, after: bool,
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
            shown = end > g.start and self._shows(g, at, bytes(gap)) and self._ends(g, end)
            if shown and self._summed(g, parts, at, gap):
                yield end
        if n >= MAX_MESSAGES:
            return
        for message in self._candidates(g, owner, at, after):
            size = sum(len(part[0]) for part in message if part)
            if not all(message) or (at + size <= g.start and n >= MAX_HIDDEN):  # all n + 1 hidden
                continue  # a later structure covers more of it than the sweeps show
            kind = message[0][0][0]
            if kind in kinds and kind not in _REPEATED:
                continue
            following = message[0] == (_CONTINUATION,)
            last = message[-1] is _SMEARED  # libhdf5 condensed the block: its one null ends it
            more = MAX_MESSAGES if last else n + 1
            yield from self._messages(g, owner, at + size, parts + message, more, following, kinds | {kind})

    def _ends(self, g: _Gap, end: int) -> bool:
        """A block may end at `end`: it shows data (what shows only zeros needs no
        block), and zeros or another block's signature follow."""
        if not bytes(g.buf[g.start : end]).strip(b"\0"):
            return False
        rest = bytes(g.buf[end : min(g.end, end + 4)])
        return not rest.strip(b"\0") or rest == _SIGNATURE[: len(rest)]

    def _summed(self, g: _Gap, parts: list[tuple[bytes, ...]], at: int, gap: int) -> bool:
        """One choice of the hidden parts makes the checksum the gap shows at at + gap
        (its bytes a later structure covers: any value)."""
        skip = min(4, max(0, g.start - at - gap))  # low bytes of the checksum covered
        shown = bytes(g.buf[at + gap + skip : at + gap + 4])
        if at + gap + 4 > g.end:
            return False
        want = int.from_bytes(bytes(skip) + shown, "little")
        mask = (0xFFFFFFFF << 8 * skip) & 0xFFFFFFFF
        if self.tier < 2 and prod(len(part) for part in parts) > CHEAP:
            self.put_off = True  # a wrong start's hidden messages may be many: the others first
            return False
        return any_lookup3([*parts, (bytes(gap),)], (want, mask), self._spend)

    def _candidates(self, g: _Gap, owner: Owner, at: int, after: bool) -> Iterator[list[tuple[bytes, ...]]]:
        """The messages that may lie at `at`, as parts: the owner's pieces (those of one
        header alike where all of it is hidden); a continuation message naming a block;
        a null message of zeros, its size as shown, or where hidden right after a
        continuation message (the rest of the message libhdf5 moved out to make room
        for it: H5O__alloc_chunk), up to the owner's largest message."""
        width = 4 + owner.order
        for piece in owner.pieces:
            if at + width + len(piece.body) > g.start:
                yield from self._shown(g, owner, piece, at)
        for (head, field), bodies in self._alike(owner, g.start - at - width).items():
            yield [(head,), (field,) if field else self._values(g, at + 4, owner.order, owner.orders), bodies]
        named = tuple(struct.pack("<QQ", *c) for c in sorted(self.chunks))
        if at + width + 16 <= g.start:
            yield [(_CONTINUATION,), self._values(g, at + 4, owner.order, owner.orders), named]
        elif at + width < g.start:  # its data partly covered: the blocks whose shown bytes fit
            fits = tuple(n for n in named if self._shows(g, at + width, n))
            if fits and self._shows(g, at, _CONTINUATION):
                yield [(_CONTINUATION,), self._values(g, at + 4, owner.order, owner.orders), fits]
        elif self._shows(g, at, _CONTINUATION) and at + width >= g.start and at + width + 16 <= g.end:
            shown = struct.unpack_from("<QQ", g.buf, at + width)
            if self.names(g.buf, *shown, owner.at):
                yield [
                    (_CONTINUATION,),
                    self._values(g, at + 4, owner.order, owner.orders),
                    (struct.pack("<QQ", *shown),),
                ]
        yield from self._nulls(g, owner, at, after)
        yield from self._covered_null(g, owner, at)

    def _alike(self, owner: Owner, room: int) -> dict[tuple[bytes, bytes], tuple[bytes, ...]]:
        """(head, its order field where pinned, else b"") -> the data of the owner's
        pieces of that header and field whose data fits in `room` bytes a later
        structure covers (alike there: only the checksum tells them apart), made once per
        owner and room (the search asks at every hidden place)."""
        key = (id(owner), sum(len(piece.body) <= room for piece in owner.pieces))  # the same pieces fit
        if key not in self.alike:
            alike: dict[tuple[bytes, bytes], list[bytes]] = {}
            for piece in owner.pieces:
                if len(piece.body) <= room:
                    self._spend(len(piece.body) * (piece.most + 1 if piece.wild >= 0 else 1))
                    field = piece.order.to_bytes(owner.order, "little") if piece.order >= 0 else b""
                    alike.setdefault((piece.head, field), []).extend(_bodies(piece))
            self.alike[key] = {kind: tuple(bodies) for kind, bodies in alike.items()}
        return self.alike[key]

    def _nulls(self, g: _Gap, owner: Owner, at: int, after: bool) -> Iterator[list[tuple[bytes, ...]]]:
        """A null message at `at`: of the size its header shows (any, up to the owner's
        largest message, where hidden), holding zeros or, right after a continuation
        message, the tail of the message libhdf5 moved out to make room for it (the
        continuation message took its start: H5O__alloc_chunk)."""
        width = 4 + owner.order
        if at >= g.start and at + 4 <= g.end:
            kind, size, flags = struct.unpack_from("<BHB", g.buf, at)
            sizes = range(size, size + 1) if kind == 0 and flags == 0 else range(0)  # 0: a header alone
        elif after:  # hidden: only where libhdf5 puts one (never empty: it leaves a gap)
            most = min(max(len(p.body) for p in owner.pieces), g.end - at)
            zeros = _zeros_to(g, max(at + width, g.start)) - at - width  # a null of zeros ends by then
            sizes = sorted({*range(1, min(most, zeros) + 1), *(n for n in self._tails(owner) if n <= most)})
        else:
            sizes = []
        for size in sizes:
            self._spend(NODE)  # a hidden null of each size up to the largest message: no bytes shown
            head = struct.pack("<BHB", 0, size, 0)
            bodies = {bytes(size)}
            if at >= g.start:
                yield from self._smeared(g, owner, at, head)
            if after:
                bodies |= self._tails(owner).get(size, set())
            shown = tuple(body for body in bodies if self._shows(g, at + width, body))
            if shown and self._shows(g, at, head):
                yield [(head,), self._values(g, at + 4, owner.order, owner.orders), shown]

    def _smeared(self, g: _Gap, owner: Owner, at: int, head: bytes) -> Iterator[list[tuple[bytes, ...]]]:
        """The shown null message at `at` (its header `head`), if it holds what a live
        header's null may (moved.py): the block's last message (libhdf5 condensed it, its
        free space one null at its end), once per block."""
        width, size = 4 + owner.order, struct.unpack_from("<H", head, 1)[0]
        data = bytes(g.buf[at + width : at + width + size])
        if len(data) < size or not data.strip(b"\0") or not self._shows(g, at, head):
            return
        if self._leftover(owner, at, data):
            yield [(head,), self._values(g, at + 4, owner.order, owner.orders), (data,), _SMEARED]

    def _covered_null(self, g: _Gap, owner: Owner, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """A null message whose header, and at most a byte of its data, a later structure
        covers, holding what a live header's null may (moved.py, as _smeared): the
        block's last message, so it ends where the block's gap and checksum start (a
        block end the gap shows); a covered byte each value moved.py admits with it."""
        width = 4 + owner.order
        covered = g.start - at - width  # data bytes covered
        if not (at < g.start and covered <= 1):
            return
        if self.tier < 1:  # each value of a covered byte checked (256), for each owner: tried later
            self.put_off = True
            return
        most = max(len(p.body) for p in owner.pieces)  # as a null right after a continuation
        low, high = max(g.start, at + width) + 4, min(g.end, at + 2 * width + most + 4)
        window = bytes(g.buf[g.start : min(g.end, high + 4)])  # read once (as _ends, not quadratic)
        self._spend(max(1, high - low))
        lead = len(window) - len(window.lstrip(b"\0"))  # the first shown non-zero byte
        starts = range(max(low, g.start + lead + 1), high + 1)
        parts = ((e, window[e - g.start - 4 : e - g.start], window[e - g.start : e - g.start + 4])
                 for e in starts)
        ends = [e for e, checksum, rest in parts  # a checksum of 4 zeros: 2^-32, never seen
                if checksum.strip(b"\0") and (not rest.strip(b"\0") or rest == _SIGNATURE[: len(rest)])]
        sizes = sorted({e - 4 - gap - at - width for e in ends for gap in range(width)  # the gap's zeros
                        if not window[e - 4 - gap - g.start : e - 4 - g.start].strip(b"\0")})
        for size in (n for n in sizes if n > max(covered, 0)):
            head = struct.pack("<BHB", 0, size, 0)
            if not self._shows(g, at, head):
                continue
            key = (id(owner), at, size, g.start)
            if key not in self.covered:
                shown = bytes(g.buf[at + width + max(covered, 0) : at + width + size])
                data = [bytes([v]) + shown for v in range(256)] if covered == 1 else [shown]
                self._spend(COVERED_WORK * size * len(data))
                self.covered[key] = tuple(d for d in data if shown.strip(b"\0") and owner.leftover(d))
            order = self._values(g, at + 4, owner.order, owner.orders)
            if self.covered[key]:
                yield [(head,), order, self.covered[key], _SMEARED]

    def _tails(self, owner: Owner) -> dict[int, set[bytes]]:
        """size -> the tails of the owner's messages a continuation message leaves of that
        size after it (made once per owner: the search asks for every size)."""
        key = id(owner)
        if key not in self.tails:
            width = 4 + owner.order
            self.tails[key] = {}
            for p in owner.pieces:
                if len(p.body) > 16 + width:
                    self.tails[key].setdefault(len(p.body) - 16 - width, set()).add(p.body[16 + width :])
        return self.tails[key]

    def _leftover(self, owner: Owner, at: int, data: bytes) -> bool:
        """owner.leftover, once per place (the search comes back to a place often), its
        work counted (LEFTOVER_WORK a byte: the matching runs a few steps a byte)."""
        key = (id(owner), at, len(data))
        if key not in self.leftovers:
            self._spend(LEFTOVER_WORK * len(data))
            self.leftovers[key] = owner.leftover(data)
        return self.leftovers[key]

    def _shown(self, g: _Gap, owner: Owner, piece: Piece, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """The piece at `at`, as parts, if the gap shows its bytes (an order field and
        wild byte as shown; where hidden, any value)."""
        data = at + 4 + owner.order
        if data + len(piece.body) > g.end or not self._shows(g, at, piece.head):
            return
        order = self._field(g, at + 4, owner, piece)
        if not order:
            return
        if piece.wild < 0:
            if self._shows(g, data, piece.body):
                yield [(piece.head,), order, (piece.body,)]
            return
        wild = self._values(g, data + piece.wild, 1, piece.most + 1)
        before, after = piece.body[: piece.wild], piece.body[piece.wild + 1 :]
        if wild and self._shows(g, data, before) and self._shows(g, data + piece.wild + 1, after):
            yield [(piece.head,), order, (before,), wild, (after,)]

    def _field(self, g: _Gap, at: int, owner: Owner, piece: Piece) -> tuple[bytes, ...]:
        """The piece's order field at `at`: its own where pinned, as far as shown."""
        if piece.order < 0 or not owner.order:
            return self._values(g, at, owner.order, owner.orders)
        field = piece.order.to_bytes(owner.order, "little")
        return (field,) if self._shows(g, at, field) else ()

    def _values(self, g: _Gap, at: int, width: int, below: int) -> tuple[bytes, ...]:
        """A little-endian field of `width` bytes at `at`: as shown if below `below`
        (none if not), any value below `below` where a later structure covers it (those
        whose shown bytes are the gap's where it covers a part)."""
        if not width:
            return (b"",)
        if at >= g.start:
            shown = bytes(g.buf[at : at + width])
            return (shown,) if len(shown) == width and int.from_bytes(shown, "little") < below else ()
        if (width, below) not in self.values:  # made once: the search asks at every hidden place
            self._spend(NODE + below)  # each value made costs more than a byte compared
            self.values[width, below] = tuple(value.to_bytes(width, "little") for value in range(below))
        if at + width > g.start:  # partly shown (session 38: its shown byte was not compared)
            return tuple(v for v in self.values[width, below] if self._shows(g, at, v))
        return self.values[width, below]

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
        except _Exhausted:
            return False
        return reused and address in self.starts and length >= 8 and address + length <= len(buf)

    def _chunk(self, buf: bytes | memoryview, address: int, length: int) -> bool:
        """An OCHK block with its checksum lies at address (a freed one libhdf5 named)."""
        if length < 8 or address + length > len(buf) or bytes(buf[address : address + 4]) != _SIGNATURE:
            return False
        self._spend(length)
        block = bytes(buf[address : address + length])
        if lookup3(block[:-4]) != int.from_bytes(block[-4:], "little"):
            return False
        self.chunks.add((address, length))
        return True

    def _shows(self, g: _Gap, at: int, raw: bytes) -> bool:
        """The bytes of raw placed at `at` that lie at or after the gap's start are the
        gap's (those before it are a later structure's)."""
        if at + len(raw) > g.end:
            return False
        skip = min(len(raw), max(0, g.start - at))  # all of raw may lie before the gap
        self._spend(max(1, len(raw) - skip))  # never less than nothing: the bound holds
        return raw[skip:] == bytes(g.buf[at + skip : at + len(raw)])

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > MAX_WORK:
            raise _Exhausted  # the gap is refused as unexplained, naming the bound (note)


class _Exhausted(Exception):
    """The work bound is spent: no more blocks are searched for in this file."""


def _zeros_to(g: _Gap, pos: int) -> int:
    """Where the zeros the gap shows from pos end (its first non-zero byte, or its end)."""
    window = bytes(g.buf[pos : g.end])
    return pos + len(window) - len(window.lstrip(b"\0"))


def _bodies(piece: Piece) -> list[bytes]:
    """The piece's data, its wild byte (if any) each value."""
    if piece.wild < 0:
        return [piece.body]
    before, after = piece.body[: piece.wild], piece.body[piece.wild + 1 :]
    return [before + bytes([value]) + after for value in range(piece.most + 1)]


def _signatures(buf: bytes | memoryview, start: int, end: int) -> Iterator[int]:
    """Where OCHK starts in buf[start:end], read a window at a time (a large file's gaps
    are not copied whole)."""
    for base in range(start, end, _WINDOW):
        window = bytes(buf[base : min(end, base + _WINDOW + len(_SIGNATURE) - 1)])
        at = window.find(_SIGNATURE)
        while 0 <= at < _WINDOW:
            yield base + at
            at = window.find(_SIGNATURE, at + 1)
