"""Tile-compressed FITS images (issue #13): astropy's GZIP_1, GZIP_2, RICE_1, PLIO_1 and
HCOMPRESS_1 output passes; bytes after a tile's stream (gzip, RICE, PLIO), a gzip tile's
name or other header fields, an inflated size other than the tile's pixels are refused."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from tests.support.fits_tables import CONTROLS, check, check_or_none, patch, table_at, tiles_of, with_tiles  # noqa: E402
from vmguard.quarantine.validators import Invalid  # noqa: E402


def test_trailing_bytes_in_a_gzip_tile_are_refused():
    data = CONTROLS["GZIP_1-int"]
    tiles = tiles_of(data)
    assert check(with_tiles(data, tiles)) == "fits"  # the rebuild itself changes nothing
    padded = with_tiles(data, [tiles[0] + b"\0" * 64, *tiles[1:]])
    with fits.open(io.BytesIO(padded)) as hdul, fits.open(io.BytesIO(data)) as real:
        assert (hdul[1].data == real[1].data).all()  # astropy's gzip drops the zeros
    for junk in (b"\0" * 64, b"PAYLOAD!", tiles[1]):  # zeros, bytes, a second member
        with pytest.raises(Invalid, match="bytes after the gzip stream of a tile"):
            check(with_tiles(data, [tiles[0] + junk, *tiles[1:]]))
    with pytest.raises(Invalid, match="ends inside its gzip stream"):
        check(with_tiles(data, [tiles[0][:-1], *tiles[1:]]))
    other_os = tiles[1][:9] + b"\x03" + tiles[1][10:]  # OS Unix in one tile only (MTIME: test_fits_clock.py)
    with pytest.raises(Invalid, match="another XFL or OS"):
        check(with_tiles(data, [tiles[0], other_os, *tiles[2:]]))
    bigger = gzip.compress(zlib.decompress(tiles[0], 31) + b"\0\0", mtime=0)
    with pytest.raises(Invalid, match="inflates to 102 bytes, not its tile's pixels"):
        check(
            with_tiles(data, [bigger, *[gzip.compress(zlib.decompress(t, 31), mtime=0) for t in tiles[1:]]])
        )
    named = tiles[0][:3] + b"\x08" + tiles[0][4:10] + b"x\0" + tiles[0][10:]  # FNAME "x"
    with pytest.raises(Invalid, match="not a plain gzip member"):
        check(with_tiles(data, [named, *tiles[1:]]))


def test_a_raw_float_tile_is_a_checked_gzip_member_too():
    data = CONTROLS["RICE_1-f4-constant-row"]
    start, naxis1, rows, _ = table_at(data)
    count, offset = struct.unpack(">ii", data[start + 3 * naxis1 + 8 : start + 3 * naxis1 + 16])
    tile = start + rows * naxis1 + offset
    assert count > 0 and data[tile : tile + 3] == b"\x1f\x8b\x08"
    with pytest.raises(Invalid, match="not a plain gzip member"):
        check(patch(data, tile + 3, b"\x10"))  # FCOMMENT


@pytest.mark.parametrize("name", ["RICE_1-int", "RICE_1-edge-tiles"])
def test_bytes_after_a_rice_stream_are_refused(name):
    """cfitsio's decoder (astropy's too) stops after the tile's last pixel: the unused
    bits of its last byte are read by nobody; whole bytes after it cfitsio only warns of
    (astropy raises)."""
    data = CONTROLS[name]
    tiles = tiles_of(data)
    assert check(with_tiles(data, tiles)) == "fits"
    with pytest.raises(Invalid, match="holds 8 bytes or bits after its last pixel's code"):
        check(with_tiles(data, [tiles[0] + b"PAYLOAD!", *tiles[1:]]))
    with pytest.raises(Invalid, match="ends inside its stream"):
        check(with_tiles(data, [tiles[0][: len(tiles[0]) // 2], *tiles[1:]]))
    refused = 0
    for i, tile in enumerate(tiles):
        last_bit = with_tiles(data, [*tiles[:i], tile[:-1] + bytes([tile[-1] | 1]), *tiles[i + 1 :]])
        if check_or_none(last_bit) is None:
            continue  # the stream's last code ends on the byte's last bit
        refused += 1
        with fits.open(io.BytesIO(last_bit)) as hdul, fits.open(io.BytesIO(data)) as real:
            assert (hdul[1].data == real[1].data).all()  # read alike: the bit is lost
        assert "bytes or bits after its last pixel's code" in check_or_none(last_bit)
    assert refused > len(tiles) // 2


def test_words_after_a_plio_line_list_are_refused():
    data = CONTROLS["PLIO_1-int"]
    tiles = tiles_of(data, 2)
    assert check(with_tiles(data, tiles, 2)) == "fits"
    with pytest.raises(Invalid, match="is 61 words, its line list 57: no decoder reads the words after"):
        check(with_tiles(data, [tiles[0] + b"PAYLOAD!", *tiles[1:]], 2))
