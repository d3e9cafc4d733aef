"""JSON, strictly (RFC 8259): one value, UTF-8, no NaN or Infinity, no byte order mark,
nothing after it but white space; checked as it streams, in bounded memory, so a JSON
file of any size is judged as JSON.

The bytes are decoded chunk by chunk (strict UTF-8: no overlong forms, no surrogates)
and the text is tokenised with regular expressions; a stack of open arrays and objects
(at most MAX_DEPTH) tracks the grammar. Runs of scalars in an array, and of "key":
scalar pairs in an object, are taken a run at a time by one regular expression, so the
Python work is per bracket, not per number (about 1 MB/s for deeply nested JSON, several
MB/s for flat); a run's keys are taken by one findall for the duplicate key check
(jsonkeys), and only floats of 16 or more digits are computed one by one (jsonnumbers).
Only the token being read is held: one longer than MAX_TOKEN (a string of 32 Mi
characters) is refused, not buffered.
"""

from __future__ import annotations

import codecs
import json
import re

from . import terminal
from .jsonkeys import ObjectKeys
from .jsonlayout import Escapes, Layout
from .stream import Invalid, Stream

FMT = "json"
MAX_DEPTH = 1000
MAX_TOKEN = 32 << 20  # characters of one string or number
_WS = r"[ \t\n\r]*"
_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
_TOKEN = re.compile(rf"{_WS}({_SCALAR}|[\[\]{{}}:,])")


RUN = 1024  # values a run takes at once: Python's re slows down on longer repetitions
# 1, "x", true, ... (or "k": 1, ...) up to a comma: a run of scalars in one match.
_ARRAY_RUN = re.compile(rf"(?:{_WS}{_SCALAR}{_WS},){{1,{RUN}}}")
_OBJECT_RUN = re.compile(rf"(?:{_WS}{_STRING}{_WS}:{_WS}{_SCALAR}{_WS},){{1,{RUN}}}")
_PAIR_KEY = re.compile(rf"{_WS}({_STRING}){_WS}:{_WS}{_SCALAR}{_WS},")  # a run's keys, pair by pair
_TRAILING_WS = re.compile(_WS)
FINAL = ("", "\n")  # what may follow the value: nothing, or one newline
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")

# A string's controls (terminal.py): raw (DEL and C1, which JSON admits; C0 it does not) or
# escaped (\u001b, \u009b, \b, \f; \t \n \r are TAB LF CR), looked for once every
# escaped backslash is taken out. Keys and values alike: jq -r prints either.
_CONTROL_ESCAPE = re.compile(r"\\[bf]|" + terminal.ESCAPE.pattern)  # \u00XX: terminal.py's

# What may come next.
VALUE, FIRST_VALUE, KEY, FIRST_KEY, COLON, AFTER, END = range(7)


def validate(stream: Stream) -> str:
    checker = JsonChecker()
    for chunk in stream.chunks():
        checker.feed(bytes(chunk))
    return checker.close()


class JsonChecker:
    """The JSON rules fed chunk by chunk (text runs beside it on the same chunks)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf, self.done = "", 0  # text not yet judged; characters judged before it
        self.bytes = 0
        self.stack: list[str] = []  # "[" or "{" for each open container
        self.keys = ObjectKeys()
        self.state = VALUE
        self.after = ""  # the white space after the value so far
        self.layout = Layout()
        self.escapes = Escapes()
        self.style: Invalid | None = None  # the first layout, escape or number rule broken

    def feed(self, chunk: bytes, final: bool = False) -> None:
        """A layout, escape or number rule broken is kept while the grammar and the strings
        are still checked to the end: JSON a serializer did not write is held to the text
        rules, unless a string of it drives a terminal (jq reads any JSON)."""
        try:
            self._feed(chunk, final)
        except terminal.TerminalString:
            raise
        except Invalid:
            if self.style is not None:
                raise self.style from None
            raise

    def _feed(self, chunk: bytes, final: bool) -> None:
        try:
            text = self.decoder.decode(chunk, final)
        except UnicodeDecodeError as err:
            byte = self.bytes - len(self.decoder.getstate()[0]) + max(err.start, 0)
            raise Invalid(f"json: byte {byte} is not valid UTF-8") from None
        self.bytes += len(chunk)
        cut = self.buf  # a token the last chunk cut, if any
        self.buf += text
        if not self.done and self.buf[:1] in (" ", "\t", "\n", "\r"):
            raise Invalid("json: white space before the value (no serializer writes it)")
        pos = 0 if not final and cut and _still_cut(cut, text) else self._tokens(final)
        judged = self.buf[:pos]
        _no_control(judged, self.done)
        if self.style is None:
            try:
                self.escapes.feed(judged)
                self.layout.feed(judged, self.state == END)
            except Invalid as err:
                self.style = err
        self.done += pos
        self.buf = self.buf[pos:]
        if len(self.buf) > MAX_TOKEN:
            raise Invalid(
                f"json: a token longer than {MAX_TOKEN >> 20} Mi characters (at character {self.done})"
            )

    def close(self) -> str:
        self.feed(b"", final=True)
        if self.style is not None:
            raise self.style
        if self.state != END:
            raise self._error(0, "the text ends inside the value")
        self.layout.close()
        return FMT

    def _tokens(self, final: bool) -> int:
        """Judge whole tokens of buf; returns how far."""
        pos, buf = 0, self.buf
        while True:
            if self.state == END:
                end = _TRAILING_WS.match(buf, pos).end()
                if end < len(buf):
                    raise self._error(end, "extra data after the value")
                self.after += buf[pos:end]
                if self.after not in FINAL:
                    raise Invalid(
                        f"json: white space after the value other than one final newline "
                        f"(at character {self.done + pos}; no serializer writes it)"
                    )
                return end
            run = self._run(buf, pos)
            if run is not None:
                pos = run
                continue
            token = _TOKEN.match(buf, pos)
            if token is None and final and _TRAILING_WS.match(buf, pos).end() == len(buf):
                return len(buf)  # nothing but white space left: close() says what is missing
            if token is None and (final or _bad_start(buf, pos)):
                raise self._error(pos, "not a JSON token")
            if token is None or (not final and _may_go_on(token, buf)):
                return pos  # a token cut by the chunk: judged with the next one
            self._step(token.group(1), pos)
            pos = token.end()

    def _run(self, buf: str, pos: int) -> int | None:
        """A run of scalars (and keys) that ends in a comma, taken at once."""
        if self.state in (VALUE, FIRST_VALUE) and self.stack and self.stack[-1] == "[":
            found = _ARRAY_RUN.match(buf, pos)
        elif self.state in (KEY, FIRST_KEY):
            found = _OBJECT_RUN.match(buf, pos)
        else:
            return None
        if found is None:
            return None
        if self.stack[-1] == "{":
            self.keys.add(_PAIR_KEY.findall(buf, pos, found.end()), self.done + pos)
        self.state = VALUE if self.stack[-1] == "[" else KEY
        return found.end()

    def _step(self, token: str, pos: int) -> None:
        state, first = self.state, token[0]
        if first in "[{":
            self._value(pos)
            if len(self.stack) >= MAX_DEPTH:
                raise Invalid(
                    f"json: nested too deeply (more than {MAX_DEPTH} levels, at character {self.done + pos})"
                )
            self.stack.append(first)
            self.keys.push(first)
            self.state = FIRST_VALUE if first == "[" else FIRST_KEY
        elif first in "]}":
            opened = "[" if first == "]" else "{"
            if not self.stack or self.stack[-1] != opened or state not in (AFTER, FIRST_VALUE, FIRST_KEY):
                raise self._error(pos, f"unexpected {first!r}")
            self.stack.pop()
            self.keys.pop()
            self.state = AFTER if self.stack else END
        elif first == ",":
            if state != AFTER:
                raise self._error(pos, "unexpected ','")
            self.state = VALUE if self.stack[-1] == "[" else KEY
        elif first == ":":
            if state != COLON:
                raise self._error(pos, "unexpected ':'")
            self.state = VALUE
        elif state in (KEY, FIRST_KEY):
            if first != '"':
                raise self._error(pos, "an object key is not a string")
            self.keys.add([token], self.done + pos)
            self.state = COLON
        else:
            self._value(pos)
            self.state = AFTER if self.stack else END

    def _value(self, pos: int) -> None:
        if self.state not in (VALUE, FIRST_VALUE):
            raise self._error(pos, "a value where none may be")

    def _error(self, pos: int, what: str) -> Invalid:
        near = self.buf[pos : pos + 16].lstrip(" \t\n\r")
        word = next((w for w in ("NaN", "Infinity", "-Infinity") if near.startswith(w)), None)
        if word is not None:
            what = f"{word} is not JSON"
        return Invalid(f"json: not one strict JSON value: {what} (at character {self.done + pos})")


def _no_control(judged: str, done: int) -> None:
    """No string of the judged tokens holds a control (terminal.py), raw or escaped."""
    if (raw := terminal.CONTROL.search(judged)) is not None:
        terminal.refuse(raw.group(), done + raw.start(), "a string", FMT)
    if "\\" in judged:
        plain = judged.replace("\\\\", "")
        if (escape := _CONTROL_ESCAPE.search(plain)) is not None:
            terminal.refuse(json.loads(f'"{escape.group()}"'), done + judged.find(escape.group()),
                            f"a string (its escape {escape.group()})", FMT)


def _bad_start(buf: str, pos: int) -> bool:
    """Whether the token at pos cannot become valid however the text goes on."""
    start = _TRAILING_WS.match(buf, pos).end()
    return start < len(buf) and buf[start] not in '"-0123456789tfn[]{}:,'


def _still_cut(cut: str, text: str) -> bool:
    """Whether text only lengthens the cut token (a string with no quote in text, a number
    with only number characters): judged when it ends, it is scanned once, not once a
    chunk (a 30 MB base64 string took a minute)."""
    first = cut.lstrip(" \t\n\r")[:1]
    if first == '"':
        return '"' not in text
    return first in tuple("-0123456789") and _NUMBER_TAIL.fullmatch(text) is not None


def _may_go_on(token: re.Match, buf: str) -> bool:
    """Whether a number token may go on in the next chunk ("1" of "1.5")."""
    return token.group(1)[0] in "-0123456789" and _NUMBER_TAIL.match(buf, token.end()).end() == len(buf)
