"""What a directory's keys list leaves when uproot deletes from it (del f[name]): uproot
rewrites the list without the deleted key, in place while it fits (the bytes after its
new end keep what the longer list held there: the live list's slack) or, when it
outgrows its place, at a new one (the older list stays whole in free space, with its own
slack). So what follows the live keys, and the keys of an older list, are the keys of
older versions of the list: each a key of the file's history, as uproot wrote it, whole,
or the tail of one where a newer, shorter version ended in the middle of it. A key of the
history is the key of a live record or of a deleted one whole in free space (uproot's del
frees the record and leaves it there): byte for byte the record's own key, at the
position it names. Those bytes are zeroed before root_remains judges the rest (the
older list's own key and count, anything else): they are copies, nothing chosen but
which key lies where (log2 of the history's keys a key), and a key's earlier datime where
its object was written again unchanged (_key_at: not before the file was made). A chain
holds each key once per version, and a file shows one version more per deleted record
(_next); a copy of a live list's own key in free space is an older list only as writers
leave them (older_lists)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from .root_model import KEY, Record, RootWalk, decode_datime, key_fields, strings_at
from .stream import Invalid

_COUNT = 4  # a keys list's payload starts with its number of keys
END = 8  # a tail of a key is looked up by its last bytes (shorter ones: all of them)
_PARTIAL = 1  # tails in a chain but at its start


@dataclass
class Cuts:
    """The tails of keys the file may still hold: one where each version of a list
    ended inside an older one's key. Each version is one write of the list: one when a
    key was added (the keys of the history) and one when one was deleted (the deleted
    records the file shows); uproot writes a list once a `del` or an object. And the
    versions a chain of whole keys may still show beyond its first (each holds a key at
    most once): one per deleted record, each `del` rewrote the list one key shorter in
    place, its last key left behind it whole where keys are as long."""

    left: int
    repeats: int


@dataclass(frozen=True)
class Keys:
    """The keys of the file's history: each record's own key (live, or deleted and whole
    in free space) by its bytes, but the metadata uproot moves (keys lists, FreeSegments,
    the StreamerInfo: never listed as an object; a directory uproot's del freed is one);
    the live keys lists' own keys (an older list's key has their tail: class, name,
    title); the keys by each of their last END bytes (at most a few share the last
    END, so a tail is found without a search through every key); each directory's
    deleted keys (its records deleted and whole in free space: one version of its keys
    list each, root_versions); and what naming one byte of the keys' costs, in bytes."""

    own: frozenset[bytes]
    undated: dict[bytes, bytes]  # each own key by its bytes with the datime zeroed
    created: bytes  # the file's creation datime (its top directory key's): none is earlier
    lengths: tuple[int, ...]
    lists: tuple[bytes, ...]
    ends: dict[bytes, tuple[bytes, ...]]
    deleted: dict[int, frozenset[bytes]]
    cost: int
    cuts: Cuts
    # each live TTree's key but for its lengths, datime and position (_unplaced), and the
    # free stretches by where they end: a tree's older copy, written over from its start
    trees: dict[bytes, bytes] = field(default_factory=dict)
    stretches: dict[int, int] = field(default_factory=dict)


def history(walk: RootWalk, free: set[int], moved: Iterable[bytes]) -> Keys:
    gone = [r for r in walk.records.values() if r.offset in free and r.klass not in moved]
    gone += [walk.records[o] for o in sorted(walk.unlisted)]  # deleted directories, walked
    live = [r for r in walk.records.values() if r.offset not in free]
    own = frozenset([r.key for r in live] + [r.key for r in gone])
    lists = tuple(walk.records[o].key for o in walk.slack if o not in free)
    ends: dict[bytes, list[bytes]] = {}
    for key in own:
        for n in range(1, END + 1):
            ends.setdefault(key[-n:], []).append(key)
    deleted: dict[int, set[bytes]] = {}
    for record in gone:
        deleted.setdefault(key_fields(record.key)[1], set()).add(record.key)
    return Keys(
        own,
        {_undated(k): k for k in own},
        created(walk)[_DATIME],
        tuple(sorted({len(k) for k in own})),
        lists,
        {end: tuple(found) for end, found in ends.items()},
        {directory: frozenset(found) for directory, found in deleted.items()},
        max(1, (sum(map(len, own)).bit_length() + 7) // 8),
        Cuts(len(own) + len(gone), len(gone)),
        {_unplaced(r.key): r.key for r in live if r.klass == b"TTree"},
        {start + len(gap): start for start, gap in walk.gaps.items()},
    )


def zeroed(data: bytes, at: int, keys: Keys) -> bytes:
    """data (a free stretch, an older keys list) with the keys of an older version of a
    keys list, from `at` (where the first one would start) on, zeroed: whole keys of the
    history (_whole), at `at` the tail of one (_tail) or of an older list's own key and
    its count (_head: the list's start written over), and one tail more (_PARTIAL: where
    that version ended, a shorter one before it had left bytes behind; an older list
    moved when an added key overflowed it, so what it left is shorter than a key; from
    the file's Cuts). Stops at the first bytes that are neither; the rest is left to the
    caller's judgment. A live keys list's slack is root_versions'."""
    out, first, last, partial = bytearray(data), at, len(data.rstrip(b"\0")), _PARTIAL
    version: set[bytes] = set()
    while at < last:
        key = _key_at(data, at, keys)
        version = _next(version, key, keys.cuts, at)
        size = len(key)
        if not size and keys.cuts.left and (at == first or partial):
            size = (_head(data, at, keys) if at == first else 0) or _tail(data, at, keys)
            spent = bool(data[at : at + size].strip(b"\0"))  # zeros are free anyway
            keys.cuts.left -= spent
            partial -= spent and at != first
        if not size:
            break
        version = version if key else set()  # a tail ends a version: the next is another
        out[at : at + size] = bytes(size)
        at += size
    return bytes(out)


def _whole(data: bytes, at: int, keys: Keys) -> int:
    """The length of the key of the history at `at` (0: none)."""
    return len(_key_at(data, at, keys))


def _key_at(data: bytes, at: int, keys: Keys) -> bytes:
    """The key of the history at `at` (b"": none): byte for byte a record's own key
    (which names that record's position: the walk found it there), or the key uproot
    wrote for that record before, its datime no later: an object deleted and written again
    unchanged in a later second takes its old place and lengths, and an older list keeps
    its older key (a date-time between the two: log2 of the seconds between them a copy,
    as many as the versions allow)."""
    for size in keys.lengths:
        piece = data[at : at + size]
        if piece in keys.own:
            return piece
        found = keys.undated.get(_undated(piece), b"")
        dated = keys.created <= piece[_DATIME] <= found[_DATIME]  # big-endian: as numbers
        if len(piece) == size and dated and decode_datime(int.from_bytes(piece[_DATIME], "big")) is not None:
            return found
        if len(piece) == size and _moved_tree(piece, keys):
            return piece
    return b""


def _moved_tree(piece: bytes, keys: Keys) -> bool:
    """Whether piece is the key a live TTree had before uproot moved it (an update job's
    extend writes the tree anew elsewhere and frees its record, which later records take
    from its start; an older keys list keeps that key: session 38, attack n root's
    ctl-n-five-jobs-no-del): the live key but for its lengths (uncompressed, as uproot
    writes a tree; no longer than the live one: a tree grows as it moves), position and
    datime (a date from the file's making to the live key's), its record ending where a
    free stretch does, which began after it (the older copy's tail, judged as remains of
    the live tree)."""
    live = keys.trees.get(_unplaced(piece))
    if live is None:
        return False
    nbytes, _, objlen, datime, keylen, _ = KEY.unpack_from(piece)
    seek = key_fields(piece)[0]
    start = keys.stretches.get(seek + nbytes)
    dated = keys.created <= piece[_DATIME] <= live[_DATIME] and decode_datime(datime) is not None
    grown = nbytes <= KEY.unpack_from(live)[0]  # uproot's trees grow as they move
    return start is not None and seek < start and objlen == nbytes - keylen and grown and dated


def _unplaced(key: bytes) -> bytes:
    """A key without its fNbytes, fObjLen, datime and fSeekKey."""
    seek = 26 if key[4:6] == b"\3\354" else 22  # version 1004: 64-bit seeks
    return bytes(4) + key[4:6] + bytes(8) + key[14:18] + bytes(seek - 18) + key[seek:]


_DATIME = slice(10, 14)  # a key's datime (KEY: Nbytes, version, ObjLen, datime)


def created(walk: RootWalk) -> bytes:
    """The file's top directory key (written when the file was made: no key is older)."""
    top = walk.records.get(walk.header.begin)
    return top.key if top is not None else bytes(KEY.size)


def _undated(key: bytes) -> bytes:
    return key[: _DATIME.start] + bytes(4) + key[_DATIME.stop :]


def _next(version: set[bytes], key: bytes, cuts: Cuts, at: int) -> set[bytes]:
    """The keys of the list version a chain is in once `key` is read: a key already in
    it starts the next, older version (one of cuts.repeats), or Invalid: no list uproot
    writes holds a key twice."""
    if key not in version:
        return version | {key} if key else version
    if not cuts.repeats:
        raise Invalid(
            f"root: keys repeat in a chain of keys copies in free space (byte {at} of it) "
            "beyond the versions of a keys list the file's deletions leave (a list holds "
            "each key once; each del leaves one version)"
        )
    cuts.repeats -= 1
    return {key}


def _tail(data: bytes, at: int, keys: Keys) -> int:
    """The length of the longest tail of a key of the history at `at` (0: none): what a
    newer, shorter version of the list left of a key it ended inside (the chain goes on
    after it, or ends)."""
    for stop in range(min(at + max(keys.lengths, default=1) - 1, len(data)), at, -1):
        if any(tail_of(data[at:stop], keys)):
            return stop - at
    return 0


def tail_of(piece: bytes, keys: Keys) -> Iterator[bytes]:
    """The keys of the history piece is a tail of (shorter than the key)."""
    found = keys.ends.get(piece[-END:], ())
    return (k for k in found if len(k) > len(piece) and k.endswith(piece))


def key_ends(data: bytes, keys: Keys) -> list[int]:
    """Where in data a key of the history may end, in order: after the last END bytes of
    one (a piece shorter than END is looked up alone, wherever it starts)."""
    return [stop for stop in range(END, len(data) + 1) if data[stop - END : stop] in keys.ends]


def _head(data: bytes, at: int, keys: Keys) -> int:
    """The length of what is left at `at` of an older keys list's own key and count,
    written over from its start (0: none), up to the whole key that follows: a tail of a
    live list's key (its class, name and title are the older one's) and of its count, no
    more than the whole keys that follow (the count's bytes left)."""
    longest = max((len(k) for k in keys.lists), default=0) + _COUNT
    for stop in range(at + 1, min(at + longest, len(data)) + 1):
        if _whole(data, stop, keys):
            piece = data[at:stop]
            key, count = piece[:-_COUNT], int.from_bytes(piece[-_COUNT:], "big")
            tail = any(len(k) > len(key) and k.endswith(key) for k in keys.lists)
            return len(piece) if tail and count <= _listed(data, stop, keys) else 0
    return 0


def older_list(record: Record, walk: RootWalk, free: set[int], keys: Keys) -> bytes:
    """An older keys list whole in free space (record, its key and payload) with what
    uproot wrote zeroed: its keys and their tails (zeroed), and its own key and count
    where the key is a live keys list's as it was (older_lists pinned it). Else as it is
    but its keys."""
    data = record.key + record.body if record.body is not None else record.key
    if record.klass == b"TList":  # an older StreamerInfo: no keys
        return data
    start = len(record.key) + _COUNT
    older = zeroed(data, start, keys)
    count = struct.unpack_from(">i", data.ljust(start, b"\0"), len(record.key))[0]
    if _live_of(record, walk, free) is not None and 0 <= count <= _listed(data, start, keys):
        return bytes(start) + older[start:]
    return older


# uproot moves a keys list that outgrows its place to one of ceil(1.5 * (its allocation
# + the added key + 8)) bytes (writing/_cascade.py, add_object): each older list of a
# directory is over GROWTH times the one before, plus 8.
GROWTH = 1.5
_SLOP = 8
# ROOT (C++) writes a list's key anew, dated, on each write: one older list of a file ROOT
# wrote may be left whole unmarked (a ROOT 5 file of the corpus, an earlier datime).
_EARLIER = 1


def older_lists(walk: RootWalk, free: set[int], segments: set[int]) -> None:
    """Refuse copies of a live keys list's own key in free space (records with the class,
    name, title and directory of the list's key, naming their own position) that are not
    the older lists writers leave: uproot writes the list's key when the directory is made
    and changes only its lengths and position (so an older list's datime and cycle are the
    live key's), one list per move, each allocation over GROWTH times the one before (so
    at most log base GROWTH of the live list's length of them); beside those, _EARLIER
    list dated before the live one (ROOT's), shorter than it, not before the file was
    made. So a run of copies, each with its own datime or cycle, is refused; what stays
    free is one datime (log2 of the seconds between the file's making and the list's). An
    older FreeSegments record (`segments`: uproot gives it the directory's class, name and
    title too) is no list."""
    found: dict[tuple[bytes, bytes, int], list[Record]] = {}  # free records by _identity
    for r in walk.records.values():
        if r.offset in free and r.offset not in segments:
            found.setdefault(_identity(r.key), []).append(r)
    for offset in walk.lists:
        if offset in free:
            continue
        live = walk.records[offset]
        copies = found.get(_identity(live.key), [])
        pinned = [KEY.unpack_from(r.key) for r in copies if _pinned(r, live, walk)]
        datime, length = KEY.unpack_from(live.key)[3], KEY.unpack_from(live.key)[2]
        lengths = sorted(key[2] for key in pinned if key[3] == datime) + [length]
        earlier = [key[2] for key in pinned if key[3] < datime]
        grown = all(b > GROWTH * (a + _SLOP) for a, b in pairwise(lengths))
        earlier_ok = len(earlier) <= _EARLIER and all(n < length for n in earlier)
        if len(pinned) < len(copies) or not grown or not earlier_ok:
            raise Invalid(
                f"root: {len(copies)} copies of the key of the keys list at {offset} lie in "
                "free space where uproot leaves one older list per move (its key the live "
                f"one's but for lengths and position, each over {GROWTH} times the one before)"
            )


def _identity(key: bytes) -> tuple[bytes, bytes, int]:
    """A key's version, class, name and title, and directory: what a list's copies share."""
    return key[4:6], key[strings_at(key) :], key_fields(key)[1]


def _pinned(record: Record, live: Record, walk: RootWalk) -> bool:
    """Whether a copy of the live list's key is one a writer wrote for it: its cycle the
    live key's, its datime no later nor earlier than the file's making, its record as long
    as its key says (uncompressed)."""
    nbytes, _, objlen, datime, keylen, cycle = KEY.unpack_from(record.key)
    _, _, _, live_datime, _, live_cycle = KEY.unpack_from(live.key)
    made = KEY.unpack_from(created(walk))[3]
    same = made <= datime <= live_datime and cycle == live_cycle
    return same and objlen == nbytes - keylen and nbytes == record.nbytes


def _live_of(record: Record, walk: RootWalk, free: set[int]) -> Record | None:
    """The live keys list record is an older copy of (older_lists pinned it), or None."""
    lives = (walk.records[o] for o in walk.lists if o not in free)
    mine = _identity(record.key)
    return next((r for r in lives if _identity(r.key) == mine and _pinned(record, r, walk)), None)


def _listed(data: bytes, at: int, keys: Keys) -> int:
    """How many whole keys of the history follow each other from `at`."""
    count = 0
    while size := _whole(data, at, keys):
        count, at = count + 1, at + size
    return count
