"""Which of libmagic's tests could match a buffer, read from its compiled database.

libmagic tries every top-level test of its database on every buffer, twice for text
(Debian's has about 3,500, with 12,000 continuation lines stepped over one by one each
time): about 0.3 ms per file whatever the file holds. Most tests compare fixed bytes at
a fixed offset, or look for a fixed string or a regular expression with fixed
characters, so they can only match a buffer that has those bytes.

This module reads the compiled database (magic.mgc), notes what each top-level test
needs of a buffer (the value of its first byte; bytes that must occur somewhere), and
builds, per kind of buffer, a database without the tests that cannot match it. libmagic
gives the same answer with that database: a top-level test that fails skips its
continuations and changes nothing else, and the remaining tests keep their order. A
test this module does not fully understand needs nothing, so it is always kept.

Run inside the libmagic worker (stdlib only; it imports nothing of vmguard).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGICNO, VERSIONNO, RECORD = 0xF11E041C, 18, 376  # file 5.x's format: struct magic
_FIELDS = struct.Struct("<HBBBBBBBBBBiiIQ")  # struct magic up to its value
_VALUE = slice(32, 160)

# flag bits, relations and types of struct magic (file.h)
_INDIRECT_OFFSETS = 0x01 | 0x02 | 0x04 | 0x80  # INDIR, OFFADD, INDIROFFADD, OFFNEGATIVE
_EQUAL = ord("=")
_STRING, _REGEX, _SEARCH = 5, 17, 20
_NUMERIC = {  # type: (width, byte order)
    1: (1, "little"), 2: (2, "little"), 4: (4, "little"), 24: (8, "little"),
    7: (2, "big"), 8: (4, "big"), 26: (8, "big"),
    10: (2, "little"), 11: (4, "little"), 25: (8, "little"),
}
_COMPACT_SPACE, _IGNORE_CASE = 0x1 | 0x2, 0x4 | 0x8
_CHANGES_COMPARE = _COMPACT_SPACE | _IGNORE_CASE | 0x2000 | 0x4000  # + trim, full word

# Letters, digits and white space are in nearly every text: a test needing them prunes
# little, and case-insensitive and white-space-compacting tests treat them loosely.
# Every other byte is "rare": the key of a buffer is which rare bytes it has.
_COMMON = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123)) + b" \t\n\v\f\r"
RARE = frozenset(range(256)) - frozenset(_COMMON)
_RARE_PAST_END = RARE - {0}  # a string compares zero bytes past the buffer's end
_RARE_ASCII = frozenset(b for b in RARE if b < 0x80)  # a locale's ctype never folds these
MAX_RARE = 16  # a buffer with more kinds of rare bytes is treated as having them all


@dataclass(frozen=True, slots=True)
class Test:
    """One top-level test and its continuation lines: records [start, end)."""

    start: int
    end: int
    first: frozenset[int] | None  # the values the buffer's first byte may have
    needs: frozenset[int]  # rare bytes the buffer must contain


@dataclass(frozen=True, slots=True)
class Key:
    """What a buffer offers the tests: its first byte and its rare bytes (None: all)."""

    first: int
    rare: frozenset[int] | None


class Database:
    """A compiled database split into its tests; `for_key` leaves out impossible ones."""

    def __init__(self, data: bytes) -> None:
        magic, version, self.count, self.named = struct.unpack_from("<4I", data)
        if (magic, version) != (MAGICNO, VERSIONNO) or len(data) != RECORD * (
            1 + self.count + self.named
        ):
            raise ValueError("not a magic database this module understands")
        self.data = data
        self.tests = tuple(_split(data, self.count))

    @staticmethod
    def key(head: bytes) -> Key:
        """The key of a (non-empty) buffer."""
        rare = frozenset(head.translate(None, _COMMON))
        return Key(head[0], rare if len(rare) <= MAX_RARE else None)

    def for_key(self, buffer_key: Key) -> bytes:
        kept = [t for t in self.tests if _possible(t, buffer_key)]
        header = bytearray(self.data[:RECORD])
        struct.pack_into("<I", header, 8, sum(t.end - t.start for t in kept))
        named = self.data[RECORD * (1 + self.count):]
        return b"".join([header, *(self._records(t) for t in kept), named])

    def _records(self, test: Test) -> bytes:
        return self.data[RECORD * (1 + test.start):RECORD * (1 + test.end)]


def _possible(test: Test, buffer_key: Key) -> bool:
    if test.first is not None and buffer_key.first not in test.first:
        return False
    return buffer_key.rare is None or test.needs <= buffer_key.rare


def _split(data: bytes, count: int) -> list[Test]:
    starts = [i for i in range(count) if _record(data, i)[:2] == b"\0\0"]  # cont_level 0
    if count and starts[:1] != [0]:
        raise ValueError("a continuation line before the first test")
    ends = [*starts[1:], count]
    return [Test(s, e, *_needs(_record(data, s))) for s, e in zip(starts, ends, strict=True)]


def _record(data: bytes, index: int) -> bytes:
    return data[RECORD * (1 + index):RECORD * (2 + index)]


def _needs(record: bytes) -> tuple[frozenset[int] | None, frozenset[int]]:
    """What a top-level test needs of a buffer to match: (first byte, rare bytes)."""
    (_, flag, _, reln, vallen, kind, _, in_op, mask_op, cond, _, offset, _, _, extra) = (
        _FIELDS.unpack_from(record)
    )
    if flag & _INDIRECT_OFFSETS or reln != _EQUAL or in_op or cond or offset < 0:
        return None, frozenset()
    value, flags = record[_VALUE], extra >> 32
    if kind in _NUMERIC and mask_op == 0:  # no mask, or a plain AND mask
        return _numeric(value, extra, *_NUMERIC[kind], offset)
    if kind == _STRING and not flags & _CHANGES_COMPARE:
        return _literal(value[:vallen], offset)
    if kind == _SEARCH:
        return None, _rare(value[:vallen], flags)
    if kind == _REGEX:
        return None, _rare(regex_needs(value.partition(b"\0")[0]), flags)
    return None, frozenset()


def _numeric(
    value: bytes, mask: int, width: int, order: str, offset: int
) -> tuple[frozenset[int] | None, frozenset[int]]:
    """(The buffer's `width` bytes at `offset`) & mask == value. A number that does not
    fit in the buffer never matches, so each byte must be one of the buffer's."""
    full = (1 << 8 * width) - 1
    want = (int.from_bytes(value[:8], "little") & full).to_bytes(width, order)
    masks = ((mask & full) if mask else full).to_bytes(width, order)
    options = [frozenset(b for b in range(256) if b & m == v) for m, v in zip(masks, want, strict=True)]
    if offset == 0:
        return options[0], _single(options[1:])
    return None, _single(options)


def _single(options: list[frozenset[int]]) -> frozenset[int]:
    return frozenset(next(iter(o)) for o in options if len(o) == 1) & RARE


def _literal(value: bytes, offset: int) -> tuple[frozenset[int] | None, frozenset[int]]:
    """A plain string: its bytes where the buffer is, zero bytes past its end."""
    if not value:
        return None, frozenset()
    if offset == 0:
        return frozenset({value[0]}), frozenset(value[1:]) & _RARE_PAST_END
    return None, frozenset(value) & _RARE_PAST_END


def _rare(pattern: bytes, flags: int) -> frozenset[int]:
    """Bytes a search or regex pattern must find; case and white-space flags may
    make a locale fold or skip bytes, so only the ASCII punctuation counts then."""
    rare = RARE if not flags & (_IGNORE_CASE | _COMPACT_SPACE) else _RARE_ASCII
    return frozenset(pattern) & rare


def regex_needs(pattern: bytes) -> bytes:
    """Bytes every match of a POSIX extended regular expression contains (conservative:
    a construct this parser is unsure of needs nothing)."""
    try:
        needs, end = _alternation(pattern, 0)
    except ValueError:
        return b""
    return bytes(sorted(needs)) if end == len(pattern) else b""


def _alternation(p: bytes, i: int) -> tuple[set[int], int]:
    needs, i = _branch(p, i)
    while i < len(p) and p[i] == ord("|"):
        other, i = _branch(p, i + 1)
        needs &= other
    return needs, i


def _branch(p: bytes, i: int) -> tuple[set[int], int]:
    needs: set[int] = set()
    while i < len(p) and p[i] not in b"|)":
        atom, i = _atom(p, i)
        least, i = _repeats(p, i)
        if least > 0:
            needs |= atom
    return needs, i


def _atom(p: bytes, i: int) -> tuple[set[int], int]:
    c = p[i]
    if c == ord("("):
        needs, i = _alternation(p, i + 1)
        if i >= len(p) or p[i] != ord(")"):
            raise ValueError("unbalanced group")
        return needs, i + 1
    if c == ord("["):
        return set(), _bracket_end(p, i + 1)
    if c == ord("\\"):
        if i + 1 >= len(p) or chr(p[i + 1]).isalnum():  # \w, \b, \1: not a plain byte
            raise ValueError("escape")
        return {p[i + 1]}, i + 2
    if c in b"*+?{":
        raise ValueError("repetition of nothing")
    return (set() if c in b".^$" else {c}), i + 1


def _repeats(p: bytes, i: int) -> tuple[int, int]:
    """The least number of repeats of the atom before i, and where they end."""
    least = 1
    while i < len(p) and p[i] in b"*+?{":
        if p[i] == ord("{"):
            close = p.find(b"}", i)
            low = p[i + 1:close].partition(b",")[0]
            if close < 0 or not low.isdigit():
                raise ValueError("interval")
            least, i = least * int(low), close + 1
        else:
            least, i = (least if p[i] == ord("+") else 0), i + 1
    return least, i


def _bracket_end(p: bytes, i: int) -> int:
    """Where a bracket expression that starts at p[i] (after '[') ends."""
    if i < len(p) and p[i] == ord("^"):
        i += 1
    if i < len(p) and p[i] == ord("]"):
        i += 1  # a leading ']' is a member
    while i < len(p) and p[i] != ord("]"):
        if p[i] == ord("[") and i + 1 < len(p) and p[i + 1] in b":=.":
            close = p.find(bytes([p[i + 1], ord("]")]), i + 2)
            if close < 0:
                raise ValueError("bracket class")
            i = close + 2
        else:
            i += 1
    if i >= len(p):
        raise ValueError("unterminated bracket")
    return i + 1
