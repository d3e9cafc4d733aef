"""The messages a freed continuation block may hold at a place, for oldblocks.py's search.

oldsearch.py walks a gap of unclaimed bytes block by block, oldblocks.py a block message
by message; here is what one message at a place may be, as parts (each a choice of
equally long byte strings: one where the gap shows it, any value the header allows where
a later structure covers it): one of the owner's pieces, shown, or where all of it is
hidden those of one header alike (only the block's checksum tells them apart); a null
message of zeros, of the tail of the message libhdf5 moved out to make room for a
continuation message (H5O__alloc_chunk), or holding what a live header's null may
(moved.py). What the search asks again and again (the values of a hidden field, the
owner's tails and alike pieces, a null's data matched as moved.py does) is made once;
the work is spent from the bound oldsearch.py keeps (`spend`). The continuation
messages, which name blocks, are oldblocks.py's: which blocks there are is its
bookkeeping."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

NODE = 64  # the work a step of the search counts, whatever it compares
LEFTOVER_WORK = 4  # the work a byte of a null message matched as moved.py does counts
COVERED_WORK = 16  # and each value of a covered byte, as CPU-costly (a refused sweep file: 2.0 s at 4)
SIGNATURE = b"OCHK"
SMEARED = (b"",)  # marks a null message holding what a live header's may (nothing more follows)
EARLIER = tuple([b""])  # marks an attribute holding an earlier value (one a block: oldblocks.py)
MAX_EARLIER = 8  # bytes of such a value: a scalar number's (the sweeps': a float set again)


@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """One message a freed block may hold: its header (type, size, flags) and data."""

    head: bytes
    body: bytes
    wild: int  # the offset in body of a byte any value up to `most` matches (-1: none)
    most: int = 255
    order: int = -1  # its order field (a tracked attribute's creation order: libhdf5 writes it), -1: any
    earlier: int = 0  # its last bytes (a scalar attribute's value) may hold any earlier value, shown


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """What the freed blocks of one version 2 object header may hold."""

    pieces: tuple[Piece, ...]
    order: int  # the width of each message's order field (0 or 2)
    orders: int  # an order field's values: below this
    leftover: Callable[[bytes], bool]  # a shown null message's data is what libhdf5 leaves (moved.py)
    at: int  # the header's address (none of its blocks was ever there)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Unclaimed bytes searched for freed blocks."""

    buf: bytes | memoryview
    start: int  # bytes before it are a later structure's: not the block's (hidden)
    end: int


class Messages:
    """What a freed block's message at a place may be, and what the search made once."""

    def __init__(self, spend: Callable[[int], None]) -> None:
        self.spend = spend  # counts work against the bound (oldsearch.MAX_WORK), raising past it
        self.tails: dict[int, dict[int, set[bytes]]] = {}  # id(owner) -> _tails
        self.leftovers: dict[tuple[int, int, int], bool] = {}  # (id(owner), at, size) -> _leftover
        self.alike: dict[tuple[int, int], dict[bytes, tuple[bytes, ...]]] = {}  # (id(owner), fits) -> _alike
        self.fields: dict[tuple[int, int], tuple[bytes, ...]] = {}  # (width, below) -> hidden values
        self.covered: dict[tuple[int, int, int, int], tuple[bytes, ...]] = {}  # covered_null's data
        self.zeroed = False  # hidden order fields 0 alone (field: the first round of a gap)
        self.narrowed = False  # and some were

    def pieces(self, g: Gap, owner: Owner, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """The owner's pieces that may lie at `at`: as shown where the gap shows some of
        them, those of one header alike where a later structure covers all of them."""
        width = 4 + owner.order
        for piece in owner.pieces:
            if at + width + len(piece.body) > g.start:
                yield from self._shown(g, owner, piece, at)
        for (head, field), bodies in self._alike(owner, g.start - at - width).items():
            yield [(head,), (field,) if field else self.field(g, at + 4, owner), bodies]

    def covers(self, g: Gap, owner: Owner, at: int) -> bool:
        """A later structure covers the header of a null message at `at` and at most a
        byte of its data (covered_null: each value of that byte is checked)."""
        return at < g.start and g.start - at - 4 - owner.order <= 1

    def _alike(self, owner: Owner, room: int) -> dict[tuple[bytes, bytes], tuple[bytes, ...]]:
        """(head, its order field where pinned, else b"") -> the data of the owner's
        pieces of that header and field whose data fits in `room` bytes a later
        structure covers (alike there: only the checksum tells them apart), made once per
        owner and room (the search asks at every hidden place)."""
        key = (id(owner), sum(len(piece.body) <= room for piece in owner.pieces))  # the same pieces fit
        if key not in self.alike:
            alike: dict[tuple[bytes, bytes], list[bytes]] = {}
            for piece in owner.pieces:
                if len(piece.body) <= room and not piece.earlier:  # an earlier value is matched shown
                    self.spend(len(piece.body) * (piece.most + 1 if piece.wild >= 0 else 1))
                    field = piece.order.to_bytes(owner.order, "little") if piece.order >= 0 else b""
                    alike.setdefault((piece.head, field), []).extend(_bodies(piece))
            self.alike[key] = {kind: tuple(bodies) for kind, bodies in alike.items()}
        return self.alike[key]

    def nulls(self, g: Gap, owner: Owner, at: int, after: bool) -> Iterator[list[tuple[bytes, ...]]]:
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
            if self.zeroed:  # first the rest of one of the owner's messages' slots (the displaced
                self.narrowed = True  # one's: H5O__alloc_chunk), the other sizes later
                sizes = [n for n in sizes if n in self._tails(owner)]
        else:
            sizes = []
        for size in sizes:
            self.spend(NODE)  # a hidden null of each size up to the largest message: no bytes shown
            head = struct.pack("<BHB", 0, size, 0)
            bodies = {bytes(size)}
            if at >= g.start:
                yield from self._smeared(g, owner, at, head)
            if after:
                bodies |= self._tails(owner).get(size, set())
            shown = tuple(body for body in bodies if self.shows(g, at + width, body))
            if shown and self.shows(g, at, head):
                yield [(head,), self.field(g, at + 4, owner), shown]

    def _smeared(self, g: Gap, owner: Owner, at: int, head: bytes) -> Iterator[list[tuple[bytes, ...]]]:
        """The shown null message at `at` (its header `head`), if it holds what a live
        header's null may (moved.py): the block's last message (libhdf5 condensed it, its
        free space one null at its end), once per block."""
        width, size = 4 + owner.order, struct.unpack_from("<H", head, 1)[0]
        data = bytes(g.buf[at + width : at + width + size])
        if len(data) < size or not data.strip(b"\0") or not self.shows(g, at, head):
            return
        if self._leftover(owner, at, data):
            yield [(head,), self.field(g, at + 4, owner), (data,), SMEARED]

    def covered_null(self, g: Gap, owner: Owner, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """A null message whose header, and at most a byte of its data, a later structure
        covers, holding what a live header's null may (moved.py, as _smeared): the
        block's last message, so it ends where the block's gap and checksum start (a
        block end the gap shows); a covered byte each value moved.py admits with it."""
        width = 4 + owner.order
        covered = g.start - at - width  # data bytes covered
        if not self.covers(g, owner, at):
            return
        most = max(len(p.body) for p in owner.pieces)  # as a null right after a continuation
        low, high = max(g.start, at + width) + 4, min(g.end, at + 2 * width + most + 4)
        window = bytes(g.buf[g.start : min(g.end, high + 4)])  # read once (as _ends, not quadratic)
        self.spend(max(1, high - low))
        lead = len(window) - len(window.lstrip(b"\0"))  # the first shown non-zero byte
        starts = range(max(low, g.start + lead + 1), high + 1)
        parts = ((e, window[e - g.start - 4 : e - g.start], window[e - g.start : e - g.start + 4])
                 for e in starts)
        ends = [e for e, checksum, rest in parts  # a checksum of 4 zeros: 2^-32, never seen
                if checksum.strip(b"\0") and (not rest.strip(b"\0") or rest == SIGNATURE[: len(rest)])]
        sizes = sorted({e - 4 - gap - at - width for e in ends for gap in range(width)  # the gap's zeros
                        if not window[e - 4 - gap - g.start : e - 4 - g.start].strip(b"\0")})
        for size in (n for n in sizes if n > max(covered, 0)):
            head = struct.pack("<BHB", 0, size, 0)
            if not self.shows(g, at, head):
                continue
            key = (id(owner), at, size, g.start)
            if key not in self.covered:
                shown = bytes(g.buf[at + width + max(covered, 0) : at + width + size])
                data = [bytes([v]) + shown for v in range(256)] if covered == 1 else [shown]
                self.spend(COVERED_WORK * size * len(data))
                self.covered[key] = tuple(d for d in data if shown.strip(b"\0") and owner.leftover(d))
            order = self.field(g, at + 4, owner)
            if self.covered[key]:
                yield [(head,), order, self.covered[key], SMEARED]

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
            self.spend(LEFTOVER_WORK * len(data))
            self.leftovers[key] = owner.leftover(data)
        return self.leftovers[key]

    def _shown(self, g: Gap, owner: Owner, piece: Piece, at: int) -> Iterator[list[tuple[bytes, ...]]]:
        """The piece at `at`, as parts, if the gap shows its bytes (an order field and
        wild byte as shown; where hidden, any value)."""
        data = at + 4 + owner.order
        if data + len(piece.body) > g.end or not self.shows(g, at, piece.head):
            return
        order = self._field(g, at + 4, owner, piece)
        if not order:
            return
        if piece.earlier:
            yield from self._earlier(g, piece, data, order)
            return
        if piece.wild < 0:
            if self.shows(g, data, piece.body):
                yield [(piece.head,), order, (piece.body,)]
            return
        wild = self.values(g, data + piece.wild, 1, piece.most + 1)
        before, after = piece.body[: piece.wild], piece.body[piece.wild + 1 :]
        if wild and self.shows(g, data, before) and self.shows(g, data + piece.wild + 1, after):
            yield [(piece.head,), order, (before,), wild, (after,)]

    def _earlier(
        self, g: Gap, piece: Piece, data: int, order: tuple[bytes, ...]
    ) -> Iterator[list[tuple[bytes, ...]]]:
        """The attribute `piece` holding another value than today's, all of it shown (an
        in-place write, attrs.modify, dirtied the message in libhdf5's cache; the block
        was freed before the next flush, so its image keeps the value it last wrote)."""
        value = data + len(piece.body) - piece.earlier
        shown = bytes(g.buf[value : value + piece.earlier])
        before = piece.body[: -piece.earlier]
        if value >= g.start and shown != piece.body[-piece.earlier :] and self.shows(g, data, before):
            yield [(piece.head,), order, (before,), (shown,), EARLIER]

    def _field(self, g: Gap, at: int, owner: Owner, piece: Piece) -> tuple[bytes, ...]:
        """The piece's order field at `at`: its own where pinned, as far as shown."""
        if piece.order < 0 or not owner.order:
            return self.values(g, at, owner.order, owner.orders)
        field = piece.order.to_bytes(owner.order, "little")
        return (field,) if self.shows(g, at, field) else ()

    def field(self, g: Gap, at: int, owner: Owner) -> tuple[bytes, ...]:
        """The order field at `at` of a message whose order is not pinned: any value below
        the header's next attribute order; where a later structure covers it, while
        `zeroed`, 0 alone (libhdf5 gives a continuation or null message it makes in a
        fresh slot order 0, H5O__alloc_msgs zeroing the slots: attack j h5's freed blocks
        of continuation and null messages, 10 values each, were 1000 times the
        choices to checksum; the other values wait for the later rounds)."""
        if self.zeroed and owner.order and at + owner.order <= g.start:
            self.narrowed = True
            return (bytes(owner.order),)
        return self.values(g, at, owner.order, owner.orders)

    def values(self, g: Gap, at: int, width: int, below: int) -> tuple[bytes, ...]:
        """A little-endian field of `width` bytes at `at`: as shown if below `below`
        (none if not), any value below `below` where a later structure covers it (those
        whose shown bytes are the gap's where it covers a part)."""
        if not width:
            return (b"",)
        if at >= g.start:
            shown = bytes(g.buf[at : at + width])
            return (shown,) if len(shown) == width and int.from_bytes(shown, "little") < below else ()
        if (width, below) not in self.fields:  # made once: the search asks at every hidden place
            self.spend(NODE + below)  # each value made costs more than a byte compared
            self.fields[width, below] = tuple(value.to_bytes(width, "little") for value in range(below))
        if at + width > g.start:  # partly shown (session 38: its shown byte was not compared)
            return tuple(v for v in self.fields[width, below] if self.shows(g, at, v))
        return self.fields[width, below]

    def shows(self, g: Gap, at: int, raw: bytes) -> bool:
        """The bytes of raw placed at `at` that lie at or after the gap's start are the
        gap's (those before it are a later structure's)."""
        if at + len(raw) > g.end:
            return False
        skip = min(len(raw), max(0, g.start - at))  # all of raw may lie before the gap
        self.spend(max(1, len(raw) - skip))  # never less than nothing: the bound holds
        return raw[skip:] == bytes(g.buf[at + skip : at + len(raw)])


def earlier(piece: Piece) -> Piece | None:
    """The attribute message `piece` with its value free, if it is a scalar number of at
    most MAX_EARLIER bytes (h5py's attrs.modify of a float, an int: a value written in
    place, which a freed block may hold as it was before; session 39, attack nh5's
    ctl-nh5-min9-modify-dense)."""
    body = piece.body
    if piece.head[0] != 0x0C or len(body) < 8 or body[0] not in (1, 2, 3):
        return None
    name, dtype, space = struct.unpack_from("<HHH", body, 2)
    pad = (lambda n: -(-n // 8) * 8) if body[0] == 1 else (lambda n: n)
    at = (9 if body[0] == 3 else 8) + pad(name)
    space_at = at + pad(dtype)
    if dtype < 8 or space < 4 or space_at + pad(space) > len(body) or body[1]:
        return None
    size = struct.unpack_from("<I", body, at + 4)[0]
    scalar = body[space_at + 1] == 0 and (body[space_at] == 1 or body[space_at + 2] == 0)
    number = body[at] & 0x0F in (0, 1)  # a fixed-point or floating-point class
    if not (scalar and number and 0 < size <= MAX_EARLIER and space_at + pad(space) + size == len(body)):
        return None
    return Piece(head=piece.head, body=body, wild=-1, most=piece.most, order=piece.order, earlier=size)


def _zeros_to(g: Gap, pos: int) -> int:
    """Where the zeros the gap shows from pos end (its first non-zero byte, or its end)."""
    window = bytes(g.buf[pos : g.end])
    return pos + len(window) - len(window.lstrip(b"\0"))


def _bodies(piece: Piece) -> list[bytes]:
    """The piece's data, its wild byte (if any) each value."""
    if piece.wild < 0:
        return [piece.body]
    before, after = piece.body[: piece.wild], piece.body[piece.wild + 1 :]
    return [before + bytes([value]) + after for value in range(piece.most + 1)]
