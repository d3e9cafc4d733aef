"""An earlier root indirect block of a fractal heap whose rows a large block set
(session 39, attack nh5's ctl-nh5-grow-1-25-3x6-d-*, refused before).

libhdf5 doubles a heap's root (H5HF__man_iblock_root_double) into MAX(min_nrows,
2 x rows) rows: an object too large for the next row makes the new root just the rows
its block needs, the entries before that block skipped. /d given 3 float attributes a
session, the k-th of 1 + 25k doubles, 6 sessions: roots of 1, 3 (entries 3..7 skipped,
8..11 allocated) and 6 rows; the 3-row copy stays where it was freed. Admitted: a copy
of m rows, m not a power of 2, at most half the root's, more children than m - 1 rows
hold, the copies a chain (each at least twice the rows of the one before). Refused: an
entry changed, fewer children, a copy out of the chain."""

from __future__ import annotations

import pytest

pytest.importorskip("h5py")

from tests.support import attack_nh5_ordinary as ordinary  # noqa: E402
from tests.support.attack_nh5_tools import lookup3  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402
from vmguard.quarantine.validators.hdf5 import oldstates  # noqa: E402

NAME = "ctl-nh5-grow-1-25-3x6-d-u-latest.h5"
_HEAD = 4 + 1 + 8 + 5  # FHIB, version, the heap's address, block offset (5 bytes: 40 bits)


@pytest.fixture(scope="module")
def grown() -> tuple[bytes, int, int]:
    """(the file, where its freed 3-row root starts, where the live 6-row root starts)."""
    data = ordinary.grow(*ordinary.GROWS[NAME])
    found = []
    at = data.find(b"FHIB")
    while at >= 0:
        rows = next(n for n in range(1, 40) if lookup3(data[at : at + _HEAD + 32 * n])
                    == int.from_bytes(data[at + _HEAD + 32 * n : at + _HEAD + 32 * n + 4], "little"))
        found.append((rows, at))
        at = data.find(b"FHIB", at + 1)
    (old_rows, old), (live_rows, live) = sorted(found)
    assert (old_rows, live_rows) == (3, 6)
    entries = data[old + _HEAD : old + _HEAD + 96]
    assert entries == data[live + _HEAD : live + _HEAD + 96]
    assert entries[24:64] == b"\xff" * 40 and b"\xff" not in entries[64:]  # 3..7 skipped
    return data, old, live


def _entries(grown, edits: dict[int, bytes]) -> bytes:
    data, old, _ = grown
    forged = bytearray(data)
    for entry, raw in edits.items():
        forged[old + _HEAD + 8 * entry : old + _HEAD + 8 * entry + 8] = raw
    end = old + _HEAD + 96
    forged[end : end + 4] = lookup3(bytes(forged[old:end])).to_bytes(4, "little")
    return bytes(forged)


def test_the_freed_three_row_root_is_admitted(grown):
    assert _refusal(grown[0]) == "accepted"


@pytest.mark.parametrize("case", ["skipped-entry-named", "fewer-children", "entry-swapped"])
def test_other_entries_are_refused(grown, case):
    data, old, _ = grown
    entry = lambda k: data[old + _HEAD + 8 * k : old + _HEAD + 8 * k + 8]  # noqa: E731
    edits = {
        "skipped-entry-named": {4: entry(8)},
        "fewer-children": {k: b"\xff" * 8 for k in range(8, 12)},
        "entry-swapped": {9: entry(10), 10: entry(9)},
    }[case]
    refusal = _refusal(_entries(grown, edits))
    assert refusal.startswith("hdf5: bytes ") and "reached from no structure" in refusal, refusal


def test_the_shapes_a_large_block_makes_and_their_chain():
    shapes = dict(oldstates.shapes(6, 4))
    assert sorted(shapes) == [1, 2, 3, 4]
    assert shapes[3] == range(9, 13) and shapes[4] == range(9, 17)
    assert 3 not in dict(oldstates.shapes(5, 4))  # more than half the root's rows
    assert {5, 6} <= set(dict(oldstates.shapes(12, 4))) and 7 not in dict(oldstates.shapes(12, 4))
    assert oldstates.chained(3, [1]) and oldstates.chained(1, [3])
    assert not oldstates.chained(2, [3]) and not oldstates.chained(4, [3])
