"""Text, to the last byte: valid in one encoding from its first byte to its last, no NUL,
and no control character but TAB, LF, VT, FF and CR (no escape sequences that drive a
terminal but tqdm's cursor-up ESC [ A within the file's own lines, no C1 controls; in
UTF-16 also no byte ESC, ENQ, SO, SI or UTF-8 C1 pair a terminal acts on: `cat` writes bytes). The
encoding is found, not guessed: UTF-16 (LE or BE) if the file starts with its byte order
mark, else UTF-8 if every byte is, else Latin-1 if every byte is allowed there (any byte but NUL and the
C0/C1 controls); the answer names it ("text", "text:utf-16", "text:latin-1") and the
policy's `text_encodings` decides (content.py). CSV and TSV are text and get the same
check. libmagic judges markup by the first 512 bytes only, so markup a browser would run
(HTML, SVG, XML documents, script) anywhere in the file is refused here: served from the
public area as .html or .svg, it would be a page."""

from __future__ import annotations

import codecs
import re

from .stream import Invalid, Stream

FMT = "text"
UTF8, UTF16, LATIN1 = "utf-8", "utf-16", "latin-1"  # the policy's names (TextEncoding)
# tqdm moves the cursor up a line with ESC [ A between nested bars (tqdm.utils._term_move_up)
# and writes it to a file as to a terminal (it never asks isatty): a job's .err holds it.
# Exactly these three characters are text. A terminal that `cat`s the file moves up a line:
# the shown text covers earlier text, as CR (allowed) already lets it within a line; the
# terminal answers nothing, and no title, colour, clipboard, link or mode is set (OSC, DCS,
# SGR, DSR, a count `ESC [ 2 A`: any other ESC is refused). A browser shows it as a
# character (WHATWG's sniffer does not count ESC as binary; .err has no type). Only within
# the file's own lines (TextChecker._climb): tqdm moves up only to rows it moved down to.
CURSOR_UP = "\x1b[A"
# A reader may show any of the file's lines, in any order: `tail`, `grep`, `sort`, `cat -s`.
# A line with u cursor-ups then climbs u - 1 rows more than its LF brings down, wherever the
# lines around it went: a view of whole lines rises at most 1 + the sum of (u - 1) over the
# lines with u > 1 above its first row. That sum is kept under MAX_RISE: two nested tqdm
# bars (one cursor-up a line) pass whatever their length; three or more, whose lines climb
# 2 and more, pass only for a few updates (grep of a long run climbed 45 rows).
# The sum is the job's too: the parent adds up every file's `excess` (jobrise.py), as
# `grep -h X *.err` shows the lines of all of them one after another. Readers joining
# lines, of several files (paste, pr -m) or of one (paste -s, fmt), add their cursor-ups
# unbounded (docs): a line's first is free, so nested bars pass.
MAX_RISE = 8


def _climbs(row: int) -> str:
    """Why a cursor-up that left the file's lines (row < 0) or rose too far is refused."""
    if row < 0:
        return ("moves the cursor above the file's first line (more cursor-ups than line "
                "feeds before it): `cat` would overwrite what a terminal showed before the "
                "file; tqdm moves up only to lines it wrote")
    return (f"lets a view of its lines climb more than {MAX_RISE} lines: `grep`, `sort` or "
            "`tail` of it would overwrite what a terminal showed before (its lines with more "
            "than one cursor-up climb by the rest wherever they are shown; tqdm nests 2 bars "
            "at most here: strip the escapes, or tqdm(..., ascii=True, position=None))")
# `cat` hands a terminal a UTF-16 file's bytes, not its characters: U+5B1B's bytes are
# ESC [. In them no 0x1B (ESC), and none of the C1 controls a UTF-8 terminal (xterm, VTE)
# acts on, as their UTF-8 bytes C2 xx: RI 8D (cursor up), the openers DCS 90, SOS 98,
# CSI 9B, OSC 9D, PM 9E, APC 9F (a sequence, or text hidden up to an ST), DECID 9A (the
# terminal answers). The other C1 pairs move down, shift a character or mark an area or a
# tab stop: Korean UTF-16 needs them (LE: U+C218 U+B294 is 18 C2 94 B2; BE: U+C288 is C2 88).
# A lone 0x80..0x9F byte stays: no UTF-8 a terminal decodes, and UTF-16 needs it (Greek
# U+039B, CJK U+9053, arrows U+2190). The last chunk's last byte is kept for a cut pair.
# Of the C0 bytes, those a terminal acts on beyond what text's own controls do: ENQ 0x05
# (it answers: PuTTY types "PuTTY"), SO 0x0E and SI 0x0F (a character set shift that stays
# after `cat`: the Linux console's G1 is line drawing). The rest are ignored (SOH..EOT, ACK,
# DLE..EM, FS..US), ring (BEL) or move the cursor within what CR, LF and TAB already allow
# (BS, HT, LF, VT, FF, CR), and Greek, Cyrillic and CJK need them. Refused with them: UTF-16
# holding Hebrew or Armenian (U+05xx), Thai or Lao (U+0Exx), Tibetan (U+0Fxx), LRM/RLM, ą,
# Ď, ď and about 1 CJK character in 85 (session 37, attack l text): the remedy is UTF-8.
_UTF16_C0 = {0x05: "ENQ (the terminal answers)", 0x0E: "SO (a character set shift)",
             0x0F: "SI (a character set shift)", 0x1B: "ESC (U+001B)"}
_UTF16_C1 = bytes((0x8D, 0x90, 0x98, 0x9A, 0x9B, 0x9D, 0x9E, 0x9F))  # RI DCS SOS DECID CSI OSC PM APC
_UTF16_BYTES = re.compile(b"[%s]|\xc2[%s]" % (re.escape(bytes(_UTF16_C0)), re.escape(_UTF16_C1)))
# C0 controls but TAB LF VT FF CR, DEL, and the C1 controls U+0080..U+009F; ESC but in
# CURSOR_UP. An ESC or ESC [ at the end of a chunk is judged with the next one (_control).
_CONTROL = re.compile("\x1b(?!\\[A|\\[?\\Z)|[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_LATIN1_CONTROL = re.compile(b"\x1b(?!\\[A|\\[?\\Z)|[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")  # as bytes
_ASCII_ALLOWED = bytes(b for b in range(128) if not re.match("[\x00-\x08\x0e-\x1f\x7f]", chr(b)))  # no ESC
# <script ... <form are tags a browser's sniffer takes for a page (WHATWG's and Chromium's
# <script <html <body <iframe, Firefox's <meta <form) or that run script (<svg's handlers);
# <object and <embed are in no sniffer's table: they are here because an HTML page loads
# and runs what they name (a plug-in, another document), which takes an attribute with a
# value. A tag of bare words up to its ">" names nothing to load: Python's repr of
# object(), "<object object at 0x7f...>", is such a tag, and is text. So are <html <body
# <meta <form <iframe (session 39, attack o text: g++ reports `std::vector<Body>` of an
# n-body code): they act through an attribute with a value (onload=, http-equiv=,
# action=, src=), and a sniffer judges only a file's start (page_sniffed, every file);
# <script and <svg run what follows them, bare or not.
_BARE_TAG = r"(?=[^>]{0,48}(?:>|\Z))(?:\s+[^\s=<>\"'/`]+)*\s*(?:>|\Z)"
# A tag's name ends only at white space, "/" or ">" (HTML's tag name state, XML's Name):
# `#include <form.h>` in gcc's report is an element named "form.h" to a browser, no form
# (session 38, attack n text; so `<object.h>`, `<meta.h>`, `<svg.h>`). A name cut by the
# chunk's end is judged with the next chunk (the tail); at the file's end it is no tag (an
# HTML tokenizer drops a tag the file ends in).
_NAME_END = r"(?=[\s/>])"
_MARKUP = re.compile(
    r"<\s*(?:[a-z][\w.-]{0,40}:)?(?:(?:script|svg)" + _NAME_END
    + r"|(?:html|iframe|body|meta|form|object|embed)" + _NAME_END + r"(?!"
    + _BARE_TAG
    + r"))|<!doctype|<\?xml",
    re.IGNORECASE,  # a namespace prefix too: XML runs <h:script> in the XHTML namespace
)
# Characters kept across chunks, so markup cut by a chunk boundary is seen: more than the
# longest match the rule leaves to the next chunk (a prefix, <object and a bare tag's 48).
_TAIL = 160
_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Looked up once (a lookup per file cost more than the check of a 4 KiB file's bytes).
_DECODERS = {enc: codecs.getincrementaldecoder(enc) for enc in ("utf-8", *(enc for _, enc in _BOMS))}
_ONLY = "(only TAB, LF, VT, FF, CR and tqdm's cursor-up ESC [ A are allowed)"
_NUL = "text: a NUL byte (text has none; binary data follows a text start)"


def encoding(head: bytes) -> str:
    """The codec text in this file must be valid in, from its byte order mark."""
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    return "utf-8"


def encoding_of(validator: str | None) -> str | None:
    """The encoding a text validator's answer names (None: not text)."""
    if validator is None or validator.partition(":")[0] != FMT:
        return None
    return validator.partition(":")[2] or UTF8


def validate(stream: Stream) -> str:
    checker = TextChecker(stream.peek(2))
    for chunk in stream.chunks():
        checker.feed(bytes(chunk))
    return checker.close()


class TextChecker:
    """The text rules fed chunk by chunk (JSON runs beside it on the same chunks)."""

    def __init__(self, head: bytes) -> None:
        self.codec = encoding(head)
        self.decoder = _DECODERS[self.codec]("strict")
        self.offset, self.tail = 0, ""  # bytes judged so far; the last characters
        self.latin1 = self.codec == "utf-8"  # every byte so far allowed in Latin-1
        self.in_latin1 = False  # not UTF-8: judged as Latin-1 from here on
        self.cut = ""  # an ESC or ESC [ that ended the last chunk: CURSOR_UP's start, or refused
        # The cursor's row below the file's first line when a terminal `cat`s it: each LF one
        # down, each CURSOR_UP one up. A terminal moves it down as often or more (a long line
        # wraps, VT and FF are LF to xterm, ESC [ A stops at the screen's top), never less:
        # while this stays >= 0, no cursor-up reaches a row shown before the file.
        self.row = 0
        self.ups = 0  # cursor-ups on the current line
        self.excess = 0  # over all lines, the cursor-ups of a line beyond its first (MAX_RISE)
        # The last chunk without an ESC, its LFs not yet counted into row and ups: they are
        # counted only when a later chunk is judged (_rows), so a file of one chunk, nearly
        # every small file, is never counted (its count moves no cursor-up of its own).
        self.uncounted = b""
        self.last = b""  # a UTF-16 file's last byte judged (_UTF16_BYTES)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.codec == "utf-8" and b"\0" in chunk:  # binary data after a text start
            raise Invalid(_NUL, "binary-in-text")
        if self.codec != "utf-8":
            self._utf16_bytes(chunk)
        # The first byte here that Latin-1 refuses (ASCII controls are refused in any encoding).
        bad = _LATIN1_CONTROL.search(chunk) if self.latin1 and not chunk.isascii() else None
        held = 0 if self.in_latin1 else len(self.decoder.getstate()[0])  # a character's start, cut
        text = chunk.decode("latin-1") if self.in_latin1 else self._decode(chunk, final, bad)
        start = self.offset if self.in_latin1 else self.offset - held  # the byte `text` starts at
        if self.in_latin1:
            self._control(text, start)
        self.latin1 = self.latin1 and bad is None
        joined = self.tail + text
        if found := _markup(joined):
            near = self.near(joined, found.start(), start - self._width(self.tail))
            raise Invalid(
                f"text: markup {found.group()!r} near byte {near} (HTML, SVG or XML that a browser would run)"
            )
        self.tail = joined[-_TAIL:]
        self.offset += len(chunk)

    def near(self, text: str, index: int, start: int) -> int:
        """The byte of the file where character `index` of `text` is, `text` starting at byte
        `start`: what a refusal's "near byte" names (within a character of the byte when
        UTF-8 text turns out to be Latin-1)."""
        return start + self._width(text[:index])

    def _width(self, text: str) -> int:
        """The bytes `text` takes in the file's encoding."""
        return len(text) if self.in_latin1 else len(text.encode(self.codec))

    def close(self) -> str:
        if not self.in_latin1:
            self.feed(b"", final=True)
        if self.cut:
            near = self.offset - self._width(self.cut)
            raise Invalid(f"text: control character U+001B near byte {near} {_ONLY}")
        if self.in_latin1:
            return f"{FMT}:{LATIN1}"
        return FMT if self.codec == "utf-8" else f"{FMT}:{UTF16}"

    def _decode(self, chunk: bytes, final: bool, bad: re.Match | None) -> str:
        held = len(self.decoder.getstate()[0])  # the start of a character cut by the last chunk
        try:
            text = self.decoder.decode(chunk, final)
        except UnicodeDecodeError as err:
            byte = self.offset - held + max(err.start, 0)
            if not self.latin1 or (bad is not None and self.offset + bad.start() <= byte):
                raise Invalid(f"text: byte {byte} is not valid {self.codec}") from None
            self.in_latin1 = True  # every byte so far is Latin-1 text: the rest must be too
            return chunk.decode("latin-1")
        if not self.cut and chunk.isascii() and not chunk.translate(None, _ASCII_ALLOWED):
            if chunk:  # no ESC: only down, counted when a later chunk needs it
                self._rows()
                self.uncounted = chunk
            return text  # ASCII without a control byte (4x faster than the search, same answer)
        self._control(text, self.offset - held)
        return text

    def _rows(self) -> None:
        """Count the LFs of the chunk left uncounted into row and ups (only down)."""
        if self.uncounted:  # ASCII: its characters are its bytes
            self._down(self.uncounted.decode("ascii"))
            self.uncounted = b""

    def _control(self, text: str, start: int) -> None:
        """Refuse a control character in `text` (starting at byte `start`), naming its byte;
        an ESC cut by the last chunk's end is judged with this one's start."""
        whole, start = self.cut + text, start - self._width(self.cut)
        bad = _CONTROL.search(whole)
        if bad is None:
            self._climb(whole, start)
            self.cut = whole[whole.rfind("\x1b") :] if whole.endswith(("\x1b", "\x1b[")) else ""
            return
        char = ord(bad.group())
        if char == 0:
            raise Invalid(_NUL, "binary-in-text")
        near = self.near(whole, bad.start(), start)
        raise Invalid(f"text: control character U+{char:04X} near byte {near} {_ONLY}")

    def _climb(self, whole: str, start: int) -> None:
        """Follow the row through `whole` (starting at byte `start`; its controls judged):
        refuse the first CURSOR_UP that leaves the file's own lines or lets a view of its
        lines climb more than MAX_RISE rows (an ESC [ cut by the chunk's end holds no LF and
        is counted with the next chunk)."""
        self._rows()
        parts = whole.split(CURSOR_UP)  # the text between cursor-ups: one row up after each
        at = 0
        for part in parts[:-1]:
            self._down(part)
            self.row, self.ups, at = self.row - 1, self.ups + 1, at + len(part)
            self.excess += self.ups > 1
            if self.row < 0 or self.excess >= MAX_RISE:
                raise Invalid(f"text: ESC [ A near byte {self.near(whole, at, start)} {_climbs(self.row)}")
            at += len(CURSOR_UP)
        self._down(parts[-1])

    def _down(self, text: str) -> None:
        """The rows `text` (no cursor-up) moves down: its LFs; after one, a new line."""
        lines = text.count("\n")
        self.row, self.ups = self.row + lines, self.ups if not lines else 0

    def _utf16_bytes(self, chunk: bytes) -> None:
        """Refuse a byte of UTF-16 text a terminal would act on (_UTF16_BYTES)."""
        joined, self.last = self.last + chunk, chunk[-1:]
        if (bad := _UTF16_BYTES.search(joined)) is None:
            return
        at, found = self.offset - len(joined) + len(chunk) + bad.start(), bad.group()
        if len(found) == 1:
            name = _UTF16_C0[found[0]]
            what = f"the byte 0x{found[0]:02X} near byte {at} of UTF-16 text is {name} to a terminal"
        else:
            what = f"the bytes {found.hex(' ').upper()} near byte {at} of UTF-16 text are the C1 "
            what += f"control U+00{found[1]:02X} to a UTF-8 terminal"
        raise Invalid(f"text: {what}, which acts on it: `cat` writes a file's bytes, not its characters "
                      "(iconv -f UTF-16 -t UTF-8 makes it text a terminal shows)")


def _markup(text: str) -> re.Match | None:
    """The first markup in `text`, or None. Every pattern starts with "<", which no other
    character folds to: text without one cannot match (the search costs more than the
    text's other checks)."""
    return _MARKUP.search(text) if "<" in text else None
