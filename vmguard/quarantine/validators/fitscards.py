"""Rules over every card of a FITS header, whatever its keyword (session 40, attack q).

Readers act on far more keywords than any list could name (WCS CRVALn, CDELTn, PCi_j;
time JDREF, MJDREF, TIMESYS; units TUNITn, BUNIT; random groups' PZEROn, PTYPEn ...),
so what made two readers take one header two ways is refused for every keyword:
- a keyword twice (astropy's Header takes the first card, astropy.wcs the last: CRVAL1
  10 or 200), but the commentary ones (COMMENT, HISTORY, blank) and CONTINUE; a keyword
  counts as wcslib files it (fitswcskeys.py, session 40, attack r: PC01_01 and PC001001
  are PC1_1, RESTFREQ is RESTFRQ), a distortion's record-valued card (`DP1 = 'AXIS.1: 1'`)
  by its field, written as astropy writes one;
- a card without the value indicator `= ` in columns 9-10 but commentary (`CRVAL1  =200.0`:
  astropy's Header the text, wcslib 0, cfitsio 200; `BUNIT   kJy`: kJy to CCDData.read, no
  unit to cfitsio), and a value FITS does not spell (`CRVAL1  = 200.0 20`);
- a HIERARCH card naming a keyword of at most 8 characters (`HIERARCH BUNIT`: astropy
  maps it to BUNIT, a reader of columns 1-8 sees none);
- a CONTINUE card but after a string ending in `&` (its card's or a CONTINUE's), and a
  continued string that fits in its first card (`TUNIT1 = 'k&'` + `'m'`: km to astropy,
  `k&` to a reader without the long-string convention; astropy and cfitsio continue a
  string only when it does not fit, so each honest long string reads the same less the
  convention)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .fitswcskeys import WcsAliases, is_record, record_field, wcs_name
from .stream import Invalid

CARD = 80
COMMENTARY = frozenset({b"", b"COMMENT", b"HISTORY"})
_SHORT = re.compile(rb"[A-Z0-9_-]{1,8}")  # a keyword columns 1-8 can hold (upper-cased)
_STRING = re.compile(rb" *'((?:[^']|'')*)'")
_CONTINUED = re.compile(rb"CONTINUE  '((?:[^']|'')*)' *(?:/.*)?")
# A value as FITS 4.0 4.2 spells one (free format allowed: writers' fixed format is one
# of these), then blanks or a comment: a string, T or F, an integer, a real (an exponent
# E, as astropy and cfitsio write it), a complex pair, or nothing (undefined). astropy
# refuses to read another (`CRVAL1  = 200.0 20`: "Unparsable card"), wcslib takes it as no
# value (CRVAL1 0) and cfitsio reads its first word (200). The standard's D exponent too:
# `CRVAL1  = -.1D2` is -10 to astropy, -0.1 to wcslib (astropy.wcs 8.0).
_NUMBER = rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:E[+-]?[0-9]+)?"
_VALUE = re.compile(
    rb" *(?:'(?:[^']|'')*'|[TF]|%s|\( *%s *, *%s *\))? *(?:/.*)?" % (_NUMBER, _NUMBER, _NUMBER)
)
@dataclass
class _Long:
    """A string that a CONTINUE card may carry on: its keyword, the room its first card
    had, and its text so far (each card's `&` dropped)."""

    key: bytes
    room: int
    text: bytes
    continued: bool = False


@dataclass
class CardRules:
    """The rules over every card, fed one card at a time in header order."""

    seen: dict[bytes, bytes] = field(default_factory=dict)  # wcs_name: the card's keyword
    open: _Long | None = None
    aliases: WcsAliases = field(default_factory=WcsAliases)

    def check(self, card: bytes, key: bytes, at: int) -> None:
        """`key`: the keyword astropy takes the card for (fitsheader.keyword)."""
        if key == b"CONTINUE" and card[:8] == b"CONTINUE":
            self._continue(card, at)
            return
        self.close()
        if key in COMMENTARY and card[:8].rstrip() == key:
            return
        hierarch = card[:9] == b"HIERARCH " and key != b"HIERARCH"
        value = _value(card, hierarch)
        self._once(card, key, value, at)
        if hierarch and _SHORT.fullmatch(key):
            raise Invalid(
                f"fits: the card {card[:30].decode().rstrip()!r}... sets {key.decode()} as astropy reads it, "
                f"a second spelling of the keyword (astropy maps HIERARCH {key.decode()} to it, a reader of "
                "columns 1-8 sees none): HIERARCH is for names over 8 characters; write the card as "
                f"{key.decode()} in columns 1-8"
            )
        if not _VALUE.fullmatch(card, value):
            raise Invalid(
                f"fits: the card {card[:30].decode().rstrip()!r}... holds no value as FITS spells one (a "
                "string, T or F, a number with an E exponent if any, a complex pair) before its blanks or "
                "' / ' comment: astropy cannot read it, wcslib takes no value, cfitsio its first word "
                "(a D exponent: -.1D2 is -10 to astropy, -0.1 to wcslib)"
            )
        found = _STRING.match(card, value)
        if found and found.group(1).endswith(b"&"):
            self.open = _Long(key, CARD - found.start(1) - 1, found.group(1)[:-1])

    def end(self) -> None:
        """The header's END: its last string closed, the WCS pairs of one value checked."""
        self.close()
        self.aliases.end()

    def close(self) -> None:
        """The end of a string's cards: a continued one must not have fit in its first."""
        long, self.open = self.open, None
        if long is not None and long.continued and len(long.text.rstrip(b" ")) <= long.room:
            raise Invalid(
                f"fits: the string of {long.key.decode()} is followed by a CONTINUE card though it fits "
                f"in its first card ({len(long.text.rstrip(b' '))} of {long.room} characters): astropy "
                "reads it on into the CONTINUE card, a reader without the long-string convention does "
                "not (TUNIT1 'k&' + 'm': km or k&); astropy and cfitsio continue only a string that does "
                "not fit"
            )

    def _once(self, card: bytes, key: bytes, value: int, at: int) -> None:
        """No keyword twice, as wcslib files keywords (fitswcskeys.wcs_name: PC01_01 is
        PC1_1) and a record-valued DPja/DQia card by its field (DP1.AXIS.1)."""
        name = wcs_name(key)
        if is_record(name):
            name += b"." + record_field(card, value)
        if name in self.seen:
            first = self.seen[name]
            spelled = "" if first == key else f" ({first.decode()} then {key.decode()}, one to wcslib)"
            raise Invalid(
                f"fits: the keyword {name.decode()} appears more than once in a header{spelled} (as "
                f"astropy reads keywords: in any case, or in a HIERARCH card; as wcslib reads them: "
                f"indices without leading zeros, PCiiijjj, RESTFREQ, RADECSYS, EPOCH; offset {at}): "
                "readers disagree which counts (astropy's Header the first, astropy.wcs the last)"
            )
        self.seen[name] = key
        self.aliases.add(name, card, value)

    def _continue(self, card: bytes, at: int) -> None:
        found = _CONTINUED.fullmatch(card)
        if self.open is None or found is None:
            raise Invalid(
                f"fits: a CONTINUE card (offset {at}) that continues no string: it must follow a card "
                "whose string ends in & (a value card's or a CONTINUE's) and hold a string from column "
                "11, as astropy and cfitsio write it"
            )
        text = found.group(1)
        self.open.continued = True
        self.open.text += text[:-1] if text.endswith(b"&") else text
        if not text.endswith(b"&"):
            self.close()


def _value(card: bytes, hierarch: bool) -> int:
    """Where the value of a card that is not commentary starts (after its `= `). Such a
    card has the value indicator `= ` in columns 9-10 (a HIERARCH card its `=`): astropy
    reads the text after column 8 of another as its value (`CRVAL1  =200.0` the text
    '=200.0', `BUNIT   kJy` kJy to CCDData.read), wcslib and cfitsio no value, or cfitsio
    the number after a `=` elsewhere (200)."""
    if hierarch:
        return card.find(b"=", 9) + 1  # keyword() names a HIERARCH card only with a `=`
    if card[8:10] != b"= ":
        raise Invalid(
            f"fits: the card {card[:20].decode().rstrip()!r}... has no value indicator `= ` in columns "
            "9-10 (FITS 4.0 4.1.2.2), yet its keyword is not COMMENT, HISTORY or blank: astropy reads "
            "the text after column 8 as its value (`CRVAL1  =200.0` the text, `BUNIT   kJy` kJy), "
            "wcslib and cfitsio no value or another (`=200.0`: 200 to cfitsio)"
        )
    return 10
