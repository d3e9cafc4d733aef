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
of a record that never was, or chosen block headers are none of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .root_model import RootWalk
from .stream import Stream

# The payloads kept to compare tails with: records of up to RECORD bytes, up to KEPT bytes in
# all (a tail of a larger record, or past the budget, is refused as before: not supported).
RECORD = 1 << 20
KEPT = 16 << 20
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
        wide = key[4:6] == b"\3\354"  # version 1004: 64-bit fSeekKey and fSeekPdir
        payload = key[26 if wide else 22 :] + body
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
