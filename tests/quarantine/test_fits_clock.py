"""The gzip tiles' header fields of a tile-compressed FITS image pinned to its two writers
(issue #13; attack e's fits-tile-mtime.fits): cfitsio (zlib) writes MTIME 0 in every
tile; astropy 5.3 on (Python's gzip.compress) the clock, XFL 2, OS 255. A clock before
2023-05 or after the vet's, another writer's XFL/OS beside a clock, a mix of 0 and a
clock, an earlier MTIME, or tiles written over longer than their pixels take is refused."""

from __future__ import annotations

import struct
import time
import zlib

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from tests.support.fits_tables import CONTROLS, check, tiles_of, with_tiles, write  # noqa: E402
from vmguard.quarantine.validators import Invalid, fitstile, writeclock  # noqa: E402

GZIPPED = ("GZIP_1-int", "GZIP_2-int", "GZIP_1-float", "GZIP_1-edge-tiles", "GZIP_1-lossless-float")


def _header(tile: bytes) -> tuple[int, int, int]:
    """(MTIME, XFL, OS) of a tile's gzip header."""
    return struct.unpack("<I", tile[4:8])[0], tile[8], tile[9]


def _set(tile: bytes, mtime: int, xfl_os: bytes | None = None) -> bytes:
    return tile[:4] + struct.pack("<I", mtime) + (xfl_os or tile[8:10]) + tile[10:]


def _retimed(data: bytes, mtimes: list[int], xfl_os: bytes | None = None) -> bytes:
    tiles = tiles_of(data)
    return with_tiles(data, [_set(t, m, xfl_os) for t, m in zip(tiles, mtimes, strict=True)])


@pytest.mark.parametrize("name", GZIPPED)
def test_astropy_tiles_carry_its_clock_and_pass(name):
    tiles = tiles_of(CONTROLS[name])
    heads = [_header(t) for t in tiles]
    assert {h[1:] for h in heads} == {(2, 255)}  # gzip.compress: level 9, OS unknown
    assert fitstile.CLOCK_FROM < heads[0][0] <= time.time()
    assert heads[-1][0] - heads[0][0] <= 2  # written at once
    assert check(CONTROLS[name]) == "fits"


def test_cfitsio_tiles_zlib_mtime_zero_pass():
    """cfitsio gzips a tile with zlib (deflateInit2 level 1, gzip wrapper): MTIME 0, XFL 4, OS 3."""
    data = CONTROLS["GZIP_1-int"]
    tiles = [zlib.compress(zlib.decompress(t, 31), 1, wbits=31) for t in tiles_of(data)]
    assert {_header(t) for t in tiles} == {(0, 4, 3)}
    assert check(with_tiles(data, tiles)) == "fits"


def test_real_cfitsio_output_passes(tmp_path):
    fitsio = pytest.importorskip("fitsio")  # cfitsio itself (not a dependency: skipped without it)
    image = np.random.default_rng(3).normal(100, 10, (60, 70)).astype("i2")
    for kind in ("GZIP_1", "GZIP_2"):
        path = tmp_path / f"{kind}.fits"
        with fitsio.FITS(str(path), "rw", clobber=True) as f:
            f.write(image, compress=kind)
        data = path.read_bytes()
        assert {_header(t) for t in tiles_of(data)} == {(0, 4, 3)}, kind
        assert check(data) == "fits", kind


def test_a_chosen_mtime_in_every_tile_is_refused():
    """Attack e: the same 4 bytes in every tile. A time before astropy wrote clocks, or
    later than the vet's clock (and a day of skew), is no writer's."""
    data = CONTROLS["GZIP_1-int"]
    count = len(tiles_of(data))
    for mtime in (0x4B52414D, 1, fitstile.CLOCK_FROM - 1, int(time.time()) + 2 * 86_400, 0xFFFFFFFF):
        with pytest.raises(Invalid, match=f"has MTIME {mtime}, XFL 2 and OS 255: cfitsio writes MTIME 0"):
            check(_retimed(data, [mtime] * count))
    now = int(time.time())
    assert check(_retimed(data, [now] * count)) == "fits"
    assert check(_retimed(data, [fitstile.CLOCK_FROM] * count)) == "fits"


def test_a_clock_with_another_writers_header_is_refused():
    data = CONTROLS["GZIP_1-int"]
    start = _header(tiles_of(data)[0])[0]
    count = len(tiles_of(data))
    for xfl_os in (b"\x04\x03", b"\x00\xff", b"\x02\x03"):
        with pytest.raises(Invalid, match="cfitsio writes MTIME 0, astropy"):
            check(_retimed(data, [start] * count, xfl_os))
    assert check(_retimed(data, [0] * count, b"\x04\x03")) == "fits"  # zlib's, as cfitsio
    for xfl_os in (b"\x01\x03", b"\x04\x13", b"\x04\x00"):  # an XFL zlib never writes; macOS's, DOS's OS
        with pytest.raises(Invalid, match="written: XFL \\(0, 2, 4\\), OS \\(3, 255\\), as in a gzip file"):
            check(_retimed(data, [0] * count, xfl_os))


@pytest.mark.parametrize(
    "steps",
    [
        "zero-then-clock",
        "clock-then-zero",
        "earlier",
        "beyond-span",
    ],
)
def test_tiles_written_out_of_order_or_over_too_long_are_refused(steps):
    data = CONTROLS["GZIP_1-int"]
    count = len(tiles_of(data))
    start = _header(tiles_of(data)[0])[0]
    pixels = 50 * 4  # a row of 50 pixels a tile, counted at 4 bytes (what one may inflate to)
    assert writeclock.SPAN_SECONDS + (count * pixels) // writeclock.SPAN_RATE == 60
    mtimes = {
        "zero-then-clock": [0] * (count - 1) + [start],
        "clock-then-zero": [start] * (count - 1) + [0],
        "earlier": [start] * (count - 1) + [start - 1],
        "beyond-span": [start] * (count - 1) + [start + 61],
    }[steps]
    with pytest.raises(
        Invalid, match="has an MTIME (earlier than the one before|more than 60 s after the first)"
    ):
        check(_retimed(data, mtimes))
    assert check(_retimed(data, [start] * (count - 1) + [start + 60])) == "fits"


def test_the_span_grows_with_the_pixels_compressed():
    """A second per 64 KiB compressed before the tile: a large image written slowly passes."""
    image = np.random.default_rng(5).integers(0, 1000, (1024, 512)).astype("i4")  # 2 MiB of pixels
    data = write(fits.CompImageHDU(image, compression_type="GZIP_1", tile_shape=(64, 512)))
    count = len(tiles_of(data))
    start = _header(tiles_of(data)[0])[0]
    before_last = (count - 1) * 64 * 512 * 4
    allowed = writeclock.SPAN_SECONDS + before_last // writeclock.SPAN_RATE
    assert allowed == 60 + 30
    assert check(_retimed(data, [start] * (count - 1) + [start + allowed])) == "fits"
    with pytest.raises(Invalid, match=f"an MTIME more than {allowed} s after the first"):
        check(_retimed(data, [start] * (count - 1) + [start + allowed + 1]))


def test_a_tile_clock_ahead_of_the_vets_by_more_than_the_skew_is_refused(monkeypatch):
    """The vet's clock behind the guest's: a tile from 'the future' passes within the skew."""
    data = CONTROLS["GZIP_1-int"]
    start = _header(tiles_of(data)[0])[0]
    behind = int(time.time()) - start  # what the skew must make up for the vet's clock to reach start
    monkeypatch.setattr(writeclock, "SKEW", -behind + 5)  # as if the vet's clock were 5 s behind
    assert check(data) == "fits"
    monkeypatch.setattr(writeclock, "SKEW", -behind - 5)
    with pytest.raises(Invalid, match="a time from 2023-05 to now"):
        check(data)
