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
made is refused. Bounded: MAX_WORK bytes compared in all (a crafted file of many scales
and gaps costs no more)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import scalelists

if TYPE_CHECKING:
    from .ledger import File

_HEAD = struct.Struct("<HHB3x")  # a version 1 message header: type, size, flags, reserved
ATTRIBUTE = 0x0C
MAX_WORK = 4_000_000  # bytes of copies made and compared against gaps, in all


@dataclass(slots=True)
class OldLists:
    """The earlier copies of the REFERENCE_LISTs of the file's version 1 headers, by
    message size (one copy of a list per size: its entries fix it), each taken once."""

    copies: dict[int, list[bytes]] = field(default_factory=dict)  # message size -> copies not taken
    work: int = 0  # bytes compared, and bytes of copies kept

    def add(self, f: File, at: int, size: int, flags: int, what: str) -> None:
        """The list whose body is at `at` (`size` bytes) in a version 1 header."""
        for body in scalelists.bodies(f, at, size, what):
            self._spend(len(body))
            image = _HEAD.pack(ATTRIBUTE, len(body), flags) + body
            self.copies.setdefault(len(body), []).append(image)

    def explains(self, buf: bytes | memoryview, gap: tuple[int, int]) -> bool:
        """Whether the gap is one earlier copy of a list, from its start, then zeros."""
        start, end = gap
        if end - start < _HEAD.size:
            return False
        kind, size, _ = _HEAD.unpack_from(buf, start)
        candidates = self.copies.get(size, []) if kind == ATTRIBUTE else []
        shown = bytes(buf[start : min(end, start + _HEAD.size + size)])
        for i, image in enumerate(candidates):
            self._spend(len(image))
            if image == shown and not bytes(buf[start + len(image) : end]).strip(b"\0"):
                del candidates[i]  # each copy once
                return True
        return False

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > MAX_WORK:
            raise Invalid(
                f"hdf5: more than {MAX_WORK} bytes kept and compared to match the earlier dimension "
                "scale lists freed continuation blocks hold (h5repack the file)"
            )


def offer(lists: OldLists, f: File, messages: list, what: str) -> None:
    """The REFERENCE_LIST of a version 1 header just walked (its messages), if any."""
    for m in messages:
        v1 = m.kind == ATTRIBUTE and m.align == 8
        if v1 and scalelists.attribute_name(f, m.at, what) == scalelists.NAME:
            lists.add(f, m.at, m.size, m.flags, what)
