"""What a FreeSegments record leaves behind it when it shrinks in place (session 36,
root_free._stale): uproot rewrites the record shorter and never the bytes after it, so
each 10-byte slot there holds what the last write of the record that long put there.

Real uproot jobs (every codec): deleting objects between free segments merges them at
the end of the file, one entry a write, fEND moving back each time: the slots after fEND
are end entries each naming its own end (refused before past the first: the others were
taken for segments); objects written again over deleted ones fill segments exactly, fEND
stays: the slots behind the record name the stretch's end (refused before past 4); an
RNTuple's FreeSegments record that moved before writing the slots it reserved leaves
zeros. Forged tails are refused: zeros or segments after fEND, entries out of order or
naming another end, a segment inside a record, more entries than a record leaves, a tail
after fEND in a file with no free segment (nothing merged)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.root_free import MAX_CHOSEN, MAX_STALE

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {
    "none": None,
    "zlib1": uproot.ZLIB(1),
    "lzma": uproot.LZMA(5),
    "lz4": uproot.LZ4(1),
    "zstd": uproot.ZSTD(5),
}
AFTER = "bytes after fEND"
BEHIND = "neither a record nor in a segment"
END = 2000000000


def _hists(path: Path, codec, count: int, jobs: list[list[int]], again: list[int] = ()) -> bytes:
    """count histograms (a keys list large enough to stay put), deleted in `jobs`, then
    the ones in `again` written again, the same shape, in one more job."""
    with uproot.recreate(path, compression=codec, initial_directory_bytes=4096) as f:
        for i in range(count):
            f[f"h{i}"] = np.histogram(np.arange(3.0 + i), bins=3 + i)
    for job in jobs:
        with uproot.update(path) as f:
            for i in job:
                del f[f"h{i}"]
    if again:
        with uproot.update(path) as f:
            for i in again:
                f[f"h{i}"] = np.histogram(np.arange(3.0 + i), bins=3 + i)
    return path.read_bytes()


def _header(data: bytes) -> tuple[int, int, int, int]:
    """fEND, fSeekFree, fNbytesFree, nfree (the small layout)."""
    return struct.unpack_from(">iiii", data, 12)


def _entries(data: bytes, at: int, stop: int) -> list[tuple[int, int, int]]:
    return [struct.unpack_from(">hii", data, k) for k in range(at, stop, 10)]


def _slots(*entries: tuple[int, int, int]) -> bytes:
    return b"".join(struct.pack(">hii", *e) for e in entries)


def _records(data: bytes, count: int) -> list[int]:
    """The first `count` record starts from fBEGIN, each key's length leading to the next."""
    at, out = struct.unpack_from(">i", data, 8)[0], []
    for _ in range(count):
        out.append(at)
        at += struct.unpack_from(">i", data, at)[0]
    return out


def _refused(data: bytes, match: str) -> None:
    with pytest.raises(Invalid, match=match):
        vet(data, ROOT)


@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> bytes:
    return _hists(tmp_path_factory.mktemp("m") / "m.root", CODECS["zlib1"], 9, [[1, 3, 5, 7], [2, 4, 6]])


@pytest.fixture(scope="module")
def refilled(tmp_path_factory) -> bytes:
    odd = [1, 3, 5, 7, 9, 11]
    return _hists(tmp_path_factory.mktemp("r") / "r.root", CODECS["zlib1"], 13, [odd], odd)


# ------------------------------------------------------------------ real uproot jobs


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("count", "jobs"),
    [(7, [[1, 3, 5], [2, 4]]), (9, [[1, 3, 5, 7], [2, 4, 6]]), (9, [[1, 3, 5, 7], [2], [4, 6]])],
)
def test_merges_at_the_end_leave_end_entries_naming_their_own_end(tmp_path, codec, count, jobs):
    data = _hists(tmp_path / "m.root", CODECS[codec], count, jobs)
    end = _header(data)[0]
    slots = (len(data) - end) // 10
    assert slots >= 1 and _entries(data, end, len(data)) == [
        (1, end + 10 * k, END) for k in range(1, slots + 1)
    ]
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("codec", CODECS)
def test_objects_written_again_leave_end_entries_naming_the_stretchs_end(tmp_path, codec):
    odd = [1, 3, 5, 7, 9, 11]
    data = _hists(tmp_path / "r.root", CODECS[codec], 13, [odd], odd)
    end, seek_free, nbytes_free, _ = _header(data)
    slots = (end - seek_free - nbytes_free) // 10
    assert len(data) == end and slots >= 1
    assert _entries(data, seek_free + nbytes_free, end) == [(1, end, END)] * slots
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("codec", ["none", "zlib1", "zstd"])
def test_rntuples_deleted_leave_zeros_behind_older_records(tmp_path, codec):
    path = tmp_path / "n.root"
    with uproot.recreate(path, compression=CODECS[codec]) as f:
        for i in range(7):
            f[f"t{i}"] = {"x": np.arange(10 + i, dtype=np.float64)}
    for job in ([1, 3, 5], [2, 4]):
        with uproot.update(path) as f:
            for i in job:
                del f[f"t{i}"]
    data = path.read_bytes()
    assert vet(data, ROOT) == OK
    zeros = [
        at
        for at in range(20, _header(data)[0] - 10)
        if data[at : at + 10] == bytes(10)
        and data[at - 10 : at - 8] == b"\0\1"
        and data[at - 4 : at] == END.to_bytes(4, "big")
    ]
    assert zeros, "no zero slot behind an end entry: uproot's output changed"


# ------------------------------------------------------------------ forged after fEND


def test_after_fend_zeros_unordered_segments_or_another_end_are_refused(merged):
    end = _header(merged)[0]
    assert len(merged) - end == 30  # three merges at the end (refused before: two segments)
    assert vet(merged, ROOT) == OK
    own = [(1, end + 10 * k, END) for k in (1, 2, 3)]
    first, after = _records(merged, 2)
    for forged in (
        bytes(30),  # zeros
        _slots(own[1], own[0], own[2]),  # unordered
        _slots((1, first, after - 1), own[1], own[2]),  # a segment at record boundaries
        _slots((1, first + 10, first + 40), own[1], own[2]),  # inside the top directory
        _slots((1, end + 30, END), own[1], own[2]),  # another end
        _slots(own[0], own[1], own[2]) + bytes(10),  # zeros above
        _slots((7, end + 10, END), own[1], own[2]),  # another version
    ):
        _refused(merged[:end] + forged, AFTER)


def test_after_fend_at_most_max_stale_entries(merged):
    end = _header(merged)[0]
    longest = _slots(*[(1, end + 10 * k, END) for k in range(1, MAX_STALE + 1)])
    assert vet(merged[:end] + longest, ROOT) == OK  # 0 bits each: only their count is free
    _refused(merged[:end] + longest + _slots((1, end + 10 * (MAX_STALE + 1), END)), AFTER)


# ------------------------------------------------------------------ forged behind a record


def test_behind_the_record_entries_must_follow_its_history(refilled):
    end, seek_free, nbytes_free, _ = _header(refilled)
    base = seek_free + nbytes_free
    stretch = _entries(refilled, base, end)
    assert len(stretch) == 6  # six objects written again (refused before: more than 4)
    assert vet(refilled, ROOT) == OK

    def forged(*slots: tuple[int, int, int]) -> bytes:
        return refilled[:base] + _slots(*slots, *stretch[len(slots) :])

    first, second, third = _records(refilled, 3)
    assert vet(forged((1, first, second - 1)), ROOT) == OK  # a segment at boundaries: chosen
    for bad in (
        forged((0, 0, 0)),  # zeros below a written slot
        forged((1, base + 10, END)),  # its own end below the stretch's: the order is history's
        forged((1, first + 10, END)),  # an end inside a record
        forged((1, first + 10, first + 40)),  # a segment inside a record
        forged((1, second, third - 1), (1, first, second - 1)),  # segments out of order
        forged((1, seek_free, seek_free + 9)),  # a segment over the record itself
        forged((7, end, END)),
    ):
        _refused(bad, BEHIND)


def test_behind_the_record_at_most_max_chosen_segments(refilled):
    end, seek_free, nbytes_free, _ = _header(refilled)
    base = seek_free + nbytes_free
    starts = _records(refilled, MAX_CHOSEN + 2)
    segments = [(1, a, b - 1) for a, b in zip(starts, starts[1:], strict=False)]
    assert len(segments) == MAX_CHOSEN + 1 <= (end - base) // 10 - 1

    def forged(count: int) -> bytes:
        head = _slots(*segments[:count])
        return refilled[:base] + head + refilled[base + len(head) :]

    assert vet(forged(MAX_CHOSEN), ROOT) == OK
    _refused(forged(MAX_CHOSEN + 1), BEHIND)
