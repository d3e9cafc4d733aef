"""A FITS keyword as wcslib files it (session 40, attack r fits), for fitscards.py's "no
keyword twice".

astropy's Header files a card under its keyword as spelled; wcslib's header parser
(wcspih.l, astropy.wcs with its default relax=True) reads other spellings of one keyword
and takes the last card: PC001001, PC01_01, PC1_01 are PC1_1 (AIPS's PCiiijjj, leading
zeros in the indices), PV2_01 is PV2_1, RESTFREQ is RESTFRQ, RADECSYS is RADESYS, EPOCH is
EQUINOX, VSOURCEa is ZSOURCEa. So a second spelling after the card astropy shows moves
every position, or sets another frame or rest frequency, where astropy's Header shows the
first. `wcs_name` is the one canonical name: base name, integer indices without leading
zeros, the alternate letter kept (PC1_1A is another WCS), the synonyms mapped.

Keywords that name one value only through a header's axes are held apart
(`WcsAliases`): PVi_3a and PVi_4a of a celestial longitude axis are LONPOLEa and LATPOLEa
(astropy writes both, the PV card "has precedence"), PROJPn is PVi_n of the latitude
axis; MJDREF, MJDREFI + MJDREFF, JDREF and JDREFI + JDREFF are one reference time: each
such pair must hold one value, checked at the header's END. PCi_ja beside CDi_ja are two
matrices of one WCS (wcslib takes PC whatever the order): refused.

A distortion's record-valued card (DPja, DQia: `'FIELD: value'`) is read by astropy only
when its string is exactly that, keyed by the field's text; wcslib reads the field's
numbers as numbers (TPD.FWD.01 is TPD.FWD.1), a field by its pattern up to its last
number (TPD.FWD.1.0, TPD.FWD.1.X are TPD.FWD.1) and the value up to the first byte that
is not a number (`3.0 x`; `0x3` is 0). `record_field` holds such a card to what astropy
writes, `'NAME(.PART)*: number'`, so both read one field and one value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .stream import Invalid

_INDEXED = re.compile(
    rb"(CRPIX|CDELT|CUNIT|CTYPE|CRVAL|CNAME|CRDER|CSYER|CZPHS|CPERI|CPDIS|CQDIS|CPERR"
    rb"|CQERR|CROTA|DP|DQ)0*([0-9]+)([A-Z]?)"
)
_PAIRED = re.compile(rb"(PC|CD|PV|PS)0*([0-9]+)_0*([0-9]+)([A-Z]?)")
_AIPS = re.compile(rb"(PC|CD)([0-9]{3})([0-9]{3})")  # PC001001: PC1_1 to wcslib
_SYNONYMS = {b"RESTFREQ": b"RESTFRQ", b"RADECSYS": b"RADESYS", b"EPOCH": b"EQUINOX"}
_LETTERED = re.compile(rb"(EPOCH|VSOURCE)([A-Z]?)")  # EPOCHa, VSOURCEa (relax=True)
# DPja, DQia and astropy's own D2IMj (det2im lookup tables: EXTVER, NAXES, AXIS.1, AXIS.2)
_RECORD_KEY = re.compile(rb"(?:D[PQ]|D2IM)[0-9]+[A-Z]?")


def wcs_name(key: bytes) -> bytes:
    """The keyword wcslib files `key` (astropy's upper-cased keyword) under."""
    if found := _INDEXED.fullmatch(key):
        return b"%s%d%s" % (found[1], int(found[2]), found[3])
    if found := _PAIRED.fullmatch(key):
        return b"%s%d_%d%s" % (found[1], int(found[2]), int(found[3]), found[4])
    if found := _AIPS.fullmatch(key):
        return b"%s%d_%d" % (found[1], int(found[2]), int(found[3]))
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    if found := _LETTERED.fullmatch(key):
        return {b"EPOCH": b"EQUINOX", b"VSOURCE": b"ZSOURCE"}[found[1]] + found[2]
    return key


def is_record(name: bytes) -> bool:
    """A distortion's record-valued keyword (DPja, DQia, D2IMj), by its wcs_name."""
    return _RECORD_KEY.fullmatch(name) is not None


# astropy writes a record as `'field: value'`: str() of an int, or of a float with E
_RECORD = re.compile(
    rb" *'([A-Za-z0-9_.]+): (-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:E[+-][0-9]+)?)' *(?:/.*)?"
)
_NAME, _INDEX = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*"), re.compile(rb"0|[1-9][0-9]*")
# the names wcslib (dis.c) reads a number after and ends the field at (`TPD.FWD.%d`)
_ENDS_AT_NUMBER = frozenset(
    {b"AXIS", b"OFFSET", b"SCALE", b"FWD", b"REV", b"AMD", b"COEFF", b"POWER", b"VAR"}
)


def record_field(card: bytes, value: int) -> bytes:
    """The field (upper case, astropy's and wcslib's alike) of a DPja/DQia card."""
    found = _RECORD.fullmatch(card, value)
    if found is None or not _field_ok(found[1].split(b".")):
        raise Invalid(
            f"fits: the card {card[:40].decode().rstrip()!r}... is a distortion's record-valued "
            "card not written as astropy writes one, 'NAME(.PART)*: number' (parts a name or an "
            "index without leading zeros, no trailing dot, nothing after the number, an E "
            "exponent): astropy files such a card by its text, wcslib by the numbers it reads "
            "(TPD.FWD.01 and TPD.FWD.1.0 are TPD.FWD.1, '3.0 x' is 3.0, 0x3 is 0), so the two "
            "readers take another distortion"
        )
    return found[1].upper()


def _field_ok(parts: list[bytes]) -> bool:
    """A name first, then names and indices: no index after an index (TPD.FWD.1.0), no
    name after an index wcslib ends the field at (TPD.FWD.1.X), no empty part."""
    if not _NAME.fullmatch(parts[0]):
        return False
    for at in range(1, len(parts)):
        after_index = _INDEX.fullmatch(parts[at - 1]) is not None
        if _INDEX.fullmatch(parts[at]):
            bad = after_index
        else:
            bad = not _NAME.fullmatch(parts[at]) or (after_index and parts[at - 2].upper() in _ENDS_AT_NUMBER)
        if bad:
            return False
    return True


_PV = re.compile(rb"PV([0-9]+)_([0-9]+)([A-Z]?)")
_MATRIX = re.compile(rb"(PC|CD)[0-9]+_[0-9]+([A-Z]?)")
_POLE = re.compile(rb"L(ON|AT)POLE([A-Z]?)")
_PROJP = re.compile(rb"PROJP([0-9])")
_CTYPE = re.compile(rb"CTYPE([0-9]+)([A-Z]?)")
_TEXT = re.compile(rb" *'((?:[^']|'')*)'")


@dataclass
class WcsAliases:
    """The keywords that are one value through a header's axes or the reference time,
    fed by wcs_name card by card and checked at the header's END."""

    axes: dict[tuple[int, bytes], bytes] = field(default_factory=dict)  # CTYPEia
    numbers: dict[tuple[bytes, int, int, bytes], bytes] = field(default_factory=dict)
    times: dict[bytes, bytes] = field(default_factory=dict)  # MJDREF, MJDREFI ... JDREFF
    matrices: dict[bytes, set[bytes]] = field(default_factory=dict)  # alternate: PC, CD

    def add(self, name: bytes, card: bytes, value: int) -> None:
        if name in _REFERENCE_TIME:
            self.times[name] = _number(card, value)
        elif found := _CTYPE.fullmatch(name):
            text = _TEXT.match(card, value)
            self.axes[(int(found[1]), found[2])] = text[1].upper() if text else b""
        elif found := _MATRIX.fullmatch(name):
            self.matrices.setdefault(found[2], set()).add(found[1])
        elif found := _PV.fullmatch(name):
            self.numbers[(b"PV", int(found[1]), int(found[2]), found[3])] = _number(card, value)
        elif found := _POLE.fullmatch(name):
            self.numbers[(b"POLE", 0, 3 if found[1] == b"ON" else 4, found[2])] = _number(card, value)
        elif found := _PROJP.fullmatch(name):
            self.numbers[(b"PROJP", 0, int(found[1]), b"")] = _number(card, value)

    def end(self) -> None:
        """At the header's END: every pair found holds one value."""
        _one_reference_time(self.times)
        self._poles()
        for alt, kinds in self.matrices.items():
            if len(kinds) > 1:
                raise Invalid(
                    f"fits: a header holds both PCi_j{alt.decode()} and CDi_j{alt.decode()}, two linear "
                    "transformations of one WCS: wcslib (astropy.wcs) takes PC whatever the order, a "
                    "reader of CD the other; astropy writes one of them"
                )

    def _poles(self) -> None:
        for (axis, alt), ctype in self.axes.items():
            pairs = []
            if ctype[:4] == b"RA--" or ctype[1:4] == b"LON" or ctype[2:4] == b"LN":
                pairs = [((b"POLE", 0, m, alt), (b"PV", axis, m, alt)) for m in (3, 4)]
            elif not alt and (ctype[:4] == b"DEC-" or ctype[1:4] == b"LAT" or ctype[2:4] == b"LT"):
                pairs = [(k, (b"PV", axis, k[2], alt)) for k in self.numbers if k[0] == b"PROJP"]
            for one, other in pairs:
                if one in self.numbers and other in self.numbers and self._differ(one, other):
                    raise Invalid(
                        f"fits: {_spell(one)} and {_spell(other)} name one value to wcslib (CTYPE"
                        f"{axis}{alt.decode()} = '{ctype.decode().rstrip()}') but hold two: astropy's "
                        "Header shows each, astropy.wcs takes one (PVi_m over LONPOLE, LATPOLE; the "
                        "later of PROJPn); write one value, as astropy writes the pair"
                    )

    def _differ(self, one: tuple, other: tuple) -> bool:
        a, b = self.numbers[one], self.numbers[other]
        try:
            return float(a) != float(b)
        except ValueError:
            return a != b


# The reference time, four ways (WCS Paper VII): wcslib files MJDREF, MJDREFI + MJDREFF,
# JDREF and JDREFI + JDREFF in one place, the later card winning (MJDREF 0.0, astropy's
# WCS.to_header, then MJDREFI = 51544: 51544 to astropy.wcs, MJDREF 0 to astropy's Header)
_REFERENCE_TIME = {b"MJDREF": (b"MJDREF",), b"MJDREFI": (b"MJDREFI", b"MJDREFF"),
                   b"MJDREFF": (b"MJDREFI", b"MJDREFF"), b"JDREF": (b"JDREF",),
                   b"JDREFI": (b"JDREFI", b"JDREFF"), b"JDREFF": (b"JDREFI", b"JDREFF")}


def _one_reference_time(times: dict[bytes, bytes]) -> None:
    """The ways present name one time as wcslib stores it: a whole day and a fraction."""
    ways = {_REFERENCE_TIME[k]: None for k in times}
    stored = {way: _as_stored(way, times) for way in ways}
    if len(set(stored.values())) > 1:
        spelled = " and ".join("+".join(k.decode() for k in way if k in times) for way in stored)
        raise Invalid(
            f"fits: {spelled} name one reference time to wcslib but hold two: astropy's Header "
            "shows each, astropy.wcs takes the later card (MJDREF 0 then MJDREFI 51544 is 51544); "
            "write one of them, or both with one value"
        )


def _as_stored(way: tuple[bytes, ...], times: dict[bytes, bytes]) -> tuple:
    try:
        day = sum((Decimal(times[k].decode()) for k in way if k in times), Decimal(0))
    except InvalidOperation:
        return (way, b"".join(times.get(k, b"") for k in way))  # not a number: never one time
    if way[0].startswith(b"JD"):
        day -= Decimal("2400000.5")
    whole = day.to_integral_value(rounding="ROUND_FLOOR")
    return (int(whole), float(day - whole))


def _number(card: bytes, value: int) -> bytes:
    return card[value:].split(b"/", 1)[0].strip()


def _spell(key: tuple[bytes, int, int, bytes]) -> str:
    kind, axis, m, alt = key
    if kind == b"PV":
        return f"PV{axis}_{m}{alt.decode()}"
    if kind == b"POLE":
        return f"{'LONPOLE' if m == 3 else 'LATPOLE'}{alt.decode()}"
    return f"PROJP{m}"
