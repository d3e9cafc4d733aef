"""A JSON document read from a file one value at a time, by json's own decoder.

json.loads of a vet's manifest at 100,000 files (~30 MB, one line) builds ~93 MB of
dicts and lists at once; read here, an object's members and an array's items come one
at a time, and only the text not yet decoded is held (about a chunk). What is accepted
is what json.loads accepts of the same UTF-8 text (each value is decoded by its
raw_decode; only the brackets, commas and colons between them are read here).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1 << 20  # bytes read at a time
_SPACE = re.compile(r"[ \t\n\r]*")  # json's own whitespace
_AFTER_ITEM = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_NUMBER_GOES_ON = frozenset("0123456789.eE+-")  # no value ends before one in valid JSON


class JsonStream:
    """The text of `fh` from byte `offset` on, read `chunk` bytes at a time. Raises
    ValueError (json.JSONDecodeError or UnicodeDecodeError) where json.loads would."""

    def __init__(self, fh: BinaryIO, offset: int = 0, chunk: int = CHUNK) -> None:
        fh.seek(offset)
        self._fh = fh
        self._chunk = chunk
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0  # in _buf: what is before it is decoded
        self._base = offset  # the byte offset of _buf[0]
        self._eof = False

    @property
    def offset(self) -> int:
        """The byte offset of the next character to read (a value's, after peek())."""
        return self._base + _utf8_len(self._buf[: self._pos])

    def _more(self, size: int) -> bool:
        """Read at least `size` more bytes (dropping the text decoded); False at the end."""
        if self._eof:
            return False
        data = self._fh.read(max(size, self._chunk))
        self._eof = not data
        done = self._buf[: self._pos]
        self._base += _utf8_len(done)
        self._buf = self._buf[self._pos :] + self._utf8.decode(data, final=self._eof)
        self._pos = 0
        return bool(data)

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            self._pos = _SPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more(self._chunk):
                return ""

    def _expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            raise ValueError(f"expected one of {chars!r} at byte {self.offset}, found {found!r}")
        self._pos += 1
        return found

    def value(self) -> object:
        """The next value, whole."""
        self.peek()
        size = self._chunk
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
                # A number cut by the chunk's end decodes as a shorter one ("-1" of "-1.5e-7").
                if end < len(self._buf) and self._buf[end] not in _NUMBER_GOES_ON:
                    self._pos = end
                    return value
            except json.JSONDecodeError:
                pass  # perhaps only cut short by the chunk's end
            if not self._more(size):
                value, self._pos = _DECODER.raw_decode(self._buf, self._pos)  # its own error, if any
                return value
            size *= 2  # a value longer than a chunk: read as much again each time

    def members(self) -> Iterator[str]:
        """The next value is an object: its keys in turn. The caller reads each key's
        value (value() or items()) before it asks for the next key."""
        self._expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"an object key that is no string before byte {self.offset}")
            self._expect(":")
            yield key
            if self._expect(",}") == "}":
                return

    def items(self) -> Iterator[object]:
        """The next value is an array: its items in turn."""
        self._expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            fast = self._next_item()  # nearly every item: no call but json's
            if fast is None:
                yield self.value()
                if self._expect(",]") == "]":
                    return
                self.peek()  # the next item's first character, for the fast way
                continue
            value, last = fast
            yield value
            if last:
                return

    def _next_item(self) -> tuple[object, bool] | None:
        """An array's next item and whether it is its last, if both are in the text read
        (None: read them with value() and _expect())."""
        try:
            value, end = _DECODER.raw_decode(self._buf, self._pos)
        except json.JSONDecodeError:
            return None
        after = _AFTER_ITEM.match(self._buf, end)
        if after is None:
            return None
        self._pos = after.end()
        return value, after.group(1) == "]"

    def end(self) -> None:
        """Nothing but whitespace is left (as json.loads requires)."""
        if self.peek():
            raise ValueError(f"extra data at byte {self.offset}")


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())
