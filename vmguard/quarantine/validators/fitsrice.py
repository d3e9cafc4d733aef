"""Where a RICE_1 tile's stream ends (cfitsio's fits_rdecomp, which astropy runs too):
the first pixel in BYTEPIX bytes, then per block of BLOCKSIZE pixels an FS code and the
block's differences: none (low entropy), BYTEPIX bytes each (high entropy) or Rice codes
(a unary quotient, then FS bits). A decoder stops after the tile's last pixel and never
reads what follows (cfitsio only warns), so the array must end with the stream's last
byte, its unused bits zero as the encoder leaves them. Only the code lengths are
followed, not the pixel values: a string of '0'/'1' searched at C speed."""

from __future__ import annotations

from .stream import Invalid

FS_BITS = {1: 3, 2: 4, 4: 5}  # bits of the FS code by bytes per pixel
FS_MAX = {1: 6, 2: 14, 4: 25}  # the FS code of a high-entropy block
MAX_TILE = 2 << 20  # expanded to 8 characters a bit (16 MB); about 1 s of CPU for 5M pixels


def check(tile: bytes, pixels: int, bytepix: int, blocksize: int, at: int) -> None:
    """A RICE_1 tile of `pixels` pixels is exactly its stream, padded with zero bits."""
    if bytepix not in FS_BITS or blocksize < 1:
        raise Invalid(
            f"fits: a RICE_1 image with BYTEPIX {bytepix} or BLOCKSIZE {blocksize} cannot be checked"
        )
    if len(tile) > MAX_TILE:
        raise Invalid(f"fits: a RICE_1 tile of more than {MAX_TILE} bytes (offset {at}) is not checked")
    body = tile[bytepix:]
    bits = bin(int.from_bytes(b"\1" + body, "big"))[3:]  # the leading 1 keeps the leading zeros
    used = _stream_bits(bits, pixels, bytepix, blocksize, at)
    if -(-used // 8) != len(body) or "1" in bits[used:]:
        raise Invalid(
            f"fits: a RICE_1 tile (offset {at}) holds {len(body) - -(-used // 8)} bytes or bits after "
            "its last pixel's code: no decoder reads them"
        )


def _stream_bits(bits: str, pixels: int, bytepix: int, blocksize: int, at: int) -> int:
    fs_bits, fs_max, raw = FS_BITS[bytepix], FS_MAX[bytepix], 8 * bytepix
    pos = done = 0
    try:
        while done < pixels:
            block = min(blocksize, pixels - done)
            code = bits[pos : pos + fs_bits]
            fs, pos, done = int(code, 2) - 1, pos + fs_bits, done + block
            if fs == fs_max:
                pos += block * raw
            elif fs >= 0:
                for _ in range(block):
                    pos = bits.index("1", pos) + 1 + fs
            if pos > len(bits) or len(code) < fs_bits:
                raise ValueError
    except ValueError:
        raise Invalid(f"fits: a RICE_1 tile (offset {at}) ends inside its stream") from None
    return pos
