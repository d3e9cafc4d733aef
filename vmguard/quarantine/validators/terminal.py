"""A string inside a structured file, judged as the terminal text it becomes (session 39,
attack o text): readers print what they decode raw, whatever container held it. `jq -r
.status` prints a JSON string's `\\u001b` as ESC, `print(f.attrs["status"])` an HDF5
attribute, ROOT's `f->ls()` and uproot a key's or a histogram's title, astropy a table's
string column. There ESC [ 9 A climbs 9 rows, ESC [ 2 K erases one, OSC 0 sets the title
and OSC 52 writes the reader's clipboard, as in a text file (text.py).

The one rule, for every format's strings (fits, json, hdf5, root): no control character
but TAB, LF and CR. Refused: the other C0 controls (ESC above all; NUL, where a C reader
ends the string), DEL, and the C1 controls U+0080..U+009F (CSI U+009B, OSC U+009D: a
terminal acts on them as on ESC [ and ESC ]). A string is a value or a label, not a page:
VT, which a text file may hold (LF to xterm), is refused here, and so is FF (PuTTY clears
its screen on it; text refuses it too). Bidi controls (U+202A..U+202E, U+2066..U+2069)
and other format characters are admitted as the text row admits them: they reorder what
is shown, drive no terminal, and Hebrew and Arabic need the marks (docs/quarantine.md:
what it leaves).
"""

from __future__ import annotations

import re
from typing import NoReturn

from .stream import Invalid

# Decoded characters: C0 but TAB LF CR, DEL, C1.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same in UTF-8 bytes (a C1 control is C2 80..9F), for a FITS table's string column,
# checked a run of its strings at once (fitstable.py: ASCII by the standard, NUL its end).
CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
# One byte of a string alone (FITS checks a column's byte position across rows at once):
# its C0 and DEL; a C2 is read with the byte after it by the caller.
CONTROL_BYTE = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same as a JSON escape, \u00XX in either case (every one is below U+00A0), derived from
# CONTROL: jq -r and json.load print what it names raw (jsonfmt.py in a JSON string,
# textescapes.py in text). Whether its backslash is itself escaped is the caller's question.
ESCAPE = re.compile(
    r"\\u00(?i:" + "|".join(f"{c:02x}" for c in range(0xA0) if CONTROL.match(chr(c))) + ")"
)
# What a refusal says a terminal does with the string.
WHY = ("a reader prints it raw and the terminal acts on it: ESC [ climbs rows and erases "
       "lines, OSC sets the title or the clipboard; a string may hold no control but TAB, LF "
       "and CR")


class TerminalString(Invalid):
    """A string that drives a terminal: final wherever it is found (JSON that breaks it is
    not held to the text rules instead: jq reads it all the same)."""


def named(char: str) -> str:
    """A control character as a refusal names it: U+001B."""
    return f"U+{ord(char):04X}"


def check(text: str | bytes, what: str, fmt: str) -> None:
    """Refuse `text` if it holds a control a terminal acts on; `what` names the string,
    `fmt` the format. Bytes are read as UTF-8 where they are (a C1 control is C2 80..9F),
    else as Latin-1 (a byte 80..9F is C1 to a terminal that is not UTF-8), as text.py
    reads a file."""
    if isinstance(text, bytes):
        if text.isascii():
            found = CONTROL.search(text.decode("ascii"))
        else:
            try:
                found = CONTROL.search(text.decode("utf-8"))
            except UnicodeDecodeError:
                found = CONTROL.search(text.decode("latin-1"))
    else:
        found = CONTROL.search(text)
    if found is not None:
        refuse(found.group(), found.start(), what, fmt)


def refuse(control: str | bytes, at: int, what: str, fmt: str) -> NoReturn:
    """Raise the one refusal: `control` found at `at` (a character or byte offset)."""
    char = control.decode("utf-8") if isinstance(control, bytes) else control
    raise TerminalString(f"{fmt}: {what} holds a control character ({named(char[:1])}, at {at}): {WHY}")
