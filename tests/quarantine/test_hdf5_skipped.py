"""Old free-space section lists holding a "first row" section (skipped.py, session 37):
a heap given attributes too large for its first blocks skipped blocks to place them, and
an earlier state's list names the run it skipped then. What plain h5py leaves passes; a
run no state of the heap had, or one over a block the list gives a tail in, is refused.
Each file is real h5py output (3 sessions of 5 attributes, 1 to 300 doubles)."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import _checksum_end
from tests.support.hdf5_attack_c_bytes import lookup3
from vmguard.quarantine.validators.hdf5 import skipped, walk

pytest.importorskip("h5py")
from tests.support.attack_kh5_ordinary import numbers  # noqa: E402

NOREF = "a free-space section list nothing refers to"
# the run an earlier state skipped: block offset 0 (5 bytes), row 0, column 2, 10 entries
RUN = bytes([skipped.FIRST_ROW]) + bytes(5) + struct.pack("<HHH", 0, 2, 10)


@pytest.fixture(scope="module", params=[False, True], ids=["untracked", "tracked"])
def made(request) -> bytes:
    return numbers(3, request.param, "latest")


def _old_list(data: bytes) -> tuple[int, int, int]:
    """(start, where the run's data is, where its checksum is) of the old list."""
    run = data.index(RUN)
    start = data.rindex(b"FSSE", 0, run)
    return start, run + 1, _checksum_end(data, start)


def _forged(data: bytes, at: int, raw: bytes, start: int, end: int) -> bytearray:
    buf = bytearray(data)
    buf[at : at + len(raw)] = raw
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[start:end])))
    return buf


def test_an_earlier_states_skipped_run_passes(made, monkeypatch):
    """The list is claimed, its run admitted: without runs (before session 37) the file
    is refused."""
    walk(made, len(made))
    monkeypatch.setattr(skipped.Rows, "state", lambda self, ends: [])
    monkeypatch.setattr(skipped.Rows, "admissible", lambda self: {})
    assert NOREF in _refusal(made)


@pytest.mark.parametrize("count", [9, 11])
def test_a_run_no_state_had_is_refused(made, count):
    """9 entries: the entry after it (row 2, column 3) is a hole today, so no state
    skipped only 9; 11: past the run."""
    start, at, end = _old_list(made)
    data = _forged(made, at + 5, struct.pack("<HHH", 0, 2, count), start, end)
    assert "reached from no structure" in _refusal(data)


def test_a_run_over_a_block_the_list_gives_a_tail_in_is_refused(made):
    """Column 1 on: it covers the block at 1024, whose tail the list names."""
    start, at, end = _old_list(made)
    offset = (1024).to_bytes(5, "little")
    data = _forged(made, at - 6, offset, start, end)  # the section's heap offset
    data = _forged(bytes(data), at + 5, struct.pack("<HHH", 0, 1, 11), start, end)
    assert "reached from no structure" in _refusal(data)


def test_admissible_runs_start_after_and_end_before_todays_blocks():
    rows = skipped.Rows(width=4, start=1024, prefix=22, off_size=5,
                        entries=tuple((0, r, c) for r in range(3) for c in range(4)),
                        allocated=frozenset({0, 1024, 2048, 8192}))
    got = {(offset, data[5:]) for offset, data in rows.admissible()}
    assert (2048, struct.pack("<HHH", 0, 2, 6)) in got  # columns 2, 3 of row 0 and row 1
    assert (3072, struct.pack("<HHH", 0, 3, 5)) in got  # the block at 2048 allocated by then
    assert (5120, struct.pack("<HHH", 1, 1, 3)) not in got  # after a hole: not maximal
    assert (0, struct.pack("<HHH", 0, 0, 1)) not in got  # the first entry is never skipped
    assert (3072, struct.pack("<HHH", 0, 3, 4)) not in got  # a hole after it: not maximal
    assert all(offset < 8192 for offset, _ in got)
