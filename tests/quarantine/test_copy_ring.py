"""The published bytes are the bytes read, whatever order of data and zeros a file has.

The copy reads through a ring of RING 1 MiB buffers and writes data in groups of GROUP
buffers, leaving aligned blocks of zeros as holes. Found by attack e: a buffer holding
data that waited for its group was read into again after a run of more than RING buffers
of zeros (none of them written, so no group filled): a FITS header or an HDF5 file's 2 KiB
were published as zeros, exit 0, the report's sha256 the source's."""

from __future__ import annotations

import hashlib
import random

import pytest

import vmguard
from tests.quarantine.conftest import rules, write
from vmguard.quarantine.copy import BUFFER_SIZE, GROUP, RING
from vmguard.quarantine.model import Status

MIB = 1 << 20
KINDS = ("data", "zeros", "head")  # a buffer of data, of zeros, or a few bytes then zeros


def _piece(kind: str, n: int, rng: random.Random) -> bytes:
    if kind == "zeros":
        return bytes(n)
    if kind == "head":
        return rng.randbytes(min(n, 2880)) + bytes(max(0, n - 2880))
    return rng.randbytes(n)


def _layout(seed: int) -> list[tuple[str, int]]:
    """Runs of each kind, some longer than the ring, some shorter than a group."""
    rng = random.Random(seed)
    lengths = (1, 2, GROUP - 1, GROUP + 1, RING - 1, RING + 1, RING + GROUP + 3)
    return [(rng.choice(KINDS), rng.choice(lengths) * BUFFER_SIZE + rng.randrange(0, 4097)) for _ in range(6)]


LAYOUTS = {
    "fits-header-then-zeros": [("head", 36 * MIB + 2880)],
    "data-zeros-data": [("data", 8 * MIB), ("zeros", 36 * MIB), ("data", 4096)],
    "one-buffer-each-ring": [("data", MIB), ("zeros", (RING + 2) * MIB), ("data", MIB), ("zeros", (RING + 2) * MIB)],
    "small-file": [("data", 100), ("zeros", (RING + 1) * MIB)],  # under the direct-write size
    **{f"random-{seed}": _layout(seed) for seed in range(4)},
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_published_file_is_the_file_read(tmp_path, layout):
    rng = random.Random(str(layout))
    content = b"".join(_piece(kind, n, rng) for kind, n in layout)
    write(tmp_path / "q" / "out.bin", content)
    octets = ("application/octet-stream",)  # no validator reads arbitrary bytes
    policy = rules(allow_types=octets, head_only=octets, max_file_size=1 << 30)
    result = vmguard.vet(tmp_path / "q", policy, tmp_path / "pub" / "j")
    assert result.status is Status.PROMOTED, result.entries
    published = (tmp_path / "pub" / "j" / "out.bin").read_bytes()
    assert published == content, f"first difference at {_first_difference(published, content)}"
    assert result.entries[0].sha256 == hashlib.sha256(published).hexdigest()


def _first_difference(a: bytes, b: bytes) -> int:
    return next((i for i in range(0, min(len(a), len(b)), 4096) if a[i : i + 4096] != b[i : i + 4096]), -1)

