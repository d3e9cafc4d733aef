"""The bytes libhdf5 leaves in a null message of a version 2 object header whose links
or attributes moved to dense storage, bounded.

libhdf5 edits an object header in memory, in its chunk images, and writes an image when
it flushes. Moving compact links or attributes to dense storage removes their messages
(H5O__release_mesg zeroes a message's data, not its 4-byte header), then condenses the
header: adjacent null messages merge (the absorbed one's header stays in the image),
messages slide forward over nulls (H5O__move_msgs_forward: memmove, the tail left
behind), continuation blocks are emptied into their continuation message
(H5O__move_cont). The null message that results holds what the image last held at each
of its bytes: stale message headers and stale pieces of messages, placed by the
header's whole history (what was flushed when, the order of the writes), which the
file does not record: vmguard cannot recompute it. A file written in one go has
never-written nulls (zeros); only files flushed or reopened before the move keep bytes.

So the content is bounded by what it can be made of, each piece taken from this object
(the sweeps of tests/quarantine/test_hdf5_moved.py found no other):
- a stale message header (type, size, flags; and the order field, below the next
  attribute order, in a header tracking attribute order): a link's or an attribute's of
  the size of one of the object's dense links or attributes, a continuation message's,
  a null message's no larger than the block it lies in, or one of the message types the
  header holds, of that message's size and flags (or 0);
- a stale continuation message's data, its header kept or zeroed: the address and
  length of a block since freed that the file shows (a continuation block, live or
  freed and found in the unclaimed bytes: oldblocks.py, heldblocks.py; an OCHK block
  with its checksum; in a freed block's null also one whose start a later structure
  took: oldblocks.Blocks.names), checked once the walk has found every freed block
  (_strict);
  at the null's start, its length field alone (the null's own header took the place of
  the address's first bytes, the rest of which are zeros);
- a slice of at least nullpieces.MIN_SLICE bytes holding MIN_DATA non-zero ones (shorter only where
  the null message ends) of one of the header's messages, of one of its dense links or
  attributes (the messages libhdf5 moved), or of its link or attribute info message as
  it was before dense storage (no heap, no index; its next creation order then, below
  256, in its low byte); or the last 1 to MIN_SLICE - 1 bytes of one of those, and at
  a null's start its last non-zero ones with the zeros it ends with (a message slid
  forward in steps leaves strips of its end behind it: a link's address of one non-zero
  byte, then zeros);
- in a header with dense storage, one stale checksum (4 bytes, any value): where a
  block of the header ended before libhdf5 grew it in place;
and zeros between them, in at most 2 x (the header's messages) + (the dense links and
attributes it held at once: _held) + nullpieces.SLACK pieces in all its null messages (those of a
freed block of it: the same, in each; oldblocks.py). A header with data in a null
message must have moved messages: it has continuation blocks or dense storage. Any
other byte (a payload, a name no link has, a link pointing elsewhere) is refused.
What the bound leaves free is listed in docs/quarantine.md (what exactness leaves)"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import choices, dense, dimids, earlier, nullpieces, oldmessages, scalelists, slid
from .nullpieces import before_dense
from .oldmessages import Piece

if TYPE_CHECKING:
    from collections.abc import Callable

    from .arrangement import Placement
    from .ledger import File
    from .objects import Message, Walker


@dataclass(frozen=True, slots=True, kw_only=True)
class Stale:
    """A null message of the header being walked whose data is not zeros."""

    at: int
    size: int
    block: int  # the size of the header block it lies in
    end: int  # where that block's messages may end (before an OCHK block's checksum)



def check(w: Walker, messages: list[Message], first: dict[int, Message], what: str) -> None:
    """The non-zero null messages of the header just walked (w.stale) are made of pieces
    of its own messages, its dense links and attributes (w.dense; module doc)."""
    stale, moved, f = w.stale, w.dense.get(w.at, []), w.file
    if not stale:
        return
    if not moved:  # nothing went to dense storage: only a cut tail (_cut_tail) is no zeros
        cut = {m.at + m.size for m in w.continuations}
        if all(_cut_tail(f, messages, s, cut) or _gap_merged(w, s) or slid.grown(w, s) for s in stale):
            return
        raise Invalid(
            f"hdf5: a null message in the object header of {what} at {stale[0].at} holds data, and "
            "no message of it moved (none of its links or attributes are in dense storage, and it "
            "is not the tail of a message a continuation message displaced, nor the null's old header "
            "where libhdf5 grew it over gaps: a payload, or the "
            "remains of an earlier state of the file that vmguard cannot check: h5repack the file)"
        )
    following = dense.info(f, first[0x15], what)[0] if 0x15 in first else None
    orders = (2 if any(m.order is not None for m in messages) else 0), following or 0
    block, held = max(s.block for s in stale), _held(w, first, moved, what)
    scalars = _scalars(f, messages, moved)
    named: set[tuple[int, int]] = set()  # the blocks stale continuation messages may name here

    def matched(where: Callable[[int, int], bool]) -> None:
        w.budget.grant(sum(s.size for s in stale))  # each match of the nulls earns its work
        sources = nullpieces.sources(f, messages, moved, orders, block, w.budget, held, where)
        counts = [_fewest(f.bytes(s.at, s.size, what), sources, w.budget, scalars) for s in stale]
        plain = sum(without for without, _ in counts)  # the one stale checksum in the null that gains most
        if min(plain, *(plain - without + with_one for without, with_one in counts)) > sources.pieces:
            raise Invalid(
                f"hdf5: a null message in the object header of {what} at {stale[0].at} holds bytes that "
                "are not what libhdf5 leaves when it moves messages (stale message headers and pieces of "
                f"this header's messages, at most {sources.pieces}; a stale continuation message names a "
                "block the file shows freed: a payload, or an earlier state of the file that vmguard "
                "cannot check: h5repack the file)"
            )

    def noted(address: int, length: int) -> bool:  # any block, for now: noted
        named.add((address, length))
        return True

    matched(noted)
    if named:  # again once every freed block is found (_strict)
        strict = _strict(w, reused=False)
        w.ledger.deferred.append(lambda: matched(strict))


def _fewest(
    data: bytes, sources: nullpieces.Sources, budget: nullpieces.Budget, scalars: list
) -> tuple[int, int]:
    """nullpieces.fewest of the null's data, or of it with one scalar attribute's earlier
    values put back (earlier.py), whichever needs fewer pieces."""
    counts = [nullpieces.fewest(d, sources, budget, True) for d in [data, *earlier.restored(data, scalars)]]
    return min(c[0] for c in counts), min(c[1] for c in counts)


def _scalars(f: File, messages: list[Message], moved: list[tuple[int, int, int]]) -> list[tuple[bytes, int]]:
    """(body, value size) of the header's scalar number attributes (oldmessages.earlier),
    in its messages or its dense storage."""
    bodies = [f.bytes(m.at, m.size, "a message") for m in messages if m.kind == 0x0C]
    bodies += [f.bytes(at, n, "a dense object") for k, at, n in moved if k == 0x0C]
    found = (oldmessages.earlier(_piece(0x0C, 0, body)) for body in bodies)
    return [(p.body, p.earlier) for p in found if p is not None]


def _strict(w: Walker, reused: bool) -> Callable[[int, int], bool]:
    """Which blocks a stale continuation message of the header just walked may name
    (oldblocks.Blocks.names), asked once the ledger has found every freed block (the walk
    reaches a header before it knows them: check's first match takes any block in the
    file and notes whether it tried one; the second, deferred, only those that are). A
    live header's null: a block the file shows, not one whose start a later structure
    took (`reused`: the sweeps' 300 pairs named 299 blocks found and an OCHK block); a
    freed block's null: as that block's own continuation messages (oldblocks.py)."""
    buf, at, blocks = w.file.buf, w.at, w.ledger.blocks
    return lambda address, length: blocks.names(buf, address, length, at, reused)


def _held(w: Walker, first: dict[int, Message], moved: list[tuple[int, int, int]], what: str) -> int:
    """How many of the header's dense links and attributes it held as messages at once
    (libhdf5 moves them to dense storage when one more than its max compact comes): each
    moved at least once, leaving a piece (its stale header, a slice of it) in the header."""
    links = choices.link_phase_change(w, first[0x0A], what) if 0x0A in first else 0
    counts = {kind: sum(k == kind for k, _, _ in moved) for kind in (0x06, 0x0C)}
    return min(counts[0x06], links) + min(counts[0x0C], w.compact or 0)

def owner(w: Walker, messages: list[Message], first: dict[int, Message]) -> None:
    """The header just walked, as an owner of freed blocks, if it has dense storage (its
    messages moved: moved.py) or continuation blocks (libhdf5 frees a block it emptied,
    as when an attribute is rewritten under 'latest': H5O__remove_empty_chunks)."""
    objects = w.dense.get(w.at, [])
    if not objects and not w.continued:
        return
    f = w.file
    following = dense.info(f, first[0x15], "a message")[0] if 0x15 in first else None
    real = [m for m in messages if m.kind != 0]
    order = 2 if any(m.order is not None for m in messages) else 0
    below = max(1, following or 0)
    pinned = _orders(w, real, objects, below) if order else {}
    pieces = [_piece(m.kind, m.flags, f.bytes(m.at, m.size, "a message"), pinned.get(m.at, -1)) for m in real]
    for m in real:
        if m.kind in (0x02, 0x15):
            body, wild = before_dense(f, m)
            most = min(255, dense.info(f, m, "a message")[0] or 0)  # orders only grow
            pieces.append(_piece(m.kind, m.flags, body, wild=wild, most=most))
    pieces += [_piece(k, 0, f.bytes(at, n, "a dense object"), pinned.get(at, -1)) for k, at, n in objects]
    pieces += [p for p in map(oldmessages.earlier, pieces) if p is not None]
    pieces += _rewritten(w, real, objects, following)
    pieces = tuple(dict.fromkeys(pieces))
    owner = oldmessages.Owner(
        pieces=pieces, order=order, orders=below, leftover=_leftover(w, messages, first), at=w.at
    )
    w.ledger.blocks.add(owner)


def _rewritten(w: Walker, real: list[Message], objects: list[tuple[int, int, int]],
               following: int | None) -> list:
    """The copies of a dimension scale's REFERENCE_LIST that H5DSattach_scale deleted,
    each with the order it left missing (scalelists.earlier): a freed continuation block
    of the header may hold one (netCDF-C rewrites the list at each attach; session 39,
    attack oh5's ctl-oh5-nc-two-vars); an order h5netcdf's overwrite left missing is no
    copy's (dimids.py)."""
    if following is None or following > len(real) + len(objects) + scalelists.MAX_COPIES:
        return []
    f, what = w.file, "a message"
    held = [(m.at, m.size, m.order, m.flags) for m in real if m.kind == 0x0C]
    held += [(at, n, w.orders.get(at), 0) for k, at, n in objects if k == 0x0C]
    other = dimids.overwritten(f, [(at, size, order) for at, size, order, _ in held], what)
    missing = sorted(set(range(following)) - {order for _, _, order, _ in held} - other)
    for at, size, order, flags in held if missing else ():
        if order is not None and scalelists.attribute_name(f, at, what) == scalelists.NAME:
            copies = scalelists.earlier(f, at, size, missing, what)
            return [_piece(0x0C, flags, body, known) for bodies, known in copies for body in bodies]
    return []


def _leftover(w: Walker, messages: list[Message], first: dict[int, Message]) -> Callable[[bytes], bool]:
    """Whether a null message of a freed block of the header just walked holds what
    libhdf5 leaves in a null message of the header (check: the same pieces, the same
    bound, in each null); the sources are made when a block shows such a null, those of
one header kept at a time (nullpieces.Budget.kept: a header's automaton may take 100 MB)."""
    f, moved, at = w.file, w.dense.get(w.at, []), w.at
    following = dense.info(f, first[0x15], "a message")[0] if 0x15 in first else None
    orders = (2 if any(m.order is not None for m in messages) else 0), following or 0
    held = _held(w, first, moved, f"the object header at {at}")
    budget, named = w.budget, _strict(w, reused=True)  # matched as the ledger finds freed blocks

    def leftover(data: bytes) -> bool:
        budget.grant(len(data))
        if budget.kept is None or budget.kept[0] != at:  # one header's automaton kept at a time
            budget.kept = (at, nullpieces.sources(f, messages, moved, orders, 1 << 16, budget, held, named))
        sources = budget.kept[1]
        return min(nullpieces.fewest(data, sources, budget, True)) <= sources.pieces

    return leftover


def _orders(w: Walker, real: list[Message], objects: list[tuple[int, int, int]], below: int) -> dict:
    """Where an attribute (of the header, or dense) lies -> its creation order, which
    libhdf5 writes in its message's order field in a header tracking it (session 38:
    a freed block's hidden attributes are no longer any order below the next)."""
    pinned = {m.at: m.order for m in real if m.kind == 0x0C and m.order is not None}
    pinned |= {at: w.orders[at] for _, at, _ in objects if at in w.orders}
    return {at: n for at, n in pinned.items() if n < below}


def _piece(kind: int, flags: int, body: bytes, known: int = -1, wild: int = -1, most: int = 255) -> Piece:
    head = struct.pack("<BHB", kind, len(body), flags)
    return Piece(head=head, body=body, wild=wild, most=most, order=known)


def _cut_tail(f: File, messages: list[Message], stale: Stale, cut: set[int]) -> bool:
    """A null right after a continuation message holding the rest of a live message's body:
    libhdf5 (H5O__alloc_chunk) moves a message out of a header written before to make room
    for the continuation message, which takes the moved message's head, the null its tail
    (body[16 + head:], head its message header's size). Without dense storage, the only
    non-zero null libhdf5 leaves (session 36: one session, a flush, a small metadata cache
    or a reopen alike; nothing else moved stays zeros), but for a gap merged into it
    (_gap_merged) and a null grown backwards over gaps (slid.grown, session 38)."""
    head = 4 + (2 if any(m.order is not None for m in messages) else 0)
    if stale.at - head not in cut:  # not right after a continuation message
        return False
    data = f.bytes(stale.at, stale.size, "a null message")
    return any(
        m.kind != 0 and m.size - 16 - head == stale.size
        and f.bytes(m.at + 16 + head, stale.size, "a message") == data
        for m in messages
    )


def _gap_merged(w: Walker, stale: Stale) -> bool:
    """A cut tail (_cut_tail) with the block's gap merged into it: when the block already
    ended with a gap (fewer bytes than a message header, left when a message took a null's
    space), H5O__alloc_null finds it as it splits the displaced message's slot and calls
    H5O__eliminate_gap, which slides the messages between the new null and the gap
    forward, zeroes the gap's bytes at the null's end and grows the null by them; the
    block keeps no gap. So: the tail of the message displaced to the block the
    continuation message names (_displaced: body[16 + head:]), then 1 to head - 1
    zeros, in a block its messages fill (session 38: a tracked group or root given a
    variable-length string attribute a session, the attribute info message displaced
    from chunk 0, and again from its block a session later; the first attribute sits
    the gap's bytes later than before)."""
    placed, f = w.layout, w.file
    if placed is None:
        return False
    head = placed.head
    cont = next((m for m in w.continuations if m.at + m.size + head == stale.at), None)
    displaced = _displaced(placed, cont) if cont is not None else None
    if displaced is None:
        return False
    tail = displaced.size - 16 - head
    if tail <= 0 or not 0 < stale.size - tail < head:
        return False
    data = f.bytes(stale.at, stale.size, "a null message")
    block = next((seq for seq in placed.messages if any(m.at == stale.at for m in seq)), ())
    return (
        bool(block)
        and data[:tail] == f.bytes(displaced.at + 16 + head, tail, "a message")
        and not data[tail:].strip(b"\0")
        and block[-1].at + block[-1].size == stale.end  # no gap left: H5O__eliminate_gap
    )


def _displaced(placed: Placement, cont: Message) -> Message | None:
    """The message libhdf5 displaced to the block `cont` names: that block's first
    message, or, where a later continuation message displaced it in turn (taking its
    slot's head, a null the rest), the one displaced to the block that one names."""
    for _ in placed.messages:  # each block once: a chain longer than the blocks loops
        seq = placed.messages[placed.named[cont.at]]
        if not seq or seq[0].kind == 0x00:
            return None
        if seq[0].kind != 0x10:
            return seq[0]
        cont = seq[0]
    return None
