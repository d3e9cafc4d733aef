"""A JSON float's digits pinned to what serializers write (issue #13): a reader returns
the double nearest a number's digits, so every spelling of the digits that rounds to the
same double is a channel; and digits no double holds (under- or overflowing, integers
too) are read as 0 or inf (or refused), so they are bytes no reader returns.

Serializers write one of two digit strings for a double v: the shortest that reads back
as v (Python's repr, JSON.stringify, Go, simplejson, jq, nlohmann, awkward/RapidJSON) or
17 significant digits (printf's %.17g: cJSON, C and Fortran writers). A decimal of at
most 15 significant digits is the shortest of its double (DBL_DIG) unless it is
subnormal, so only floats of 16 or more digits, and exponents of three digits (where
subnormals, underflow and overflow are), are computed, each in Python; the rest is
regular expressions that start on a rare character (a literal or a small set: Python's
re scans for it in C), so flat JSON keeps its speed.
The form (exponent or not, "1e-07" or "1e-7") is pinned by jsonlayout's _ODD_NUMBER;
pandas' fixed form (0.0000001, 16476174.6859733704) is admitted one file at a time (jsonfixed).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from .jsonfixed import FixedForm
from .stream import Invalid

MAX_DIGITS = 17  # a double has no more significant digits
# A run of 16 or more digits and dots (with its sign and exponent): found from its first
# character (the leftmost match), linear however long; ints among them are let through.
_LONG = re.compile(r"-?[0-9.]{16,}(?:e[+-][0-9]+)?")
_DIGITS_15 = re.compile("[0-9]{15}")  # with the dots taken out: where a long run may be
_EXPONENT_3 = re.compile("e[+-][0-9]{3}")
_NUMBER_CHARS = frozenset("0123456789.-")
# On the reversed skeleton: an exponent whose mantissa's integer part is not one digit
# 1-9 (12.5e+20, 0.5e-3: serializers write 1.25e+21, 5e-4); possessive, so a fraction's
# digits are never taken for the integer part.
_MANTISSA_REVERSED = re.compile(r"[+-]e(?:[0-9]++\.)?+(?:[0-9]{2}|0(?![0-9]))")
# More than MAX_ZEROS zeros between a fraction's point and its first digit: pandas writes
# up to 14 (1e-15 at double_precision=15), the others an exponent (jsonfixed).
MAX_ZEROS = 14
_ZEROS_MAX = re.compile(rf"0\.0{{{MAX_ZEROS + 1}}}(?<![0-9]0\.0{{{MAX_ZEROS + 1}}})")


def check(skeleton: str, form: FixedForm) -> None:
    """Refuse a number of the skeleton (JSON text, strings emptied) serializers do not write
    (form: the file's, pandas' or not)."""
    if odd := _ZEROS_MAX.search(skeleton):
        _refuse(odd.group()[:8] + "...", f"more than {MAX_ZEROS} zeros before a fraction's first digit")
    if "e" in skeleton and (odd := _MANTISSA_REVERSED.search(skeleton[::-1])):
        _refuse(odd.group()[::-1], "a mantissa other than one digit 1-9 before its point")
    if _DIGITS_15.search(skeleton.replace(".", "")):  # _LONG costs more than the file's other checks
        # The shortest digits, spelled as repr spells them, in one comprehension; the rest
        # (other forms, %.17g, and ints: let through there) one by one.
        for number in [n for n in _LONG.findall(skeleton) if repr(float(n)) != n]:
            if "." in number or "e" in number:
                _check_one(number, form)
            elif math.isinf(float(number)):  # session 39, attack o content: 1 and 400 zeros
                _refuse(number, "an integer out of a double's range: JavaScript reads Infinity, jq DBL_MAX")
    for hit in _EXPONENT_3.finditer(skeleton):
        _check_one(_number_at(skeleton, hit.start()), form)


def _number_at(skeleton: str, exponent: int) -> str:
    """The number whose exponent starts at exponent (its mantissa is short: checked above)."""
    start = exponent
    while start > 0 and skeleton[start - 1] in _NUMBER_CHARS and exponent - start <= 2 * MAX_DIGITS:
        start -= 1
    end = exponent + 2
    while end < len(skeleton) and skeleton[end].isdigit() and end - exponent <= 2 * MAX_DIGITS:
        end += 1
    return skeleton[start:end]


def _check_one(number: str, form: FixedForm) -> None:
    try:
        value = float(number)
    except ValueError:  # a mantissa cut by _number_at: far too long
        _refuse(number, f"more than {MAX_DIGITS} significant digits")
    if math.isinf(value):
        _refuse(number, "out of a double's range: readers return inf or fail")
    if value == 0.0:
        _refuse(number, "it underflows a double: readers return 0")
    shortest, digits17 = repr(value), f"{value:.17g}"
    # %.17g's digits outside pandas' form first: a C writer's number is not taken for pandas'
    if number == shortest or (number == digits17 and not form.fixed) or form.admits(number, value):
        return
    exact = Decimal(number)
    if len(exact.as_tuple().digits) > MAX_DIGITS:  # first: 1e20 as 100000000000000000000.0 too
        _refuse(number, f"more than {MAX_DIGITS} significant digits: a double has no more, the rest is lost")
    # pandas writes its own digits or the shortest, never %.17g's: in its form a third
    # spelling a float would be a choice no writer makes
    if exact == Decimal(shortest) or (exact == Decimal(digits17) and not form.fixed):
        return
    why = f"neither the shortest digits of its double ({shortest}) nor %.17g's ({digits17})"
    _refuse(number, why + (" (the file is in pandas' form: nor pandas')" if form.fixed else ""))


def _refuse(number: str, why: str) -> None:
    raise Invalid(f"json: a number spelled with {number[:40]!r} ({why}; no serializer writes it)")
