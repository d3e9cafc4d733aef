"""FITS tables to the last byte (issue #13): every byte of a binary table's rows lies in
a column its TFORMn declares, a logical byte is T, F or 0, the bits of an X column past
its last bit are zero, a string (A, or a PA()/QA() array) holds only NULs after its
first NUL, and the heap is exactly the arrays the P/Q descriptors point to,
in the order astropy (column by column) or cfitsio (row by row) writes them, with no gap
and no overlap (ASCII tables: fitsascii.py). Values inside the columns are data. Rows of
a table with nothing to check (numbers, characters) are skipped unread, as an image's
pixels are."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from . import terminal
from .fitsheap import HeapArray, HeapLayout
from .fitstile import GzipTile, PlioTile, RiceTile, Tiles
from .stream import Invalid, Stream

FMT = "fits"
BATCH = 1 << 20  # rows are checked about this many bytes at a time
MAX_ROW = 16 << 20  # a row is read whole: wider rows with bytes to check are refused
PIECE = 1 << 20  # heap arrays are checked this many bytes at a time
_SIZE = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16}
_BINARY = re.compile(r"^(\d*)([LXBIJKAEDCMPQ])(.*)$")
_ARRAY = re.compile(r"^([LXBIJKAEDCM])(?:\(\d+\))?$")
_FIRST_AXIS = re.compile(r"^\s*\(\s*(\d+)")
_DIGITS = re.compile(r"^(\d+)$")
_LOGICAL = b"TF\0"
_IS_NUL = bytes.maketrans(bytes(range(256)), b"\1" + bytes(255))
_NUL_THEN_BYTE = re.compile(rb"\0[^\0]")
# A string's controls (terminal.py, the one rule for strings a reader prints): C0 but NUL
# (the string's end) and TAB LF CR, DEL, and a C1 control as UTF-8 (C2 80..9F). Printing
# a table (`print(Table.read(f))`) hands them to the terminal raw: ESC ] 0 ; ... BEL sets
# its title, ESC [ 1 A and ESC [ 2 K forge a line over what it showed, FF clears PuTTY's.
_STRING_CONTROL = terminal.CONTROL_BYTES
_BYTE_CONTROL = terminal.CONTROL_BYTE  # one byte of each row: no pairs


@dataclass(frozen=True)
class Column:
    """One column of a binary table: where it lies in a row and what it holds."""

    number: int  # n of TFORMn
    kind: str  # the TFORM type letter
    offset: int  # first byte in the row
    repeat: int  # elements (bits for X)
    element: str = ""  # P/Q: the type of the array's elements
    string: int = 0  # A: the length of each string (TDIMn's first axis, rAw's w, else repeat)

    @property
    def width(self) -> int:
        if self.kind == "X":
            return -(-self.repeat // 8)
        if self.kind in "PQ":
            return self.repeat * (8 if self.kind == "P" else 16)
        return self.repeat * _SIZE[self.kind]

    def array_bytes(self, count: int) -> int:
        """Bytes in the heap of an array of `count` elements of this P/Q column."""
        return -(-count // 8) if self.element == "X" else count * _SIZE[self.element]


def columns(tforms: list[str], tdims: list[str | None]) -> list[Column]:
    """The columns of a binary table from its TFORMn (and TDIMn) values, packed as the
    standard lays them."""
    out, offset = [], 0
    for n, (tform, tdim) in enumerate(zip(tforms, tdims, strict=True), 1):
        match = _BINARY.match(tform.strip())
        if match is None:
            raise Invalid(f"fits: TFORM{n} = '{tform}' is not a binary table format")
        repeat, kind, rest = int(match.group(1) or 1), match.group(2), match.group(3).strip()
        element = ""
        if kind in "PQ":
            array = _ARRAY.match(rest)
            if array is None or repeat > 1:
                raise Invalid(f"fits: TFORM{n} = '{tform}' is not a variable-length array format")
            element = array.group(1)
        column = Column(
            n, kind, offset, repeat, element, _string_length(repeat, rest, tdim) if kind == "A" else 0
        )
        out.append(column)
        offset += column.width
    return out


def _string_length(repeat: int, rest: str, tdim: str | None) -> int:
    """An A column holds repeat / w strings of w characters (astropy writes TDIMn; rAw is
    the older convention); one string when neither divides it."""
    found = _FIRST_AXIS.match(tdim) if tdim else _DIGITS.match(rest)
    width = int(found.group(1)) if found else repeat
    return width if 0 < width <= repeat and repeat % width == 0 else repeat


def binary(
    stream: Stream,
    naxis1: int,
    rows: int,
    tforms: list[str],
    tdims: list[str | None],
    heap: int,
    tiles: Tiles,
) -> None:
    """A binary table's rows and heap (PCOUNT bytes right after the rows: THEAP was
    checked to be the table's size), to their last byte. `tiles`: the columns whose
    arrays are a tile-compressed image's gzip or RICE_1 tiles (fitstile.py)."""
    cols = columns(tforms, tdims)
    width = sum(c.width for c in cols)
    if width != naxis1:
        raise Invalid(
            f"fits: the columns of a binary table (TFORMn) fill {width} bytes of each "
            f"{naxis1}-byte row (NAXIS1): every byte of a row must lie in a column"
        )
    checks = [c for c in cols if c.kind in "LXA" and c.repeat]
    arrays = [c for c in cols if c.kind in "PQ" and c.repeat]
    if heap and not arrays:
        raise Invalid(
            f"fits: a binary table without array columns (P, Q) has a heap of {heap} bytes (PCOUNT)"
        )
    if not checks and not arrays:
        stream.skip(naxis1 * rows, "a binary table", FMT)
        return
    layout = HeapLayout(arrays, heap, tiles.columns)
    per_batch = rows_per_batch(naxis1)
    for first in range(0, rows, per_batch):
        count = min(per_batch, rows - first)
        start = stream.pos
        data = stream.read(count * naxis1, "a binary table", FMT)
        for column in checks:
            _check_bits(data, naxis1, column, start)
        tiles.one_array(layout.add(data, naxis1, first), first)
    layout.finish()
    _check_heap(stream, heap, layout.checked(), tiles)


def rows_per_batch(naxis1: int) -> int:
    """Rows read at a time: about BATCH bytes, at least one row, no row over MAX_ROW."""
    if naxis1 > MAX_ROW:
        raise Invalid(
            f"fits: a table row of {naxis1} bytes with bytes to check: rows over {MAX_ROW} are not read"
        )
    return max(1, BATCH // max(naxis1, 1))


def _check_bits(data: bytes, naxis1: int, column: Column, start: int) -> None:
    """Logical bytes are T, F or 0; an X column's bits past its last are zero; a string
    holds only NULs after its first NUL."""
    if column.kind == "L":
        for j in range(column.repeat):
            _only(data[column.offset + j :: naxis1], _LOGICAL, column, start + column.offset + j, naxis1)
    elif column.kind == "A":
        _check_string(data, naxis1, column, start)
    elif column.repeat % 8:
        last = column.offset + column.width - 1
        _only(data[last::naxis1], _clear(column.repeat % 8), column, start + last, naxis1)


def _check_string(data: bytes, naxis1: int, column: Column, start: int) -> None:
    """No byte but NUL after a NUL in any row: a C reader (cfitsio) ends the string there,
    astropy returns what follows. Each row is a byte of a big integer (1 = NUL), so the
    rows are checked together, byte position by byte position."""
    rows = len(data) // naxis1
    ones, seen = int.from_bytes(b"\1" * rows, "big"), 0
    for j in range(column.repeat):
        if j % column.string == 0:  # the next string of a multidimensional column
            seen = 0
        position = data[column.offset + j :: naxis1]
        _no_control(position, data, naxis1, column, start, j)
        nul = int.from_bytes(position.translate(_IS_NUL), "big")
        bad = seen & (ones ^ nul)
        if bad:
            row = rows - 1 - (bad.bit_length() - 1) // 8
            _after_nul(column, start + row * naxis1 + column.offset + j)
        seen |= nul


def _no_control(position: bytes, data: bytes, naxis1: int, column: Column, start: int, j: int) -> None:
    """No control in byte j of the column's strings (`position`: that byte of each row); a
    C2 there is read with byte j + 1 of its string (a C1 control as UTF-8)."""
    found = _BYTE_CONTROL.search(position)
    if found is not None:
        _control(column, start + found.start() * naxis1 + column.offset + j)
    if (j + 1) % column.string == 0 or b"\xc2" not in position:
        return  # the string ends at byte j, or no C2 before a C1 byte
    after = data[column.offset + j + 1 :: naxis1]
    at = position.find(b"\xc2")
    while at >= 0:
        if 0x80 <= after[at] <= 0x9F:
            _control(column, start + at * naxis1 + column.offset + j)
        at = position.find(b"\xc2", at + 1)


def _control(column: Column, at: int) -> NoReturn:
    raise Invalid(
        f"fits: a string of column {column.number} (TFORM{column.number}) holds a control character "
        f"(offset {at}): an A field is ASCII text (FITS 4.0 7.3.3.1), and {terminal.WHY}"
    )


class _HeapStrings:
    """A run of PA()/QA() strings one after another in the heap, each held to the A
    column's rule, fed piece by piece: a NUL followed by another byte is refused unless
    that byte starts the next string (found by the C regex; starts looked up by bisection)."""

    def __init__(self, array: HeapArray, at: int) -> None:
        self.column, self.at, self.offset, self.starts = array.column, at, array.offset, array.starts
        self.nul_before = False
        self.c2_before = b""  # a C2 ending the last piece: its C1 byte may start this one

    def feed(self, piece: bytes, done: int, last: bool) -> None:
        if self.nul_before and piece[:1] not in (b"", b"\0"):
            self._started(done)
        for found in _NUL_THEN_BYTE.finditer(piece):
            self._started(done + found.start() + 1)
        if (bad := _STRING_CONTROL.search(self.c2_before + piece)) is not None:
            _control(self.column, self.at + done + bad.start() - len(self.c2_before))
        self.nul_before = piece[-1:] == b"\0"
        self.c2_before = b"\xc2" if piece[-1:] == b"\xc2" else b""

    def _started(self, at: int) -> None:
        """The byte at `at` (in the run) follows a NUL: it must start a string."""
        i = bisect_left(self.starts, self.offset + at)
        if i == len(self.starts) or self.starts[i] != self.offset + at:
            _after_nul(self.column, self.at + at)


def _after_nul(column: Column, at: int) -> NoReturn:
    """The one rule for strings, fixed (A) or in the heap (PA(), QA()): a C reader
    (cfitsio) ends a string at its first NUL, astropy returns what follows, so only NULs
    may follow it."""
    raise Invalid(
        f"fits: a string of column {column.number} (TFORM{column.number}) holds bytes after its "
        f"NUL (offset {at}): a C reader ends it at the NUL"
    )


def _clear(used: int) -> bytes:
    """The byte values whose bits past the first `used` (most significant first) are zero."""
    mask = 0xFF >> used
    return bytes(v for v in range(256) if not v & mask)


def _only(values: bytes, allowed: bytes, column: Column, first: int, stride: int) -> None:
    bad = values.translate(None, allowed)
    if bad:
        at = first + values.index(bad[:1]) * stride
        logical = "L" in (column.kind, column.element)
        what = (
            "a logical byte other than T, F or 0"
            if logical
            else "bits past the last bit of an X column that are not zero"
        )
        raise Invalid(f"fits: {what} in column {column.number} (TFORM{column.number}, offset {at})")


def _check_heap(stream: Stream, heap: int, checked: Iterable[HeapArray], tiles: Tiles) -> None:
    """Streams the heap: the arrays whose bytes have rules are read and checked, the rest skipped."""
    start, pos = stream.pos, 0
    for array in checked:
        stream.skip(array.offset - pos, "a binary table's heap", FMT)
        check = _array_check(array, start + array.offset, tiles)
        for done in range(0, array.size, PIECE):
            piece = stream.read(min(PIECE, array.size - done), "a binary table's heap", FMT)
            check(piece, done, done + PIECE >= array.size)
        pos = array.offset + array.size
    stream.skip(heap - pos, "a binary table's heap", FMT)


def _array_check(array: HeapArray, at: int, tiles: Tiles) -> Callable[[bytes, int, bool], None]:
    """What checks an array's bytes, fed a piece at a time: (piece, its place in the array, last)."""
    column, count = array.column, array.count
    if column.element == "L":
        return lambda piece, done, last: _only(piece, _LOGICAL, column, at + done, 1)
    if column.element == "A":
        return _HeapStrings(array, at).feed
    if column.element == "X":

        def bits(piece: bytes, done: int, last: bool) -> None:
            if last and count % 8:
                _only(piece[-1:], _clear(count % 8), column, at + array.size - 1, 1)

        return bits
    if column.number in tiles.plio:
        return PlioTile(at, array.size).feed
    if column.number in tiles.rice:
        return RiceTile(at, tiles, array.row).feed
    return GzipTile(at, tiles, array.row).feed
