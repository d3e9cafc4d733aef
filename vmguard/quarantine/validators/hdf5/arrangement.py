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
that may come later, and ends with at most one null message; in a header with them, the
order and the null messages are not pinned (a displaced message leaves a null beside the
continuation message that took its place; what exactness leaves). Readers parse messages
in any order and skip nulls of any size: the order and the cuts were free bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .objects import Message

_NULL = 0x00
_CONTINUATION = 16  # the data of a continuation message: what a message displaced for one holds at least


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


def check(messages: list[Message], first: dict[int, Message], continued: bool, what: str) -> None:
    """The messages of the header just walked (`first`: by type; `continued`: it has
    continuation blocks)."""
    _nulls(messages, continued, what)
    if continued:
        return
    if 0x03 in first:  # a dataset or a committed datatype (a group holds none: kinds.py)
        _creation(messages, _DATASET if 0x08 in first else _DATATYPE, what)
    elif 0x02 in first or 0x0A in first:
        _creation(messages, _GROUP, what)


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


def _creation(messages: list[Message], made: Creation, what: str) -> None:
    """The header starts with its kind's creation messages, in libhdf5's order."""
    rank, done = -1, 0
    for m in messages:
        if m.kind not in made.order or made.order.index(m.kind) <= rank:
            break
        rank, done = made.order.index(m.kind), done + 1
    rest = [m for m in messages[done:] if m.kind in made.order and m.kind not in made.later]
    if len(rest) == 1 and rest[0].size >= _CONTINUATION:
        return  # displaced to make room for a continuation message, moved back when its block emptied
    if rest:
        raise Invalid(
            f"hdf5: the {_NAMES[rest[0].kind]} message of {what} is not where libhdf5 writes it (a "
            f"{made.kind}'s header starts with its {', '.join(_NAMES[k] for k in made.order)} messages, "
            "in that order, as its create call appends them, but for one of at least 16 bytes that a "
            "continuation message displaced; readers take them in any order: a payload's bits)"
        )
