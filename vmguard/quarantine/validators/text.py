"""Text, to the last byte: UTF-8 (ASCII included) or UTF-16 with a byte order mark,
every byte part of a valid character, no NUL, and no control character but TAB, LF,
VT, FF and CR (no escape sequences that drive a terminal, no C1 controls). CSV and TSV
are text and get the same check. libmagic judges markup by the first 512 bytes only, so
markup a browser would run (HTML, SVG, XML documents, script) anywhere in the file is
refused here: served from the public area as .html or .svg, it would be a page."""

from __future__ import annotations

import codecs
import re

from .stream import Invalid, Stream

FMT = "text"
# C0 controls but TAB LF VT FF CR, DEL, and the C1 controls U+0080..U+009F.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ASCII_ALLOWED = bytes(b for b in range(128) if not _CONTROL.match(chr(b)))
_MARKUP = re.compile(
    r"<\s*(?:script|html|svg|iframe|object|embed|body|meta|form)\b|<!doctype|<\?xml", re.IGNORECASE
)
_TAIL = 16  # characters kept across chunks, so markup cut by a chunk boundary is seen
_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def encoding(head: bytes) -> str:
    """The encoding text in this file must be valid in, from its byte order mark."""
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), "utf-8")


def validate(stream: Stream) -> str:
    enc = encoding(stream.peek(2))
    decoder = codecs.getincrementaldecoder(enc)("strict")
    offset, tail = 0, ""  # bytes decoded so far (for the message); the last characters
    for chunk in stream.chunks():
        tail = _markup(tail + _check(decoder, bytes(chunk), offset, enc, final=False), offset)
        offset += len(chunk)
    _markup(tail + _check(decoder, b"", offset, enc, final=True), offset)
    return FMT


def _markup(text: str, offset: int) -> str:
    """Refuse markup in `text`; return its last characters for the next chunk."""
    found = _MARKUP.search(text)
    if found:
        raise Invalid(
            f"text: markup {found.group()!r} near byte {offset} (HTML, SVG or XML that a browser would run)"
        )
    return text[-_TAIL:]


def _check(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, enc: str, final: bool) -> str:
    if enc == "utf-8" and b"\0" in chunk:  # binary data after a text start, whatever else is wrong
        raise Invalid("text: a NUL byte (text has none; binary data follows a text start)", "binary-in-text")
    held = len(decoder.getstate()[0])  # the start of a character cut by the last chunk
    try:
        text = decoder.decode(chunk, final)
    except UnicodeDecodeError as err:
        raise Invalid(f"text: byte {offset - held + max(err.start, 0)} is not valid {enc}") from None
    if enc == "utf-8" and chunk.isascii() and not chunk.translate(None, _ASCII_ALLOWED):
        return text  # ASCII without a control byte (4x faster than the search, same answer)
    bad = _CONTROL.search(text)
    if bad is None:
        return text
    char = ord(bad.group())
    if char == 0:
        raise Invalid("text: a NUL byte (text has none; binary data follows a text start)", "binary-in-text")
    raise Invalid(
        f"text: control character U+{char:04X} near byte {offset} (only TAB, LF, VT, FF and CR are allowed)"
    )
