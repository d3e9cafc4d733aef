"""The stale bytes at the start of a null message that libhdf5 grew backwards over a
gap (H5Oalloc.c: H5O__add_gap, H5O__eliminate_gap), bounded.

When a message takes a null message's slot leaving fewer bytes than a message header
(a continuation message of 16 bytes in an 18-byte link or attribute info message's
slot: H5O__alloc_chunk, H5O__alloc_null), the rest is a gap; H5O__add_gap merges it
into another null message of the chunk. A null after the gap (H5O__eliminate_gap,
"null after gap"): the messages between slide forward by the gap's size (memmove), the
null's start moves back by as much, and the last bytes of its old extent are zeroed.
The null's header is encoded in the chunk's image only when the header is flushed
(H5O__msg_flush), so its body now starts with what the image held there: the last bytes
of the null's header as last flushed (type 0, an older size, its flags and order) and,
where more bytes merged than a header holds, the last bytes the memmove left of the
message before it. The rest of the body is the older body (zeros), its end zeroed.

So, from the null's start, a run of pieces, one for each flush between merges (the
latest first), then zeros. The piece of G bytes at body offset o is the last G bytes
of (the message before the null, as it lies) + (the null's header with size
size - o - G, the size it had then); where that older size is below G, a byte of it
from that size on may be zero instead (the merge zeroed its old extent's end). All
pieces together at most (header size - 1) x (the block's other messages) bytes: each
message took its slot once, leaving at most one gap; at most one piece holds a
non-zero byte (two would need a flush between two rounds of 3 or more bytes merged
into one null: none in 1,360 sweep workflows, 76 grown nulls; refused). What is free:
the merged length and where the piece with data lies (about 2 log2(bound) bits a null,
5 to 7 in the sweeps' blocks). Session 38 (attack nh5's sweep,
h5vlen's issue #13 follow-up): a group or root given a message in a new continuation
block twice in one session (two 18-byte messages displaced by 16-byte continuation
messages, 2 + 2 bytes merged) keeps `00 09 00 00`, the null's header of 4 bytes less;
a tracked root (6-byte headers) displacing two 21-byte links keeps 4 bytes of the
continuation message before it and its 6-byte header."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .moved import Stale
    from .objects import Walker


def grown(w: Walker, stale: Stale) -> bool:
    """Whether the non-zero null `stale` is what merging gaps into it leaves (module doc)."""
    placed, f = w.layout, w.file
    if placed is None:
        return False
    head = placed.head
    block = next((seq for seq in placed.messages if any(m.at == stale.at for m in seq)), ())
    index = next((i for i, m in enumerate(block) if m.at == stale.at), 0)
    if index == 0:  # no message before it slid forward over a gap
        return False
    before = block[index - 1]
    if before.at + before.size != stale.at - head:  # not right before the null's header
        return False
    previous = f.bytes(before.at - head, before.size + head, "a message")
    own = f.bytes(stale.at - head, head, "a null message")
    data = f.bytes(stale.at, stale.size, "a null message")
    bound = (head - 1) * (len(block) - 1)
    return _pieces(data, previous, own, bound)


def _pieces(data: bytes, previous: bytes, own: bytes, bound: int) -> bool:
    """Whether `data` is pieces (module doc) of at most `bound` bytes in all, at most one
    of them holding a non-zero byte (the sweeps: never two), then zeros."""
    size, most = len(data), min(bound, len(data))
    shown = len(data.rstrip(b"\0"))
    if not shown:
        return True
    zeros = {0}  # offsets a run of pieces of zeros reaches
    for at in range(most):
        if at not in zeros:
            continue
        for length in range(1, most - at + 1):
            if _piece(data[at:at + length], previous, own, size - at - length):
                if at + length >= shown:  # the piece with data, zeros after it
                    return True
                if not data[at:at + length].strip(b"\0"):
                    zeros.add(at + length)
    return False


def _piece(got: bytes, previous: bytes, own: bytes, older: int) -> bool:
    """One flush's merges: the last len(got) bytes of the message before the null and
    the null's header when its size was `older` (a byte from `older` on may be zeroed)."""
    source = previous + own[:1] + older.to_bytes(2, "little") + own[3:]
    if len(got) > len(source):
        return False
    source = source[-len(got):]
    return all(g == s or (i >= older and g == 0) for i, (g, s) in enumerate(zip(got, source, strict=True)))
