"""What earlier states of a fractal heap left, recomputed whole, one byte string each.

A fractal heap of links or attributes whose creation order is tracked (`track_order`)
says in which order its objects were added: without deletions, the heap after its
first n objects is those objects where they lie now (libhdf5 places an object in free
space and never moves it), so its free space then is, in each direct block holding one
of them, the tail after the last. Its section list (libhdf5's serialization, as
oldsections.py reads it: by size, then heap offset, "single" sections, its checksum)
is one byte string per n (states). An untracked heap's states are read from its
blocks' fill (fills: the first MAX_STATES, then, for a hidden list, as many more whose
blocks end where the sections it shows start: pins). A heap's root indirect block, rewritten larger
when the root gains rows, leaves its earlier copies: one per rows, of the shapes libhdf5
passes through (roots, shapes).

At each close libhdf5 frees every free-space manager's old list and allocates its new
one, often where another heap's freed list or root was: a shorter structure over a
longer one, of which 2 or 3 bytes of the checksum may show. An old structure whose
start a later one took is matched against these (candidates) before the search over
tails, whatever it shows: it is recomputed whole, its checksum included, so no shown
byte is free. What is free: which state (log2 of the heap's objects when tracked, at
most 14 bits untracked (fills, skips, pins), log2 of a root's children at its rows) and where it starts
(8 bits). Where: only below the file's last live structure (ledger.Ledger._live_end)."""

from __future__ import annotations

from bisect import bisect_right
from itertools import product

from . import skipped
from .checksum import sealed

Block = tuple[int, int, tuple[int, ...]]  # a direct block: end, its first object's size, its objects' ends
MAX_STATES = 4_096  # an untracked heap's states recomputed (fills): 12 bits
MAX_BLOCKS = 64  # blocks of such a state (a hidden list shows past at most 256 bytes)

_SINGLE = 0  # H5HF_FSPACE_SECT_SINGLE
_TAIL = bytes([_SINGLE])  # a single section's type, no data


def states(
    prefix: bytes, widths: tuple[int, int], blocks: list[tuple[int, int]], objects: list[tuple[int, int]],
    rows: skipped.Rows | None = None,
) -> tuple[bytes, ...]:
    """The whole lists (prefix: signature, version, manager address; checksum last) of
    the heap after each of its first 1..n-1 objects (heap offset, length), in creation
    order, in direct blocks of (first byte after the prefix, end), sorted; with the
    runs of entries of its indirect blocks (`rows`) skipped then (skipped.py)."""
    firsts = [first for first, _ in blocks]
    fill: dict[int, int] = {}  # block -> the end of its last object so far
    out: list[bytes] = []
    for offset, length in objects[:-1]:
        i = bisect_right(firsts, offset) - 1
        if i < 0:
            return ()
        fill[i] = max(fill.get(i, 0), offset + length)
        sections = [(blocks[b][1] - f, f, _TAIL) for b, f in fill.items() if f < blocks[b][1]]
        if rows:
            ends = frozenset(blocks[b][1] for b in fill)
            sections += [(size, at, bytes([kind]) + data) for size, at, kind, data in rows.state(ends)]
        body = prefix + _groups(sorted(sections), widths)
        out.append(sealed(body))
    return tuple(out)


def _groups(sections: list[tuple[int, int, bytes]], widths: tuple[int, int]) -> bytes:
    """(size, offset, type and data) sections, sorted, serialized by size group as
    libhdf5 writes them: the count in the fewest bytes that hold the number of sections,
    the size, then each offset, type and data."""
    len_size, off_size = widths
    count_size = (max(len(sections), 1).bit_length() - 1) // 8 + 1
    by_size: dict[int, list[tuple[int, bytes]]] = {}
    for size, offset, rest in sections:
        by_size.setdefault(size, []).append((offset, rest))
    out = b""
    for size, group in by_size.items():
        out += len(group).to_bytes(count_size, "little") + size.to_bytes(len_size, "little")
        out += b"".join(o.to_bytes(off_size, "little") + rest for o, rest in group)
    return out


def fills(
    prefix: bytes, widths: tuple[int, int], blocks: tuple[Block, ...], pins: frozenset[int] = frozenset()
) -> tuple[bytes, ...]:
    """The whole lists of the states an untracked heap may have had, from its direct
    blocks (end, the size of its first object, its objects' ends), in heap order.
    Without deletions a state is a number m of blocks allocated (the first m: the heap
    allocates in order) and, in each, its objects up to one of their ends: the block's
    tail past it is its one section (none if it is full). libhdf5 allocates a new
    block only for an object no section holds (H5HF__man_insert: best fit, else
    H5HF__man_dblock_new), so when block i got its first object every earlier block's
    tail was smaller than it: in a state of m blocks, block j's tail is smaller than the
    first object of each block after it. At most MAX_STATES states, fewest blocks first;
    with `pins` (section offsets a hidden list shows: pinned), a block whose fill may
    end at one of them ends there only (an order of the search, not a rule: what is
    found is still a state, recomputed whole)."""
    out: list[bytes] = []
    pinned = [j for j, (_, _, ends) in enumerate(blocks) if pins.intersection(ends)]
    for m in range(max(pinned, default=0) + 1, min(len(blocks), MAX_BLOCKS) + 1):  # the pins' blocks
        options = _options(blocks[:m], pins)
        for choice in product(*options) if options else ():
            sections = sorted((blocks[j][0] - f, f, _TAIL) for j, f in enumerate(choice) if f < blocks[j][0])
            body = prefix + _groups(sections, widths)
            out.append(sealed(body))
            if len(out) >= MAX_STATES:
                return tuple(out)
    return tuple(out)


def skips(
    prefix: bytes, widths: tuple[int, int], blocks: tuple[Block, ...], rows: skipped.Rows
) -> tuple[bytes, ...]:
    """The whole lists of the states an untracked heap had while entries it allocated
    since were skipped (skipped.py): an object larger than the next entry's room made
    libhdf5 skip to the first entry of a larger row, a block allocated there with that
    object first, so a skip ends right before a block that starts its row and whose
    first object the entry before it could not hold; later objects took the run's
    entries from its start. So such a state is fills' (its blocks up to the m-th, each
    filled up to one of its objects' ends) less, before each such block, the last 1..k
    blocks of its indirect block (never its first entry, nor a block before an earlier
    such block, allocated before it), its runs (Rows.state) listed with the tails. Only
    states with a skip (fills has the others); at most MAX_STATES."""
    index = {rows.end(e): k for k, e in enumerate(rows.entries)}
    if any(end not in index for end, _, _ in blocks):
        return ()
    targets = _targets(blocks, rows, index)
    out: dict[bytes, None] = {}
    for m in range(2, min(len(blocks), MAX_BLOCKS) + 1):
        tops = [(i, k) for i, k in targets if i < m]
        for counts in product(*(range(k + 1) for _, k in tops)):
            gone = {i - j for (i, _), c in zip(tops, counts, strict=True) for j in range(1, c + 1)}
            if not gone:
                continue  # fills has it
            kept = tuple(blocks[j] for j in range(m) if j not in gone)
            runs = rows.state(frozenset(end for end, _, _ in kept))
            listed = [(size, at, bytes([kind]) + data) for size, at, kind, data in runs]
            options = _options(kept, frozenset())
            for choice in product(*options) if options else ():
                tails = [(b[0] - f, f, _TAIL) for b, f in zip(kept, choice, strict=True) if f < b[0]]
                body = prefix + _groups(sorted(tails + listed), widths)
                out[sealed(body)] = None
                if len(out) >= MAX_STATES:
                    return tuple(out)
    return tuple(out)


def _targets(blocks: tuple[Block, ...], rows: skipped.Rows, index: dict[int, int]) -> list[tuple[int, int]]:
    """(block, how many blocks right before it a skip to it may have left unallocated)
    of each block a skip may have ended at: the first entry of its row (libhdf5 skips
    to a row's start), its first object larger than the room of the entry before it,
    of its indirect block."""
    out: list[tuple[int, int]] = []
    for i in range(1, len(blocks)):
        end, first, _ = blocks[i]
        if not index[end]:
            continue
        entry, before = rows.entries[index[end]], rows.entries[index[end] - 1]
        if entry[2] or before[0] != entry[0] or first <= rows.row_size(before[1]) - rows.prefix:
            continue
        k, floor = 0, max((t for t, _ in out), default=0)
        while i - k - 1 > floor and rows.entries[index[blocks[i - k - 2][0]]][0] == entry[0]:
            k += 1  # block i-k-1 may have been skipped: block i-k-2 of its indirect block was not
        out.append((i, k))
    return out


def blocks(spans: list[tuple[int, int]], objects: dict[int, int]) -> tuple[Block, ...]:
    """The direct blocks (first byte after the prefix, end; sorted) as fills reads them:
    end, the size of the object at its first byte (0: none there, so no state has a
    block after it), the ends of its objects by offset."""
    firsts = [first for first, _ in spans]
    inside: list[list[tuple[int, int]]] = [[] for _ in spans]
    for offset, length in sorted(objects.items()):
        i = bisect_right(firsts, offset) - 1
        if i >= 0 and offset + length <= spans[i][1]:  # huge objects lie in no block
            inside[i].append((offset, length))
    return tuple(
        (end, held[0][1] if held and held[0][0] == first else 0, tuple(o + n for o, n in held))
        for (first, end), held in zip(spans, inside, strict=True)
    )


def _options(blocks: tuple[Block, ...], pins: frozenset[int]) -> list[tuple[int, ...]]:
    """For each of the first m blocks, where its objects may end in a state of m blocks
    (none: no such state, a block without objects), only at a pin if one fits."""
    options, smallest = [], 1 << 64  # the smallest first object of the blocks after j
    for j in range(len(blocks) - 1, -1, -1):
        end, first, ends = blocks[j]
        fit = tuple(e for e in ends if end - e < smallest)
        if not fit:
            return []
        options.append(tuple(e for e in fit if e in pins) or fit)
        smallest = min(smallest, first)
    return options[::-1]


def roots(heap: int, off_size: int, width: int, entries: bytes) -> dict[bytes, tuple[int, int]]:
    """Each smaller root indirect block libhdf5 wrote for the heap whose header is at
    `heap` before the root gained rows (the root's `entries`, 8 bytes each, row by row,
    `width` a row): whole (FHIB, version 0, the heap's address, block offset 0, its
    first children the root's then undefined addresses, its checksum) -> (rows, bytes
    of children)."""
    out: dict[bytes, tuple[int, int]] = {}
    head = b"FHIB" + bytes(1) + heap.to_bytes(8, "little") + bytes(off_size)
    for rows, counts in shapes(len(entries) // (8 * width), width):
        size = 8 * rows * width
        for children in (8 * c for c in counts):
            raw = entries[:children] + b"\xff" * (size - children)
            if len(raw.rstrip(b"\xff")) // 8 * 8 == children:  # one block per children
                body = head + raw
                out[sealed(body)] = (rows, children)
    return out


def shapes(rows: int, width: int) -> list[tuple[int, range]]:
    """(rows, its possible numbers of children) of each earlier copy of a root of `rows`
    rows. libhdf5 creates a root indirect block of 1 row when its root direct block is
    full (that block and the new one: 2 children) and rewrites it elsewhere, freeing
    the old one, only when its rows are full and a block more is needed, with twice the
    rows (H5HF__man_iblock_root_double: 2 x rows, the one block more allocated at once);
    a root of the same rows is rewritten in place. So a copy has 1, 2, 4, ... rows,
    fewer than the root's, one per rows, and r rows hold more children than r/2 rows.
    But a block too large for the next row makes the new root (or the first:
    H5HF__man_iblock_root_create) just the rows that block needs if that is more
    (MAX(min_nrows, 2 x rows)), its entries before it skipped, the block in its last
    row: a copy of m rows, m not a power of 2, at most half the root's, holds more
    children than m - 1 rows (session 39, attack nh5's ctl-nh5-grow-1-25-3x6-d-*: a
    dataset's attributes of 1 + 25k doubles; a root of 3 rows). The copies of one heap
    are a chain (chained)."""
    out, r = [], 1
    while r < rows:
        out.append((r, range(2 if r == 1 else r // 2 * width + 1, r * width + 1)))
        r *= 2
    out += [(m, range((m - 1) * width + 1, m * width + 1)) for m in range(3, rows // 2 + 1) if m & (m - 1)]
    return sorted(out, key=lambda shape: shape[0])  # by rows: the first too large ends a search


def chained(rows: int, others: list[int]) -> bool:
    """A copy of `rows` rows fits the heap's other copies: each root at least twice the
    rows of the one before it (new_nrows = MAX(min_nrows, 2 x rows))."""
    return all(rows >= 2 * r or r >= 2 * rows for r in others)


def candidates(lists: tuple[bytes, ...], tail: bytes, most: int) -> list[tuple[bytes, int]]:
    """(list, bytes of it hidden) of each list whose last bytes `tail` starts with,
    hidden for 1 to `most` bytes; the fewest hidden first. Each list is recomputed
    whole, so its shown part may be a few bytes of its checksum (libhdf5 allocates a
    list 2 or 3 bytes shorter over a freed one: what shows is fixed by the state)."""
    found = [(hidden, whole) for whole in lists for hidden in _hidden(whole, tail, most)]
    return [(whole, hidden) for hidden, whole in sorted(found)]


def _hidden(whole: bytes, tail: bytes, most: int) -> list[int]:
    """Each h in 1..most with `tail` starting with whole[h:]: where 4 bytes or more
    show, found by their first 4 (a root's candidates are many, each up to hundreds of
    bytes: no slice compared at every h)."""
    top, out = min(most, len(whole) - 1), []
    low = max(1, len(whole) - len(tail))  # whole[h:] fits in the tail
    h = whole.find(tail[:4], low) if len(tail) >= 4 else -1
    while 0 <= h <= top:
        if tail.startswith(whole[h:]):
            out.append(h)
        h = whole.find(tail[:4], h + 1)
    out += [h for h in range(max(low, len(whole) - 3), top + 1) if tail.startswith(whole[h:])]
    return out


def pins(shown: bytes, off_size: int, starts: dict[int, int]) -> frozenset[int]:
    """The section offsets `shown` may hold: each off_size bytes naming where a tail may
    start (`starts`) followed by a "single" type byte."""
    found = set()
    for k in range(len(shown) - off_size):
        offset = int.from_bytes(shown[k : k + off_size], "little")
        if shown[k + off_size] == _SINGLE and offset in starts:
            found.add(offset)
    return frozenset(found)
