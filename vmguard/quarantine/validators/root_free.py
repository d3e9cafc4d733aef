"""A ROOT file's FreeSegments record (fSeekFree), checked once the walk (root.py) has
seen every byte: it lists the free space exactly. Each stretch the walk found that is
no record lies in one of its segments, and each segment starts and ends where records
or stretches do (but for the few entries uproot leaves behind a FreeSegments record it
shrank in place: those its history implies, _stale; and the entries of an older one it
freed as it last counted it, shorter than written: _unwritten)."""

from __future__ import annotations

import struct
from bisect import bisect_left

from .root_model import RootWalk
from .stream import Invalid

_FREE_SMALL = struct.Struct(">hii")  # version, fFirst, fLast
_FREE_LARGE = struct.Struct(">hqq")  # version 1001
START_BIG_FILE = 2000000000  # ROOT's kStartBigFile: the last segment's end in a small file
# The least fEND at which ROOT may have raised that end (TFree::GetBestFree: when no
# segment holds an object with 3 bytes to spare, the last one grows by 10^9).
_RAISED_FROM = START_BIG_FILE - 2
MAX_STALE = 64  # entries a FreeSegments record may leave behind it (one per write it shrank)
MAX_CHOSEN = 4  # of those, segments or end entries naming a later end (each a boundary)
BEYOND_END = MAX_STALE * _FREE_SMALL.size  # bytes it may leave after fEND


def free_segments(walk: RootWalk) -> list[tuple[int, int]]:
    """The FreeSegments record's segments [first, last + 1), in order, without the last
    one (fEND to infinity), checked against the header."""
    h = walk.header
    record = walk.record_at(h.seek_free, "fSeekFree")
    if record.body is None or record.nbytes != h.nbytes_free:
        raise Invalid(
            f"root: the FreeSegments record at {h.seek_free} is not fNbytesFree ({h.nbytes_free}) bytes"
        )
    segments = _entries(record.body, h.seek_free)
    if len(segments) != h.nfree or not segments or segments[-1][0] != h.end:
        raise Invalid(
            f"root: the FreeSegments record at {h.seek_free} does not end with fEND (nfree {h.nfree})"
        )
    _, stop = segments.pop()
    if not ends_free(h.end, stop - 1):
        raise Invalid(
            f"root: the FreeSegments record at {h.seek_free} ends its last segment (from fEND, "
            f"{h.end}) at {stop - 1}: ROOT and uproot end it at kStartBigFile ({START_BIG_FILE}) "
            "in a file below it"
        )
    previous = h.begin
    for first, stop in segments:
        if not previous <= first < stop <= h.end:
            raise Invalid(f"root: the free segment [{first}, {stop}) is out of order or outside the file")
        previous = stop
    return segments


def _entries(body: bytes, seek_free: int) -> list[tuple[int, int]]:
    """A FreeSegments record's entries as [first, last + 1), each in the layout ROOT and
    uproot write it in: version 1001 (64-bit) where it ends past kStartBigFile, 1 (32-bit)
    where before (TFree::FillBuffer; uproot also writes 1001 for one ending at it)."""
    at, segments = 0, []
    while at < len(body):
        large = struct.unpack_from(">h", body.ljust(2, b"\0"), at)[0] == 1001
        layout = _FREE_LARGE if large else _FREE_SMALL
        if at + layout.size > len(body) or (not large and body[at : at + 2] != b"\0\1"):
            raise Invalid(f"root: the FreeSegments record at {seek_free} holds bytes that are no segment")
        _, first, last = layout.unpack_from(body, at)
        if large != (last > START_BIG_FILE) and last != START_BIG_FILE:
            raise Invalid(
                f"root: the free segment [{first}, {last + 1}) of the FreeSegments record at {seek_free} "
                f"is written {'64' if large else '32'}-bit: ROOT and uproot write version 1001 (64-bit) "
                "for a segment ending past kStartBigFile, else 1 (32-bit)"
            )
        segments.append((first, last + 1))
        at += layout.size
    return segments


def ends_free(first: int, last: int) -> bool:
    """Whether a FreeSegments entry (first, last) is its end entry, the free space from the
    file's end then (first, fEND) on, as ROOT and uproot write it: the live record's last
    entry and every older one left behind it (_stale, _unwritten) ask this. Below
    kStartBigFile its last byte is kStartBigFile (TFile::Init: new TFree(fFree, fBEGIN,
    kStartBigFile); uproot's FreeSegmentsData), one value; before session 40 the live
    record's was any from kStartBigFile to 2^31 - 1 (attack q root's free-end.root) while
    the older ones were held to it. In a large file ROOT raises it by 10^9 as the file
    grows (TFree::GetBestFree, TKey::Create) and uproot doubles it past fEND
    (FreeSegmentsData.serialize): no such file is among the tests, so any end from
    kStartBigFile on is admitted there, as before."""
    if first < _RAISED_FROM:
        return last == START_BIG_FILE
    return last >= START_BIG_FILE


def free_items(walk: RootWalk, segments: list[tuple[int, int]]) -> set[int]:
    """The starts of the records and stretches inside free segments. Each segment starts
    and ends where they do; each stretch that is no record lies in a segment."""
    starts, free = walk.starts, set()
    for first, stop in _merged(segments):
        i, j = bisect_left(starts, first), bisect_left(starts, stop)
        if (
            i == len(starts)
            or starts[i] != first
            or (
                stop != walk.header.end
                and (j == len(starts) or starts[j] != stop)
                and not _leaked(walk, first, j, stop)
                and not _unwritten(walk, first, j, stop)
            )
        ):
            raise Invalid(f"root: the free segment [{first}, {stop}) does not start and end where records do")
        free.update(starts[i:j])
    for offset, stretch in walk.gaps.items():
        if offset not in free and not _segments_tail(walk, offset) and not _stale_end(stretch, offset):
            raise Invalid(
                f"root: {len(walk.gaps[offset])} bytes at {offset} are neither a record nor in a "
                "segment the FreeSegments record lists"
            )
    return free


def _merged(segments: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Segments that touch joined: free space the walk sees as one stretch."""
    out: list[tuple[int, int]] = []
    for first, stop in segments:
        if out and out[-1][1] == first:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((first, stop))
    return out


def _stale_end(stretch: bytes, offset: int) -> bool:
    """Whether a stretch of free space no segment lists is one older FreeSegments record's
    last entry, the segment from the end of the file on, where the record shrank in place
    at the end of the file (_stale), then moved, and the file grew past it: (1, the
    stretch's end, its end entry's last: ends_free), nothing of its own (0 bits)."""
    if len(stretch) != _FREE_SMALL.size:
        return False
    version, first, last = _FREE_SMALL.unpack(stretch)
    return version == 1 and first == offset + len(stretch) and ends_free(first, last)


def _segments_tail(walk: RootWalk, offset: int) -> bool:
    """Whether the stretch at offset is what a FreeSegments record left behind when it
    shrank in place (uproot does not free those bytes): right after a record of segments
    (an older FreeSegments, or the live one), its older entries (_stale)."""
    tail = walk.gaps[offset]
    i = bisect_left(walk.starts, offset)
    before = walk.records.get(walk.starts[i - 1]) if i else None
    if before is None or before.body is None or before.offset + before.nbytes != offset:
        return False
    if len(before.body) % _FREE_SMALL.size or before.body[:2] != b"\0\1" or before.klass != b"TFile":
        return False
    return _stale(walk, tail, offset, before.offset)


def _leaked(walk: RootWalk, first: int, j: int, stop: int) -> bool:
    """Whether a free segment [first, stop) ends inside the stretch before starts[j]
    because that stretch is a FreeSegments record uproot freed after it had shrunk in
    place: the segment covers the record as it last was, the bytes it shrank from stay
    behind it, never freed (its older entries, _stale)."""
    stretch = walk.gaps.get(walk.starts[j - 1]) if j else None
    if stretch is None or not walk.starts[j - 1] < stop < walk.starts[j - 1] + len(stretch):
        return False
    return _stale(walk, stretch[stop - walk.starts[j - 1] :], stop, first)


def _unwritten(walk: RootWalk, first: int, j: int, stop: int) -> bool:
    """Whether a free segment [first, stop) ends inside the record before starts[j]
    because that record is a FreeSegments record uproot freed after it shrank in memory
    and was never written so (an object filled a segment exactly, then a release grew it
    back, in one job: uproot frees what the record was last counted as, its allocation
    shrunk with it, while the file holds the longer one written before; session 39,
    attack l root's grow-del-write-zlib, one entry short): the segment stops at one of
    its entries (log2 of them), the rest are its own, and it reaches up to starts[j]."""
    at = walk.starts[j - 1] if j else -1
    record = walk.records.get(at)
    older = at != walk.header.seek_free  # not the live record
    if record is None or record.body is None or not older or not first <= at < stop < at + record.nbytes:
        return False
    size, data = _FREE_SMALL.size, record.body
    body = at + record.nbytes - len(data)
    aligned = stop > body and (stop - body) % size == 0
    entries = len(data) % size == 0 and all(data[i : i + 2] == b"\0\1" for i in range(0, len(data), size))
    ends = len(data) >= size and ends_free(*_FREE_SMALL.unpack_from(data, len(data) - size)[1:])
    reaches = j < len(walk.starts) and at + record.nbytes == walk.starts[j]
    return aligned and entries and ends and reaches and record.klass == b"TFile"


def beyond_end(walk: RootWalk, tail: bytes) -> None:
    """Bytes after fEND: none, or what the FreeSegments record at the end of the file left
    there when it shrank in place (uproot: releasing a record between two free segments
    merges them, the record loses an entry, fEND moves back to its end and the file is not
    truncated): _stale, where each end entry can only be its own (fEND was right after it).
    Their count is not checked against the merges (a later object may fill the merged
    segment): up to MAX_STALE, log2(64) = 6 bits a file."""
    h = walk.header
    if tail and not (_ends_file(walk) and _stale(walk, tail, h.end, h.seek_free, at_file_end=True)):
        raise Invalid(
            f"root: bytes after fEND, the end the header declares (offset {h.end}): nothing may follow "
            "it but the entries a FreeSegments record ending there left when it shrank (each "
            "(1, where it ends, 2000000000), the end it had when it ended there)"
        )


def _ends_file(walk: RootWalk) -> bool:
    """Whether the live FreeSegments record ends at fEND, or its older entries do (a
    stretch of them, _segments_tail): it ended the file when it shrank there, fEND moving
    back with it, then shrank again where fEND stayed (an object filled a segment exactly:
    session 39, attack l root's many-del-new-zstd, 5 such entries before fEND)."""
    h = walk.header
    stop = h.seek_free + h.nbytes_free
    stale = walk.gaps.get(stop)
    return stop == h.end or (stale is not None and stop + len(stale) == h.end and _segments_tail(walk, stop))


# What uproot leaves behind a FreeSegments record that shrank in place (it rewrites the
# record, never the bytes after it): each 10-byte slot past the record's end holds what the
# last write of the record that long put there, a later write's slots lower. A write is
# its segments in order, then its end entry (1, fEND then, 2000000000); so the slots are
# groups, each some of one write's last segments then its end entry, the highest slot an
# end entry. The record shrinks by one entry per write when a release merges two segments
# (at the file's end: fEND moves back to the record's end, so the end entry ends where its
# slot does: 0 bits) or an object fills a segment exactly (fEND stays: the end entry names
# the end the stretch reaches or, after the file grew, a later one: where a record starts
# now, or fEND). A segment is left only where one write's interval removed two entries
# (never seen in uproot's output): it was free then, so it starts and ends where records
# or stretches do now (objects are allocated into a segment from its start), and lies
# outside the record. At most MAX_CHOSEN entries a stretch are segments or name a later
# end (log2 of the records a position each). Above the highest slot written, zeros: slots the record reserved
# to grow into (fEND past them) and moved away from before writing them. Seen (session 36,
# 400 random reruns, every test file): end entries, then zeros.


def _stale(walk: RootWalk, tail: bytes, base: int, record: int, at_file_end: bool = False) -> bool:
    """Whether tail, from offset base, is the older entries (at most MAX_STALE) a
    FreeSegments record starting at `record` left behind it when it shrank in place, then
    zeros: slots it reserved to grow into and moved before it wrote them (a later record
    was written past them). After fEND (`at_file_end`) only end entries each naming its
    own end: fEND moves back only where the record ends the file, one entry a write."""
    size = _FREE_SMALL.size
    if not tail or len(tail) % size or len(tail) > MAX_STALE * size:
        return False
    written = tail.rstrip(b"\0")
    written += bytes(-len(written) % size)  # an entry's own zero bytes
    limit, previous, chain, chosen = base + len(tail), -1, False, 0
    entries = [_FREE_SMALL.unpack_from(written, at) for at in range(0, len(written), size)]
    ends: list[int] = []  # the ends that stayed, from the latest write (lowest slot) up
    for slot, (version, first, last) in enumerate(entries):
        if version != 1:
            return False
        if ends_free(first, last):  # a write's end entry: the next slot is an older write's
            # Its own end (written where the record ended the file: then every older, higher
            # one was too) or, below those, the end that stayed: the stretch's or a later one,
            # no later than a later write's (lower slot) named: fEND only grows where the
            # record does not end the file.
            if first == base + size * (slot + 1):
                chain = True
            elif chain or at_file_end or not _stayed(walk, first, limit, ends):
                return False
            else:
                chosen += first > limit and first not in ends  # a position named again: 0 bits
                ends.append(first)
            previous = -1
        elif (
            previous <= first <= last and not at_file_end and _was_free(walk, first, last + 1, record, limit)
        ):
            previous, chosen = last + 1, chosen + 1
        else:
            return False
    return (
        previous == -1  # the highest slot written: an end entry
        and chosen <= MAX_CHOSEN
        and (len(written) == len(tail) or not at_file_end)
    )


def _stayed(walk: RootWalk, first: int, limit: int, ends: list[int]) -> bool:
    """Whether an end entry may name an end that stayed: the stretch's (limit) or a later
    record's start or fEND, no later than the one a later write named (ends[-1])."""
    later = first > limit and _boundary(walk, first)
    return (first == limit or later) and (not ends or first <= ends[-1])


def _was_free(walk: RootWalk, first: int, stop: int, record: int, end: int) -> bool:
    """Whether [first, stop) can have been a free segment while the record (from `record`
    to `end`, its slots included) was there: outside it, starting and ending where
    records or stretches do (uproot allocates into a segment from its start)."""
    return (stop <= record or first >= end) and _boundary(walk, first) and _boundary(walk, stop)


def _boundary(walk: RootWalk, at: int) -> bool:
    """Whether a record or a stretch of free space starts at `at`, or the file ends there."""
    i = bisect_left(walk.starts, at)
    return at == walk.header.end or (i < len(walk.starts) and walk.starts[i] == at)
