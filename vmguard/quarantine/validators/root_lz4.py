"""A ROOT LZ4 block (ZipLZ4.cxx): an XXH64 checksum of the compressed bytes (big-endian,
seed 0), then one LZ4 block whose sequences end exactly at the block's end and produce
exactly the block's inflated size: ROOT's reader (LZ4_decompress_safe into a buffer of
that size) and uproot's both refuse anything else, so no byte of it is unread. Checked
in every record, baskets and blobs too, with liblz4's LZ4_decompress_safe and
libxxhash's XXH64 through ctypes (loaded with the validators, before the worker confines
itself); where either is missing, in pure Python (XXH64 at about 14 MB/s)."""

from __future__ import annotations

import ctypes
import struct

from .stream import Invalid
from .xxh3 import rotl64

_P1, _P2, _P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
_P4, _P5 = 9650029242287828579, 2870177450012600261
_MASK = (1 << 64) - 1
_MIN_MATCH = 4


def _load(name: str, function: str, restype: type, argtypes: list[type]):  # noqa: ANN202 - or None
    try:
        fn = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = restype, argtypes
    return fn


_INT, _PTR = ctypes.c_int, ctypes.c_char_p
_DECOMPRESS = _load("liblz4.so.1", "LZ4_decompress_safe", _INT, [_PTR, ctypes.c_void_p, _INT, _INT])
_XXH64 = _load("libxxhash.so.0", "XXH64", ctypes.c_uint64, [_PTR, ctypes.c_size_t, ctypes.c_uint64])


def check(block: bytes, inflated: int, offset: int) -> bytes:
    """One L4 block's bytes after its 9-byte header: checksum, then the LZ4 block, which
    must produce exactly `inflated` bytes; returns them."""
    if len(block) < 9 or struct.unpack_from(">Q", block)[0] != checksum(block[8:]):
        raise _broken(offset, "has a checksum that is not the XXH64 of its bytes")
    data = _decoded(block[8:], inflated, offset)
    if data is None or len(data) != inflated:
        raise _broken(offset, f"does not inflate to its {inflated} bytes")
    return data


def checksum(data: bytes) -> int:
    """XXH64 with seed 0: libxxhash's, else xxh64 below."""
    return _XXH64(data, len(data), 0) if _XXH64 is not None else xxh64(data)


def _decoded(data: bytes, inflated: int, offset: int) -> bytes | None:
    """What the LZ4 block `data` produces into `inflated` bytes of room (None: it is no
    block ending at its end, or it produces more)."""
    if _DECOMPRESS is None:
        return _produced(data, inflated, offset)
    out = ctypes.create_string_buffer(max(inflated, 1))
    made = _DECOMPRESS(data, out, len(data), inflated)
    return ctypes.string_at(out, made) if made >= 0 else None


def _broken(offset: int, rule: str) -> Invalid:
    return Invalid(f"root: an LZ4 block of the record at {offset} {rule}")


def _produced(data: bytes, room: int, offset: int) -> bytes:
    """What an LZ4 block (all of data) produces, at most `room` bytes: its sequences, the
    last only literals and ending exactly at the end, each match's offset inside what
    came before (a match may overlap what it copies: its period repeated)."""
    out, at = bytearray(), 0
    while True:
        if at >= len(data):
            raise _broken(offset, "ends before its last sequence")
        token, at = data[at], at + 1
        literals, at = _length(data, at, token >> 4, offset)
        if at + literals > len(data):
            raise _broken(offset, "ends inside its literals")
        if len(out) + literals > room:
            raise _broken(offset, f"produces more than its {room} bytes")
        out += data[at : at + literals]
        at += literals
        if at == len(data):
            return bytes(out)
        if at + 2 > len(data):
            raise _broken(offset, "ends inside a sequence")
        distance, at = int.from_bytes(data[at : at + 2], "little"), at + 2
        if not 0 < distance <= len(out):
            raise _broken(offset, "has a match before its start")
        match, at = _length(data, at, token & 15, offset)
        match += _MIN_MATCH
        if len(out) + match > room:  # no bomb: what is built is bounded by the block's size
            raise _broken(offset, f"produces more than its {room} bytes")
        period = out[len(out) - distance :]
        out += (period * (match // distance + 1))[:match]
        if at >= len(data):
            raise _broken(offset, "does not end with literals")


def _length(data: bytes, at: int, nibble: int, offset: int) -> tuple[int, int]:
    """A length: the token's nibble, and while it is 15 the following bytes up to one below 255."""
    length = nibble
    if nibble == 15:
        while True:
            if at >= len(data):
                raise _broken(offset, "ends inside a length")
            byte, at = data[at], at + 1
            length += byte
            if byte != 255:
                break
    return length, at


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _MASK
    return (((acc << 31) | (acc >> 33)) & _MASK) * _P1 & _MASK


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 (xxHash's 64-bit hash) of data."""
    n, at = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _MASK, (seed + _P2) & _MASK, seed, (seed - _P1) & _MASK]
        for lanes in struct.iter_unpack("<4Q", data[: n - n % 32]):
            v = [_round(acc, lane) for acc, lane in zip(v, lanes, strict=True)]
        at = n - n % 32
        h = (rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18)) & _MASK
        for acc in v:
            h = ((h ^ _round(0, acc)) * _P1 + _P4) & _MASK
    else:
        h = (seed + _P5) & _MASK
    h = (h + n) & _MASK
    while at + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, at)[0])
        h, at = (rotl64(h, 27) * _P1 + _P4) & _MASK, at + 8
    if at + 4 <= n:
        h ^= struct.unpack_from("<I", data, at)[0] * _P1 & _MASK
        h, at = (rotl64(h, 23) * _P2 + _P3) & _MASK, at + 4
    for byte in data[at:]:
        h ^= byte * _P5 & _MASK
        h = rotl64(h, 11) * _P1 & _MASK
    h ^= h >> 33
    h = h * _P2 & _MASK
    h ^= h >> 29
    h = h * _P3 & _MASK
    return h ^ (h >> 32)
