"""What uproot leaves around its FreeSegments record (issue #13, session 39: attack l
root's three false rejections by root_free). uproot 5.7's own output, written by the
jobs tests/support/attack_lroot_files.py describes (nothing edited), passes the
FreeSegments rules; the same bytes with one entry or boundary chosen otherwise are refused
naming the rule:
- grow-del-write-zlib: an older FreeSegments record freed one entry short of the record
  the file holds (it shrank in memory, never written so, then grew back and moved): the
  segment may stop at one of its entries (root_free._unwritten), nowhere else;
- many-del-rewrite-lzma: behind the live record, 32 end entries naming fEND, then a
  later record's start 4 times, then the stretch's end: a later end named again costs
  nothing, the ends in order from the latest write up (root_free._stayed);
- many-del-new-zstd: the live record ends 50 bytes before fEND, stale end entries
  between (it shrank where fEND stayed), and after fEND the entries it left when it
  ended there (root_free._ends_file).
The two last files are then refused for what the docs keep refused (an older keys list
naming a record deleted and then written over; a compressed record's tail written over)."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

from tests.support import attack_lroot_files as jobs  # noqa: E402

ROOT = "application/x-root"
OK = [(ROOT, "root")]
BOUNDS = "does not start and end where records do"
UNLISTED = "are neither a record nor in a segment the FreeSegments record lists"
AFTER_END = "bytes after fEND"
DOCUMENTED = "the free space at .* holds data that is not the remains of a record"
ENTRY = struct.Struct(">hii")
BIG = 2000000000


def _made(tmp_path, name: str) -> bytes:
    codec, steps = jobs.CASES[name]
    return jobs.jobs(tmp_path / f"ctl-l-{name}.root", jobs.CODECS[codec], steps)


def _header(data: bytes) -> tuple[int, int, int]:
    """fEND, fSeekFree, fNbytesFree (a small file's header)."""
    return struct.unpack_from(">iii", data, 12)


def _entries(data: bytes, at: int, stop: int) -> list[tuple[int, int, int]]:
    return [ENTRY.unpack_from(data, p) for p in range(at, stop, ENTRY.size)]


def _live_segments(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """Where the live FreeSegments record's entries start, and its entries."""
    _, seek, nbytes = _header(data)
    keylen = struct.unpack_from(">h", data, seek + 14)[0]
    return seek + keylen, _entries(data, seek + keylen, seek + nbytes)


def _put(data: bytes, at: int, patch: bytes) -> bytes:
    return data[:at] + patch + data[at + len(patch) :]


def _starts(data: bytes, first: int, stop: int) -> list[int]:
    """Where a record whose key names its own position starts in [first, stop)."""
    out = []
    for p in range(first, stop - 26):
        nbytes, version = struct.unpack_from(">ih", data, p)
        if version == 4 and nbytes > 0 and struct.unpack_from(">i", data, p + 18)[0] == p:
            out.append(p)
    return out


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> tuple[bytes, int, int]:
    """grow-del-write-zlib, the live record's entry that frees the older record, and the
    older record's start."""
    data = _made(tmp_path_factory.mktemp("grown"), "grow-del-write-zlib")
    at, entries = _live_segments(data)
    for i, (_, first, last) in enumerate(entries):
        nbytes = struct.unpack_from(">i", data, first)[0]
        if last + 1 < first + nbytes and data[first + 26 : first + 32] == b"\x05TFile":  # ends inside it
            return data, at + ENTRY.size * i, first
    raise AssertionError("no free segment stops inside an older FreeSegments record")


def test_an_older_freesegments_record_freed_an_entry_short_passes(grown):
    data, _, _ = grown
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("short", [5, 3])
def test_a_segment_stopping_between_its_entries_is_refused(grown, short):
    data, entry, first = grown
    last = ENTRY.unpack_from(data, entry)[2]
    with pytest.raises(Invalid, match=BOUNDS):
        vet(_put(data, entry, ENTRY.pack(1, first, last - short)), ROOT)


def test_a_segment_stopping_inside_another_record_is_refused(grown):
    """The first segment (a deleted histogram's place) stretched 10 bytes into the record
    after it: no FreeSegments record."""
    data, _, _ = grown
    at, entries = _live_segments(data)
    _, first, last = entries[0]
    with pytest.raises(Invalid, match=BOUNDS):
        vet(_put(data, at, ENTRY.pack(1, first, last + 10)), ROOT)


@pytest.fixture(scope="module")
def behind(tmp_path_factory) -> tuple[bytes, int, list[tuple[int, int, int]]]:
    """many-del-rewrite-lzma, where the stale entries behind the live record start, and
    them."""
    data = _made(tmp_path_factory.mktemp("behind"), "many-del-rewrite-lzma")
    _, seek, nbytes = _header(data)
    at = seek + nbytes
    stale = _entries(data, at, at + 320)
    assert all(last == BIG for _, _, last in stale)
    assert len({first for _, first, _ in stale}) == 3  # fEND, a later record's start, the stretch's end
    return data, at, stale


def test_later_ends_named_again_in_order_pass_the_freesegments_rules(behind):
    data, _, stale = behind
    firsts = [first for _, first, _ in stale]
    assert firsts == sorted(firsts, reverse=True) and firsts.count(firsts[1]) == 4
    with pytest.raises(Invalid, match=DOCUMENTED):  # an older list naming hist_014's old place
        vet(data, ROOT)


def test_later_ends_out_of_order_are_refused(behind):
    """The latest write's slot (fEND) and an older one's swapped: fEND only grows there."""
    data, at, stale = behind
    swapped = _put(data, at, ENTRY.pack(*stale[1]) + ENTRY.pack(*stale[0]))
    with pytest.raises(Invalid, match=UNLISTED):
        vet(swapped, ROOT)


def test_five_distinct_later_ends_are_refused(behind):
    """fEND, then four distinct later record starts in order (5 positions chosen; 4 at most)."""
    data, at, stale = behind
    end, _, _ = _header(data)
    limit = at + 320
    later = sorted(_starts(data, limit, end), reverse=True)
    assert len(later) >= 4
    chosen = b"".join(ENTRY.pack(1, p, BIG) for p in later[:4])
    with pytest.raises(Invalid, match=UNLISTED):
        vet(_put(data, at + ENTRY.size, chosen), ROOT)
    # four distinct (fEND and three) pass the rule, as before
    with pytest.raises(Invalid, match=DOCUMENTED):
        vet(_put(data, at + ENTRY.size, chosen[: 3 * ENTRY.size]), ROOT)


@pytest.fixture(scope="module")
def before_end(tmp_path_factory) -> tuple[bytes, int]:
    """many-del-new-zstd and where its live FreeSegments record ends (before fEND)."""
    data = _made(tmp_path_factory.mktemp("before"), "many-del-new-zstd")
    end, seek, nbytes = _header(data)
    assert seek + nbytes < end < len(data)
    return data, seek + nbytes


def test_stale_entries_between_the_record_and_fend_pass_the_freesegments_rules(before_end):
    data, stop = before_end
    end, _, _ = _header(data)
    assert {first for _, first, _ in _entries(data, stop, end)} == {end}
    assert _entries(data, end, len(data)) == [(1, end + 10 * (i + 1), BIG) for i in range((len(data) - end) // 10)]
    with pytest.raises(Invalid, match=DOCUMENTED):  # a compressed record's tail written over
        vet(data, ROOT)


def test_chosen_bytes_after_fend_are_refused(before_end):
    """The first entry after fEND naming the second's end (not its own)."""
    data, _ = before_end
    end, _, _ = _header(data)
    with pytest.raises(Invalid, match=AFTER_END):
        vet(_put(data, end, ENTRY.pack(1, end + 20, BIG)), ROOT)


def test_a_chosen_entry_between_the_record_and_fend_is_refused(before_end):
    """A stale entry there naming an earlier record's start (no end that stayed)."""
    data, stop = before_end
    early = _starts(data, 100, 2000)[1]
    with pytest.raises(Invalid, match=f"{UNLISTED}|{AFTER_END}"):
        vet(_put(data, stop, ENTRY.pack(1, early, BIG)), ROOT)
