"""Matching a null message's bytes against what it may be made of (moved.py says what
that is and why): the fewest pieces, stale message headers and slices of the header's
messages with zeros between them, found by dynamic programming over the null's bytes; the
slices through a suffix automaton (substrings.py) in linear time; the work, for the whole
file, bounded (Budget)."""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import dense, substrings

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ledger import File
    from .objects import Message


MIN_SLICE = 6  # a slice of a message: the fewest bytes a smeared copy leaves (sweep)
MIN_DATA = 3  # and the fewest non-zero bytes (fewer would let a byte followed by zeros pass)
END_ZEROS = 8  # a message's end strip at a null's start may hold this many zeros after its last non-zero byte
SLACK = 4  # pieces beyond two per message and one per held (the sweeps need at most 2 x 2 + 6)
MAX_WORK = 5_000_000  # bytes compared against the sources, in all: a crafted file costs no more,
MAX_SOURCES = 256 * 1024  # bytes of messages in one header's automaton (about 500 bytes of memory each)
WORK_PER_BYTE = 256  # and this much more per byte of null message matched (h5py's files: under 80)
_CONTINUATION = 0x10
_INFO = {0x02: "link", 0x15: "attribute"}
_LAYOUT = 0x08
_UNALLOCATED = {1: 2, 2: 3}  # a version 3 layout's class (contiguous, chunked) -> its address's offset


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """What the null messages of one object header may be made of."""

    headers: frozenset[bytes]  # whole stale headers (but a null's), without the order field
    largest_null: int  # the largest size a stale null message header may give
    order: int  # width of the order field after each header (0 or 2)
    orders: int  # an order field's values: below this
    automaton: substrings.Automaton  # of the messages' data (and the dense objects')
    ends: frozenset[bytes]  # their last 1 to MIN_SLICE - 1 bytes, from a non-zero one
    tails: frozenset[bytes]  # and with their trailing zeros, at a null's start (_tails)
    slices: tuple[bytes, ...]  # the info messages before dense storage (matched byte by byte)
    wild: tuple[int, ...]  # per slice, the offset of a byte any value matches
    pieces: int  # at most this many pieces in all the header's null messages
    eof: int  # a stale continuation message names a block below it
    named: Callable[[int, int], bool]  # and one the file shows freed (oldblocks.Blocks.names)


class Budget:
    """Work spent matching, for the whole file: MAX_WORK, and WORK_PER_BYTE per byte of
    the null messages matched (a file of many moved headers is not refused for its size)."""

    def __init__(self) -> None:
        self.spent = 0
        self.limit = MAX_WORK
        self.kept: tuple[int, Sources] | None = None  # one owner's sources (_leftover), to bound memory

    def grant(self, size: int) -> None:
        self.limit += WORK_PER_BYTE * size

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.limit:
            raise Invalid(
                f"hdf5: more than {self.limit} bytes compared to match what libhdf5 left in null "
                "messages (h5repack the file)"
            )


def sources(
    f: File, messages: list[Message], moved: list[tuple[int, int, int]], orders: tuple[int, int], block: int,
    budget: Budget,
    held: int,
    named: Callable[[int, int], bool],
) -> Sources:
    real = [m for m in messages if m.kind != 0]
    headers = {struct.pack("<BHB", kind, size, 0) for kind, _, size in moved}
    headers.add(struct.pack("<BHB", _CONTINUATION, 16, 0))
    for m in real:
        headers |= {struct.pack("<BHB", m.kind, m.size, flags) for flags in (0, m.flags)}
    slices = [(f.bytes(m.at, m.size, "a message"), -1) for m in real]
    slices += [before_dense(f, m) for m in real if m.kind in _INFO]
    slices += [(raw, -1) for raw in (before_storage(f, m) for m in real if m.kind == _LAYOUT) if raw]
    slices += [(f.bytes(at, size, "a dense object"), -1) for _, at, size in moved]
    slices = [(raw, wild) for raw, wild in slices if raw.strip(b"\0")]
    plain = tuple(raw for raw, wild in slices if wild < 0)
    if sum(map(len, plain)) > MAX_SOURCES:
        raise Invalid(
            f"hdf5: more than {MAX_SOURCES} bytes of messages to match what libhdf5 left in a null "
            "message against (h5repack the file)"
        )
    budget.spend(sum(map(len, plain)))
    return Sources(
        headers=frozenset(headers),
        largest_null=block,
        order=orders[0],
        orders=max(1, orders[1]),
        automaton=substrings.automaton(plain),
        ends=frozenset(raw[-k:] for raw in plain for k in range(1, MIN_SLICE) if raw[-k:][0]),
        tails=_tails(plain),
        slices=tuple(raw for raw, wild in slices if wild >= 0),
        wild=tuple(wild for _, wild in slices if wild >= 0),
        pieces=2 * len(real) + held + SLACK,
        eof=f.eof,
        named=named,
    )



def _tails(plain: tuple[bytes, ...]) -> frozenset[bytes]:
    """The last bytes of each source that ends with 1 to END_ZEROS zeros, from one of its
    last MIN_SLICE - 1 non-zero bytes: what a message slid forward leaves at the start of
    the null after it (a link's address of one non-zero byte and 7 zeros)."""
    out: set[bytes] = set()
    for raw in plain:
        zeros = len(raw) - len(raw.rstrip(b"\0"))
        if 0 < zeros <= END_ZEROS:
            out |= {raw[-n:] for n in range(zeros + 1, min(zeros + MIN_SLICE, len(raw) + 1)) if raw[-n]}
    return frozenset(out)


def before_dense(f: File, m: Message) -> tuple[bytes, int]:
    """A link or attribute info message as libhdf5 wrote it before dense storage: no heap,
    no index, and when it tracks creation order, the next order then: below 256 (the most
    a header keeps: choices.py), its low byte any value (the wild offset)."""
    order, _, trees = dense.info(f, m, "a message")
    addresses = 8 * (1 + len(trees))  # the heap's, the indexes'
    head = bytearray(f.bytes(m.at, m.size - addresses, "a message"))
    if order is not None:
        head[3:] = bytes(len(head) - 3)  # version, flags, the order's low byte, its zero bytes
    return bytes(head) + b"\xff" * addresses, 2 if order is not None else -1


def before_storage(f: File, m: Message) -> bytes:
    """A version 3 layout message as libhdf5 wrote it before the dataset's storage was
    allocated (at its first write, H5D_ALLOC_TIME_LATE): its address undefined, the rest
    as it is (session 40, attack qh5's nc4-many-attrs.nc: netCDF-C flushes a coordinate
    variable's header before writing its data; the layout slid forward over a removed
    continuation message leaves this image's tail in the null). b"" for other layouts."""
    version, kind = f.unpack("BB", m.at, "a layout message")
    at = _UNALLOCATED.get(kind) if version == 3 else None
    if at is None or m.size < at + 8:
        return b""
    raw = f.bytes(m.at, m.size, "a layout message")
    return raw[:at] + b"\xff" * 8 + raw[at + 8 :]


def _header(data: bytes, i: int, s: Sources) -> bool:
    """A stale message header (and order field) starts at i."""
    width = 4 + s.order
    if i + width > len(data):
        return False
    head = data[i : i + 4]
    if s.order and int.from_bytes(data[i + 4 : i + width], "little") >= s.orders:
        return False
    if head in s.headers:
        return True
    kind, size, flags = struct.unpack("<BHB", head)
    return kind == 0 and flags == 0 and 0 < size <= s.largest_null


def _continuation(data: bytes, i: int, s: Sources) -> int:
    """The size of a stale continuation message's data at i, with its header or without
    (zeroed): the block it named, since freed (s.named: one the file shows freed, or
    whose start a later structure took); 0 if none is there."""
    width = 4 + s.order
    headed = data[i : i + 4] == struct.pack("<BHB", _CONTINUATION, 16, 0) and _header(data, i, s)
    at = i + width if headed else i
    if at + 16 > len(data):
        return 0
    address, length = struct.unpack_from("<QQ", data, at)
    named = length > 0 and address + length <= s.eof and s.named(address, length)
    return at + 16 - i if named else 0


def fewest(data: bytes, s: Sources, budget: Budget, checksum: bool) -> tuple[int, int]:
    """The fewest pieces (stale headers, slices; zeros between) that make `data`, without
    a stale checksum and with at most one (`checksum`: one may be there); more than
    s.pieces where none do."""
    n, none = len(data), s.pieces + 1
    best = [[none] * (n + 1) for _ in range(2 if checksum else 1)]  # [checksums used][bytes made]
    best[0][0] = 0
    budget.spend(n)
    reach = substrings.longest(data, s.automaton)
    latest = _latest_start(data)
    windows = [_Window(row, data) for row in best]
    wild = _index(s.slices, s.wild)
    for j in range(n + 1):
        for row, window in zip(best, windows, strict=True):
            if j:
                row[j] = min(row[j], _ending(data, j, row, window, reach[j], latest[j], s) + 1)
            if j < n and row[j] < none:
                _push(data, j, row, s, budget, wild)
        if j + 4 <= n and len(best) > 1 and best[0][j] < none:
            best[1][j + 4] = min(best[1][j + 4], best[0][j] + 1)
    return best[0][n], min(row[n] for row in best)


class _Window:
    """The least cost of a row over starts lo..hi (both only grow): where a slice of the
    automaton's sources ending at j may start (a non-zero byte)."""

    def __init__(self, row: list[int], data: bytes) -> None:
        self.row, self.data, self.queue, self.added = row, data, deque[int](), 0

    def least(self, lo: int, hi: int) -> int:
        while self.added <= hi:
            i, self.added = self.added, self.added + 1
            if not self.data[i]:
                continue
            while self.queue and self.row[self.queue[-1]] >= self.row[i]:
                self.queue.pop()
            self.queue.append(i)
        while self.queue and self.queue[0] < lo:
            self.queue.popleft()
        return self.row[self.queue[0]] if self.queue else 1 << 30


def _latest_start(data: bytes) -> list[int]:
    """out[j]: the latest start i with MIN_DATA non-zero bytes in data[i:j] (-1: none)."""
    out, seen = [-1] * (len(data) + 1), []
    for j, byte in enumerate(data):
        if byte:
            seen.append(j)
        out[j + 1] = seen[-MIN_DATA] if len(seen) >= MIN_DATA else -1
    return out


def _ending(
    data: bytes, j: int, row: list[int], window: _Window, longest: int, latest: int, s: Sources
) -> int:
    """The fewest pieces before a piece of a source that ends at j: a slice of at least
    MIN_SLICE bytes (shorter where the null ends) holding MIN_DATA non-zero ones, or the
    last bytes of a source (what a message slid forward leaves behind it, any length)."""
    lo, cost = j - longest, 1 << 30
    if j < len(data):
        hi = min(j - MIN_SLICE, latest)
        if lo <= hi:
            cost = window.least(lo, hi)
    elif lo <= latest:  # the null's end: the window's bounds stop growing here
        cost = min((row[i] for i in range(lo, min(j - 1, latest) + 1) if data[i]), default=cost)
    for k in range(1, min(MIN_SLICE + END_ZEROS, j + 1)):
        if data[j - k] and (data[j - k : j] in s.ends or (j == k and data[:j] in s.tails)):
            cost = min(cost, row[j - k])
    return cost


def _push(data: bytes, i: int, row: list[int], s: Sources, budget: Budget, wild: dict) -> None:
    """The pieces that start at i but slices of the automaton's sources: zeros, a stale
    header, a stale continuation message or its length field, a wild slice."""
    here, n, width = row[i], len(data), 4 + s.order
    if not data[i]:
        row[i + 1] = min(row[i + 1], here)
    if _header(data, i, s):
        row[i + width] = min(row[i + width], here + 1)
    if not data[i]:
        return
    for size in (_continuation(data, i, s), _length(data, i, s)):
        if size:
            row[i + size] = min(row[i + size], here + 1)
    for src, o in wild.get(data[i], ()):
        length = _common(data, i, (s.slices[src], s.wild[src] - o), o, budget)
        shortest = MIN_SLICE if i + length < n else min(MIN_SLICE, length)
        nonzero = 0
        for end in range(i + 1, i + length + 1):
            nonzero += data[end - 1] != 0
            if end - i >= shortest and nonzero >= MIN_DATA:
                row[end] = min(row[end], here + 1)


def _length(data: bytes, i: int, s: Sources) -> int:
    """8 if a stale continuation message's length field is at i, alone: where the null
    message's own header covers the start of its address (the null took the place of
    the message before it, a continuation message: H5O__move_msgs_forward), the rest
    of the address zeros; 0 if not."""
    if i != 8 - (4 + s.order) or i + 8 > len(data):
        return 0
    return 8 if 0 < int.from_bytes(data[i : i + 8], "little") <= s.eof else 0


def _index(slices: tuple[bytes, ...], wild: tuple[int, ...]) -> dict[int, list[tuple[int, int]]]:
    """byte value -> (slice, offset) where a slice holds it: where a piece may start (a
    non-zero byte, not a wild one)."""
    out: dict[int, list[tuple[int, int]]] = {}
    for k, piece in enumerate(slices):
        for o, byte in enumerate(piece):
            if byte and o != wild[k]:
                out.setdefault(byte, []).append((k, o))
    return out


def _common(data: bytes, i: int, source: tuple[bytes, int], o: int, budget: Budget) -> int:
    """How many bytes from data[i] equal the source's from o (source: the slice and where
    its wild byte is, relative to o)."""
    piece, wild = source
    most = min(len(data) - i, len(piece) - o)
    budget.spend(most)
    n = 0
    while n < most and (data[i + n] == piece[o + n] or n == wild):
        n += 1
    return n
