"""JSON's bytes pinned to what serializers write (issue #13): a reader returns the same
value whatever the white space between tokens, the choice of escapes and a number's
spelling are, so each free choice is a channel.

Two layouts, one per file, chosen by what follows the opening bracket:
- compact (json.dumps without indent, JSON.stringify, nlohmann's dump()): no newline, tab
  or CR; after every comma the file's one item separator ("," or ", "), after every colon
  its one key separator (":" or ": "), no other space;
- indented (indent=N in json.dumps, JSON.stringify(v, null, N), nlohmann's dump(N), Go's
  MarshalIndent, awkward, Python 2.7): one element a line, each line indented by the
  file's one unit (the first nested line's: up to 16 spaces, or tabs) times its depth, a
  key and the file's one key separator (": " or ":") before its value, a comma at the
  line's end only, followed by a space in every line or in none, empty containers [] {}.
Numbers are spelled as those serializers spell them (_ODD_NUMBER; a float's digits:
jsonnumbers), escapes written as they write them (Escapes). Checked on the whole tokens
the JSON checker judged, strings emptied: a copy, a few searches and counts per chunk,
and for indented JSON a few string operations per line.
"""

from __future__ import annotations

import re

from . import jsonnumbers
from .jsonfixed import FixedForm
from .stream import Invalid

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # the JSON checker has seen them valid
_SCALAR = r'(?:""|-?[0-9][0-9.eE+-]*|true|false|null)'
# An indented line: a key and its separator (": ", or ":" as awkward and separators=(",",
# ":") write it), a value or an opening bracket, or a closing one; then "," or ", " (Python
# 2.7's indent=N, and separators=(", ", ": ")): one separator of each kind a file.
_LINE = rf'(?:(?:"": ?)?(?:{_SCALAR}|\[\]|\{{\}}|[\[{{])|[\]}}])(?:, ?)?'
_BAD_LINE = re.compile(rf"^(?![ \t]*{_LINE}$)", re.MULTILINE)  # a line that is no element
_NOT_SPACE = re.compile("[\t\n\r]")
# Number spellings no serializer writes (json.dumps' repr, JSON.stringify, Go, printf's
# %.17g): an upper-case or unsigned exponent, an exponent with two leading zeros, a
# fraction ending in a zero (but "1.0"), "1.0e". A float's digits, its mantissa and its
# leading zeros: jsonnumbers. jq writes -0.0 as "-0": allowed.
_ODD_NUMBER = re.compile(r"E|e[0-9]|e[+-]0(?:0|[0-9]{2})|\.[0-9]*[0-9]0(?![0-9])|\.0e")


def _odd_why(odd: str) -> str:
    """Why a spelling is refused, and the remedy where a real writer writes it."""
    if odd == "E" or (odd[:1] == "." and odd.endswith("0")):
        # simplejson (use_decimal, its default) writes str(Decimal): 3.140, 1E+2. Admitted,
        # the trailing zeros and the E form would free about 5 bits a number (docs).
        return (
            "a Decimal's spelling, e.g. simplejson's for Decimal('3.140') or Decimal('1E+2'); no serializer "
            "writes it for a float: convert Decimals with float() before writing, or write them as strings"
        )
    return "no serializer writes it"


# Escapes no serializer writes (json.dumps, simplejson, JSON.stringify, jq, Go, nlohmann,
# ujson, orjson, pandas): \u of a printable ASCII character (but Go's & < >) or of one with
# a short form, upper-case hex digits. Looked for once every escaped backslash is taken
# out (in JSON every backslash starts an escape, so the pairs are found left to right).
_ODD_ESCAPE = re.compile(
    r"\\(?:u(?=[0-9a-fA-F]{4})[0-9a-f]{0,3}[A-F]|u00(?!26|3c|3e)(?:0[89acd]|[2-6][0-9a-f]|7[0-9a-e]))"
)
# Characters a serializer either writes as they are or escapes, one way per file: which
# way, character by character, would be a bit no reader returns.
_CHOICES = (
    ("non-ASCII characters (ensure_ascii)", re.compile(r"\\u(?!202[89])(?:00[89a-f]|0[1-9a-f]|[1-9a-f])")),
    ("DEL (jq escapes it)", re.compile(r"\\u007f")),
    ("& < > (Go escapes them)", re.compile(r"\\u00(?:26|3c|3e)")),
    ("U+2028 U+2029 (Go escapes them)", re.compile(r"\\u202[89]")),
    ("'/' (ujson and pandas' to_json write \\/)", re.compile(r"\\/")),
)


def _raw(judged: str, plain: str) -> tuple[bool, ...]:
    """Whether each of _CHOICES' characters occurs as it is (plain: judged without its
    escaped backslashes; a "/" is raw unless an escape's)."""
    return (
        not judged.isascii(),
        "\x7f" in judged,
        any(c in judged for c in "&<>"),
        "\u2028" in judged or "\u2029" in judged,
        plain.count("/") > plain.count("\\/"),
    )


class Escapes:
    """Escapes as serializers write them, fed the text the JSON checker judged."""

    def __init__(self) -> None:
        self.raw = [False] * len(_CHOICES)
        self.escaped = [False] * len(_CHOICES)

    def feed(self, judged: str) -> None:
        plain = judged.replace("\\\\", "") if "\\" in judged else judged
        self.raw = [a or b for a, b in zip(self.raw, _raw(judged, plain), strict=True)]
        if "\\" in judged:
            if odd := _ODD_ESCAPE.search(plain):
                raise Invalid(
                    f"json: the escape {odd.group()!r} (no serializer writes it: it writes the "
                    "character, short escapes and lower-case hex)"
                )
            found = (rx.search(plain) is not None for _, rx in _CHOICES)
            self.escaped = [a or b for a, b in zip(self.escaped, found, strict=True)]
        for (what, _), raw, escaped in zip(_CHOICES, self.raw, self.escaped, strict=True):
            if raw and escaped:
                raise Invalid(f"json: {what} both escaped and written as they are (a serializer does one)")


MAX_UNIT = 16  # characters of an indentation unit: indent=2, 4, 8, "\t" (JSON.stringify: 10)


def _unit(indent: str, line: int) -> str:
    """The file's indentation unit: spaces or tabs, one kind, at most MAX_UNIT (a pattern
    of both, or any length, would be bits no reader returns)."""
    if len(indent) > MAX_UNIT or indent.strip(indent[:1]):
        raise Invalid(
            f"json: line {line + 1}: the indentation unit {indent!r} is not what serializers write "
            f"(up to {MAX_UNIT} spaces, or tabs: one kind)"
        )
    return indent


class Layout:
    """The white space rules, fed the text the JSON checker judged, token by token."""

    def __init__(self) -> None:
        self.mode = ""  # "compact" or "indented" once the second character is seen
        self.head = ""  # the skeleton before the mode is known
        self.held = ""  # compact: a final "," or ":" whose follower is not seen yet
        self.seps: dict[str, str] = {}  # "," and ":" -> the separator pinned
        self.tail, self.depth, self.unit, self.lines = "", 0, None, 0  # indented
        self.form = FixedForm()  # pandas' form or not, pinned on the first sign

    def feed(self, judged: str, ended: bool) -> None:
        skeleton = _STRING.sub('""', judged) if '"' in judged else judged
        if odd := _ODD_NUMBER.search(skeleton):
            raise Invalid(f"json: a number spelled with {odd.group()!r} ({_odd_why(odd.group())})")
        self.form.feed(skeleton)  # first: the chunk's own signs of pandas' form count for its numbers
        jsonnumbers.check(skeleton, self.form)
        if ended and skeleton.endswith("\n"):
            skeleton = skeleton[:-1]  # the one final newline (checked by the JSON checker)
        if not self.mode:
            self.head += skeleton
            if len(self.head) < 2 and not ended:
                return
            indented = self.head[:1] in ("[", "{") and self.head[1:2] == "\n"
            self.mode, skeleton, self.head = ("indented" if indented else "compact"), self.head, ""
        if self.mode == "compact":
            self._compact(skeleton)
        else:
            self._indented(skeleton, ended)

    def _compact(self, skeleton: str) -> None:
        text = self.held + skeleton
        self.held = text[-1:] if text[-1:] in (",", ":") else ""
        text = text[: len(text) - len(self.held)]
        if _NOT_SPACE.search(text):
            raise Invalid("json: a newline, tab or CR in JSON without indentation (no serializer writes it)")
        if text.count(" ") != self._separators(text):
            raise Invalid("json: a space other than the separators' (no serializer writes it)")

    def _separators(self, text: str) -> int:
        """Pin "," and ":" each to one separator a file ("," or ", "); returns the spaces
        they take (text holds whole tokens: every ":" a key's, every "," an item's)."""
        spaced = 0
        for sep in (",", ":"):
            count, with_space = text.count(sep), text.count(sep + " ")
            if count:
                pinned = self.seps.setdefault(sep, f"{sep} " if with_space else sep)
                if with_space != (count if pinned.endswith(" ") else 0):
                    raise Invalid(f"json: {sep!r} followed by a space in some places, not in others")
                spaced += with_space
        return spaced

    def _indented(self, skeleton: str, ended: bool) -> None:
        text = self.tail + skeleton
        cut = len(text) if ended else text.rfind("\n")
        if cut < 0 or not text:
            self.tail = text
            return
        body, self.tail = text[:cut], text[cut + 1 :]
        if bad := _BAD_LINE.search(body):  # every line's content at once, in C
            self._refuse(self.lines + body.count("\n", 0, bad.start()), "")
        self._separators(body)
        for line in body.split("\n"):
            content = line.lstrip(" \t")
            first, last = content[:1], content[-1:]
            depth = self.depth - (first == "]" or first == "}")
            indent = line[: len(line) - len(content)]
            if self.unit is None and depth == 1:
                self.unit = _unit(indent, self.lines)
            if indent != (self.unit or "") * depth:
                self._refuse(self.lines, f"{depth} indentation units")
            self.depth = depth + (last == "[" or last == "{")  # "[]" and "{}" stay
            self.lines += 1

    def _refuse(self, line: int, what: str) -> None:
        raise Invalid(
            f"json: line {line + 1} is not laid out as an indenting serializer writes it "
            f"(one element a line{', ' + what if what else ''}; no other white space)"
        )

    def close(self) -> None:
        if self.held:
            raise Invalid("json: the text ends after a separator")  # the JSON checker says first
