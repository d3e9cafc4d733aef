"""A freed continuation block whose start a header block grew over (session 39, attack
nh5's ctl-nh5-sweep9, refused before).

Session 2 of sweep seed 9 ('latest', untracked) leaves a root continuation block at
6834 (46 bytes: the root's link info message before dense storage and the link to /g)
right after /g's first block (6703..6834). The root's links move to dense storage and
the block is freed; in session 3 libhdf5 grows /g's first block in place over it
(H5O__alloc_extend_chunk, 22 bytes: 6703..6856), so the freed block's first 22 bytes
lie under /g's header and its last 24 show. A stale continuation message in another
freed block (at 488) names (6834, 46). Admitted: a block that a continuation message
the gaps show names, starting in the last message of the header block right before the
gap (at most 256 bytes back), recomputed as ever (oldblocks.Blocks._overgrown).
Refused: a name one byte off, the shown tail changed (its checksum recomputed)."""

from __future__ import annotations

import struct

import pytest

pytest.importorskip("h5py")

from tests.support import attack_nh5_sweep as sweep  # noqa: E402
from tests.support.attack_nh5_tools import lookup3  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402

BLOCK, LENGTH, SHOWN, NAMING = 6834, 46, 6856, 488


@pytest.fixture(scope="module")
def seed9() -> tuple[bytes, bytes]:
    """(the file, the freed block as session 2 wrote it whole)."""
    lib, track, steps = sweep.plan(9)
    early, data = sweep.replay(9, lib, track, steps[:2]), sweep.workflow(9)
    block = early[BLOCK : BLOCK + LENGTH]
    assert block[:4] == b"OCHK" and data[SHOWN : BLOCK + LENGTH] == block[SHOWN - BLOCK :]
    assert data[BLOCK:SHOWN] != block[: SHOWN - BLOCK] and data[NAMING : NAMING + 4] == b"OCHK"
    assert struct.unpack_from("<QQ", data, NAMING + 8) == (BLOCK, LENGTH)
    return data, block


def _resum(data: bytearray, start: int, end: int) -> None:
    data[end - 4 : end] = lookup3(bytes(data[start : end - 4])).to_bytes(4, "little")


def test_the_block_under_the_grown_header_is_admitted(seed9):
    assert _refusal(seed9[0]) == "accepted"


def test_a_name_one_byte_off_is_refused(seed9):
    data = bytearray(seed9[0])
    struct.pack_into("<QQ", data, NAMING + 8, BLOCK + 1, LENGTH - 1)
    _resum(data, NAMING, NAMING + 48)
    refusal = _refusal(data)
    assert refusal.startswith("hdf5: bytes ") and "reached from no structure" in refusal, refusal


def test_the_shown_tail_changed_is_refused(seed9):
    data, block = bytearray(seed9[0]), bytearray(seed9[1])
    at = block.index(b"\x01\x67\x2f", 20)  # the link to /g: its name 'g'
    block[at + 1] = ord("h")
    _resum(block, 0, LENGTH)
    data[SHOWN : BLOCK + LENGTH] = block[SHOWN - BLOCK :]
    refusal = _refusal(data)
    assert refusal.startswith("hdf5: bytes ") and "reached from no structure" in refusal, refusal
