"""A dimension scale's earlier REFERENCE_LIST in a freed version 1 continuation block,
recomputed (session 40, attack qh5's dims-two-sessions.h5, dims-groups-two-sessions.h5).

h5py under the default libver writes version 1 object headers (no creation orders, no
checksums). H5DSattach_scale deletes a scale's REFERENCE_LIST and creates it one entry
longer at each attach (scalelists.py). A scale whose header is full holds its list in a
continuation block of its own (H5O__alloc_chunk); the deletion empties that block, so
libhdf5 frees it (H5O__remove_empty_chunks) without clearing it, and the longer list goes
to a new block. The freed block keeps the list as the last flush wrote it: a version 1
message header (type 0x000C, the body's size, the live list's flags, 3 reserved zeros)
and the body the list had with its first k entries (scalelists.bodies: each attach
appends one), the never-written rest of the block zeros. So a gap is admitted exactly
when it starts with such a copy (k from 1 to n - 1, n the live list's entries), zeros
after it, each copy once; a byte of it changed, a copy shifted or an entry no attach
made is refused. Bounded: MAX_WORK bytes compared in all, then no more copies are
looked for (a crafted file of many scales and gaps costs no more)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import scalelists

if TYPE_CHECKING:
    from .ledger import File

_HEAD = struct.Struct("<HHB3x")  # a version 1 message header: type, size, flags, reserved
ATTRIBUTE = 0x0C
MAX_WORK = 4_000_000  # bytes of lists read and compared against gaps, in all


@dataclass(frozen=True, slots=True)
class _List:
    """A live REFERENCE_LIST of a version 1 header: where its body lies, its size and
    flags, and what holds it."""

    at: int
    size: int
    flags: int
    what: str


@dataclass(slots=True)
class OldLists:
    """The REFERENCE_LISTs of the file's version 1 headers and the earlier copies of them
    found so far (a list's copy of a given size is one: its k is fixed by the size)."""

    lists: list[_List] = field(default_factory=list)
    taken: set[tuple[int, int]] = field(default_factory=set)  # (list, copy size) found
    work: int = 0  # bytes compared

    def explains(self, f: File, gap: tuple[int, int]) -> bool:
        """Whether the gap is one earlier copy of a list, from its start, then zeros."""
        start, end = gap
        if not self.lists or end - start < _HEAD.size:
            return False
        kind, size, _ = _HEAD.unpack_from(f.buf, start)
        if kind != ATTRIBUTE or start + _HEAD.size + size > end:
            return False
        shown = bytes(f.buf[start : start + _HEAD.size + size])
        for held in self.lists:
            if (held.at, size) in self.taken:
                continue  # each copy once
            self.work += held.size + _HEAD.size
            if self.work > MAX_WORK:
                return False  # spent: the gap is left to the others (refused if none explains it)
            for body in scalelists.bodies(f, held.at, held.size, held.what, only=size):
                if _HEAD.pack(ATTRIBUTE, size, held.flags) + body == shown and not bytes(
                    f.buf[start + len(shown) : end]
                ).strip(b"\0"):
                    self.taken.add((held.at, size))
                    return True
        return False


def offer(lists: OldLists, f: File, messages: list, what: str) -> None:
    """The REFERENCE_LIST of a version 1 header just walked (its messages), if any."""
    for m in messages:
        v1 = m.kind == ATTRIBUTE and m.align == 8
        if v1 and scalelists.attribute_name(f, m.at, what) == scalelists.NAME:
            lists.lists.append(_List(at=m.at, size=m.size, flags=m.flags, what=what))
