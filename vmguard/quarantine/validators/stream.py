"""The bytes of one file as its validator reads them: in order, once, never all at once.

A validator pulls what it needs (read, skip, peek) from chunks that arrive as the copy
reads the file; nothing before the current position is kept. Reading past the end is a
broken rule of the format (Invalid), never a short answer a validator could overlook.
"""

from __future__ import annotations

from collections.abc import Iterator


class Invalid(Exception):
    """The file breaks a rule of its format; the message names the format and the rule."""

    def __init__(self, message: str, code: str = "invalid-format") -> None:
        super().__init__(message)
        self.code = code


class Stream:
    """Sequential reader over an iterator of byte chunks (a file, or an inflated one)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self.pos = 0  # offset in the file of the next byte read

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf = memoryview(chunk)
                return True
        return False

    def peek(self, n: int) -> bytes:
        """Up to n bytes from the current position, without consuming them."""
        while len(self._buf) < n:
            if not self._buf:  # nothing to join: the next chunk as it is (no copy)
                if not self._fill():
                    break
                continue
            rest = bytes(self._buf)
            if not self._fill():
                self._buf = memoryview(rest)
                break
            self._buf = memoryview(rest + bytes(self._buf))
        return bytes(self._buf[:n])

    def read(self, n: int, what: str, fmt: str) -> bytes:
        """Exactly n bytes, or Invalid naming the structure the file ends inside."""
        data = self.peek(n)
        if len(data) < n:
            raise Invalid(f"{fmt}: the file ends inside {what} (offset {self.pos + len(data)})")
        self._buf = self._buf[n:]
        self.pos += n
        return data

    def skip(self, n: int, what: str, fmt: str) -> None:
        """Pass over n bytes (a data section) without keeping them."""
        while n > 0:
            if not self._buf and not self._fill():
                raise Invalid(f"{fmt}: the file ends inside {what} (offset {self.pos})")
            step = min(n, len(self._buf))
            self._buf = self._buf[step:]
            self.pos += step
            n -= step

    def unread(self, data: bytes) -> None:
        """Give back bytes just taken by chunks() (a validator that looked ahead)."""
        self._buf = memoryview(data + bytes(self._buf))
        self.pos -= len(data)

    def chunks(self) -> Iterator[memoryview]:
        """Everything from the current position to the end, chunk by chunk."""
        while self._buf or self._fill():
            chunk, self._buf = self._buf, memoryview(b"")
            self.pos += len(chunk)
            yield chunk

    def at_end(self) -> bool:
        return not self._buf and not self._fill()

    def expect_end(self, fmt: str, after: str) -> None:
        """Nothing may follow the format's last structure."""
        if not self.at_end():
            raise Invalid(f"{fmt}: bytes after {after} (offset {self.pos}): nothing may follow it")
