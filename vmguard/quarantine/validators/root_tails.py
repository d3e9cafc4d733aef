"""What a record deleted and then written over leaves: its tail. uproot and ROOT put a later
record at the start of the free segment a deleted one left; where the later record is
smaller, the deleted record's last bytes stay behind it, a free stretch of their own (after
ROOT's negated length of the rest, where ROOT wrote the later record). Those bytes are the
end of a compressed stream whose start is gone: nothing about them can be checked, but for
one case that can be proven byte for byte: the same object was written again (a histogram
deleted and filled again with the same contents compresses to the same bytes), so the tail
is the end of a live record (its blocks whole, behind its key's strings, where the record
written over it was shorter than the key). Only that is admitted: a stretch equal to the
last bytes of a live record that is no basket or blob (the same directory, class, name
and title, then the same payload), and where it reaches further back, into the deleted
key's fields, those recomputed: its fSeekKey the deleted record's own position (where the
stretch ends less the live record's length: the same object is as long), its other fields
the live key's but its datime, which must be one a live key holds. The only choices it
leaves are which record (log2 of the records, a stretch) and that datime; a payload written there, a tail
of a record that never was, or chosen block headers are none of them. And where the later
record took only the start of the deleted one's key (ROOT's older StreamerInfo, compressed,
replaced as the file was saved again), the rest of that key and its blocks whole are an
older copy of live metadata (older_copy): its blocks inflate to runs of the live one's, as
an uncompressed older copy's payload is (root_remains). An older keys list's keys are
root_keylists'."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import inside, root_codecs
from .root_model import RootWalk
from .stream import Stream

# The payloads kept to compare tails with: records of up to RECORD bytes, up to KEPT bytes in
# all (a tail of a larger record, or past the budget, is refused as before: not supported).
RECORD = 1 << 20
KEPT = 16 << 20
_DATIME = 10  # a key's datime: after fNbytes, its version and fObjLen
SHORT = 4  # tails are looked up by their last SHORT bytes (shorter ones: by themselves)


@dataclass(frozen=True)
class Ends:
    """The live records from their fSeekPdir on (and their keys), by their last SHORT
    bytes; every suffix shorter than that; every suffix of a live key's datime."""

    records: dict[bytes, list[tuple[bytes, bytes]]]
    short: frozenset[bytes]
    datimes: frozenset[bytes]


def keep(walk: RootWalk, offset: int, stream: Stream, size: int) -> None:
    """Keep the payload of the record at offset (its `size` bytes next in stream, not
    consumed), if it and the payloads kept so far fit the bounds."""
    if 0 < size <= RECORD and walk.paid + size <= KEPT:
        walk.payloads[offset] = stream.peek(size)
        walk.paid += size


def ends(records: Iterable[tuple[bytes, bytes]], keys: Iterable[bytes]) -> Ends:
    """The index written_over looks a stretch up in: of each live record (its key and
    payload), its bytes from its fSeekPdir on; the datimes of the live keys."""
    found: dict[bytes, list[tuple[bytes, bytes]]] = {}
    short: set[bytes] = set()
    for key, body in records:
        rest = key[_seek_end(key) :] + body
        found.setdefault(rest[-SHORT:], []).append((rest, key))
        short.update(rest[-n:] for n in range(1, min(SHORT, len(rest) + 1)))
    datimes = {key[_DATIME + n : _DATIME + 4] for key in keys for n in range(4)}
    return Ends(found, frozenset(short), frozenset(datimes))


def written_over(stretch: bytes, end: int, live: Ends) -> bool:
    """Whether a free stretch (ending at `end`) is the end of a live record: from its
    fSeekPdir on, or from further back (_rebuilt)."""
    if len(stretch) < SHORT:
        return stretch in live.short
    return any(
        rest.endswith(stretch) if len(stretch) <= len(rest) else _rebuilt(stretch, end, key, rest, live)
        for rest, key in live.records.get(stretch[-SHORT:], ())
    )


def _rebuilt(stretch: bytes, end: int, key: bytes, rest: bytes, live: Ends) -> bool:
    """Whether a stretch is the end of the key a deleted copy of a live record (its key,
    and its bytes from fSeekPdir on: rest) had, ending at `end`: as long as the live
    one (the same object), so its fSeekKey its own position, `end` less that length; its
    fNbytes, version, fObjLen, fKeyLen and fCycle the live key's; its datime one a live
    key holds (written in the same job as some record that stays)."""
    at = _seek_end(key)
    nbytes, position = at + len(rest), end - at - len(rest)
    cut = nbytes - len(stretch)  # where the stretch starts in the deleted record
    if cut <= 0 or not 0 <= position < 1 << (8 * (at - 18) - 1):
        return False
    whole = key[:_DATIME] + bytes(4) + key[14:18] + position.to_bytes(at - 18, "big") + rest
    head = stretch[: max(0, _DATIME + 4 - cut)]  # the stretch up to the datime's end
    front = key[cut:_DATIME]
    if stretch[len(head) :] != whole[max(cut, _DATIME + 4) :] or head[: len(front)] != front:
        return False
    return not head or head[len(front) :] in live.datimes


def metadata(live: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Of each live record of compressed metadata (its key and payload), its key from its
    fSeekPdir on and what its payload inflates to (root_codecs.inflated)."""
    out = []
    for key, payload in live:
        now = root_codecs.inflated(payload, 0, KEPT)
        if now is not None:
            out.append((key[_seek_end(key) :], now))
    return out


def older_copy(stretch: bytes, live: list[tuple[bytes, bytes]], offset: int) -> tuple[bytes, bytes] | None:
    """Where a free stretch is what is left of an older copy of compressed live metadata
    (live: metadata(); ROOT compresses its StreamerInfo and writes it again, larger, as the
    file is saved again, and a later record may take the start of the older one's place):
    the end of the live key from its fSeekPdir on (the same directory, class, name and
    title; cut anywhere, the rest written over), then blocks of one codec (zlib, xz, LZ4
    or zstd) to the stretch's end, each its codec's stream exactly (root_codecs.inflated,
    the one decoder of a payload's blocks), inflating to no more than twice
    the live payload does. Returns (what the blocks inflate to, what the live payload
    inflates to), for the caller to check the one is runs of the other, as an older
    uncompressed copy is; else None."""
    limit = inside.RATIO * len(stretch)  # no bomb: as the walk bounds what it inflates
    for rest, now in live:
        for cut in range(min(len(rest), len(stretch)), -1, -1):
            if stretch[cut : cut + 2] not in root_codecs.METHODS or stretch[:cut] != rest[len(rest) - cut :]:
                continue
            older = root_codecs.inflated(stretch[cut:], offset, min(2 * len(now), limit))
            if older is not None:
                return older, now
    return None


def _seek_end(key: bytes) -> int:
    """Where a key's fSeekPdir starts (after its fSeekKey: 4 bytes, or 8 in version 1004)."""
    return 26 if key[4:6] == b"\3\354" else 22
