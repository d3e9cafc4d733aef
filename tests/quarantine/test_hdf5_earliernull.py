"""A scalar attribute's earlier value in a live header's null message (session 39, attack
nh5's sweep seeds 134 and 362, refused before): attrs.modify wrote the root's float
'fixed' in place (dirty in libhdf5's cache), then the message slid forward over a null
(a memmove of the chunk image), leaving its tail with the value of the last flush.
Admitted (earlier.py): one scalar's earlier value a null, after the last 4 bytes of its
message before the value, all its places one value. Refused: another context, two
different earlier values in one null."""

from __future__ import annotations

import pytest

pytest.importorskip("h5py")

from tests.support import attack_nh5_sweep as sweep  # noqa: E402
from tests.support.attack_nh5_tools import lookup3  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402

ONE = bytes.fromhex("000000000000f03f")  # 1.0
NULLS = {134: 9899, 362: 3268}  # where the null's data starts


@pytest.fixture(scope="module")
def files() -> dict[int, bytes]:
    return {seed: sweep.workflow(seed) for seed in NULLS}


def _block(data: bytes, at: int) -> tuple[int, int]:
    """The live OCHK block holding byte `at`: (start, end), its checksum last."""
    start = data.rindex(b"OCHK", 0, at)
    end = next(e for e in range(at + 4, len(data) + 1)
               if lookup3(data[start : e - 4]) == int.from_bytes(data[e - 4 : e], "little"))
    return start, end


def _forged(data: bytes, seed: int, edits: dict[int, bytes]) -> bytes:
    """The null's data bytes at the offsets of `edits` changed, the block resummed."""
    out, null = bytearray(data), NULLS[seed]
    start, end = _block(data, null)
    for offset, raw in edits.items():
        out[null + offset : null + offset + len(raw)] = raw
    out[end - 4 : end] = lookup3(bytes(out[start : end - 4])).to_bytes(4, "little")
    return bytes(out)


def test_the_nulls_hold_earlier_values(files):
    assert files[134][NULLS[134] : NULLS[134] + 12] == bytes.fromhex("02000000" "0000000000000840")  # 3.0
    assert files[362][NULLS[362] : NULLS[362] + 40].count(ONE) == 2
    for data in files.values():
        assert _refusal(data) == "accepted"


@pytest.mark.parametrize("seed, edits, refused", [
    (134, {4: bytes(range(1, 9))}, False),  # another earlier value: the price
    (134, {0: b"\x03"}, True),  # no scalar's dataspace before it
    (362, {8: bytes(range(1, 9)), 32: bytes(range(1, 9))}, False),  # one value in both places
    (362, {32: bytes(range(1, 9))}, True),  # two earlier values in one null
    (362, {8: bytes(range(1, 9)), 32: bytes(range(2, 10))}, True),
])
def test_earlier_values_other_than_one_after_its_context_are_refused(files, seed, edits, refused):
    refusal = _refusal(_forged(files[seed], seed, edits))
    assert refusal.startswith("hdf5: a null message") is refused, refusal
    assert (refusal == "accepted") is not refused
