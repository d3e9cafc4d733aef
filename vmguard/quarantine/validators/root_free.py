"""A ROOT file's FreeSegments record (fSeekFree), checked once the walk (root.py) has
seen every byte: it lists the free space exactly. Each stretch the walk found that is
no record lies in one of its segments, and each segment starts and ends where records
or stretches do (but for the few entries uproot leaves behind a FreeSegments record it
shrank in place)."""

from __future__ import annotations

import struct
from bisect import bisect_left

from .root_model import RootWalk
from .stream import Invalid

_FREE_SMALL = struct.Struct(">hii")  # version, fFirst, fLast
_FREE_LARGE = struct.Struct(">hqq")  # version 1001
_START_BIG_FILE = 2000000000  # ROOT's kStartBigFile: the last segment's end in a small file
MAX_TAIL = 4  # segments a FreeSegments record may leave behind it
BEYOND_END = MAX_TAIL * _FREE_SMALL.size  # bytes it may leave after fEND


def free_segments(walk: RootWalk) -> list[tuple[int, int]]:
    """The FreeSegments record's segments [first, last + 1), in order, without the last
    one (fEND to infinity), checked against the header."""
    h = walk.header
    record = walk.record_at(h.seek_free, "fSeekFree")
    if record.body is None or record.nbytes != h.nbytes_free:
        raise Invalid(
            f"root: the FreeSegments record at {h.seek_free} is not fNbytesFree ({h.nbytes_free}) bytes"
        )
    body, at, segments = record.body, 0, []
    while at < len(body):
        large = struct.unpack_from(">h", body.ljust(2, b"\0"), at)[0] == 1001
        layout = _FREE_LARGE if large else _FREE_SMALL
        if at + layout.size > len(body) or (not large and body[at : at + 2] != b"\0\1"):
            raise Invalid(f"root: the FreeSegments record at {h.seek_free} holds bytes that are no segment")
        _, first, last = layout.unpack_from(body, at)
        segments.append((first, last + 1))
        at += layout.size
    if (
        len(segments) != h.nfree
        or not segments
        or segments[-1][0] != h.end
        or segments[-1][1] <= _START_BIG_FILE
    ):
        raise Invalid(
            f"root: the FreeSegments record at {h.seek_free} does not end with fEND (nfree {h.nfree})"
        )
    segments.pop()
    previous = h.begin
    for first, stop in segments:
        if not previous <= first < stop <= h.end:
            raise Invalid(f"root: the free segment [{first}, {stop}) is out of order or outside the file")
        previous = stop
    return segments


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
                and not _leaked(walk, j, stop)
            )
        ):
            raise Invalid(f"root: the free segment [{first}, {stop}) does not start and end where records do")
        free.update(starts[i:j])
    for offset, stretch in walk.gaps.items():
        if (
            offset not in free
            and not _segments_tail(walk, offset)
            and stretch != _FREE_SMALL.pack(1, offset + len(stretch), _START_BIG_FILE)  # a stale end (above)
        ):
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


# A stretch of free space no segment lists may also be one older FreeSegments record's
# last entry, the segment from the end of the file to kStartBigFile, where the record
# shrank in place at the end of the file (_shrunk), then moved, and the file grew past
# it: (1, the stretch's end, 2000000000), nothing of its own (one entry: 0 bits).


def _segments_tail(walk: RootWalk, offset: int) -> bool:
    """Whether the stretch at offset is what a FreeSegments record left behind when it
    shrank in place (uproot does not free those bytes): right after a record of segments
    (an older FreeSegments, or the live one), at most MAX_TAIL more segments, each zeros
    or of version 1."""
    tail = walk.gaps[offset]
    i = bisect_left(walk.starts, offset)
    before = walk.records.get(walk.starts[i - 1]) if i else None
    if before is None or before.body is None or before.offset + before.nbytes != offset:
        return False
    if len(before.body) % _FREE_SMALL.size or before.body[:2] != b"\0\1" or before.klass != b"TFile":
        return False
    return _tail_entries(tail)


def _leaked(walk: RootWalk, j: int, stop: int) -> bool:
    """Whether a free segment ends at `stop` inside the stretch before starts[j] because
    that stretch is a FreeSegments record uproot freed after it had shrunk in place: the
    segment covers the record as it last was, the bytes it shrank from stay behind it,
    never freed (at most MAX_TAIL segments, as _segments_tail)."""
    stretch = walk.gaps.get(walk.starts[j - 1]) if j else None
    if stretch is None or not walk.starts[j - 1] < stop < walk.starts[j - 1] + len(stretch):
        return False
    return _tail_entries(stretch[stop - walk.starts[j - 1] :])


def _tail_entries(tail: bytes) -> bool:
    """Whether tail is at most MAX_TAIL segments of 10 bytes, each zeros or of version 1."""
    if len(tail) % _FREE_SMALL.size or len(tail) > MAX_TAIL * _FREE_SMALL.size:
        return False
    entries = [_FREE_SMALL.unpack_from(tail, at) for at in range(0, len(tail), _FREE_SMALL.size)]
    return all(
        entry == (0, 0, 0) or (entry[0] == 1 and 0 <= entry[1] <= entry[2] <= _START_BIG_FILE)
        for entry in entries
    )


def beyond_end(walk: RootWalk, tail: bytes) -> None:
    """Bytes after fEND: none, or what the FreeSegments record at the end of the file left
    there when it shrank in place (uproot: an object that fills a free segment exactly
    takes one entry from it, fEND moves back and the file is not truncated): _shrunk."""
    h = walk.header
    if tail and not (h.seek_free + h.nbytes_free == h.end and _shrunk(tail, h.end + len(tail), h.seek_free)):
        raise Invalid(
            f"root: bytes after fEND, the end the header declares (offset {h.end}): nothing may follow "
            "it but the entries a FreeSegments record ending there left when it shrank (segments before "
            "it, then one from the file's end to 2000000000)"
        )


def _shrunk(tail: bytes, end: int, before: int) -> bool:
    """Whether tail is the older entries a FreeSegments record at the end of the file
    left behind it when it shrank in place, the file then ending at `end`: at most
    MAX_TAIL, segments in order before the record (`before`), then the one from the file's
    end to kStartBigFile (1, end, 2000000000)."""
    size = _FREE_SMALL.size
    if not tail or len(tail) % size or len(tail) > MAX_TAIL * size:
        return False
    entries = [_FREE_SMALL.unpack_from(tail, at) for at in range(0, len(tail), size)]
    previous = -1
    for version, first, last in entries[:-1]:
        if not (version == 1 and previous < first <= last < before):
            return False
        previous = last
    return entries[-1] == (1, end, _START_BIG_FILE)
