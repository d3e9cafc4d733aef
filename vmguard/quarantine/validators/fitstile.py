"""Tile-compressed FITS images (ZIMAGE = T: a binary table with a row per tile) whose
tiles are gzip members (GZIP_1, GZIP_2, and the GZIP_COMPRESSED_DATA column of floats
that could not be quantized): each array of such a column is one plain gzip member that
ends at the array's last byte and inflates to exactly the tile's pixels. Its header's
fields are what one of the two writers puts there (TileClock): cfitsio's zlib MTIME 0 in
every tile; astropy's Python gzip the clock (the second each tile was compressed, from
astropy 5.3 on, never later than the vet's clock) with XFL 2 and OS 255; XFL and OS the
same in every tile, MTIME never earlier than the tile before and the image's tiles
written within a time their pixels bound.
RICE_1 tiles end with their last pixel's code (fitsrice.py); a PLIO_1 tile's line list
is as long as its header says (7 header words, magic -100). PLIO's instructions and
HCOMPRESS tiles are not decoded: their arrays are data as far as this check goes (docs: what exactness
leaves)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import fitsrice
from .gzipfmt import OS_WRITTEN, XFL_WRITTEN
from .stream import Invalid
from .writeclock import WriteClock, too_late

PIECE = 1 << 20
GZIP = ("GZIP_1", "GZIP_2")
# The columns of a tile-compressed image's table (the tiled image convention, FITS 4.0
# 10.1: astropy's writer and cfitsio's imcompress.c): a tile's data in one of the three
# data columns, the quantized tiles' scale and zero, their nulls. An image reader reads
# these only: another column is bytes no image reader shows (session 40, attack q: a NOTES
# 64B column). cfitsio's NULL_PIXEL_MASK (ZMASKCMP) is refused too: astropy ignores it
# where cfitsio nulls the pixels it marks (two images), and its compressed mask tiles are
# not checked here.
DATA_COLUMNS = ("COMPRESSED_DATA", "GZIP_COMPRESSED_DATA", "UNCOMPRESSED_DATA")
TILE_COLUMNS = frozenset(DATA_COLUMNS + ("ZSCALE", "ZZERO", "ZBLANK"))
CLOCK_FROM = 1_682_899_200  # 2023-05-01 UTC: astropy 5.3 compresses tiles with Python's gzip (cfitsio before)
PYTHON_GZIP = b"\x02\xff"  # XFL, OS of gzip.compress(data) (level 9, OS unknown), astropy's call


@dataclass
class TileClock:
    """The gzip tiles of one image so far: the first tile's XFL and OS (header bytes
    8-9), and their MTIMEs, each tile's pixels written before the next (writeclock.py)."""

    first: bytes = b""
    clock: WriteClock = field(default_factory=WriteClock)

    def check(self, head: bytes, at: int, pixels: int) -> None:
        mtime = struct.unpack("<I", head[4:8])[0]
        if not self.first:
            _first_tile(head, mtime, at)
            self.first = head[8:10]
        why = "another XFL or OS than the tiles before" if head[8:10] != self.first else None
        why = why or (f"an MTIME {broken}" if (broken := self.clock.broken(mtime)) else None)
        if why:
            raise Invalid(
                f"fits: a GZIP tile (offset {at}) has {why}: its writer compresses the tiles in order, "
                "alike, at once (cfitsio: MTIME 0 in every tile)"
            )
        self.clock.written += pixels


def _first_tile(head: bytes, mtime: int, at: int) -> None:
    """MTIME 0 (cfitsio's zlib: XFL and OS as a gzip file's), or astropy's gzip.compress:
    its clock, XFL 2, OS 255."""
    if not mtime and (head[8] not in XFL_WRITTEN or head[9] not in OS_WRITTEN):
        raise Invalid(
            f"fits: a GZIP tile (offset {at}) has XFL {head[8]} and OS {head[9]} "
            f"(written: XFL {XFL_WRITTEN}, OS {OS_WRITTEN}, as in a gzip file)"
        )
    if mtime and (head[8:10] != PYTHON_GZIP or mtime < CLOCK_FROM or too_late(mtime)):
        raise Invalid(
            f"fits: a GZIP tile (offset {at}) has MTIME {mtime}, XFL {head[8]} and OS {head[9]}: cfitsio "
            "writes MTIME 0, astropy (5.3 on, Python's gzip) the clock of the tile's writing, XFL 2 and OS "
            "255: a time from 2023-05 to now (rewrite it with astropy or fpack)"
        )


@dataclass(frozen=True)
class Tiles:
    """Which columns hold gzip tiles, and the tile grid that says each tile's pixel count."""

    columns: frozenset[int] = frozenset()
    shape: tuple[int, ...] = ()  # ZNAXISn
    tile: tuple[int, ...] = ()  # ZTILEn
    pixel_bytes: frozenset[int] = frozenset()  # what one pixel may inflate to
    clock: TileClock = field(default_factory=TileClock, compare=False)
    rice: frozenset[int] = frozenset()  # the columns of RICE_1 tiles
    plio: frozenset[int] = frozenset()  # the columns of PLIO_1 tiles
    bytepix: int = 4  # RICE_1's BYTEPIX and BLOCKSIZE (ZNAMEi/ZVALi)
    blocksize: int = 32
    data: frozenset[int] = frozenset()  # the columns of DATA_COLUMNS: one holds each tile

    def one_array(self, counts: dict[int, Sequence[int]], first: int) -> None:
        """Each tile (row) has its data in exactly one data column: cfitsio writes
        UNCOMPRESSED_DATA (astropy GZIP_COMPRESSED_DATA) only for a tile COMPRESSED_DATA
        leaves empty, and readers take COMPRESSED_DATA when it is not, so arrays beside it
        are a second image no reader shows (session 40, attack q). `counts`: each array
        column's element counts by row of the batch, by column number."""
        held = [counts[n] for n in sorted(self.data) if n in counts]
        if not held:
            return
        for row, arrays in enumerate(zip(*held, strict=True)):
            if sum(1 for count in arrays if count) != 1:
                raise Invalid(
                    f"fits: tile {first + row + 1} of a tile-compressed image has its data in "
                    f"{sum(1 for count in arrays if count)} of the columns {', '.join(DATA_COLUMNS)} "
                    "(the tiled image convention: exactly one; readers take COMPRESSED_DATA when it "
                    "is not empty, the others' arrays are an image no reader shows)"
                )

    def pixels(self, row: int) -> int:
        """Pixels of the tile stored in table row `row` (0-based; axis 1 varies fastest)."""
        count = 1
        for length, size in zip(self.shape, self.tile, strict=True):
            tiles = -(-length // size)
            index, row = row % tiles, row // tiles
            count *= min(size, length - index * size)
        return count


NONE = Tiles()


def tile_columns(names: dict[int, str | None], bitpix: int) -> None:
    """A tile-compressed image's table holds only the convention's columns, each once;
    ZSCALE and ZZERO together, in a float image only (astropy dequantizes every tile of a
    table with a ZSCALE column, integer or not; writers quantize floats only)."""
    written = [name for name in names.values() if name is not None]
    scaling = {"ZSCALE", "ZZERO"} & set(written)
    if scaling and (bitpix > 0 or len(scaling) == 1):
        raise Invalid(
            f"fits: a tile-compressed image (ZBITPIX {bitpix}) has the column {min(scaling)} "
            f"{'without its pair' if bitpix < 0 else 'though its pixels are integers'}: astropy "
            "dequantizes its tiles by ZSCALE and ZZERO, which writers write, both, for quantized "
            "float images only"
        )
    extra = sorted({name or "(no TTYPE)" for name in names.values()} - TILE_COLUMNS)
    if extra or len(set(written)) != len(written) or "COMPRESSED_DATA" not in written:
        what = f"the column {extra[0]!r}" if extra else "a column twice, or no COMPRESSED_DATA"
        raise Invalid(
            f"fits: a tile-compressed image's table holds {what}: the tiled image convention's "
            f"columns are {', '.join(sorted(TILE_COLUMNS))}, each once (COMPRESSED_DATA always), "
            "and an image reader reads no other, so its bytes are shown by none (session 40); "
            "write the image with astropy or fpack"
        )


def tiles(
    names: dict[int, str | None],
    compression: str | None,
    shape: list[int],
    tile: list[int],
    bitpix: int,
    params: dict[str, int],
) -> Tiles:
    """The gzip tiles of a tile-compressed image: its COMPRESSED_DATA column when the
    compression is GZIP_1/GZIP_2, and any GZIP_COMPRESSED_DATA column. A pixel inflates to
    ZBITPIX's bytes, or 4 for a float image quantized to 32-bit integers."""
    if len(tile) != len(shape) or any(t < 1 for t in tile) or any(n < 0 for n in shape):
        raise Invalid("fits: a tile-compressed image's ZTILEn do not tile its ZNAXISn")
    gzip = compression in GZIP
    columns = frozenset(
        n
        for n, name in names.items()
        if name == "GZIP_COMPRESSED_DATA" or (gzip and name == "COMPRESSED_DATA")
    )
    rice = frozenset(n for n, name in names.items() if compression == "RICE_1" and name == "COMPRESSED_DATA")
    plio = frozenset(n for n, name in names.items() if compression == "PLIO_1" and name == "COMPRESSED_DATA")
    return Tiles(
        columns | rice | plio,
        tuple(shape),
        tuple(tile),
        frozenset({abs(bitpix) // 8, 4}),
        rice=rice,
        plio=plio,
        bytepix=params.get("BYTEPIX", 4),
        blocksize=params.get("BLOCKSIZE", 32),
        data=frozenset(n for n, name in names.items() if name in DATA_COLUMNS),
    )


class RiceTile:
    """One RICE_1 tile, gathered piece by piece and checked whole (fitsrice.py)."""

    def __init__(self, at: int, tiles: Tiles, row: int) -> None:
        self.at, self.tiles, self.row, self.pieces = at, tiles, row, bytearray()

    def feed(self, piece: bytes, done: int, last: bool) -> None:
        self.pieces += piece
        if len(self.pieces) > fitsrice.MAX_TILE:
            raise Invalid(
                f"fits: a RICE_1 tile (offset {self.at}) of more than {fitsrice.MAX_TILE} bytes: not checked"
            )
        if last:
            t = self.tiles
            fitsrice.check(bytes(self.pieces), t.pixels(self.row), t.bytepix, t.blocksize, self.at)


class GzipTile:
    """One tile's gzip member, fed piece by piece."""

    def __init__(self, at: int, tiles: Tiles, row: int) -> None:
        self.at, self.tiles, self.pixels = at, tiles, tiles.pixels(row)
        self.sizes = {self.pixels * b for b in tiles.pixel_bytes}
        self.inflate, self.head, self.size = zlib.decompressobj(wbits=31), b"", 0

    def feed(self, piece: bytes, done: int, last: bool) -> None:
        if len(self.head) < 10:
            self.head += piece[: 10 - len(self.head)]
            if len(self.head) == 10:
                self._header()
        try:
            while piece:
                self.size += len(self.inflate.decompress(piece, PIECE))
                piece = self.inflate.unconsumed_tail
                if self.size > max(self.sizes):
                    raise Invalid(
                        f"fits: a GZIP tile (offset {self.at}) inflates to more than its tile's pixels"
                    )
        except zlib.error as err:
            raise Invalid(
                f"fits: a GZIP tile (offset {self.at}) is not a valid gzip stream ({err})"
            ) from None
        if self.inflate.eof and (self.inflate.unused_data or not last):
            raise Invalid(
                f"fits: bytes after the gzip stream of a tile (offset {self.at}): no reader needs them"
            )
        if last and not self.inflate.eof:
            raise Invalid(f"fits: a GZIP tile (offset {self.at}) ends inside its gzip stream")
        if last and self.size not in self.sizes:
            raise Invalid(
                f"fits: a GZIP tile (offset {self.at}) inflates to {self.size} bytes, not its tile's pixels"
            )

    def _header(self) -> None:
        if self.head[:3] != b"\x1f\x8b\x08" or self.head[3]:
            raise Invalid(
                f"fits: a GZIP tile (offset {self.at}) is not a plain gzip member (flags {self.head[3]}: "
                "a name, comment or extra field no reader returns)"
            )
        self.tiles.clock.check(self.head, self.at, self.pixels * max(self.tiles.pixel_bytes))


class PlioTile:
    """One PLIO_1 tile (16-bit words): its header's list length is the array's length,
    as cfitsio's decoder reads it (pl_l2pi reads no word past that length)."""

    def __init__(self, at: int, size: int) -> None:
        self.at, self.size, self.head = at, size, b""

    def feed(self, piece: bytes, done: int, last: bool) -> None:
        if len(self.head) < 14:
            self.head += piece[: 14 - len(self.head)]
        if not last:
            return
        words = struct.unpack(">7h", self.head) if len(self.head) == 14 else ()
        if not words or words[1] != 7 or words[2] != -100:
            raise Invalid(
                f"fits: a PLIO_1 tile (offset {self.at}) has not the line list header cfitsio writes"
            )
        length = words[3] + (words[4] << 15)
        if 2 * length != self.size:
            raise Invalid(
                f"fits: a PLIO_1 tile (offset {self.at}) is {self.size // 2} words, its line list {length}: "
                "no decoder reads the words after the list"
            )
