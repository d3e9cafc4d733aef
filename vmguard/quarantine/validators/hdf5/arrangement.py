"""The order of an object header's messages and how its free space is cut: what libhdf5
writes, where the header's history cannot have changed it.

libhdf5 creates an object header as one block of one null message and appends the
object's messages at its start, in the order its create call writes them: a dataset's
dataspace, datatype, fill value (and the old one), attribute info (when it tracks
attribute order), filter pipeline, layout, modification time (H5D__update_oh_info); a
committed datatype's datatype; a group's link info and group info (H5G__obj_create_real;
its link info moves when dense storage rewrites it larger: one message displaced,
below). Messages added later (attributes, attribute info, a reference count) take the
null's start, and what stays free is one null message at the block's end; a message
removed becomes null and libhdf5 condenses the header (slides messages forward over
nulls and merges them: H5O__condense_header), so nulls sink to the end and merge. Only
continuation blocks change that: a message moved out of the first block to make room for
a continuation message (H5O__alloc_chunk: one at least as large as it), or into an
earlier block's null (H5O__move_msgs_forward), so a message displaced comes back after
the others when its block empties and is freed. So a header without continuation blocks
starts with its kind's creation messages in that order, but for one of at least 16 bytes
that may come later, and ends with at most one null message. In a header with them (the
sweep of tests/quarantine/test_hdf5_nullplaces.py: no real file does otherwise), a null
message ends its block or follows a continuation message, and no two are adjacent
(H5O__merge_null); one that follows a continuation message and is not last in its block
is the rest of the slot of the message H5O__alloc_chunk displaced to the block that
continuation names, not yet condensed (H5O__move_msgs_forward slides every null to its
block's end): that block starts with the displaced message, so the slot is its size and
header, plus the gaps libhdf5 merged into the null (H5O__add_gap: each fewer bytes than a
message header, left when a later message of its block took a null's space); and, nothing
condensed since the block was made to its exact size (H5O__alloc_chunk), that block holds
no null but after a continuation message. The order of the
other messages and the sizes of the nulls that end blocks are not pinned (what exactness
leaves). Readers parse messages in any order and skip nulls of any size: the order and
the cuts were free bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import kinds

if TYPE_CHECKING:
    from .objects import Message

_NULL = 0x00
_CONTINUATION = 16  # the data of a continuation message: what a message displaced for one holds at least


@dataclass(frozen=True, slots=True)
class Placement:
    """An object header's blocks, each its messages as they lie (continuation messages
    too), and the block each continuation message names (by the address of its data)."""

    messages: tuple[tuple[Message, ...], ...]
    named: dict[int, int]
    head: int  # the size of a message header (and its order field)


@dataclass(frozen=True, slots=True)
class Creation:
    """The messages an object kind's create call writes, in its order."""

    kind: str
    order: tuple[int, ...]
    later: frozenset[int]  # those that libhdf5 may also add later (after the others)


_DATASET = Creation("dataset", (0x01, 0x03, 0x05, 0x04, 0x15, 0x0B, 0x08, 0x12), frozenset({0x15, 0x12}))
_DATATYPE = Creation("committed datatype", (0x03,), frozenset())
_GROUP = Creation("group", (0x02, 0x0A), frozenset())  # H5G__obj_create_real (a symbol table: one message)
_NAMES = {0x01: "dataspace", 0x03: "datatype", 0x05: "fill value", 0x04: "old fill value",
          0x15: "attribute info", 0x0B: "filter pipeline", 0x08: "layout", 0x12: "modification time",
          0x02: "link info", 0x0A: "group info"}


def check(messages: list[Message], first: dict[int, Message], blocks: Placement | None, what: str) -> None:
    """The messages of the header just walked (`first`: by type; `blocks`: as they lie)."""
    continued = blocks is not None and len(blocks.messages) > 1
    _nulls(messages, continued, what)
    if continued:
        _placed(blocks, what)
        return
    head = blocks.head if blocks is not None else 4
    if 0x03 in first:  # a dataset or a committed datatype (a group holds none: kinds.py)
        _creation(messages, _DATASET if 0x08 in first else _DATATYPE, head, what)
    elif kinds.group(first) is kinds.Group.LINKS:  # a symbol table group: one message
        _creation(messages, _GROUP, head, what)


def _nulls(messages: list[Message], continued: bool, what: str) -> None:
    """A header without continuation blocks ends with its one null message, if any."""
    nulls = sum(m.kind == _NULL for m in messages)
    if continued or not nulls:
        return
    if nulls > 1:
        raise Invalid(
            f"hdf5: the object header of {what} holds {nulls} null messages and no continuation block "
            "(libhdf5 merges its free space into one null message: the sizes of more are free bits)"
        )
    if messages[-1].kind != _NULL:
        raise Invalid(
            f"hdf5: the null message of the object header of {what} is not its last message (libhdf5 "
            "appends messages at the start of the free space, and slides them forward over a null "
            "message it makes: a header without continuation blocks ends with its free space)"
        )


def _creation(messages: list[Message], made: Creation, head: int, what: str) -> None:
    """The header starts with its kind's creation messages, in libhdf5's order, but for
    one of at least 16 bytes a continuation message displaced (H5O__alloc_chunk), moved
    back after the others when its block emptied; the slot it left may hold later
    messages of no more bytes than it (the continuation message that took it was removed
    when its block emptied, and a later message took the null: H5O__alloc_null, the gap
    left eliminated by sliding the next creation message forward, H5O__eliminate_gap;
    session 39, attack nh5's sweep: a link in a group's link info slot)."""
    if _ordered(messages, made):
        return
    made_here = [m for m in messages if m.kind in made.order and m.kind not in made.later]
    if made_here and made_here[-1].size >= _CONTINUATION:  # the displaced one: back after the others
        displaced = made_here[-1]
        rest = [m for m in messages if m is not displaced]
        if _ordered(rest, made) or _slot_taken(messages, made, displaced, displaced.size + head, head):
            return
    kind = _misplaced(messages, made)
    raise Invalid(
        f"hdf5: the {_NAMES[kind]} message of {what} is not where libhdf5 writes it (a "
        f"{made.kind}'s header starts with its {', '.join(_NAMES[k] for k in made.order)} messages, "
        "in that order, as its create call appends them, but for one of at least 16 bytes that a "
        "continuation message displaced, whose slot later messages of no more bytes may take; "
        "readers take them in any order: a payload's bits)"
    )


def _ordered(seq: list[Message], made: Creation) -> bool:
    """seq starts with creation messages in libhdf5's order and holds no other after them
    (but those libhdf5 may also add later)."""
    return _misplaced(seq, made) is None


def _misplaced(seq: list[Message], made: Creation) -> int | None:
    """The kind of the first creation message after those seq starts with in libhdf5's
    order (but those libhdf5 may also add later), if any."""
    rank, done = -1, 0
    for m in seq:
        if m.kind not in made.order or made.order.index(m.kind) <= rank:
            break
        rank, done = made.order.index(m.kind), done + 1
    return next((m.kind for m in seq[done:] if m.kind in made.order and m.kind not in made.later), None)


def _slot_taken(messages: list[Message], made: Creation, displaced: Message, room: int, head: int) -> bool:
    """Without `displaced`, the header is in order once a run of messages of at most `room`
    bytes (headers included) is left out, the run lying where `displaced` was made (after
    creation messages of lower rank, before one of higher rank)."""
    target = made.order.index(displaced.kind)
    rest = [m for m in messages if m is not displaced]
    for start in range(len(rest)):
        before = rest[:start]
        if any(m.kind not in made.order or made.order.index(m.kind) >= target for m in before):
            break  # the run lies among the first creation messages, before the displaced one's rank
        total = 0
        for end in range(start, len(rest) - 1):
            total += rest[end].size + head
            nxt = rest[end + 1]
            if total > room or rest[end].kind in (*made.order, _NULL):
                break
            if (nxt.kind in made.order and made.order.index(nxt.kind) > target
                    and _ordered(before + rest[end + 1 :], made)):
                return True
    return False


def _placed(blocks: Placement, what: str) -> None:
    """The null messages of a header with continuation blocks: where libhdf5 leaves them."""
    fresh = set()  # blocks made by a displacement nothing condensed since
    for seq in blocks.messages:
        for i, m in enumerate(seq):
            if m.kind != _NULL or i + 1 == len(seq):
                continue
            if seq[i + 1].kind == _NULL:
                raise Invalid(
                    f"hdf5: two null messages of the object header of {what} are adjacent (libhdf5 "
                    "merges them: H5O__merge_null; the sizes of more are free bits)"
                )
            fresh.add(_slot_rest(blocks, seq[i - 1] if i else None, m, len(seq) - i - 1, what))
    for b in fresh:
        seq = blocks.messages[b]
        if any(m.kind == _NULL and (not i or seq[i - 1].kind != 0x10) for i, m in enumerate(seq)):
            raise Invalid(
                f"hdf5: a continuation block of the object header of {what} holds a null message, yet "
                "the slot of the message displaced to it is not condensed (libhdf5 makes the block "
                "exactly its messages' size, and a null appears there only when a message is removed, "
                "which slides the slot's null to its block's end: H5O__move_msgs_forward)"
            )


def _slot_rest(blocks: Placement, before: Message | None, null: Message, later: int, what: str) -> int:
    """The block named by the continuation message `before` when `null`, followed by
    `later` messages in its block, is the rest of the slot of the message displaced there
    (H5O__alloc_chunk)."""
    if before is not None and before.kind == 0x10:
        b = blocks.named[before.at]
        extra = null.at + null.size - before.at - _first(blocks, b)
        if 0 <= extra <= (blocks.head - 1) * later:  # gaps merged into it (H5O__add_gap)
            return b
    raise Invalid(
        f"hdf5: a null message of the object header of {what} at {null.at} is neither its block's "
        "last message nor the rest of the slot of the message a continuation message displaced "
        "(libhdf5 slides nulls to their block's end: H5O__move_msgs_forward; readers skip nulls "
        "anywhere: where one lies would be free bits)"
    )


def _first(blocks: Placement, b: int) -> int:
    """The size of the message libhdf5 put first in block b: its first message's, or, where
    that was displaced in turn, the slot its continuation message and null share."""
    seq = blocks.messages[b]
    if not seq:
        return -1 << 20
    if seq[0].kind == 0x10 and len(seq) > 1 and seq[1].kind == _NULL:
        return seq[1].at + seq[1].size - seq[0].at
    return seq[0].size
