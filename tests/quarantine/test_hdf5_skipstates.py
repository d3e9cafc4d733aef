"""Old section lists of an untracked heap's states in which it had skipped blocks it has
allocated since (oldstates.skips, session 38, issue #13: attack m h5's sweep files
`ctl-m-sw-attrs14-latest-u` and `ctl-m-sw-flush14-latest-u`, refused before).

/g given 1-3 float attributes of 1-119 doubles a session (or 3, flushed after each),
untracked, 'latest': in session 7 an attribute of 1006 bytes found no room in the 1 KiB
row, so libhdf5 skipped the row's last entry (heap offset 7168) to the first 2 KiB block
and listed the skip as a "first row" section; session 8's smaller attribute took the
skipped entry. Each close wrote its list over the one before (libhdf5 frees the old
list and allocates the new one at its start), a shorter one: the earlier list's last
bytes stay, the skip in its hidden part, its checksum shown. Such a list is recomputed
whole from the heap: a state is its blocks up to the m-th, each filled to one of its
objects' ends, less the last blocks before a block whose first object the entry before
it could not hold (the skip). Every shown byte is fixed by that choice: a byte changed,
or the checksum of a list that is no state (a skip over a block whose tail it lists, a
skip past the block that ended it), is refused."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.hdf5_attack_c_bytes import lookup3
from vmguard.quarantine.validators.hdf5 import oldsections, oldstates, skipped, walk

pytest.importorskip("h5py")
from tests.support.attack_mh5_cases import sweep  # noqa: E402

UNEXPLAINED = "reached from no structure"


@pytest.fixture(scope="module", params=["attrs", "flush"])
def made(request) -> bytes:
    return sweep(request.param, 14, "latest", False, 14 * 31 + len(request.param))


def _hidden(data: bytes) -> list[tuple[int, int]]:
    """The shown tails of the old lists whose start a later list took."""
    extents = walk(data, len(data))
    return sorted((start, end) for start, (end, what) in extents.items()
                  if "section list" in what and "its start under" in what)


def test_lists_of_states_with_skips_pass_and_need_them(made, monkeypatch):
    assert _hidden(made)
    monkeypatch.setattr(oldstates, "skips", lambda *args: ())
    assert UNEXPLAINED in _refusal(made)


def test_every_shown_byte_is_pinned(made):
    """The first, middle and last shown byte of each hidden tail, +1 (each refusal
    searches a second or more; every shown byte +1 was refused when this was written;
    flush14: lists nested, one showing its checksum's last 4 bytes over another's). A
    state with skips is matched only where it shows 4 bytes at least (SKIP_SHOWN): of
    4,096 more states some list ends with any byte, so one showing a byte past a
    structure would explain any (test_hdf5_heldblocks: the first shown byte of a held
    block, changed, was so explained)."""
    for start, end in _hidden(made):
        for at in sorted({start, (start + end) // 2, end - 1}):
            data = bytearray(made)
            data[at] = (data[at] + 1) % 256
            assert UNEXPLAINED in _refusal(bytes(data)), at


def _whole(data: bytes, monkeypatch) -> bytes:
    """The hidden list (before its checksum) of attrs14 that names the skip."""
    found: list[bytes] = []
    real = oldsections.OldSections._new

    def record(self, manager, raw, tails):
        found.append(raw)
        return real(self, manager, raw, tails)

    monkeypatch.setattr(oldsections.OldSections, "_new", record)
    walk(data, len(data))
    monkeypatch.undo()
    return next(raw for raw in found if _SKIP in raw)


_SKIP = bytes([skipped.FIRST_ROW]) + bytes(5) + struct.pack("<HHH", 1, 3, 1)  # row 1, column 3, 1 entry


@pytest.mark.parametrize("run", [(6144, 1, 2, 2), (7168, 1, 3, 2)], ids=["over-a-listed-tail", "past-its-block"])
def test_a_list_of_no_state_is_refused(monkeypatch, run):
    """The hidden list's checksum made that of a list naming another skip: over the block
    at 6144, whose tail it lists; or 2 entries, past the block that ended the skip."""
    made = sweep("attrs", 14, "latest", False, 14 * 31 + 5)
    raw = _whole(made, monkeypatch)
    at = raw.index(_SKIP)
    offset, row, col, count = run
    forged = raw[: at - 5] + offset.to_bytes(5, "little") + _SKIP[:6] + struct.pack("<HHH", row, col, count)
    forged += raw[at + len(_SKIP):]
    (start, end), = _hidden(made)[-1:]
    data = bytearray(made)
    data[end - 4 : end] = lookup3(forged).to_bytes(4, "little")
    assert UNEXPLAINED in _refusal(bytes(data))
