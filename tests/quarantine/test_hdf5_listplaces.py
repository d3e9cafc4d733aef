"""Where an older free-space section list lies (session 38, attack nh5's holes 1-4).

libhdf5 writes a heap's section list at each close from the start of a freed range or
of the file's free end: right after what it allocated before, never after zeros (and in
h5py's files, measured: every whole old list starts where unclaimed bytes start, right
after a live structure, another old list or one whose start a later structure took).
So a whole old list lies at a gap's start, and its place carries no chosen bytes; the
live list (the state of all the heap's objects) is never written twice, so a copy of
it is no old list. Refused: a list moved into zeros, a copy of the live list, lists
moved and swapped, a freed block of dense attributes standing after a moved list."""

from __future__ import annotations

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import sessions
from vmguard.quarantine.validators.hdf5 import walk

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

OLD = "an old free-space section list of"
LIVE = "the free-space section list of"
NOTHING = "a free-space section list nothing refers to"


def _attrs(k: int):
    """/d given 5 float attributes a session (dense storage from the second)."""
    def step(f) -> None:
        d = f["d"] if "d" in f else f.create_dataset("d", data=np.arange(300.0))
        for i in range(5):
            d.attrs[f"c{k}_{i}"] = np.cos(np.arange(i + 2) + k)
    return step


@pytest.fixture(scope="module")
def data() -> bytes:
    return sessions([_attrs(k) for k in range(5)], libver="latest")


def _extents(data: bytes) -> list[tuple[int, int, str]]:
    return [(s, e, w) for s, (e, w) in sorted(walk(data, len(data)).items())]


def _room(data: bytes, size: int) -> int:
    """The start of the first unclaimed zeros with room for `size` bytes and 64 more."""
    ext = _extents(data)
    return next(e for (_, e, _), (n, _, _) in zip(ext, ext[1:], strict=False) if n - e >= size + 64)


def _lists(data: bytes, what: str) -> list[tuple[int, int]]:
    return [(s, e) for s, e, w in _extents(data) if w.startswith(what)]


def _placed(data: bytes, moves: list[tuple[int, int, int]]) -> bytes:
    """The file with each (start, end, to) list zeroed at its place and written at `to`."""
    out = bytearray(data)
    pieces = [(bytes(data[s:e]), to) for s, e, to in moves]
    for s, e, _ in moves:
        out[s:e] = bytes(e - s)
    for piece, to in pieces:
        assert not any(out[to : to + len(piece)])
        out[to : to + len(piece)] = piece
    return bytes(out)


def test_the_old_lists_lie_at_gaps_starts(data):
    assert _refusal(data) == ""
    olds = _lists(data, OLD)
    assert len(olds) == 2
    ends = {e for _, e, _ in _extents(data)}
    assert all(s in ends for s, _ in olds)  # right after a structure


@pytest.mark.parametrize("offset", [1, 8, 100])
def test_an_old_list_moved_into_zeros_is_refused(data, offset):
    (s, e), at = _lists(data, OLD)[0], _room(data, 200)
    assert NOTHING in _refusal(_placed(data, [(s, e, at + offset)]))


def test_an_old_list_moved_to_a_gaps_start_passes(data):
    """Priced: which gap's start (log2 of the unclaimed ranges a list could start)."""
    (s, e), at = _lists(data, OLD)[0], _room(data, 200)
    assert _refusal(_placed(data, [(s, e, at)])) == ""


def test_two_old_lists_one_after_the_other_pass(data):
    (s1, e1), (s2, e2) = _lists(data, OLD)
    at = _room(data, 200)
    assert _refusal(_placed(data, [(s1, e1, at), (s2, e2, at + e1 - s1)])) == ""


def test_an_old_list_after_a_moved_one_and_zeros_is_refused(data):
    (s1, e1), (s2, e2) = _lists(data, OLD)
    at = _room(data, 200)
    assert NOTHING in _refusal(_placed(data, [(s1, e1, at), (s2, e2, at + e1 - s1 + 8)]))


@pytest.mark.parametrize("offset", [0, 100])
def test_a_copy_of_the_live_list_is_refused(data, offset):
    """Even where a list may lie: libhdf5 writes the state of all the objects once."""
    (s, e), at = _lists(data, LIVE)[0], _room(data, 200)
    out = bytearray(data)
    out[at + offset : at + offset + e - s] = data[s:e]
    assert NOTHING in _refusal(bytes(out))


def test_a_copy_of_the_live_list_in_an_old_lists_place_is_refused(data):
    """The first old list (27 bytes) has 249 zeros after it: room for the live one."""
    (s, e), (old, old_end) = _lists(data, LIVE)[0], _lists(data, OLD)[0]
    room = next(n for n, _, _ in _extents(data) if n > old)
    assert old + e - s <= room
    out = bytearray(data)
    out[old:old_end] = bytes(old_end - old)
    out[old : old + e - s] = data[s:e]
    assert NOTHING in _refusal(bytes(out))
