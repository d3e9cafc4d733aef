"""A fractal heap libhdf5 reverted to its first direct block (docs/quarantine.md: "how
many bytes of objects that block held at the revert, in the header's free-space count
(log2(its room) bits ...)"; the hdf5 row: "1 byte to the block's room more than the
blocks hold"). Forged from the refit file (attack l h5's workflow with new values a
session, 'latest'): the FRHP header's free-space count set to chosen values, its lookup3
checksum recomputed. h5py reads the same file (the count is a hint for the allocator)."""

from __future__ import annotations

import struct

from tests.support.attack_nh5_tools import lookup3

SOURCE = "ctl-nh5-refit-12x3-u-latest.h5"
_FREE, _SUM = 30, 142  # offsets in FRHP (format spec: version 0 fractal heap header)


def with_free(buf: bytes, value: int) -> bytes:
    at = buf.find(b"FRHP")
    out = bytearray(buf)
    struct.pack_into("<Q", out, at + _FREE, value)
    struct.pack_into("<I", out, at + _SUM, lookup3(bytes(out[at:at + _SUM])))
    return bytes(out)


def free_of(buf: bytes) -> int:
    return struct.unpack_from("<Q", buf, buf.find(b"FRHP") + _FREE)[0]


# Measured on the source (blocks hold 989, not yet allocated 2004, reverted: 1 to 1002
# more): 2994..3995 are the documented ~10 bits; the others must be refused.
WITHIN = (2994, 3500, 3995)
OUTSIDE = (0, 2993, 3996, 1 << 40)


def forged(buf: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    within = {f"rev-free-{v}.h5": with_free(buf, v) for v in WITHIN if v != free_of(buf)}
    outside = {f"rev-free-{v}.h5": with_free(buf, v) for v in OUTSIDE}
    return within, outside
