r"""The one way vmguard shows text it did not write itself to a human.

VM and share names, host paths, guest account and package names, file names and every
message built from them are controlled by a VM, a guest or a job. Printed as they are,
they act on the reader's terminal (ESC and C1 sequences: cursor, title, OSC 8 links,
OSC 52 clipboard writes), forge lines (CR, LF, U+2028, U+2029) or display as something
else (bidi overrides: "evil\u202egpj.exe" shows as "evilexe.jpg"; invisible characters
make two names look alike). `shown()` turns each such character into a visible escape
(`\x1b`, `\u202e`, `\U000e0041`) and doubles a backslash, so the result is one line of
printable text that names exactly one input. `terminal_safe()` is the backstop on the
command's own output streams. Machine formats (JSON) carry the exact string instead.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from typing import TextIO

# Categories whose every character acts on a terminal, breaks a line or is invisible:
# controls (C0, DEL, C1), format characters (bidi embeddings, overrides and isolates,
# marks, zero-width characters, soft hyphen, tags), surrogates (undecodable bytes),
# line and paragraph separators, private use (any glyph a font likes) and unassigned code
# points (drawn as the font pleases, or as nothing).
_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"))
# The rest of Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn
# as nothing, so they make two different names look the same.
_IGNORABLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2065, 0x2065),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)
# Blanks other than the ASCII space (no-break, en/em, ideographic spaces: category Zs)
# and the braille blank draw as a space or as nothing: "batch\u300001" must not pass
# for "batch 01".
_BLANKS = ("Zs",)
_BRAILLE_BLANK = 0x2800
_SURROGATE_ESCAPE = range(0xDC80, 0xDD00)  # os.fsdecode's form of an undecodable byte


def needs_escape(char: str) -> bool:
    """Whether one character must not reach a reader as it is."""
    if char.isascii():
        return not char.isprintable()
    code = ord(char)
    category = unicodedata.category(char)
    if category in _CATEGORIES or category in _BLANKS or code == _BRAILLE_BLANK:
        return True
    return any(a <= code <= b for a, b in _IGNORABLE)


def is_plain(text: str) -> bool:
    """Whether `text` holds nothing `shown()` escapes except backslashes (its own escapes)."""
    if text.isascii():
        return text.isprintable()
    return not any(needs_escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code in _SURROGATE_ESCAPE:
        return f"\\x{code - 0xDC00:02x}"  # the byte that could not be decoded
    if code < 0x80:
        return f"\\x{code:02x}"
    # C1 and the rest as \u: "\x85" stays the undecodable byte 0x85, never U+0085.
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(text: object) -> str:
    r"""`text` as one line of printable characters that names exactly one input.

    Every character `needs_escape` names becomes `\xNN`, `\uNNNN` or `\UNNNNNNNN`, and a
    backslash becomes `\\`, so an escape in the output never comes from the input's
    own characters.
    """
    text = str(text)
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # nearly every string: nothing to do
    return "".join("\\\\" if c == "\\" else _escape(c) if needs_escape(c) else c for c in text)


def shown_lines(lines: Iterable[object]) -> str:
    """Lines vmguard composed (they may hold untrusted text), each `shown()`, joined by LF."""
    return "\n".join(shown(line) for line in lines)


def terminal_safe(text: str) -> str:
    """Everything a stream prints, with only its own newlines and tabs left as they are.

    The backstop under `shown()`: whatever a code path forgot to escape still cannot
    move the cursor, set a title, make a link, write the clipboard or reorder text.
    Backslashes are kept, so text already `shown()` is unchanged.
    """
    if text.isascii() and (text.isprintable() or not _has_ascii_control(text)):
        return text
    return "".join(_escape(c) if c not in "\n\t" and needs_escape(c) else c for c in text)


def _has_ascii_control(text: str) -> bool:
    return any(c not in "\n\t" and not c.isprintable() for c in text)


class SafeStream(io.TextIOBase):
    """A text stream that passes everything written through `terminal_safe()`."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return self.inner.isatty()

    @property
    def buffer(self):  # noqa: ANN201 - binary writers (vet's JSON) write exact bytes
        return self.inner.buffer

    @property
    def encoding(self) -> str:
        return self.inner.encoding
