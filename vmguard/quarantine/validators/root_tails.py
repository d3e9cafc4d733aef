"""What a record deleted and then written over leaves: its tail. uproot and ROOT put a later
record at the start of the free segment a deleted one left; where the later record is
smaller, the deleted record's last bytes stay behind it, a free stretch of their own (after
ROOT's negated length of the rest, where ROOT wrote the later record). Those bytes are the
end of a compressed stream whose start is gone: nothing about them can be checked, but for
one case that can be proven byte for byte: the same object was written again (a histogram
deleted and filled again with the same contents compresses to the same bytes), so the tail
is the end of a live record (its blocks whole, behind its key's strings, where the record
written over it was shorter than the key). Only that is admitted: a stretch equal to the
last bytes of a live record that is no basket or blob, from no earlier than its key's
fSeekPdir (the same directory, class, name and title, then the same payload: the deleted
key's own position, datime and cycle before it are not the live key's). The only choice it
leaves is which record (log2 of the records, a stretch); a payload written there, a tail
of a record that never was, or chosen block headers are none of them. And where the later
record took only the start of the deleted one's key (ROOT's older StreamerInfo, compressed,
replaced as the file was saved again), the rest of that key and its blocks whole are an
older copy of live metadata (older_copy): its blocks inflate to runs of the live one's, as
an uncompressed older copy's payload is (root_remains)."""

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
_DECODED = (b"ZL", b"XZ")  # the blocks older_copy inflates (root_codecs.inflated)
SHORT = 4  # tails are looked up by their last SHORT bytes (shorter ones: by themselves)


@dataclass(frozen=True)
class Ends:
    """The live payloads, by their last SHORT bytes, and every suffix shorter than that."""

    payloads: dict[bytes, list[bytes]]
    short: frozenset[bytes]


def keep(walk: RootWalk, offset: int, stream: Stream, size: int) -> None:
    """Keep the payload of the record at offset (its `size` bytes next in stream, not
    consumed), if it and the payloads kept so far fit the bounds."""
    if 0 < size <= RECORD and walk.paid + size <= KEPT:
        walk.payloads[offset] = stream.peek(size)
        walk.paid += size


def ends(records: Iterable[tuple[bytes, bytes]]) -> Ends:
    """The index written_over looks a stretch up in: of each live record (its key and
    payload), its bytes from its fSeekPdir on."""
    found: dict[bytes, list[bytes]] = {}
    short: set[bytes] = set()
    for key, body in records:
        payload = key[_seek_end(key) :] + body
        found.setdefault(payload[-SHORT:], []).append(payload)
        short.update(payload[-n:] for n in range(1, min(SHORT, len(payload) + 1)))
    return Ends(found, frozenset(short))


def written_over(stretch: bytes, live: Ends) -> bool:
    """Whether a free stretch is the end of a live record, from its fSeekPdir on at most."""
    if len(stretch) < SHORT:
        return stretch in live.short
    return any(
        len(stretch) <= len(payload) and payload.endswith(stretch)
        for payload in live.payloads.get(stretch[-SHORT:], ())
    )


def metadata(live: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Of each live record of compressed metadata (its key and payload), its key from its
    fSeekPdir on and what its payload inflates to (zlib and xz: root_codecs.inflated)."""
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
    title; cut anywhere, the rest written over), then zlib or xz blocks to the stretch's
    end, each its codec's stream exactly (root_codecs), inflating to no more than twice
    the live payload does. Returns (what the blocks inflate to, what the live payload
    inflates to), for the caller to check the one is runs of the other, as an older
    uncompressed copy is; else None."""
    limit = inside.RATIO * len(stretch)  # no bomb: as the walk bounds what it inflates
    for rest, now in live:
        for cut in range(min(len(rest), len(stretch)), -1, -1):
            if stretch[cut : cut + 2] not in _DECODED or stretch[:cut] != rest[len(rest) - cut :]:
                continue
            older = root_codecs.inflated(stretch[cut:], offset, min(2 * len(now), limit))
            if older is not None:
                return older, now
    return None


def _seek_end(key: bytes) -> int:
    """Where a key's fSeekPdir starts (after its fSeekKey: 4 bytes, or 8 in version 1004)."""
    return 26 if key[4:6] == b"\3\354" else 22
