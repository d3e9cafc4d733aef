"""Text, to the last byte: valid in one encoding from its first byte to its last, no NUL,
and no control character but TAB, LF, VT and CR (no escape sequences that drive a
terminal but tqdm's cursor-up ESC [ A, at most one a line and none on the first, no C1
controls, no FF; in UTF-16 also no byte ESC, ENQ, SO, SI, FF or UTF-8 C1 pair a terminal
acts on, and no byte BS at a line's column 0: `cat` writes bytes), and no JSON escape `\\u001b` of
such a control (jq -r and json.load print it raw: textescapes.py). The
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

from . import terminal
from .namedescapes import NamedEscapes
from .stream import Invalid, Stream
from .textescapes import ControlEscapes, why

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
# A reader may show any lines of any number of files in any order (`tail`, `sort`,
# `grep -rh` over the public area, every job's files): a line (LF to LF) with u cursor-ups
# climbs u - 1 rows more than its LF brings down wherever it is shown, and no sum over
# files bounds an unbounded set of them (session 39, attack o text: two jobs of 7 beyond
# each climbed 15). So a line holds at most one (TextChecker._climb): whatever lines a
# view shows, it climbs at most 1 row above its first. The first line holds none, so `cat`
# of the file never leaves its own lines. Two nested tqdm bars write one a line and pass;
# three nested or positioned bars write two and more and are refused at the first such line.


def _climbs(first: bool) -> str:
    """Why a cursor-up on the file's first line, or a line's second, is refused."""
    if first:
        return ("moves the cursor above the file's first line (a cursor-up before its first "
                "line feed): `cat` would overwrite what a terminal showed before the file; tqdm "
                "moves up only to lines it wrote")
    return ("is its line's second cursor-up: a view of lines (`grep`, `sort`, `tail`, of this "
            "file or of many) climbs a row for each beyond a line's first, over what a terminal "
            "showed before; a line may hold one, as two nested tqdm bars write (three nested "
            "or positioned bars write more: keep tqdm to two nested bars in a file, or strip "
            "the escapes, sed 's/\\x1b\\[A//g')")


# FF: PuTTY (terminal.c, its default SCOANSI compatibility) clears the screen and homes the
# cursor, so what follows is written over what it showed before the file (session 39,
# attack o text); refused in any encoding, as a character and as a UTF-16 byte.
_FF = ("text: FF (form feed, U+000C) near byte {near}: PuTTY clears the screen and writes "
       "what follows from its top, over what it showed before the file (tr '\\f' '\\n' "
       "keeps the page break as a line)")
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
# after `cat`: the Linux console's G1 is line drawing), FF 0x0C (PuTTY clears the screen:
# _FF). BS 0x08 at a line's column 0 moves up a row (PuTTY; xterm with reverse-wrap: U+080D
# is CR BS, attack o text climbed 29 rows), so a BS byte is refused where it would reach
# past column 0 (TextChecker._backspaces). The rest are ignored (SOH..EOT, ACK, DLE..EM,
# FS..US), ring (BEL) or move the cursor as text's own controls do (HT, LF, VT, CR), and
# Greek, Cyrillic and CJK need them. Refused with them: UTF-16 holding Hebrew or Armenian
# (U+05xx), Thai or Lao (U+0Exx), Tibetan (U+0Fxx), Kannada (U+0Cxx), LRM/RLM, ą, Ď, ď, the
# full-width comma U+FF0C and about 1 CJK character in 51 (session 37, attack l text): the
# remedy is UTF-8.
_UTF16_C0 = {0x05: "ENQ (the terminal answers)", 0x0C: "FF (PuTTY clears the screen)",
             0x0E: "SO (a character set shift)", 0x0F: "SI (a character set shift)", 0x1B: "ESC (U+001B)"}
_UTF16_C1 = bytes((0x8D, 0x90, 0x98, 0x9A, 0x9B, 0x9D, 0x9E, 0x9F))  # RI DCS SOS DECID CSI OSC PM APC
_UTF16_BYTES = re.compile(b"[%s]|\xc2[%s]" % (re.escape(bytes(_UTF16_C0)), re.escape(_UTF16_C1)))
# The columns a BS may take back in UTF-16's bytes: each printable ASCII byte moves a
# terminal 1 column on (a wrapped line's next row: PuTTY's BS at column 0 goes back to the
# row above's last column, so columns count along the wrap). Every other byte counts 0: NUL
# and the C0 bytes it ignores, 0x80 and up (in UTF-8 a combining mark is 0 wide), and TAB,
# which does not move at the right margin. LF, VT and CR start a line (column 0 or more).
_PRINTABLE = bytes(range(0x20, 0x7F))
# The bytes BS counting sees, as p (printable), n (a line start) and b (BS), the rest
# deleted: only a b first or after b or n can reach column 0 (each other BS follows a
# column of its own), and only then is each BS followed one by one (_backspaces).
_BS_VIEW = bytes.maketrans(_PRINTABLE + b"\n\v\r\x08", b"p" * len(_PRINTABLE) + b"nnnb")
_BS_DROP = bytes(set(range(256)) - set(_PRINTABLE + b"\n\v\r\x08"))
# C0 controls but TAB LF VT CR, DEL, and the C1 controls U+0080..U+009F; ESC but in
# CURSOR_UP. An ESC or ESC [ at the end of a chunk is judged with the next one (_control).
_CONTROL = re.compile("\x1b(?!\\[A|\\[?\\Z)|[\x00-\x08\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_LATIN1_CONTROL = re.compile(b"\x1b(?!\\[A|\\[?\\Z)|[\x00-\x08\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")  # as bytes
_ASCII_ALLOWED = bytes(b for b in range(128) if not _CONTROL.match(chr(b)) and b != 0x1B)  # no ESC
# _ASCII_ALLOWED's bytes kept, every other byte changed: a chunk this leaves equal holds no
# other byte (a translate by table costs the worker about 15,000 fewer instructions a 4 KiB file
# than one that deletes the allowed bytes: callgrind, session 40).
_ASCII_KEPT = bytes(b if b in _ASCII_ALLOWED else (b + 1) % 256 for b in range(256))
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
_ONLY = "(only TAB, LF, VT, CR and tqdm's cursor-up ESC [ A are allowed)"
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


def validate(stream: Stream, named: dict[str, str] | None = None) -> str:
    """The text's answer; `named` gets the escapes of formats a name may announce
    (namedescapes.py), for the parent to judge with the name."""
    checker = TextChecker(stream.peek(2))
    for chunk in stream.chunks():
        checker.feed(bytes(chunk))
    answer = checker.close()
    if named is not None:
        named.update(checker.named.found)
    return answer


class TextChecker:
    """The text rules fed chunk by chunk (JSON runs beside it on the same chunks)."""

    def __init__(self, head: bytes) -> None:
        self.codec = encoding(head)
        self.decoder = _DECODERS[self.codec]("strict")
        self.offset, self.tail = 0, ""  # bytes judged so far; the last characters
        self.latin1 = self.codec == "utf-8"  # every byte so far allowed in Latin-1
        self.in_latin1 = False  # not UTF-8: judged as Latin-1 from here on
        self.cut = ""  # an ESC or ESC [ that ended the last chunk: CURSOR_UP's start, or refused
        # Cursor-ups (_climb): whether a line feed came yet, and a cursor-up since the last.
        self.fed, self.up = False, False
        self.column = 0  # UTF-16: the columns a BS may take back on the line (_backspaces)
        self.last = b""  # a UTF-16 file's last byte judged (_UTF16_BYTES)
        self.escapes = ControlEscapes()  # JSON's \u001b, which jq -r prints as ESC
        self.named = NamedEscapes()  # YAML's \e, TOML's \x1b ...: judged with the name

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
        if self.in_latin1 and held:  # Latin-1 from here: the cut character's bytes end any escape
            self.escapes.carry = self.named.carry = ""
        self._escape(text, start)
        self.latin1 = self.latin1 and bad is None
        joined = self.tail + text
        if found := _markup(joined):
            near = self.near(joined, found.start(), start - self._width(self.tail))
            raise Invalid(
                f"text: markup {found.group()!r} near byte {near} (HTML, SVG or XML that a browser would run)"
            )
        self.tail = joined[-_TAIL:]
        self.offset += len(chunk)

    def _escape(self, text: str, start: int) -> None:
        """Refuse a JSON escape of a control in `text` (starting at byte `start`):
        textescapes.py."""
        carried = self._width(self.escapes.carry)
        if (found := self.escapes.find(text)) is not None:
            whole, index, escape = found
            near = self.near(whole, index, start - carried)
            raise terminal.TerminalString(f"text: the escape {escape} near byte {near} {why(escape)}")
        carried = self._width(self.named.carry)
        for grammar, whole, index, escape in self.named.find(text):
            self.named.found[grammar] = f"{escape} near byte {self.near(whole, index, start - carried)}"

    def near(self, text: str, index: int, start: int) -> int:
        """The byte of the file where character `index` of `text` is, `text` starting at byte
        `start`: what a refusal's "near byte" names (within a character of the byte when
        UTF-8 text turns out to be Latin-1)."""
        return start + self._width(text[:index])

    def _width(self, text: str) -> int:
        """The bytes `text` takes in the file's encoding."""
        return len(text) if self.in_latin1 else len(text.encode(self.codec))

    def close(self) -> str:
        if not self.in_latin1 and not self._nothing_held():
            self.feed(b"", final=True)
        if self.cut:
            near = self.offset - self._width(self.cut)
            raise Invalid(f"text: control character U+001B near byte {near} {_ONLY}")
        if self.in_latin1:
            return f"{FMT}:{LATIN1}"
        return FMT if self.codec == "utf-8" else f"{FMT}:{UTF16}"

    def _nothing_held(self) -> bool:
        """Whether the final feed of b"" would judge nothing new (one feed less a file): UTF-8
        with no character's start held and no ESC cut, so it decodes to "", and its tail was
        searched for markup when it ended the last chunk (the same text, the same end)."""
        return self.codec == "utf-8" and not self.cut and not self.decoder.getstate()[0]

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
        if not self.cut and chunk.isascii() and chunk.translate(_ASCII_KEPT) == chunk:
            if b"\n" in chunk:  # no ESC: a new line, no cursor-up on it yet
                self._down(text)
            return text  # ASCII without a control byte (4x faster than the search, same answer)
        self._control(text, self.offset - held)
        return text

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
        if char == 0x0C:
            raise Invalid(_FF.format(near=near))
        raise Invalid(f"text: control character U+{char:04X} near byte {near} {_ONLY}")

    def _climb(self, whole: str, start: int) -> None:
        """Refuse a CURSOR_UP in `whole` (starting at byte `start`; its controls judged) on
        the file's first line or second on its line (an ESC [ cut by the chunk's end holds
        no LF and is judged with the next chunk)."""
        if CURSOR_UP not in whole:
            self._down(whole)
            return
        parts = whole.split(CURSOR_UP)  # the text between cursor-ups
        at = 0
        for part in parts[:-1]:
            self._down(part)
            at += len(part)
            if not self.fed or self.up:
                near = self.near(whole, at, start)
                raise Invalid(f"text: ESC [ A near byte {near} {_climbs(not self.fed)}")
            self.up, at = True, at + len(CURSOR_UP)
        self._down(parts[-1])

    def _down(self, text: str) -> None:
        """A line feed in `text` (no cursor-up) starts a line with none on it yet."""
        if "\n" in text:
            self.fed, self.up = True, False

    def _utf16_bytes(self, chunk: bytes) -> None:
        """Refuse a byte of UTF-16 text a terminal would act on (_UTF16_BYTES)."""
        joined, self.last = self.last + chunk, chunk[-1:]
        if (bad := _UTF16_BYTES.search(joined)) is None:
            self._backspaces(chunk)
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

    def _backspaces(self, chunk: bytes) -> None:
        """Refuse a BS byte of UTF-16 text that would reach past its line's column 0, where
        PuTTY (and xterm with reverse-wrap) goes up a row (_PRINTABLE: the columns counted
        are at most those a terminal moved on)."""
        view = chunk.translate(_BS_VIEW, _BS_DROP) if b"\x08" in chunk else b""
        if not (view.startswith(b"b") or b"bb" in view or b"nb" in view):  # nearly always
            self.column = _columns(self.column, chunk)
            return
        parts = chunk.split(b"\x08")
        at = self.offset
        for part in parts[:-1]:
            self.column, at = _columns(self.column, part), at + len(part)
            if not self.column:
                raise Invalid(
                    f"text: the byte 0x08 near byte {at} of UTF-16 text is BS to a terminal at its "
                    "line's first column (more BS bytes than printable ones since the line's start "
                    "or last CR): PuTTY, and xterm with reverse-wrap, move up a row, over what it "
                    "showed before; `cat` writes a file's bytes, not its characters (iconv -f "
                    "UTF-16 -t UTF-8 makes it text a terminal shows)")
            self.column, at = self.column - 1, at + 1
        self.column = _columns(self.column, parts[-1])


def _columns(column: int, part: bytes) -> int:
    """The column count after `part`: from 0 after its last LF, VT or CR, a BS taking one
    back (`part`'s BS never reach column 0: _BS_VIEW)."""
    start = max(part.rfind(b"\n"), part.rfind(b"\v"), part.rfind(b"\r")) + 1
    if start:
        column, part = 0, part[start:]
    return column + len(part) - len(part.translate(None, _PRINTABLE)) - part.count(b"\x08")


def _markup(text: str) -> re.Match | None:
    """The first markup in `text`, or None. Every pattern starts with "<", which no other
    character folds to: text without one cannot match (the search costs more than the
    text's other checks)."""
    return _MARKUP.search(text) if "<" in text else None
