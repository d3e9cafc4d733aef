"""A FITS ASCII table (XTENSION = 'TABLE') to the last byte of its rows: printable ASCII,
blanks wherever no field (TBCOLn, TFORMn) lies, and every field what its TFORM says,
spelled as astropy and cfitsio write it. A number field no reader parses ('PAYLD!' in an
I6) is bytes no reader returns; one spelled as no writer writes it ('+12', '0012') is a
value with room beside it. Aw fields are text, returned as they are."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .fitstable import rows_per_batch
from .stream import Invalid, Stream

FMT = "fits"
_TFORM = re.compile(r"^(?:([AI])(\d+)|([FED])(\d+)\.(\d+))$")
_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
ROWS_A_MATCH = 4096  # the regex keeps about 200 bytes of state a row it matched
MAX_NUMBER = 80  # a number field's widest: writers' widest is D25.17
_SIGNS = (b"", b"-")
# Non-finite values as Python's format() (astropy) and C's printf (cfitsio) print them:
# both lower case for %f (Fw.d), upper case for %E (Ew.d, and Dw.d, E turned to D): one
# case a letter, not a free one a value.
_NONFINITE = {"F": (b"nan", b"inf"), "E": (b"NAN", b"INF"), "D": (b"NAN", b"INF")}
# An exponent of %E: two digits below 100, three from 100; zero only as +00 (Python's and
# C's %E, Fortran's E, write no -00, which astropy reads alike: a free sign a value).
_EXPONENTS = ((rb"\+[0-9]{2}", 3), (rb"-(?:0[1-9]|[1-9][0-9])", 3), (rb"[+-][1-9][0-9]{2}", 4))
# What follows a number: nothing; with d = 0, astropy appends a point cfitsio leaves out
# ('12.', '1E+01.', 'nan.'), where the number leaves a blank for it (astropy's
# _scale_back_ascii: a number as wide as the field keeps none). One writer writes a
# column: a field holds one of the two forms in every row (Field.spellings), so the
# point is a bit a column, not one a value.
_NOTHING: tuple[tuple[bytes, int], ...] = ((b"", 0),)
_POINT: tuple[tuple[bytes, int], ...] = ((rb"\.", 1),)


@dataclass(frozen=True)
class Field:
    """One field of an ASCII table row: where it lies and what it may hold."""

    number: int  # n of TFORMn
    start: int  # first byte in the row (TBCOLn - 1)
    width: int
    tform: str
    # Regexes of exactly `width` bytes, one a writer's form (astropy's, cfitsio's): every row
    # of the field is spelled in one of them; none: Aw (any printable text).
    spellings: tuple[bytes, ...]


def tokens(
    letter: str, decimals: int, width: int, after: tuple[tuple[bytes, int], ...] = _NOTHING
) -> list[tuple[bytes, int]]:
    """The numbers a TFORM's writers write, as (regex, length) of fixed length up to
    `width`: `%d` for Iw, `%.df` for Fw.d, `%.dE` for Ew.d and Dw.d (E then turned to D; an
    exponent 0 as +00), NaN and infinities as Python or C print them (the letter's case);
    each number of Fw.0, Ew.0 and Dw.0 followed by `after` (_NOTHING or _POINT)."""
    if letter == "I":
        return [t for t in _integers(width, [(b"", 0)]) if t[0] != b"-[0-9]"] + [(b"-[1-9]", 2)]  # no -0
    after = after if decimals == 0 else _NOTHING
    words = _NONFINITE[letter]
    nonfinite = [(s + word + a, len(s) + 3 + n) for s in _SIGNS for word in words for a, n in after]
    if letter == "F":  # the likelier first: the regex tries them in order
        fraction = list(after) if decimals == 0 else [(rb"\.[0-9]{%d}" % decimals, 1 + decimals)]
        return _integers(width, fraction) + nonfinite
    fraction = b"" if decimals == 0 else rb"\.[0-9]{%d}" % decimals
    size = 1 + (decimals and 1 + decimals)  # the mantissa's characters
    zero = b"0" + (b"" if decimals == 0 else b"\\." + b"0" * decimals) + letter.encode() + rb"\+00"
    out = [(s + zero + a, len(s) + size + 4 + n) for s in _SIGNS for a, n in after]  # 0 as 0.000E+00
    for exponent, chars in _EXPONENTS:
        body = b"[1-9]" + fraction + letter.encode() + exponent
        out += [(s + body + a, len(s) + size + 1 + chars + n) for s in _SIGNS for a, n in after]
    return out + nonfinite


def _integers(width: int, fractions: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """Integers of 1 to `width` digits (no leading zero), either sign, each fraction after."""
    out = []
    for digits in range(1, width + 1):
        integer = b"[0-9]" if digits == 1 else rb"[1-9][0-9]{%d}" % (digits - 1)
        out += [(s + integer + f, len(s) + digits + n) for s in _SIGNS for f, n in fractions]
    return out


def spellings(letter: str, decimals: int, width: int, null: str | None) -> tuple[bytes, ...]:
    """A number field's forms: one, or with d = 0 one a writer: cfitsio's, astropy's."""
    points = (False, True) if decimals == 0 and letter != "I" else (False,)
    return tuple(spelling(letter, decimals, width, null, point) for point in points)


def _numbers(letter: str, decimals: int, width: int, point: bool) -> list[tuple[bytes, int]]:
    """The numbers of one writer's form: with astropy's `point`, each followed by a point
    but a number as wide as the field."""
    if not point:
        return tokens(letter, decimals, width)
    full = [(regex, n) for regex, n in tokens(letter, decimals, width) if n == width]
    return tokens(letter, decimals, width, _POINT) + full


def spelling(letter: str, decimals: int, width: int, null: str | None, point: bool = False) -> bytes:
    """A number field's bytes, exactly `width` of them: blanks then a writer's number
    (right-justified), or TNULLn's string left-justified (cfitsio) or right-justified,
    which astropy and cfitsio read as null (all blanks when TNULLn is blank). The numbers
    are grouped by length, so that a row's blanks are matched once a length (2.6x faster)."""
    by_length: dict[int, list[bytes]] = {}
    for regex, n in _numbers(letter, decimals, width, point):
        if n <= width:
            by_length.setdefault(n, []).append(regex)
    alternatives = [b" {%d}(?:%s)" % (width - n, b"|".join(r)) for n, r in sorted(by_length.items())]
    if null is not None and len(null.strip(" ")) <= width:
        text = null.strip(" ").encode()
        alternatives += [re.escape(text.ljust(width)), re.escape(text.rjust(width))]
    return b"(?:%s)" % b"|".join(alternatives)


def fields(naxis1: int, declared: list[tuple[int, str, str | None]]) -> list[Field]:
    """The fields from (TBCOLn, TFORMn, TNULLn), each inside the row."""
    out = []
    for n, (tbcol, tform, null) in enumerate(declared, 1):
        match = _TFORM.match(tform.strip())
        if match is None:
            raise Invalid(
                f"fits: TFORM{n} = '{tform}' is not an ASCII table format (Aw, Iw, Fw.d, Ew.d, Dw.d)"
            )
        letter = match.group(1) or match.group(3)
        width = int(match.group(2) or match.group(4))
        if tbcol < 1 or tbcol - 1 + width > naxis1 or width == 0:
            raise Invalid(f"fits: field {n} of an ASCII table (TBCOL{n}, TFORM{n}) lies outside its row")
        if letter != "A" and width > MAX_NUMBER:
            raise Invalid(
                f"fits: TFORM{n} = '{tform}': a number field over {MAX_NUMBER} bytes no writer writes"
            )
        forms = () if letter == "A" else spellings(letter, int(match.group(5) or 0), width, null)
        out.append(Field(n, tbcol - 1, width, tform.strip(), forms))
    return out


def ascii_table(stream: Stream, naxis1: int, rows: int, declared: list[tuple[int, str, str | None]]) -> None:
    """An ASCII table's rows: printable ASCII, each field as its TFORM says, blanks
    wherever no field lies."""
    table = fields(naxis1, declared)
    covered = bytearray(naxis1)
    for f in table:
        covered[f.start : f.start + f.width] = b"\1" * f.width
    gaps = [i for i in range(naxis1) if not covered[i]]
    per_batch = rows_per_batch(naxis1)
    checks = [(f, [_rows(naxis1, f, form) for form in f.spellings]) for f in table if f.spellings]
    for first in range(0, rows, per_batch):
        start = stream.pos
        data = stream.read(min(per_batch, rows - first) * naxis1, "an ASCII table", FMT)
        bad = _PRINTABLE.search(data)
        if bad:
            raise Invalid(
                f"fits: a byte of an ASCII table is not printable ASCII (offset {start + bad.start()})"
            )
        _check_gaps(data, naxis1, gaps, start)
        checks = [(f, _check_field(data, naxis1, f, start, patterns)) for f, patterns in checks]


def _rows(naxis1: int, f: Field, form: bytes) -> re.Pattern[bytes]:
    """Rows whose field `f` is spelled in `form`, up to ROWS_A_MATCH of them (not
    possessive: Python 3.11's `*+` can end a match inside a row)."""
    after = naxis1 - f.start - f.width
    return re.compile(rb"(?s)(?:.{%d}%s.{%d}){0,%d}" % (f.start, form, after, ROWS_A_MATCH))


def _check_gaps(data: bytes, naxis1: int, gaps: list[int], start: int) -> None:
    for i in gaps:
        values = data[i::naxis1]
        if values.strip(b" "):
            at = start + i + naxis1 * (len(values) - len(values.lstrip(b" ")))
            raise Invalid(
                f"fits: a byte of an ASCII table that no field (TBCOLn, TFORMn) covers is not "
                f"a blank (offset {at})"
            )


def _check_field(
    data: bytes, naxis1: int, f: Field, start: int, patterns: list[re.Pattern[bytes]]
) -> list[re.Pattern[bytes]]:
    """The field in every row of the batch, in one of its forms: those that hold in every
    row so far are returned for the next batch (a form that broke is not tried again)."""
    ends = [_matched(data, naxis1, pattern) for pattern in patterns]
    if max(ends) == len(data):
        return [pattern for pattern, end in zip(patterns, ends, strict=True) if end == len(data)]
    at = max(ends) + f.start
    raise Invalid(
        f"fits: field {f.number} of an ASCII table (TFORM{f.number} = '{f.tform}') holds "
        f"{data[at : at + f.width].decode()!r} (offset {start + at}), not a number as astropy "
        "and cfitsio write it (right-justified, no '+', no leading zeros; with d = 0 a trailing "
        "point in every row or in none) or TNULL's string"
    )


def _matched(data: bytes, naxis1: int, pattern: re.Pattern[bytes]) -> int:
    """How far the rows match: the C regex over ROWS_A_MATCH rows a call (greedy: it ends
    at the first row that breaks the field; bounded, as its backtracking state grows
    with the rows it matched)."""
    step = ROWS_A_MATCH * naxis1
    for pos in range(0, len(data), step):
        end = pattern.match(data, pos, min(pos + step, len(data))).end()
        if end < min(pos + step, len(data)):
            return end
    return len(data)
