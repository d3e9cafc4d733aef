"""XXH3-64 (xxHash 0.8, seed 0, the default secret) in pure Python: the checksum an
RNTuple's anchor and envelopes end with (ROOT's RNTuple format, uproot's writer). The
validators need no compiled dependency; what they hash is metadata (an anchor's 64
bytes, an envelope's kilobytes), at about 10 MB/s."""

from __future__ import annotations

import struct

_M = (1 << 64) - 1
_P32_1, _P32_2, _P32_3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D
_P64_1, _P64_2, _P64_3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P64_4, _P64_5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
_MX1, _MX2 = 0x165667919E3779F9, 0x9FB21C651E98DF25
_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671fcb79e64eccc0e578825ad07dccff7221"
    "b8084674f743248ee03590e6813a264c3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364eac5ac8334d3ebc3c581a0fffa1363eb"
    "170ddd51b7f0da49d316552629d4689e2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
_STRIPE, _LANES = 64, struct.Struct("<8Q")
_PER_BLOCK = (len(_SECRET) - _STRIPE) // 8  # stripes a block


def _u64(data: bytes, at: int) -> int:
    return struct.unpack_from("<Q", data, at)[0]


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _fold(a: int, b: int) -> int:
    product = a * b
    return (product ^ (product >> 64)) & _M


def _avalanche(h: int) -> int:
    h ^= h >> 37
    h = h * _MX1 & _M
    return h ^ (h >> 32)


def _avalanche64(h: int) -> int:
    h ^= h >> 33
    h = h * _P64_2 & _M
    h ^= h >> 29
    h = h * _P64_3 & _M
    return h ^ (h >> 32)


def _mix16(data: bytes, at: int, secret: int) -> int:
    return _fold(_u64(data, at) ^ _u64(_SECRET, secret), _u64(data, at + 8) ^ _u64(_SECRET, secret + 8))


def xxh3_64(data: bytes) -> int:
    """XXH3_64bits(data): xxhash's xxh3_64_intdigest."""
    n = len(data)
    if n <= 16:
        return _short(data)
    if n <= 128:
        acc = n * _P64_1 & _M
        for i in range((n - 1) // 32, -1, -1):  # the pairs from the outside in
            acc += _mix16(data, 16 * i, 32 * i) + _mix16(data, n - 16 * (i + 1), 32 * i + 16)
        return _avalanche(acc & _M)
    if n <= 240:
        acc = n * _P64_1 & _M
        for i in range(8):
            acc += _mix16(data, 16 * i, 16 * i)
        acc = _avalanche(acc & _M)
        for i in range(8, n // 16):
            acc += _mix16(data, 16 * i, 16 * (i - 8) + 3)
        acc += _mix16(data, n - 16, 136 - 17)
        return _avalanche(acc & _M)
    return _long(data)


def _short(data: bytes) -> int:
    n = len(data)
    if n > 8:
        low = _u64(data, 0) ^ (_u64(_SECRET, 24) ^ _u64(_SECRET, 32))
        high = _u64(data, n - 8) ^ (_u64(_SECRET, 40) ^ _u64(_SECRET, 48))
        swapped = int.from_bytes(low.to_bytes(8, "little"), "big")
        return _avalanche((n + swapped + high + _fold(low, high)) & _M)
    if n >= 4:
        keyed = (_u32(data, n - 4) + (_u32(data, 0) << 32)) ^ (_u64(_SECRET, 8) ^ _u64(_SECRET, 16))
        h = keyed ^ rotl64(keyed, 49) ^ rotl64(keyed, 24)
        h = h * _MX2 & _M
        h ^= (h >> 35) + n
        h = h * _MX2 & _M
        return h ^ (h >> 28)
    if n:
        combined = (data[0] << 16) | (data[n >> 1] << 24) | data[-1] | (n << 8)
        return _avalanche64(combined ^ (_u32(_SECRET, 0) ^ _u32(_SECRET, 4)))
    return _avalanche64(_u64(_SECRET, 56) ^ _u64(_SECRET, 64))


def rotl64(x: int, r: int) -> int:
    """x (64 bits) rotated left by r (XXH3 and XXH64 alike: root_lz4.py)."""
    return ((x << r) | (x >> (64 - r))) & _M


def _long(data: bytes) -> int:
    n = len(data)
    acc = [_P32_3, _P64_1, _P64_2, _P64_3, _P64_4, _P32_2, _P64_5, _P32_1]
    block = _STRIPE * _PER_BLOCK
    blocks = (n - 1) // block
    for b in range(blocks):
        for s in range(_PER_BLOCK):
            _stripe(acc, data, b * block + s * _STRIPE, 8 * s)
        _scramble(acc)
    for s in range(((n - 1) - block * blocks) // _STRIPE):
        _stripe(acc, data, blocks * block + s * _STRIPE, 8 * s)
    _stripe(acc, data, n - _STRIPE, len(_SECRET) - _STRIPE - 7)
    result = n * _P64_1 & _M
    for i in range(4):
        result += _fold(acc[2 * i] ^ _u64(_SECRET, 11 + 16 * i), acc[2 * i + 1] ^ _u64(_SECRET, 19 + 16 * i))
    return _avalanche(result & _M)


def _stripe(acc: list[int], data: bytes, at: int, secret: int) -> None:
    values, keys = _LANES.unpack_from(data, at), _LANES.unpack_from(_SECRET, secret)
    for i in range(8):
        keyed = values[i] ^ keys[i]
        acc[i ^ 1] = (acc[i ^ 1] + values[i]) & _M
        acc[i] = (acc[i] + (keyed & 0xFFFFFFFF) * (keyed >> 32)) & _M


def _scramble(acc: list[int]) -> None:
    keys = _LANES.unpack_from(_SECRET, len(_SECRET) - _STRIPE)
    for i in range(8):
        value = acc[i] ^ (acc[i] >> 47) ^ keys[i]
        acc[i] = value * _P32_1 & _M
