"""pandas' fixed form for JSON numbers (issue #13, session 33): DataFrame.to_json and
Series.to_json (ujson 1.x's writer, vendored by pandas) write every double from 1e-15 to
1e16 without an exponent, rounded to `double_precision` decimals (10 unless given, at
most 15) with the trailing zeros taken off: 0.0000001, 16476174.6859733704 (18 digits,
not the shortest of its double), 1e16 as 10000000000000000.0. Other writers write 1e-07
or 1e-7 and the shortest digits or %.17g's.

Admitted as one form a file: a fraction with more than 5 zeros before its first digit
marks a file as pandas', and pandas writes no exponent from e-15 to e+15, so a file with
both is refused; a number of 16 or more digits that is neither the shortest nor %.17g's
passes only as pandas spells its double at the file's one precision (the precisions that
spell it are kept, and must stay more than none), and marks the file too; in a pandas
file %.17g's digits are refused (pandas writes its own or the shortest). So a float has
the same two spellings at most there as in other files (jsonnumbers), and one form.
The mark holds from its first sign on: what came before was judged without it.
"""

from __future__ import annotations

import re

from .stream import Invalid

MAX_PRECISION = 15  # pandas' JSON_DOUBLE_MAX_DECIMALS
THRESHOLD = 1e16  # from here up (and below 1e-15) pandas writes %.{precision}g
# More than 5 zeros between a fraction's point and its first digit: repr and %.17g write
# an exponent from 1e-5, JSON.stringify and Go from 1e-7, pandas none until 1e-15. The
# literal comes first so that re searches for it in C; the lookbehind says it starts the
# number.
ZEROS = re.compile(r"0\.0{6}(?<![0-9]0\.0{6})")
_EXPONENT_15 = re.compile(r"e[+-](?:0?[0-9]|1[0-5])(?![0-9])")


def pandas_fixed(value: float, precision: int) -> str | None:
    """The number as pandas' to_json writes it at double_precision=precision (1-15), or
    None where it writes an exponent: its fixed-point rounding, in the same double
    arithmetic (the fraction times 10**precision, half to odd, rolled over into the
    whole part), trailing zeros off, ".0" for none."""
    size = abs(value)
    if size > THRESHOLD or (size != 0.0 and size < 1e-15):
        return None
    whole = int(size)
    scale = float(10**precision)
    scaled = (size - whole) * scale
    frac = int(scaled)
    half = scaled - frac
    if half > 0.5 or (half == 0.5 and (frac == 0 or frac & 1)):
        frac += 1
    if frac >= scale:
        frac, whole = 0, whole + 1
    digits = str(frac).rjust(precision, "0").rstrip("0") if frac else "0"
    return f"{'-' if value < 0 else ''}{whole}.{digits}"


class FixedForm:
    """Whether a file is in pandas' form, and the precisions that spell its numbers."""

    def __init__(self) -> None:
        self.fixed = self.exponent = False
        self.precisions = set(range(1, MAX_PRECISION + 1))

    def feed(self, skeleton: str) -> None:
        """Pin the form on the text the JSON checker judged (strings emptied)."""
        self.fixed = self.fixed or ZEROS.search(skeleton) is not None
        self.exponent = self.exponent or ("e" in skeleton and _EXPONENT_15.search(skeleton) is not None)
        self._pinned()

    def admits(self, number: str, value: float) -> bool:
        """Whether number (16 or more digits, no exponent) is pandas' spelling of value at
        a precision the file's other such numbers share; if so the file is pandas'."""
        if "e" in number or "." not in number:
            return False
        decimals = len(number) - number.index(".") - 1
        spelling = {p for p in self.precisions if p >= decimals and pandas_fixed(value, p) == number}
        if not spelling:
            return False
        self.precisions &= spelling
        self.fixed = True
        self._pinned()
        return True

    def _pinned(self) -> None:
        if self.fixed and self.exponent:
            raise Invalid(
                "json: pandas' to_json form (a fraction with more than 5 zeros before its first digit, "
                "or a number of 16 or more digits as pandas rounds it) and an exponent from e-15 to "
                "e+15, which pandas does not write, in one file: a writer does one"
            )
