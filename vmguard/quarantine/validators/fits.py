"""FITS (standard 4.0), HDU by HDU to the last byte: 2880-byte header blocks of 80-byte
ASCII cards ending with END and blank fill, a data section of exactly the size the
header declares, fill to the block with zeros (blanks for ASCII tables), then the next
HDU's XTENSION card or the end of the file. Nothing may come before SIMPLE or after the
last HDU. An extension is an IMAGE (PCOUNT 0, GCOUNT 1: no bytes after the pixels), a
binary or an ASCII table, whose rows and heap are checked to their last byte
(fitstable.py); image pixels are data and are skipped unread."""

from __future__ import annotations

import re

from . import fitstable, fitstile
from .stream import Invalid, Stream

FMT = "fits"
BLOCK, CARD = 2880, 80
MAX_HEADER_BLOCKS = 10_000  # 360,000 cards: far beyond any real header
_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_INT = re.compile(rb"=\s*([+-]?\d+)\s*(?:/.*)?$")
_BITPIX = {8, 16, 32, 64, -32, -64}
_DUPLICATE = b"\0"  # the value of a keyword that appears twice (no card holds a NUL)
_STRING = re.compile(rb"=\s*'((?:[^']|'')*)'")


def validate(stream: Stream) -> str:
    primary = True
    while primary or not stream.at_end():
        cards = _header(stream, primary)
        size, fill = _data_size(cards, primary)
        _data(stream, cards, primary, size)
        pad = stream.read(-size % BLOCK, "the fill of the last data block", FMT)
        if pad.strip(fill):
            raise Invalid(f"fits: the fill after a data section holds data (offset {stream.pos - len(pad)})")
        primary = False
    return FMT


def _header(stream: Stream, primary: bool) -> dict[bytes, bytes]:
    """Keyword -> raw value field of one header, checked card by card."""
    start, cards = stream.pos, {}
    if not primary and stream.peek(8) != b"XTENSION":
        raise Invalid(f"fits: bytes after the last HDU (offset {start}) that are not an XTENSION header")
    for _ in range(MAX_HEADER_BLOCKS):
        block = stream.read(BLOCK, "a header block", FMT)
        bad = _PRINTABLE.search(block)
        if bad:
            offset = stream.pos - BLOCK + bad.start()
            raise Invalid(f"fits: a header byte is not printable ASCII (offset {offset})")
        for i in range(0, BLOCK, CARD):
            key, value = block[i : i + 8].rstrip(), block[i + 8 : i + CARD]
            if not cards:
                _first_card(key, value, primary, start)
            if key == b"END":
                if block[i + CARD :].strip(b" ") or value.strip(b" "):
                    raise Invalid("fits: the header holds more than blanks after its END card")
                return cards
            cards[key] = _DUPLICATE if key in cards else value
    raise Invalid(f"fits: no END card within {MAX_HEADER_BLOCKS} header blocks")


def _first_card(key: bytes, value: bytes, primary: bool, start: int) -> None:
    if primary and not (key == b"SIMPLE" and value.startswith(b"= ") and value[2:].strip().startswith(b"T")):
        raise Invalid("fits: the file does not start with the card SIMPLE = T")
    if not primary and key != b"XTENSION":
        raise Invalid(f"fits: bytes after the last HDU (offset {start}) that are not an XTENSION header")


def _value(cards: dict[bytes, bytes], key: bytes) -> bytes:
    """A keyword's value field; a keyword the header repeats is refused where it matters:
    astropy takes one card and another reader the other (a second THEAP, TFORMn, PCOUNT)."""
    value = cards[key]
    if value == _DUPLICATE:
        raise Invalid(f"fits: the keyword {key.decode()} appears more than once in a header")
    return value


def _integer(cards: dict[bytes, bytes], key: bytes, default: int | None = None) -> int:
    if key not in cards:
        if default is None:
            raise Invalid(f"fits: the header lacks the mandatory keyword {key.decode()}")
        return default
    match = _INT.match(_value(cards, key).rstrip())
    if match is None:
        raise Invalid(f"fits: {key.decode()} is not an integer")
    return int(match.group(1))


def _data_size(cards: dict[bytes, bytes], primary: bool) -> tuple[int, bytes]:
    """Bytes of the data section as declared (FITS 4.0, eqs. 1 and 2), and its fill byte."""
    bitpix, naxis = _integer(cards, b"BITPIX"), _integer(cards, b"NAXIS")
    if bitpix not in _BITPIX or not 0 <= naxis <= 999:
        raise Invalid("fits: BITPIX or NAXIS has a value the standard does not allow")
    axes = [_integer(cards, b"NAXIS%d" % i) for i in range(1, naxis + 1)]
    if any(a < 0 for a in axes):
        raise Invalid("fits: a negative axis length")
    groups = primary and naxis > 0 and axes[0] == 0 and b"GROUPS" in cards
    pcount = _integer(cards, b"PCOUNT", None if not primary else 0)
    gcount = _integer(cards, b"GCOUNT", None if not primary else 1)
    if pcount < 0 or gcount < 0:
        raise Invalid("fits: a negative PCOUNT or GCOUNT")
    product = 1
    for a in axes[1:] if groups else axes:
        product *= a
    if naxis == 0:
        product = 0
    fill = b" " if not primary and _string(cards, b"XTENSION") == "TABLE" else b"\0"
    return abs(bitpix) // 8 * gcount * (pcount + product), fill


def _string(cards: dict[bytes, bytes], key: bytes) -> str | None:
    """A character string value, its trailing blanks dropped (as the standard reads it)."""
    if key not in cards:
        return None
    match = _STRING.match(_value(cards, key))
    if match is None:
        raise Invalid(f"fits: {key.decode()} is not a character string")
    return match.group(1).replace(b"''", b"'").decode("ascii").rstrip(" ")


def _pinned(cards: dict[bytes, bytes], kind: str, values: dict[bytes, int]) -> None:
    """Keywords a kind of HDU fixes (FITS 4.0, tables 14, 15, 17, 18)."""
    for key, value in values.items():
        if _integer(cards, key, value) != value:
            raise Invalid(
                f"fits: {key.decode()} of {kind} must be {value}: other values declare bytes "
                "no reader of it returns"
            )


def _data(stream: Stream, cards: dict[bytes, bytes], primary: bool, size: int) -> None:
    """The data section: a table's bytes checked, an image's (or random groups') skipped."""
    kind = "the primary HDU" if primary else _string(cards, b"XTENSION")
    if primary:
        if not (b"GROUPS" in cards and _integer(cards, b"NAXIS") and not _integer(cards, b"NAXIS1")):
            _pinned(cards, kind, {b"PCOUNT": 0, b"GCOUNT": 1})
    elif kind == "IMAGE":
        _pinned(cards, "an IMAGE extension", {b"PCOUNT": 0, b"GCOUNT": 1})
    elif kind in ("BINTABLE", "TABLE"):
        _table(stream, cards, kind)
        return
    else:
        raise Invalid(f"fits: an extension of type {kind!r}: only IMAGE, TABLE and BINTABLE are checked")
    stream.skip(size, "the data section its header declares", FMT)


def _table(stream: Stream, cards: dict[bytes, bytes], kind: str) -> None:
    pinned = {b"BITPIX": 8, b"NAXIS": 2, b"GCOUNT": 1} | ({b"PCOUNT": 0} if kind == "TABLE" else {})
    _pinned(cards, f"a {kind} extension", pinned)
    naxis1, rows, fields = _integer(cards, b"NAXIS1"), _integer(cards, b"NAXIS2"), _integer(cards, b"TFIELDS")
    if not 0 <= fields <= 999:
        raise Invalid("fits: TFIELDS has a value the standard does not allow")
    tforms = [_string(cards, b"TFORM%d" % n) for n in range(1, fields + 1)]
    if None in tforms:
        raise Invalid("fits: a table lacks a TFORMn keyword of one of its TFIELDS columns")
    if kind == "TABLE":
        tbcols = [_integer(cards, b"TBCOL%d" % n) for n in range(1, fields + 1)]
        fitstable.ascii_table(stream, naxis1, rows, list(zip(tbcols, tforms, strict=True)))
        return
    heap = _integer(cards, b"PCOUNT")
    if _integer(cards, b"THEAP", naxis1 * rows) != naxis1 * rows:
        raise Invalid(
            "fits: THEAP leaves bytes between a binary table and its heap (or overlaps them): "
            "the heap must start right after the table"
        )
    tdims = [_string(cards, b"TDIM%d" % n) for n in range(1, fields + 1)]
    fitstable.binary(stream, naxis1, rows, tforms, tdims, heap, _tiles(cards, fields))


def _tiles(cards: dict[bytes, bytes], fields: int) -> fitstile.Tiles:
    """A tile-compressed image's gzip tiles (none for a table that is not one)."""
    if b"ZIMAGE" not in cards or _value(cards, b"ZIMAGE").strip(b"= ")[:1] != b"T":
        return fitstile.NONE
    names = {n: _string(cards, b"TTYPE%d" % n) for n in range(1, fields + 1)}
    axes = range(1, _integer(cards, b"ZNAXIS") + 1)
    shape = [_integer(cards, b"ZNAXIS%d" % i) for i in axes]
    tile = [_integer(cards, b"ZTILE%d" % i, shape[0] if i == 1 else 1) for i in axes]
    params = {}
    for i in range(1, 1000):
        name = _string(cards, b"ZNAME%d" % i)
        if name is None:
            break
        if name in ("BYTEPIX", "BLOCKSIZE"):
            params[name] = _integer(cards, b"ZVAL%d" % i)
    compression = _string(cards, b"ZCMPTYPE")
    return fitstile.tiles(names, compression, shape, tile, _integer(cards, b"ZBITPIX"), params)
