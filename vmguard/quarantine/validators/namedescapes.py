"""Escapes of the format a name announces (session 40, escnames; attack r text): the reader
a user runs on a file is chosen by its name. `yq -r .note x.yaml` and PyYAML's safe_load
decode YAML's double-quoted `\\e`, `\\x1b`, `\\x9b`, `\\U0000001b` to ESC or CSI, tomllib a
TOML basic string's `\\U0000001B`, and print hands it raw to a terminal (ESC [ 2 J erases
it). In general text these spellings stay (textescapes.py: Python reprs, LaTeX's `\\frac`,
a regex's `\\b`); under a name that announces such a format they are that format's escapes.

One table (ANNOUNCED: a name's last extension -> the grammar its reader decodes) and one
grammar per format (GRAMMARS), each the escapes that decode to a control terminal.py
refuses (its CONTROL, the one predicate): YAML 1.2's double-quoted escapes \\0 \\a \\b \\v
\\f \\e \\N (U+0085) \\xHH \\uHHHH \\UHHHHHHHH; TOML's \\b \\f \\e \\xHH (1.1 adds \\e and \\x)
\\uHHHH \\UHHHHHHHH; JSON lines' \\b \\f (its `\\u` is text's own rule everywhere). The text
validator streams once and collects, per grammar, the first such escape (NamedEscapes);
the parent, which knows the name, refuses it when the name announces that grammar
(served.escape_reasons). A backslash counts as the formats count it: an odd run starts an
escape, an even one is literal (`\\\\e` is a backslash and `e`). The escape is judged
wherever it is in the file, not only inside a double-quoted scalar or a basic string: a
single-quoted or plain YAML scalar (`'\\bword'`), a TOML literal string, a comment keep the
backslash, and are refused under these names all the same (the remedy: double the
backslash, or name the file .txt). docs/quarantine.md, "JSON and text: what exactness
leaves".
"""

from __future__ import annotations

import re

from . import terminal
from .textescapes import unescaped

YAML, TOML, JSON_LINES = "YAML", "TOML", "JSON lines"
# A name's last extension (lower case) -> the grammar its reader decodes.
# (.cff, the Citation File Format, is YAML by its spec; .jsonlines and .ldjson are JSON
# lines: session 40, attack s text.)
ANNOUNCED = {"yaml": YAML, "yml": YAML, "cff": YAML, "toml": TOML, "jsonl": JSON_LINES,
             "ndjson": JSON_LINES, "jsonlines": JSON_LINES, "ldjson": JSON_LINES}
# Who reads it, for a refusal.
READERS = {YAML: "PyYAML's safe_load, yq -r", TOML: "tomllib, toml, yq -p toml",
           JSON_LINES: "jq -r, pandas' read_json(lines=True)"}


def _refused(code: int) -> bool:
    return terminal.CONTROL.match(chr(code)) is not None


def _hex(prefix: str, digits: int) -> str:
    """`\\` prefix and `digits` hex digits of every refused control (all below U+00A0)."""
    codes = "|".join(f"{c:0{digits}x}" for c in range(0xA0) if _refused(c))
    return prefix + "(?i:" + codes + ")"


def _letters(table: dict[str, int]) -> str:
    return "[" + "".join(k for k, c in table.items() if _refused(c)) + "]"


_YAML_LETTERS = {"0": 0, "a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "e": 0x1B,
                 "N": 0x85}
_TOML_LETTERS = {"b": 8, "t": 9, "n": 10, "f": 12, "r": 13, "e": 0x1B}
_JSON_LETTERS = {"b": 8, "t": 9, "n": 10, "f": 12, "r": 13}
_HEXES = (_hex("x", 2), _hex("u", 4), _hex("U", 8))
GRAMMARS: dict[str, re.Pattern[str]] = {
    YAML: re.compile(r"\\(?:" + "|".join((_letters(_YAML_LETTERS), *_HEXES)) + ")"),
    TOML: re.compile(r"\\(?:" + "|".join((_letters(_TOML_LETTERS), *_HEXES)) + ")"),
    JSON_LINES: re.compile(r"\\" + _letters(_JSON_LETTERS)),
}
_LONGEST_CUT = 9  # "\U0000001": the most of an escape a chunk's end can cut


class NamedEscapes:
    """The first escape of each grammar that decodes to a refused control, in text fed
    piece by piece (decoded characters); `found` maps a grammar to what the caller says of
    it (the escape and the byte it is near)."""

    def __init__(self) -> None:
        self.carry = ""  # a cut escape's start, its backslash unescaped (textescapes' rule)
        self.found: dict[str, str] = {}  # grammar -> the escape, for the parent

    def find(self, text: str) -> list[tuple[str, str, int, str]]:
        """(grammar, the text searched, the index of the escape in it, the escape) of each
        grammar not found before that `text` (after the carry) holds."""
        whole = self.carry + text if self.carry else text
        if "\\" not in whole or len(self.found) == len(GRAMMARS):
            self.carry = ""
            return []
        hits = []
        for grammar, pattern in GRAMMARS.items():
            if grammar in self.found:
                continue
            hit = next((m for m in pattern.finditer(whole) if unescaped(whole, m.start())), None)
            if hit is not None:
                hits.append((grammar, whole, hit.start(), hit.group()))
        last = whole.rfind("\\", max(len(whole) - _LONGEST_CUT, 0))
        self.carry = whole[last:] if last >= 0 and unescaped(whole, last) else ""
        return hits
