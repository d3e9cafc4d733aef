"""A FITS header read card by card, and the one answer to "which keyword does this card
set, as a reader takes it" (`keyword`), which every rule of fits.py reads through.

astropy upper-cases a card's keyword, ends it at a `=` within its first 8 columns, and
reads a HIERARCH card by the name after HIERARCH; its header lookups ignore case. So
`pcount  = 5`, `PCOUNT= 5` and `HIERARCH PCOUNT = 5` all set PCOUNT to it, where a
reader that compares columns 1-8 sees no PCOUNT at all. Each card is filed under the
keyword astropy takes; a keyword a rule reads must then appear once and be spelled as
astropy and cfitsio write it (upper case in columns 1-8, `= ` in 9-10): other spellings
are refused rather than guessed at, and so is such a card a CONTINUE card follows
(astropy's long strings read on into it). A card either reader ends a header at is END
and 77 blanks. Every card's columns 1-8 are a keyword as the standard spells it (A-Z
0-9 - _, left-justified) or blanks: a rule that reads no keyword still lets astropy act
on a lower-case one (`bscale`) that cfitsio ignores. Every card, whatever its keyword, is
held to fitscards.py's rules too (session 40): no keyword twice, `= ` in columns 9-10, no
HIERARCH spelling of a short keyword, CONTINUE only for a string that did not fit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .fitscards import CardRules
from .stream import Invalid, Stream

FMT = "fits"
BLOCK, CARD = 2880, 80
MAX_HEADER_BLOCKS = 10_000  # 360,000 cards: far beyond any real header
_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
# fixed format (FITS 4.0 4.2.1, as astropy and cfitsio write every value): an integer
# right-justified in columns 11-30, a logical in column 30, a string from column 11 padded
# with blanks to 8 characters (no more); the value's field blank to column 30, then
# blanks, or ' / ' and a comment (astropy drops the blanks after the slash: not returned)
_INT = re.compile(rb"= ( *-?(?:0|[1-9][0-9]*))")
_LOGICAL = re.compile(rb"= {20}([TF])")
_STRING = re.compile(rb"= '((?:[^']|'')*)'")
_AFTER = re.compile(rb"(?: /(?: [^ ].*)?)? *")
_FIELD_END = 22  # column 31 in a card's value field (columns 9-80)
_END = b"END".ljust(CARD)
_KEY_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"  # [A-Z0-9_-]: a byte of a keyword
# columns 1-8 as the standard has them (FITS 4.0 4.1.2.1): A-Z 0-9 - _ left-justified,
# blanks after (all blanks: commentary). astropy upper-cases any other spelling and acts on
# it (`bscale` scales every pixel), cfitsio compares the columns as written and ignores it.
_KEYWORD = re.compile(rb"[A-Z0-9_-]* *")
# Keywords no structure rule reads that still change what a reader returns: scaling and
# nulls, the names an HDU or a column is found by, INHERIT's merged header. Each is held to
# what the rules' keywords are (once, not continued, `KEY     = ` in columns 1-10, a number
# in the fixed format), so astropy and cfitsio take the same value (session 39, attack o
# content: `BSCALE  =2.0`, `BSCALE   = 2.0`, `HIERARCH BSCALE`, `HIERARCH TSCAL1`, which cfitsio
# scales by and astropy not, or the reverse; EXTNAME 'SCI&' continued, SCIX to astropy).
# A tile-compressed image's ZQUANTIZ, ZDITHER0, ZSCALE, ZZERO, ZBLANK too (attack p content).
# Since session 40 "once", the value indicator, HIERARCH and CONTINUE are fitscards.py's
# rules over every keyword (a list of what readers act on cannot be complete: CRVALn,
# JDREF, TUNITn, PZEROn ...); this list still holds these values to the fixed format (a
# value then blanks or a comment: `BSCALE  = 2.0 2`) and a continued one refused.
_ACTED_ON = re.compile(
    rb"BSCALE|BZERO|BLANK|EXTNAME|EXTVER|EXTLEVEL|INHERIT|T(?:SCAL|ZERO|NULL|TYPE|DIM)\d+"
    rb"|ZQUANTIZ|ZDITHER0|ZSCALE|ZZERO|ZBLANK"
)
_SCALING = re.compile(rb"BSCALE|BZERO|ZSCALE|ZZERO|T(?:SCAL|ZERO)[0-9]+")
_REAL = re.compile(rb"= ( *[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[ED][-+]?[0-9]+)?)")


def keyword(card: bytes) -> bytes:
    """The keyword a card sets as astropy reads it (Card._parse_keyword), upper-cased as
    its header lookups are: HIERARCH's name, or columns 1-8 up to a `= ` within them."""
    name = card[:8].strip()
    if name.upper() == b"HIERARCH" and card[8:9] == b" " and b"=" in card[9:]:
        return card[9:].split(b"=", 1)[0].strip().upper()
    equals = card.find(b"= ")
    if 0 <= equals < 8:
        name = card[:equals].strip()
    return name.upper()


def ends_header(card: bytes) -> bool:
    """Whether a reader ends a header at this card: cfitsio at the keyword END in columns
    1-8, astropy at END followed by a byte that cannot be in a keyword (its
    HEADER_END_RE `END {0,76}[^A-Z0-9_-]`, a blank being such a byte: `END X`, `END!`
    and `END = 3` end it too)."""
    return card.startswith(b"END") and card[3:4] not in _KEY_CHARS


@dataclass
class FitsHeader:
    """One HDU's cards, each filed under the keyword astropy takes it for."""

    cards: dict[bytes, bytes] = field(default_factory=dict)  # the first card of each keyword
    repeated: set[bytes] = field(default_factory=set)  # keywords set by more than one card
    continued: set[bytes] = field(default_factory=set)  # keywords a CONTINUE card follows
    last: bytes = b""
    rules: CardRules = field(default_factory=CardRules)  # the rules over every card

    def add(self, card: bytes, at: int) -> None:
        key = keyword(card)
        self.rules.check(card, key, at)
        if key == b"CONTINUE":
            self.continued.add(self.last)
        if key in self.cards:
            self.repeated.add(key)
        else:
            self.cards[key] = card
        self.last = key

    def value(self, key: bytes) -> bytes:
        """The value field (columns 9-80) of a keyword a rule reads: one card, written as
        astropy and cfitsio write it."""
        if key in self.repeated:
            raise Invalid(
                f"fits: the keyword {key.decode()} appears more than once in a header (as astropy "
                "reads keywords: in any case, or in a HIERARCH card): readers disagree which counts"
            )
        card = self.cards[key]
        if key in self.continued:
            raise Invalid(
                f"fits: the card of {key.decode()} is followed by a CONTINUE card: astropy reads a "
                "string ending in & on into it (long strings), other readers do not; no writer "
                "continues a keyword the structure depends on"
            )
        if card[:10] != key.ljust(8) + b"= ":
            raise Invalid(
                f"fits: the card {card[:20].decode().rstrip()!r}... sets {key.decode()} as astropy reads "
                f"it, but is not spelled as writers write it ({key.decode()} upper case in columns 1-8, "
                "'= ' in 9-10): readers disagree about it; write the card as astropy or cfitsio do"
            )
        return card[8:]

    def acted_on(self) -> None:
        """Every card of _ACTED_ON as a rule's keyword must be, in the fixed format: a
        scaling a number, INHERIT a logical, the others a string or an integer."""
        for key in [k for k in self.cards if _ACTED_ON.fullmatch(k)]:
            if _SCALING.fullmatch(key):
                self._fixed(key, _REAL, 22, "a number right-justified in columns 11-30")
            elif key == b"INHERIT":
                self.logical(key)
            elif self.value(key).startswith(b"= '"):
                self.string(key)
            else:
                self.integer(key)

    def integer(self, key: bytes, default: int | None = None) -> int:
        if key not in self.cards:
            if default is None:
                raise Invalid(f"fits: the header lacks the mandatory keyword {key.decode()}")
            return default
        return int(self._fixed(key, _INT, 22, "an integer right-justified in columns 11-30"))

    def string(self, key: bytes) -> str | None:
        """A character string value, its trailing blanks dropped (as the standard reads it)."""
        if key not in self.cards:
            return None
        text = self._fixed(key, _STRING, None, "a character string from column 11, padded to 8 characters")
        return text.replace(b"''", b"'").decode("ascii").rstrip(" ")

    def logical(self, key: bytes) -> bool | None:
        """A logical value, T or F: astropy takes any true value (1, 'T', 'F') as true where
        cfitsio wants the logical, and no writer writes another."""
        if key not in self.cards:
            return None
        return self._fixed(key, _LOGICAL, 22, "the logical T or F in column 30") == b"T"

    def _fixed(self, key: bytes, pattern: re.Pattern[bytes], end: int | None, what: str) -> bytes:
        """A value in the fixed format writers write (of its card's columns 9-80), then a
        comment as they write it; other spellings (free format: 'T' or 1 for T, +12, 012,
        blanks moved about) are values readers may take differently, and room beside them."""
        value = self.value(key)
        match = pattern.match(value, 0, end or len(value))
        if match is None or match.end() != (end or match.end()) or not _written(value, match):
            raise Invalid(
                f"fits: {key.decode()} is not {what} (the fixed format astropy and cfitsio write, "
                "then blanks or ' / ' and a comment): astropy takes any true value (1, 'T', 'F') "
                "for T, and other spellings are room beside the value"
            )
        return match.group(1)


def _written(value: bytes, match: re.Match[bytes]) -> bool:
    """A string padded as writers pad it, the value's field blank to column 30, and what
    follows it blanks or a comment."""
    raw, after = match.group(1), match.end()
    if value.startswith(b"= '") and len(raw) != max(8, len(raw.rstrip(b" "))):
        return False
    if value[after:_FIELD_END].strip(b" "):
        return False
    return _AFTER.fullmatch(value, max(after, _FIELD_END)) is not None


def read(stream: Stream, primary: bool) -> FitsHeader:
    """One header, block by block to its END card, checked card by card."""
    start, header = stream.pos, FitsHeader()
    if not primary and stream.peek(8) != b"XTENSION":
        raise Invalid(f"fits: bytes after the last HDU (offset {start}) that are not an XTENSION header")
    for _ in range(MAX_HEADER_BLOCKS):
        block = stream.read(BLOCK, "a header block", FMT)
        bad = _PRINTABLE.search(block)
        if bad:
            offset = stream.pos - BLOCK + bad.start()
            raise Invalid(f"fits: a header byte is not printable ASCII (offset {offset})")
        for i in range(0, BLOCK, CARD):
            card = block[i : i + CARD]
            if not header.cards:
                _first_card(card, primary, start)
            if ends_header(card):
                _end(card, block[i + CARD :], stream.pos - BLOCK + i)
                header.rules.end()
                header.acted_on()
                return header
            _keyword_written(card, stream.pos - BLOCK + i)
            header.add(card, stream.pos - BLOCK + i)
    raise Invalid(f"fits: no END card within {MAX_HEADER_BLOCKS} header blocks")


def _keyword_written(card: bytes, at: int) -> None:
    if _KEYWORD.fullmatch(card, 0, 8) is None:
        raise Invalid(
            f"fits: the card at offset {at} has the keyword {card[:8].decode().rstrip()!r}: the standard "
            "allows only A-Z 0-9 - _ in columns 1-8, left-justified; astropy reads another spelling "
            "(lower case, `KEY=` in them) as the upper-case keyword and acts on it (`bscale` scales "
            "every pixel), cfitsio ignores it: two readers, two images"
        )


def _end(card: bytes, after: bytes, at: int) -> None:
    if card != _END:
        raise Invalid(
            f"fits: a card a reader ends the header at (offset {at}) is not an END card (END and "
            "77 blanks, as writers write it): astropy and cfitsio end the header at different cards"
        )
    if after.strip(b" "):
        raise Invalid("fits: the header holds more than blanks after its END card")


def _first_card(card: bytes, primary: bool, start: int) -> None:
    key, value = card[:8].rstrip(), card[8:]
    if primary and not (key == b"SIMPLE" and value.startswith(b"= ") and value[2:].strip().startswith(b"T")):
        raise Invalid("fits: the file does not start with the card SIMPLE = T")
    if not primary and key != b"XTENSION":
        raise Invalid(f"fits: bytes after the last HDU (offset {start}) that are not an XTENSION header")
