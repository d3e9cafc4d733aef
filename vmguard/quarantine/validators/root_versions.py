"""The older versions of a live keys list that its slack (the bytes after its keys, up to
the end of its record) still shows, from the file alone (session 37, from every write of
the list uproot 5.7 made in 200 random workflows). uproot's `del` rewrites the list
in place from its start, one key shorter, and never moves it; an added key is appended
at the list's end. So past the live list's end each byte is the one of the newest version
that reached it: from the live end outward, segments, each the last bytes of an older
version up to its end (a key's end: the tail of the key the newer version ended inside,
then whole keys), as long as the key deleted right after that version (shorter where
keys were added between the deletions). Each version's last key is the newer one's, or
the key deleted right after it, and then the segment is that key whole. So the slack is
a chain of segments whose lengths are those of the directory's deleted keys (its
records whole in free space, one each), each ending on the current last key (first the
live list's last), or a deleted key whole that becomes the last; then zeros. A version
shorter than the key deleted after it (objects added between the deletions: 5 of 58
lists of random add and delete workflows) is any tail of a key of the history and whole
keys after it, where no version as long as a deleted key is: the caller charges it
`Keys.cost` loose bytes (naming one byte of the history's keys); which deleted key it
was short of is not in the bytes, only that each such version has its own. A version
whose deleted key's record a later one was written over (its length not in the file:
3 of 150 random workflows) ends on the current last key as one as long as a deleted key
does, any length up to the history's longest key, and is paid for the same way, and
only where a record may have been written over it without a key appended to this list
(writers) or keys were added since. What is not such a chain is left to the caller's
judgment (root_slack.behind_list, session 38): behind the top list at its first
place (first_place) zeros, or where keys were lost no copy of a key the file holds
(fresh, copied); and no more than one run of a live keys list anywhere."""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from .root_keylists import END, Keys, key_ends, tail_of
from .root_model import RootWalk

# Lengths a shorter version is tried at, from each place (the longest first): a piece of
# a version ends on a key's end (key_ends), so uproot's output offers one or two; bounds
# the work (_shorter looks one version ahead) wherever a file's bytes end like keys.
_TRIES = 64


@dataclass
class Chain:
    """Where the reading of a slack is: the deleted keys' lengths not yet taken by a
    version, the deleted keys not yet seen whole as a version's last, and the keys the
    version being read may end on (its last key: one, but after a shorter segment); the
    shorter versions read, each owed a deleted key at least as long (_fits: which one is
    not known from the bytes, only that one is left for each)."""

    left: Counter[int]
    owed: tuple[int, ...]
    unused: set[bytes]
    last: frozenset[bytes]
    stops: list[int]  # where a key may end (key_ends): a shorter version's end


class Step(Enum):
    """How a version was read: as long as a deleted key left (free), shorter than one
    (keys added between deletions: owed one at least as long), or of a deleted key
    whose record a later one was written over (its length not in the file: ending on the
    current last key, as an exact version does). Both but the first cost Keys.cost."""

    EXACT = "exact"
    SHORTER = "shorter"
    GONE = "gone"


def versions(
    data: bytes, directory: int, last: bytes, keys: Keys, limit: int, writers: bool = True
) -> tuple[bytes, int]:
    """data (a live keys list's slack) with the older versions of the list zeroed, and
    how many of them were not as long as a deleted key left (_shorter: `limit` at most,
    what the caller's loose bytes pay for). A version of a deleted key whose record is
    gone needs a later record written over that one without a key appended to this list
    (which would end the newer versions): `writers` (the file has one, root_versions.writers),
    or keys added since (a shorter version read before it)."""
    deleted = keys.deleted.get(directory, frozenset())
    lasts = frozenset((last,) if last else ())
    chain = Chain(Counter(len(k) for k in deleted), (), set(deleted), lasts, key_ends(data, keys))
    out, at, end, shorter = bytearray(data), 0, len(data.rstrip(b"\0")), 0
    while at < end:
        size, lasts, step = *_version(data, at, chain, keys), Step.EXACT
        paying = (Step.SHORTER, Step.GONE) if writers or chain.owed else (Step.SHORTER,)
        for paid in paying if not size and shorter < limit else ():
            size, lasts, step = *_shorter(data, at, end, chain, keys, paid), paid
            if size:
                shorter += 1
                break
        if not size:
            break
        chain.left, chain.owed = _taken(chain, size, step)
        chain.unused -= lasts & {data[at : at + size]}
        chain.last = lasts
        out[at : at + size] = bytes(size)
        at += size
    return bytes(out), shorter


def _version(data: bytes, at: int, chain: Chain, keys: Keys) -> tuple[int, frozenset[bytes]]:
    """The length of the version ending first after `at` (0: none) and its last keys:
    as long as a deleted key left, ending on the current last key, or that key whole."""
    for size in sorted(size for size, n in chain.left.items() if n > 0):
        piece = data[at : at + size]
        if len(piece) < size:
            break
        if not _fits(*_taken(chain, size, Step.EXACT)):
            continue
        lasts = frozenset(k for k in chain.last if _ends_on(piece, k, keys))
        if lasts:
            return size, lasts
        if piece in chain.unused:
            return size, frozenset((piece,))
    return 0, frozenset()


def _shorter(
    data: bytes, at: int, end: int, chain: Chain, keys: Keys, step: Step, ahead: bool = True
) -> tuple[int, frozenset[bytes]]:
    """The length and last keys of a version shorter than a deleted key left (a tail of
    a key of the history then whole keys), or of one whose deleted key is gone (ending
    on the current last key, up to the history's longest key): the longest after which
    the chain goes on (`ahead`: a version, or a shorter one; or the slack ends), else
    the longest (the oldest version left: what follows is the caller's, uproot's seed 105
    (LZ4) leaves its first slack, the StreamerInfo's bytes, there)."""
    first: tuple[int, frozenset[bytes]] = (0, frozenset())
    gone = step is Step.GONE
    longest = max(keys.lengths, default=1) if gone else max(+chain.left, default=1) - 1
    # up to the slack's end, not `end`: a version's last key may end in zeros (a TH1D's)
    for size in _sizes(at, min(longest, len(data) - at), chain.stops):
        after = Chain(*_taken(chain, size, step), chain.unused, frozenset(), chain.stops)
        piece = data[at : at + size]
        if not piece.strip(b"\0") or not _fits(after.left, after.owed):  # zeros: free
            continue
        after.last = (
            frozenset(k for k in chain.last if _ends_on(piece, k, keys)) if gone else _lasts(piece, keys)
        )
        if not after.last:
            continue
        if (
            not ahead
            or at + size >= end
            or _version(data, at + size, after, keys)[0]
            or _shorter(data, at + size, end, after, keys, Step.SHORTER, False)[0]
        ):
            return size, after.last
        first = first if first[0] else (size, after.last)
    return first


def _sizes(at: int, longest: int, stops: list[int]) -> list[int]:
    """The lengths a shorter version from `at` may have, the longest first (_TRIES at
    most): up to a key's possible end, or under END bytes (looked up alone)."""
    found = stops[bisect_right(stops, at) : bisect_left(stops, at + longest + 1)]
    sizes = {stop - at for stop in found} | set(range(1, min(longest, END - 1) + 1))
    return sorted(sizes, reverse=True)[:_TRIES]


def _taken(chain: Chain, size: int, step: Step) -> tuple[Counter[int], tuple[int, ...]]:
    """The deleted keys' lengths left and the shorter versions owed one once a version of
    `size` is read: as long as the key deleted right after it (that length taken),
    shorter (owed one at least as long: which one is left open, _fits), or gone (none)."""
    if step is not Step.EXACT:
        return +chain.left, (*chain.owed, size) if step is Step.SHORTER else chain.owed
    out = +chain.left
    out[size] -= 1
    return +out, chain.owed


def _fits(left: Counter[int], owed: tuple[int, ...]) -> bool:
    """Whether each shorter version read can be given its own deleted key at least as
    long, of those left: the longest owed the longest left, and so on down (if that
    fails, every assignment does). Taking the shortest that fits at once instead was
    wrong: uproot's seed 66 (ZSTD) deletes keys of 39, 69, 69 bytes, then adds one; the
    2 bytes the third version left belong to a 69-byte key's deletion, not the 39's."""
    # the longest len(owed) lengths, from the few distinct ones (not every deleted key's)
    longest = (itertools.repeat(n, k) for n, k in sorted(left.items(), reverse=True) if k > 0)
    lengths = list(itertools.islice(itertools.chain.from_iterable(longest), len(owed)))
    pairs = zip(sorted(owed, reverse=True), lengths, strict=False)
    return len(lengths) == len(owed) and all(o <= n for o, n in pairs)


def _ends_on(piece: bytes, last: bytes, keys: Keys) -> bool:
    """Whether piece is the end of a version whose last key is `last`: a tail of it, or
    a tail of a key, whole keys, then it."""
    if len(piece) <= len(last):
        return last.endswith(piece)
    return piece.endswith(last) and bool(_lasts(piece[: -len(last)], keys) or not piece[: -len(last)])


def _lasts(piece: bytes, keys: Keys) -> frozenset[bytes]:
    """The keys piece may end on, where it is the end of a version (empty: it is not): a
    tail of a key of the history, then whole keys (its last one), or that tail alone (the
    keys it is a tail of)."""
    at, last = len(piece), b""
    while at:
        size = next((n for n in keys.lengths if n <= at and piece[at - n : at] in keys.own), 0)
        if not size:
            break
        last, at = last or piece[at - size : at], at - size
    if at and not any(tail_of(piece[:at], keys)):
        return frozenset()
    return frozenset((last,)) if last else frozenset(tail_of(piece, keys))


_DATIME_END = 14  # a key's datime ends at its 14th byte (Nbytes, version, ObjLen, datime)

# uproot's initial_directory_bytes (uproot.create's default): the data part of a new
# directory's keys list. A moved list gets ceil(1.5 * (its allocation + a key + 8)) + 8
# bytes (_reallocate_data: its key sized as a big one, then written small), more than
# 256 when its allocation was (uproot's own); ROOT writes a list without slack. Only a list
# moved from a smaller one (a ROOT file's, in uproot.update) may get 256 again: read as at
# its first place, it is judged more strictly, never less.
INITIAL = 256


def first_place(walk: RootWalk, offset: int) -> bool:
    """Whether the keys list at offset is the top directory's where uproot.create put it:
    its first allocation, at the end of the new file (fresh bytes: zeros), never moved. A
    subdirectory's first allocation is the first free segment it fits (add_directory),
    which may hold anything free space does."""
    record = walk.records[offset]
    directory = walk.lists[offset][0]
    return directory == walk.header.begin and record.nbytes - len(record.key) == INITIAL


def writers(walk: RootWalk) -> bool:
    """Whether the file holds a record uproot may have written over a deleted one without
    appending a key to a directory's list the record's own: a basket or an RNTuple's blob
    (a tree or RNTuple extended), or a record of another directory (more than one)."""
    data = walk.data
    return bool(data.seeks or len(data.blobs) or len(walk.lists) > 1 or walk.unlisted)


def copied(data: bytes, keys: Keys) -> int:
    """Where data first holds a copy of a key the file holds (a key of the history),
    whole or a tail of one reaching into its datime (-1: none). Behind a live keys list
    such a copy is one of an older version, which versions() reads where the history
    puts it; what else a version left there is of keys the file no longer holds (a
    deleted record's that a later one was written over; the older key of an object
    written again, at its place, from another second: the datime differs), whose bytes
    are nowhere else."""
    for stop in key_ends(data, keys):
        for key in keys.ends.get(data[stop - END : stop], ()):
            start = stop - len(key) + _DATIME_END - 1  # its datime's last byte on
            if start >= 0 and key.endswith(data[start:stop]):
                return start
    return -1


def fresh(data: bytes, keys: Keys, rewritten: bool, writers: bool) -> int:
    """Where what follows the versions behind a top list at its first place is not what
    that place can hold (-1: all of it may be): it was fresh bytes at the end of the new
    file, so zeros, but where the list lost keys the file no longer holds (rewritten: a
    deleted record of the directory, or writers) the rest of a version the reader could
    not follow, which holds no copy of a key the file holds where no writer may have
    taken a deleted record's place (then each record written after a `del` is a key
    appended to a list, whose versions the reader follows)."""
    if writers:
        return -1
    if rewritten:
        return copied(data, keys)
    rest = data.lstrip(b"\0")
    return len(data) - len(rest) if rest else -1
