"""The fixed-length strings (datatype class 3, h5py's `S` dtypes) of a dataset's or an
attribute's elements, alone or inside compounds and arrays, judged as the terminal text
a reader makes of them (terminal.py, session 40): h5py returns bytes, and `.decode()` or
`.asstr()` then `print` hands a terminal what they hold. Each string, its NULs aside (the
padding of a NULLPAD or NULLTERM string; atoms.py keeps a NULLTERM one from hiding bytes
after its NUL), is checked as terminal.check reads it: UTF-8 where it is, else Latin-1.

An element's strings are a map of its bytes (elements.Element.texts): 1 where a string
starts, 2 where it goes on, 0 elsewhere. A window of elements (vlen.check) is read at C
speed: a table's few string columns gathered side by side (strided slices), or the
bytes outside strings zeroed, a search for C0 controls and DEL, then, only
where a byte 80..9F lies in a string (a C1 control in Latin-1, or a UTF-8 continuation
byte), the window decoded as UTF-8 at once when every string in it is UTF-8 (it decodes
and no string starts with a continuation byte), else each string holding such a byte
alone. A string longer than a window is read a window at a time."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass

from .. import terminal

WINDOW = 1 << 20  # bytes of strings read at a time
_GATHERED = 64  # an element with at most this many bytes of strings among others: gathered
_STRING_BYTES = bytes([0]) + b"\xff" * 2 + bytes(253)  # translate a map: 0xff on a string's bytes
_STARTS = bytes([0, 0xFF]) + bytes(254)  # ... on each string's first byte
_HIGH = re.compile(rb"[\x80-\x9f]")  # C1 in Latin-1, or a UTF-8 continuation byte
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")  # C1 in UTF-8
# translate(None, one of these) leaves the bytes of a class: whether one is there, at C speed
_NOT_C0 = bytes(b for b in range(256) if not terminal.CONTROL_BYTE.match(bytes([b])))
_NOT_HIGH = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b <= 0xBF)
_LATIN1_CONTROL = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_INSIDE = re.compile(rb"[^\x02]")


# a chunk's offsets and dimensions (in elements), and the dataset's dimensions
Grid = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Numbering:
    """Whose elements are read, to name one in a refusal: a dataset (its element number
    in the dataset's order), an attribute, a fill value; for a chunk, where it lies
    (offsets and dimensions in elements) in the dataset's dimensions; `first` the number
    in the chunk or extent of the first element read."""

    what: str
    chunk: Grid | None = None
    first: int = 0

    def name(self, i: int) -> str:
        """How a refusal names a string of element `i` (counted from `first`)."""
        return f"a fixed-length string of {self.what} (element {self._index(self.first + i)})"

    def _index(self, i: int) -> int:
        return i if self.chunk is None else _ravel(i, self.chunk)


def _ravel(i: int, chunk: Grid) -> int:
    """The number, in the dataset's order, of element `i` of the chunk."""
    offsets, dims, extent = chunk
    coords = []
    for step in reversed(dims):
        i, rest = divmod(i, step)
        coords.append(rest)
    index = 0
    for at, coord, size in zip(offsets, reversed(coords), extent, strict=True):
        index = index * size + at + coord
    return index


def elements(raw: bytes, texts: bytes, numbering: Numbering) -> None:
    """The strings of the whole elements in `raw` (at most about a window), `texts` the
    map of one element."""
    size, packed = len(texts), texts.replace(b"\0", b"")
    if b"\0" in texts and len(packed) <= _GATHERED:  # a table's string columns, gathered
        raw, width = _gathered(raw, texts), len(packed)
        step = width if packed == b"\1" + b"\2" * (width - 1) else 0
        _strings(raw, packed * (len(raw) // width), lambda at: numbering.name(at // width), step)
        return
    step = size if texts == b"\1" + b"\2" * (size - 1) else 0
    _strings(raw, texts * (len(raw) // size), lambda at: numbering.name(at // size), step)


def _gathered(raw: bytes, texts: bytes) -> bytes:
    """The string bytes of each element of `raw`, side by side (a slice a byte position of
    the element: C speed for a few columns of many rows)."""
    size, n = len(texts), len(raw) // len(texts)
    columns = [at for at, kind in enumerate(texts) if kind]
    out = bytearray(n * len(columns))
    for i, at in enumerate(columns):
        out[i :: len(columns)] = raw[at::size]
    return bytes(out)


def large(view: memoryview, texts: bytes, numbering: Numbering) -> None:
    """The strings of one element larger than a window: a window of whole strings at a
    time, a string longer than a window alone."""
    pos, size = 0, len(texts)
    while pos < size:
        end = min(size, pos + WINDOW)
        if end < size and texts[end] == 2:  # a string goes on past the window: stop before it
            end = texts.rfind(b"\1", pos, end)
        if end <= pos:  # the string at pos is longer than a window
            end = _end(texts, pos)
            _long(view[pos:end], numbering.name(0))
        else:
            _strings(bytes(view[pos:end]), texts[pos:end], lambda _: numbering.name(0))
        pos = end


def _strings(raw: bytes, tmap: bytes, name: Callable[[int], str], step: int = 0) -> None:
    """Each string `tmap` (the map of `raw`, whose strings are whole) marks in `raw`;
    `name` names the string holding a byte of `raw`; `step`, where not 0, the size of
    each string when they tile `raw`."""
    data = raw
    if b"\0" in tmap:  # bytes besides strings: zeroed, as NULs are no character here
        mask = int.from_bytes(tmap.translate(_STRING_BYTES), "little")
        data = (int.from_bytes(raw, "little") & mask).to_bytes(len(raw), "little")
    if data.translate(None, _NOT_C0):  # C0 or DEL: a control however the string is read
        _exact(raw, tmap, terminal.CONTROL_BYTE.search(data).start(), name)
    if not data.translate(None, _NOT_HIGH):
        return
    if _utf8(data, tmap, step):
        found = _C1_UTF8.search(data)
        if found is not None:
            _exact(raw, tmap, found.start(), name)
        return
    at = 0
    while (found := _HIGH.search(data, at)) is not None:  # each string holding one, alone
        at = max(_exact(raw, tmap, found.start(), name), found.start() + 1)


def _utf8(data: bytes, tmap: bytes, step: int) -> bool:
    """Whether each string of `data` is UTF-8 on its own: `data` decodes and no string
    starts with a continuation byte (no character runs across two). Then a C1 control
    is C2 80..9F in the bytes, C2 being a character's first byte."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if step:
        firsts = data[::step]
    else:
        starts = int.from_bytes(tmap.translate(_STARTS), "little")
        firsts = (int.from_bytes(data, "little") & starts).to_bytes(len(data), "little")
    return not firsts.translate(None, _NOT_CONTINUATION)


def _end(tmap: bytes, start: int) -> int:
    """Where the string starting at `start` ends."""
    after = _NOT_INSIDE.search(tmap, start + 1)
    return len(tmap) if after is None else after.start()


def _exact(raw: bytes, tmap: bytes, at: int, name: Callable[[int], str]) -> int:
    """The string holding byte `at`, checked alone as terminal.check reads it (refused
    there when it drives a terminal); returns where it ends."""
    start = tmap.rfind(b"\1", 0, at + 1)
    end = _end(tmap, start)
    terminal.check(raw[start:end].replace(b"\0", b""), name(at), "hdf5")
    return end


def _long(view: memoryview, name: str) -> None:
    """One string longer than a window, read a window at a time: as UTF-8 while it
    decodes, else again from its start as Latin-1 (terminal.check's reading)."""
    decoder, seen = codecs.getincrementaldecoder("utf-8")(), 0
    try:
        for at in range(0, len(view), WINDOW):
            piece = bytes(view[at : at + WINDOW]).replace(b"\0", b"")
            text = decoder.decode(piece, final=at + WINDOW >= len(view))
            found = terminal.CONTROL.search(text)
            if found is not None:
                terminal.refuse(found.group(), seen + found.start(), name, "hdf5")
            seen += len(text)
        return
    except UnicodeDecodeError:
        pass
    seen = 0
    for at in range(0, len(view), WINDOW):
        piece = bytes(view[at : at + WINDOW]).replace(b"\0", b"")
        found = _LATIN1_CONTROL.search(piece)
        if found is not None:
            terminal.refuse(found.group().decode("latin-1"), seen + found.start(), name, "hdf5")
        seen += len(piece)
