"""Which of libmagic's tests could match a buffer, read from its compiled database.

libmagic tries every top-level test of its database on every buffer, twice for text
(Debian's has about 3,500, with 12,000 continuation lines stepped over one by one each
time): about 0.35 ms per text file whatever it holds. Most tests compare fixed bytes at
a fixed offset, or look for a fixed string or a regular expression with fixed
characters, so they can only match a buffer that contains those bytes.

This module reads the compiled database (magic.mgc), notes the bytes each top-level test
needs, and builds, for a set of bytes, a database without the tests that need a byte
outside it. libmagic gives the same answer with that database for any buffer made of
those bytes: a top-level test that fails skips its continuations and changes nothing
else, and the remaining tests keep their order. A test this module does not fully
understand needs nothing, so it is always kept.

Why a set of bytes and not the bytes at an offset: libmagic also runs the database on
parts of the buffer (an `indirect` test starts again at an offset into it), and a
part's bytes are among the whole's. And why not every buffer: libmagic's text pass runs
on the buffer re-encoded as UTF-8, so a buffer is cut only when that pass, if it runs,
sees the same bytes (`Database.offered`).

Run inside the libmagic worker (stdlib only; it imports nothing of vmguard).
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass

MAGICNO, VERSIONNO, RECORD = 0xF11E041C, 18, 376  # file 5.x's format: struct magic
_FIELDS = struct.Struct("<HBBBBBBBBBBiiIQ")  # struct magic up to its value
_VALUE = slice(32, 160)

# flag bits, relations and types of struct magic (file.h)
_INDIRECT_OFFSETS = 0x01 | 0x02 | 0x04 | 0x80  # INDIR, OFFADD, INDIROFFADD, OFFNEGATIVE
_EQUAL = ord("=")
_STRING, _REGEX, _SEARCH = 5, 17, 20
_NUMERIC = {  # type: (width, byte order); byte, short, long and quad are the host's
    1: (1, sys.byteorder),
    2: (2, sys.byteorder),
    4: (4, sys.byteorder),
    24: (8, sys.byteorder),
    7: (2, "big"),
    8: (4, "big"),
    26: (8, "big"),
    10: (2, "little"),
    11: (4, "little"),
    25: (8, "little"),
}
_COMPACT_SPACE, _IGNORE_CASE = 0x1 | 0x2, 0x4 | 0x8
_CHANGES_COMPARE = _COMPACT_SPACE | _IGNORE_CASE | 0x2000 | 0x4000  # + trim, full word

# Case-insensitive and white-space-compacting tests may fold or skip letters, digits and
# white space (a locale's ctype never folds the other ASCII bytes): they need only those.
_FOLDABLE = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123)) + b" \t\n\v\f\r"
_UNFOLDED = frozenset(range(128)) - frozenset(_FOLDABLE)
# libmagic's ASCII text bytes (encoding.c): such a buffer is read as ASCII, and its text
# pass sees it unchanged. A NUL before the trailing ones makes it text in no encoding,
# unless a UTF-16 or UTF-32 byte order mark starts it.
_ASCII_TEXT = bytes(range(7, 14)) + b"\x1b" + bytes(range(32, 127))
# Each byte of _ASCII_TEXT kept, every other changed: a buffer this leaves equal is ASCII
# text (a translate by table costs fewer instructions than one deleting a set's bytes).
_ASCII_TEXT_KEPT = bytes(b if b in _ASCII_TEXT else (b + 1) % 256 for b in range(256))
_BYTE_ORDER_MARKS = (b"\xff\xfe", b"\xfe\xff", b"\0\0\xfe\xff")


@dataclass(frozen=True, slots=True)
class Test:
    """One top-level test and its continuation lines: records [start, end)."""

    start: int
    end: int
    needs: frozenset[int]  # bytes a buffer must contain for the test to match


class Database:
    """A compiled database split into its tests; `for_bytes` leaves out impossible ones."""

    def __init__(self, data: bytes) -> None:
        magic, version, self.count, self.named = struct.unpack_from("<4I", data)
        if (magic, version) != (MAGICNO, VERSIONNO) or len(data) != RECORD * (1 + self.count + self.named):
            raise ValueError("not a magic database this module understands")
        self.data = data
        self.tests = tuple(_split(data, self.count))

    @staticmethod
    def offered(head: bytes) -> frozenset[int] | None:
        """The bytes a buffer offers the tests (NUL always: a string compares zeros past the
        buffer's end), or None when libmagic's text pass would see other bytes."""
        return frozenset(head) | {0} if Database.cuttable(head) else None

    @staticmethod
    def cuttable(head: bytes) -> bool:
        """Whether libmagic's text pass, if it runs, sees the buffer's own bytes."""
        body = head.rstrip(b"\0")  # libmagic's text pass trims trailing NULs
        if body.translate(_ASCII_TEXT_KEPT) == body:
            return True  # ASCII text
        # text in no encoding, or text in another (UTF-8, Latin-1, UTF-16, EBCDIC...)
        return b"\0" in body and not body.startswith(_BYTE_ORDER_MARKS)

    def for_bytes(self, offer: frozenset[int]) -> bytes:
        """The database for buffers made of the bytes in `offer`."""
        kept = [t for t in self.tests if t.needs <= offer]
        header = bytearray(self.data[:RECORD])
        struct.pack_into("<I", header, 8, sum(t.end - t.start for t in kept))
        # Views, not slices: the named tests (2.3 MB of Debian's 8) are copied once, by
        # join, not twice (about a third of the time spent here).
        view = memoryview(self.data)
        named = view[RECORD * (1 + self.count) :]
        return b"".join([header, *(view[RECORD * (1 + t.start) : RECORD * (1 + t.end)] for t in kept), named])


def _split(data: bytes, count: int) -> list[Test]:
    # cont_level 0 (startswith: no copy of each of the ~19,000 records, 6 ms per worker start)
    starts = [i for i in range(count) if data.startswith(b"\0\0", RECORD * (1 + i))]
    if count and starts[:1] != [0]:
        raise ValueError("a continuation line before the first test")
    ends = [*starts[1:], count]
    return [Test(s, e, _needs(_record(data, s))) for s, e in zip(starts, ends, strict=True)]


def _record(data: bytes, index: int) -> bytes:
    return data[RECORD * (1 + index) : RECORD * (2 + index)]


def _needs(record: bytes) -> frozenset[int]:
    """The bytes a buffer must contain for a top-level test to match."""
    (_, flag, _, reln, vallen, kind, _, in_op, mask_op, cond, _, offset, _, _, extra) = _FIELDS.unpack_from(
        record
    )
    if flag & _INDIRECT_OFFSETS or reln != _EQUAL or in_op or cond or offset < 0:
        return frozenset()
    value, flags = record[_VALUE], extra >> 32
    if kind in _NUMERIC and mask_op == 0:  # no mask, or a plain AND mask
        return _numeric(value, extra, *_NUMERIC[kind])
    if kind == _STRING and not flags & _CHANGES_COMPARE:
        return frozenset(value[:vallen]) - {0}
    if kind == _SEARCH:
        return _pattern(value[:vallen], flags)
    if kind == _REGEX:
        return _pattern(regex_needs(value.partition(b"\0")[0]), flags)
    return frozenset()


def _numeric(value: bytes, mask: int, width: int, order: str) -> frozenset[int]:
    """(The buffer's `width` bytes at the offset) & mask == value. A number that does not
    fit in the buffer never matches, so every byte the mask fixes is one of the buffer's."""
    full = (1 << 8 * width) - 1
    want = (int.from_bytes(value[:8], "little") & full).to_bytes(width, order)
    masks = ((mask & full) if mask else full).to_bytes(width, order)
    return frozenset(v for m, v in zip(masks, want, strict=True) if m == 0xFF) - {0}


def _pattern(pattern: bytes, flags: int) -> frozenset[int]:
    """Bytes a search or regex pattern must find; with case or white-space flags, only
    the ASCII bytes that no locale folds or skips."""
    if flags & (_IGNORE_CASE | _COMPACT_SPACE):
        return frozenset(pattern) & _UNFOLDED
    return frozenset(pattern) - {0}


_ERE_SPECIAL = frozenset(b".[](){}*+?|^$\\")  # the escapes that stand for their byte


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
        if i + 1 >= len(p) or p[i + 1] not in _ERE_SPECIAL:  # \w, \1, glibc's \< \` ...
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
            low = p[i + 1 : close].partition(b",")[0]
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


def only_compiled_database(paths: str) -> str | None:
    """The one compiled database libmagic's default path loads, if that is all it loads
    (Debian also reads /etc/magic, which holds only comments unless an admin adds tests:
    then every buffer gets libmagic's own loading, with those tests)."""
    compiled = []
    for path in paths.split(":"):
        mgc = path if path.endswith(".mgc") else path + ".mgc"
        if os.path.isfile(mgc):
            compiled.append(mgc)
        elif os.path.isdir(path) or (os.path.isfile(path) and not only_comments(path)):
            return None
    return compiled[0] if len(compiled) == 1 else None


def only_comments(path: str) -> bool:
    with open(path, "rb") as fh:
        return all(not line.strip() or line.lstrip().startswith(b"#") for line in fh)
