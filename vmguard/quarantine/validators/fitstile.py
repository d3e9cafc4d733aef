"""Tile-compressed FITS images (ZIMAGE = T: a binary table with a row per tile) whose
tiles are gzip members (GZIP_1, GZIP_2, and the GZIP_COMPRESSED_DATA column of floats
that could not be quantized): each array of such a column is one plain gzip member that
ends at the array's last byte and inflates to exactly the tile's pixels. Its header's
free fields are what a writer puts there: XFL and OS the same in every tile of the
image, MTIME (the second the tile was compressed) never earlier than the tile before.
RICE_1 tiles end with their last pixel's code (fitsrice.py); a PLIO_1 tile's line list
is as long as its header says (7 header words, magic -100). PLIO's instructions and
HCOMPRESS tiles are not decoded: their arrays are data as far as this check goes (docs: what exactness
leaves)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from . import fitsrice
from .stream import Invalid

PIECE = 1 << 20
GZIP = ("GZIP_1", "GZIP_2")


@dataclass(frozen=True)
class Tiles:
    """Which columns hold gzip tiles, and the tile grid that says each tile's pixel count."""

    columns: frozenset[int] = frozenset()
    shape: tuple[int, ...] = ()  # ZNAXISn
    tile: tuple[int, ...] = ()  # ZTILEn
    pixel_bytes: frozenset[int] = frozenset()  # what one pixel may inflate to
    header: list[bytes] = field(default_factory=list, compare=False)  # the last tile's MTIME, XFL, OS
    rice: frozenset[int] = frozenset()  # the columns of RICE_1 tiles
    plio: frozenset[int] = frozenset()  # the columns of PLIO_1 tiles
    bytepix: int = 4  # RICE_1's BYTEPIX and BLOCKSIZE (ZNAMEi/ZVALi)
    blocksize: int = 32

    def pixels(self, row: int) -> int:
        """Pixels of the tile stored in table row `row` (0-based; axis 1 varies fastest)."""
        count = 1
        for length, size in zip(self.shape, self.tile, strict=True):
            tiles = -(-length // size)
            index, row = row % tiles, row // tiles
            count *= min(size, length - index * size)
        return count


NONE = Tiles()


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
        self.at, self.tiles = at, tiles
        self.sizes = {tiles.pixels(row) * b for b in tiles.pixel_bytes}
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
        last = self.tiles.header
        if last and (last[0][4:] != self.head[8:] or last[0][:4][::-1] > self.head[4:8][::-1]):
            raise Invalid(
                f"fits: a GZIP tile (offset {self.at}) has another XFL or OS than the tile before, or an "
                "earlier MTIME: its writer compresses the tiles in order, alike"
            )
        last[:] = [self.head[4:]]


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
