"""FITS (standard 4.0), HDU by HDU to the last byte: 2880-byte header blocks of 80-byte
ASCII cards ending with END and blank fill, a data section of exactly the size the
header declares, fill to the block with zeros (blanks for ASCII tables), then the next
HDU's XTENSION card or the end of the file. Nothing may come before SIMPLE or after the
last HDU. Cards are read by fitsheader.py, which files each under the keyword astropy
takes it for and refuses a keyword a rule reads that appears twice or is spelled unlike
a writer's card. An extension is an IMAGE (PCOUNT 0, GCOUNT 1: no bytes after the pixels), a
binary or an ASCII table, whose rows and heap are checked to their last byte
(fitstable.py); image pixels are data and are skipped unread."""

from __future__ import annotations

from . import fitsascii, fitsheader, fitstable, fitstile
from .fitsheader import FitsHeader
from .stream import Invalid, Stream

FMT = "fits"
BLOCK = fitsheader.BLOCK
_BITPIX = {8, 16, 32, 64, -32, -64}


def validate(stream: Stream) -> str:
    primary = True
    while primary or not stream.at_end():
        cards = fitsheader.read(stream, primary)
        size, fill = _data_size(cards, primary)
        _data(stream, cards, primary, size)
        pad = stream.read(-size % BLOCK, "the fill of the last data block", FMT)
        if pad.strip(fill):
            raise Invalid(f"fits: the fill after a data section holds data (offset {stream.pos - len(pad)})")
        primary = False
    return FMT


def _data_size(cards: FitsHeader, primary: bool) -> tuple[int, bytes]:
    """Bytes of the data section as declared (FITS 4.0, eqs. 1 and 2), and its fill byte."""
    bitpix, naxis = cards.integer(b"BITPIX"), cards.integer(b"NAXIS")
    if bitpix not in _BITPIX or not 0 <= naxis <= 999:
        raise Invalid("fits: BITPIX or NAXIS has a value the standard does not allow")
    axes = [cards.integer(b"NAXIS%d" % i) for i in range(1, naxis + 1)]
    if any(a < 0 for a in axes):
        raise Invalid("fits: a negative axis length")
    groups = primary and naxis > 0 and axes[0] == 0 and bool(cards.logical(b"GROUPS"))
    pcount = cards.integer(b"PCOUNT", None if not primary else 0)
    gcount = cards.integer(b"GCOUNT", None if not primary else 1)
    if pcount < 0 or gcount < 0:
        raise Invalid("fits: a negative PCOUNT or GCOUNT")
    product = 1
    for a in axes[1:] if groups else axes:
        product *= a
    if naxis == 0:
        product = 0
    fill = b" " if not primary and cards.string(b"XTENSION") == "TABLE" else b"\0"
    return abs(bitpix) // 8 * gcount * (pcount + product), fill


def _pinned(cards: FitsHeader, kind: str, values: dict[bytes, int]) -> None:
    """Keywords a kind of HDU fixes (FITS 4.0, tables 14, 15, 17, 18)."""
    for key, value in values.items():
        if cards.integer(key, value) != value:
            raise Invalid(
                f"fits: {key.decode()} of {kind} must be {value}: other values declare bytes "
                "no reader of it returns"
            )


def _data(stream: Stream, cards: FitsHeader, primary: bool, size: int) -> None:
    """The data section: a table's bytes checked, an image's (or random groups') skipped."""
    kind = "the primary HDU" if primary else cards.string(b"XTENSION")
    if primary:
        if not (bool(cards.logical(b"GROUPS")) and cards.integer(b"NAXIS") and not cards.integer(b"NAXIS1")):
            _pinned(cards, kind, {b"PCOUNT": 0, b"GCOUNT": 1})
    elif kind == "IMAGE":
        _pinned(cards, "an IMAGE extension", {b"PCOUNT": 0, b"GCOUNT": 1})
    elif kind in ("BINTABLE", "TABLE"):
        _table(stream, cards, kind)
        return
    else:
        raise Invalid(f"fits: an extension of type {kind!r}: only IMAGE, TABLE and BINTABLE are checked")
    stream.skip(size, "the data section its header declares", FMT)


def _table(stream: Stream, cards: FitsHeader, kind: str) -> None:
    pinned = {b"BITPIX": 8, b"NAXIS": 2, b"GCOUNT": 1} | ({b"PCOUNT": 0} if kind == "TABLE" else {})
    _pinned(cards, f"a {kind} extension", pinned)
    naxis1, rows, fields = cards.integer(b"NAXIS1"), cards.integer(b"NAXIS2"), cards.integer(b"TFIELDS")
    if not 0 <= fields <= 999:
        raise Invalid("fits: TFIELDS has a value the standard does not allow")
    tforms = [cards.string(b"TFORM%d" % n) for n in range(1, fields + 1)]
    if None in tforms:
        raise Invalid("fits: a table lacks a TFORMn keyword of one of its TFIELDS columns")
    _unscaled(cards, tforms)
    if cards.logical(b"ZTABLE"):
        raise Invalid(
            "fits: a tile-compressed table (ZTABLE = T, FITS 4.0 10.3) is not supported: its columns "
            "are vetted only as the compressed bytes astropy shows, not as the table funpack and "
            "cfitsio inflate them to; uncompress it (funpack) or write the table uncompressed"
        )
    if kind == "TABLE":
        tbcols = [cards.integer(b"TBCOL%d" % n) for n in range(1, fields + 1)]
        nulls = [cards.string(b"TNULL%d" % n) for n in range(1, fields + 1)]
        fitsascii.ascii_table(stream, naxis1, rows, list(zip(tbcols, tforms, nulls, strict=True)))
        return
    heap = cards.integer(b"PCOUNT")
    if cards.integer(b"THEAP", naxis1 * rows) != naxis1 * rows:
        raise Invalid(
            "fits: THEAP leaves bytes between a binary table and its heap (or overlaps them): "
            "the heap must start right after the table"
        )
    tdims = [cards.string(b"TDIM%d" % n) for n in range(1, fields + 1)]
    fitstable.binary(stream, naxis1, rows, tforms, tdims, heap, _tiles(cards, fields))


def _unscaled(cards: FitsHeader, tforms: list[str]) -> None:
    """No TSCALn or TZEROn on a character, logical or bit column (FITS 4.0 7.3.2: not
    allowed there): cfitsio applies them (a string's bytes, every bit set), astropy does
    not, so one table would read two ways (session 39, attack p content). One rule for
    binary and ASCII tables (an ASCII Aw column: session 40, attack q)."""
    for n, tform in enumerate(tforms, 1):
        kind = tform.lstrip("0123456789")[:2]
        kind = kind[1:] if kind[:1] in ("P", "Q") else kind[:1]
        if kind in ("A", "L", "X") and {b"TSCAL%d" % n, b"TZERO%d" % n} & cards.cards.keys():
            raise Invalid(
                f"fits: TSCAL{n} or TZERO{n} on column {n} of type {kind} (the standard allows no "
                "scaling there: cfitsio applies it, astropy does not, two tables in one file)"
            )


def _tiles(cards: FitsHeader, fields: int) -> fitstile.Tiles:
    """A tile-compressed image's gzip tiles (none for a table that is not one)."""
    if not cards.logical(b"ZIMAGE"):
        return fitstile.NONE
    names = {n: cards.string(b"TTYPE%d" % n) for n in range(1, fields + 1)}
    axes = range(1, cards.integer(b"ZNAXIS") + 1)
    shape = [cards.integer(b"ZNAXIS%d" % i) for i in axes]
    tile = [cards.integer(b"ZTILE%d" % i, shape[0] if i == 1 else 1) for i in axes]
    params = {}
    for i in range(1, 1000):
        name = cards.string(b"ZNAME%d" % i)
        if name is None:
            break
        if name in ("BYTEPIX", "BLOCKSIZE"):
            params[name] = cards.integer(b"ZVAL%d" % i)
    compression, bitpix = cards.string(b"ZCMPTYPE"), cards.integer(b"ZBITPIX")
    fitstile.tile_columns(names, bitpix)
    if bitpix > 0 and (found := {b"ZSCALE", b"ZZERO", b"ZBLANK"} & cards.cards.keys()):
        raise Invalid(
            f"fits: {min(found).decode()} in the header of a compressed integer image: cfitsio "
            "applies it, astropy does not (writers put it on quantized float images only): two "
            "images in one file (session 39, attack p content)"
        )
    return fitstile.tiles(names, compression, shape, tile, bitpix, params)
