"""Jenkins' lookup3 (hashlittle, initial value 0): the checksum HDF5 ends its newer
metadata with (superblock 2-3, OHDR, OCHK, fixed and extensible array blocks). A reader's
library refuses a file whose checksum is wrong, so its 4 bytes are the structure's own
only when they are the checksum of what precedes them (File.checksummed)."""

from __future__ import annotations

_M = 0xFFFFFFFF
_MIX = ((4, 6, 8), (16, 19, 4))
_FINAL = ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24))


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes) -> int:
    a = b = c = (0xDEADBEEF + len(data)) & _M
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
    full = (len(data) - 1) // 12 if data else 0  # blocks mixed; the last (1-12 bytes) is final
    for i in range(0, 3 * full, 3):
        a, b, c = (a + words[i]) & _M, (b + words[i + 1]) & _M, (c + words[i + 2]) & _M
        for s1, s2, s3 in _MIX:
            a = ((a - c) & _M) ^ _rot(c, s1)
            c = (c + b) & _M
            b = ((b - a) & _M) ^ _rot(a, s2)
            a = (a + c) & _M
            c = ((c - b) & _M) ^ _rot(b, s3)
            b = (b + a) & _M
    if not data:
        return c
    tail = data[12 * full :] + bytes(12 - len(data[12 * full :]))
    v = [(x + int.from_bytes(tail[4 * j : 4 * j + 4], "little")) & _M for j, x in enumerate((a, b, c))]
    for x, y, k in _FINAL:
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], k)) & _M
    return v[2]
