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
`Keys.cost` loose bytes (naming one byte of the history's keys). What is not such a
chain is left to the caller's judgment."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass

from .root_keylists import END, Keys, key_ends, tail_of

# Lengths a shorter version is tried at, from each place (the longest first): a piece of
# a version ends on a key's end (key_ends), so uproot's output offers one or two; bounds
# the work (_shorter looks one version ahead) wherever a file's bytes end like keys.
_TRIES = 64


@dataclass
class Chain:
    """Where the reading of a slack is: the deleted keys' lengths not yet taken by a
    version, the deleted keys not yet seen whole as a version's last, and the keys the
    version being read may end on (its last key: one, but after a shorter segment)."""

    left: Counter[int]
    unused: set[bytes]
    last: frozenset[bytes]
    stops: list[int]  # where a key may end (key_ends): a shorter version's end


def versions(data: bytes, directory: int, last: bytes, keys: Keys, limit: int) -> tuple[bytes, int]:
    """data (a live keys list's slack) with the older versions of the list zeroed, and
    how many of them were shorter than the key deleted after them (_shorter: `limit` at
    most, what the caller's loose bytes pay for)."""
    deleted = keys.deleted.get(directory, frozenset())
    lasts = frozenset((last,) if last else ())
    chain = Chain(Counter(len(k) for k in deleted), set(deleted), lasts, key_ends(data, keys))
    out, at, end, shorter = bytearray(data), 0, len(data.rstrip(b"\0")), 0
    while at < end:
        size, lasts = _version(data, at, chain, keys)
        if not size and shorter < limit:
            size, lasts = _shorter(data, at, end, chain, keys)
            shorter += bool(size)
        if not size:
            break
        chain.left = _taken(chain.left, size)
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
        lasts = frozenset(k for k in chain.last if _ends_on(piece, k, keys))
        if lasts:
            return size, lasts
        if piece in chain.unused:
            return size, frozenset((piece,))
    return 0, frozenset()


def _shorter(
    data: bytes, at: int, end: int, chain: Chain, keys: Keys, ahead: bool = True
) -> tuple[int, frozenset[bytes]]:
    """The length of a version shorter than a deleted key left (keys added between
    deletions) and its last keys: a tail of a key of the history then whole keys, the
    longest after which the chain goes on (`ahead`: a version, or another such; or the
    slack ends)."""
    for size in _sizes(at, min(max(+chain.left, default=1) - 1, end - at), chain.stops):
        lasts = _lasts(data[at : at + size], keys)
        if not lasts:
            continue
        after = Chain(_taken(chain.left, size), chain.unused, lasts, chain.stops)
        if (
            not ahead
            or at + size >= end
            or _version(data, at + size, after, keys)[0]
            or _shorter(data, at + size, end, after, keys, False)[0]
        ):
            return size, lasts
    return 0, frozenset()


def _sizes(at: int, longest: int, stops: list[int]) -> list[int]:
    """The lengths a shorter version from `at` may have, the longest first (_TRIES at
    most): up to a key's possible end, or under END bytes (looked up alone)."""
    found = stops[bisect_right(stops, at) : bisect_left(stops, at + longest + 1)]
    sizes = {stop - at for stop in found} | set(range(1, min(longest, END - 1) + 1))
    return sorted(sizes, reverse=True)[:_TRIES]


def _taken(left: Counter[int], size: int) -> Counter[int]:
    """The deleted keys' lengths left once a version of `size` is read: the shortest
    one of at least `size` taken (the key deleted right after it)."""
    out = +left
    out[min(n for n in out if n >= size)] -= 1
    return out


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
