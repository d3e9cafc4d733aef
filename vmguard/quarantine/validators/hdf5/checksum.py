"""Jenkins' lookup3 (hashlittle, initial value 0): the checksum HDF5 ends its newer
metadata with (superblock 2-3, OHDR, OCHK, fixed and extensible array blocks). A reader's
library refuses a file whose checksum is wrong, so its 4 bytes are the structure's own
only when they are the checksum of what precedes them (File.checksummed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

_M = 0xFFFFFFFF
_MIX = ((4, 6, 8), (16, 19, 4))
_FINAL = ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24))


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mixed(state: tuple[int, int, int], block: bytes) -> tuple[int, int, int]:
    """The state after one full 12-byte block (lookup3's mix)."""
    a, b, c = ((x + int.from_bytes(block[4 * j : 4 * j + 4], "little")) & _M for j, x in enumerate(state))
    for s1, s2, s3 in _MIX:
        a = ((a - c) & _M) ^ _rot(c, s1)
        c = (c + b) & _M
        b = ((b - a) & _M) ^ _rot(a, s2)
        a = (a + c) & _M
        c = ((c - b) & _M) ^ _rot(b, s3)
        b = (b + a) & _M
    return a, b, c


def _final(state: tuple[int, int, int], last: bytes) -> int:
    """The checksum from the state and the last block (1-12 bytes, zero-padded)."""
    tail = last + bytes(12 - len(last))
    v = [(x + int.from_bytes(tail[4 * j : 4 * j + 4], "little")) & _M for j, x in enumerate(state)]
    for x, y, k in _FINAL:
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], k)) & _M
    return v[2]


def lookup3(data: bytes) -> int:
    state = ((0xDEADBEEF + len(data)) & _M,) * 3
    if not data:
        return state[2]
    full = (len(data) - 1) // 12  # blocks mixed; the last (1-12 bytes) is final
    for i in range(full):
        state = _mixed(state, data[12 * i : 12 * i + 12])
    return _final(state, data[12 * full :])


def sealed(body: bytes) -> bytes:
    """`body` followed by its checksum (4 bytes, little-endian): a checksummed structure's
    bytes as libhdf5 writes them."""
    return body + lookup3(body).to_bytes(4, "little")


def any_lookup3(
    parts: Sequence[Sequence[bytes]], want: tuple[int, int], spend: Callable[[int], None]
) -> bool:
    """Whether one choice of bytes from each of `parts` (each a choice of equally long
    byte strings), joined, has a checksum whose bits under want[1] are want[0]'s (the
    bytes of it shown): a depth-first walk of the choices that mixes each full block once
    for all the choices that share it (the state of a prefix is kept), so a part's bytes
    cost once per prefix of choices, not once per whole choice. `spend` is told the work:
    12 a block mixed or finished (what checksumming a whole choice cost a block), and at
    least 1 a step."""
    size = sum(len(part[0]) for part in parts)
    full = (size - 1) // 12 if size else 0

    def walk(i: int, state: tuple[int, int, int], pending: bytes, mixed: int) -> bool:
        if i == len(parts):
            spend(12)
            return (_final(state, pending) if size else state[2]) & want[1] == want[0] & want[1]
        for choice in parts[i]:
            buf, s, m = pending + choice, state, mixed
            while len(buf) >= 12 and m < full:
                s, buf, m = _mixed(s, buf[:12]), buf[12:], m + 1
            spend(max(1, 12 * (m - mixed)))  # every step counts, one that mixes nothing too
            if walk(i + 1, s, buf, m):
                return True
        return False

    return walk(0, ((0xDEADBEEF + size) & _M,) * 3, b"", 0)
