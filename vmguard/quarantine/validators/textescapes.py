"""JSON's `\\u` escapes in text (session 40, attack q content): a reader that decodes JSON
turns the six characters `\\u001b` into ESC and prints it raw. jq reads a stream of
values (JSON lines, values back to back, NaN, 042, +1 or .5 on the way), json.load one
value behind white space, a UTF-8 BOM or in UTF-16, pandas' read_json(lines=True) a
`.jsonl`: all of it is text to vmguard (not one strict JSON value), and `jq -r .status`
of it hands ESC [ 9 A, ESC [ 2 K or OSC 0 to the terminal. So text, in every encoding, may
hold no `\\u` escape that names a control terminal.py refuses (terminal.ESCAPE, derived
from its CONTROL: C0 but TAB LF CR, DEL, C1), whatever its hex digits' case, wherever a chunk cuts it.

An escaped backslash is no escape: JSON reads `\\\\u001b` as a backslash and `u001b`,
six characters a terminal shows. So the backslashes before the `u` are counted, as
jsonfmt.py counts them in a JSON string: an odd run starts an escape, an even one is
literal (a JSON writer's spelling of the text `\\u001b`: json.dumps writes it so).
Left as they are: `\\b` and `\\f` (BS and FF to a JSON reader, but `\\beta`, `\\frac` and a
regex's `\\b` are LaTeX and code), `\\x1b` and `\\033` (no JSON reader decodes them; Python
reprs in logs), JavaScript's `\\u{1b}` (a JS program's source, not data a reader prints).
docs/quarantine.md, "JSON and text: what exactness leaves", lists them. Under a name that
announces YAML, TOML or JSON lines, those formats' own escapes are judged too
(namedescapes.py, session 40).
"""

from __future__ import annotations

from . import terminal

_LONGEST_CUT = 5  # "\u001": the most of an escape a chunk's end can cut


class ControlEscapes:
    """Finds a control escape in text fed piece by piece (decoded characters)."""

    def __init__(self) -> None:
        self.carry = ""  # a cut escape's start: "\", "\u", ... "\u001" (its backslash unescaped)

    def find(self, text: str) -> tuple[str, int, str] | None:
        """(the text searched, the index of the escape in it, the escape), or None; the
        text searched is the carry and `text`."""
        whole = self.carry + text if self.carry else text
        if "\\u00" not in whole:
            self._keep(whole)
            return None
        for found in terminal.ESCAPE.finditer(whole):
            if unescaped(whole, found.start()):
                return whole, found.start(), found.group()
        self._keep(whole)
        return None

    def _keep(self, whole: str) -> None:
        """Carry the end of `whole` from its last backslash in the last _LONGEST_CUT
        characters, if that backslash starts an escape."""
        last = whole.rfind("\\", max(len(whole) - _LONGEST_CUT, 0))
        self.carry = whole[last:] if last >= 0 and unescaped(whole, last) else ""


def unescaped(text: str, at: int) -> bool:
    """Whether the backslash at `at` is not itself escaped: an even run of backslashes
    before it (the carry starts with the one that counts)."""
    start = at
    while start and text[start - 1] == "\\":
        start -= 1
    return (at - start) % 2 == 0


def why(escape: str) -> str:
    """What a refusal of `escape` says."""
    char = terminal.named(chr(int(escape[2:], 16)))
    return (f"is the control {char} to a reader that decodes JSON (jq -r, json.load, pandas' "
            "read_json), which prints it raw: the terminal acts on it (ESC [ climbs rows and "
            "erases lines, OSC sets the title or the clipboard); text may name no control in a "
            f"JSON escape but TAB, LF and CR (drop the escape, or escape its backslash, \\{escape}, "
            "for the six characters)")
