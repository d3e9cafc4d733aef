"""What ROOT free space may hold. uproot writes nothing in the space it frees: a record it
moved (the StreamerInfo, a keys list, when they outgrow their place; a TTree when its
basket arrays fill; an RNTuple's footer on each extend) stays where it was,
whole or behind records later written over its start, and space it reserved but never
wrote stays zeros. So free space is zeros, a record deleted there (its payload like any
record's: left to the scanners), or the remains of moved metadata, recomputed from the
metadata now live (and a deleted tree's last copy, which its older copies are the remains
of: uproot's del leaves them all): runs of at least MIN_RUN bytes found verbatim in a live uncompressed
record (an older StreamerInfo is the newer one's streamers, an older keys list its keys),
with at most LOOSE bytes between them (the fields that changed when it moved: lengths,
counts, positions), or an older FreeSegments record (its segments in order). A payload
written into free space is none of them."""

from __future__ import annotations

import re
import struct
from array import array
from collections import Counter
from dataclasses import dataclass

from . import root_data, root_tails
from .root_model import Record, RootWalk, key_fields, read_string
from .stream import Invalid

MIN_RUN = 24
# The metadata uproot moves when it outgrows its place: a free record of another class is
# one deleted (del f[name]), its payload a record's like a live one's.
MOVED = (b"TList", b"TFile", b"TDirectory", b"TDirectoryFile")
DIRECTORIES = (b"TFile", b"TDirectory", b"TDirectoryFile")
LOOSE = 24  # bytes of a moved record (its key whole) that are neither zeros nor in a run,
HEAD = 96  # all in its first HEAD bytes (its key and list header)
# Bytes of the file's other free stretches (and keys lists' slack) that are neither: an
# RNTuple's older envelope tail (its checksum) left in a segment too short to be reused.
LOOSE_STRETCHES = 24
# and a TTree's older copy (uproot moves a tree when its basket arrays fill, and writes
# baskets over the head of the old copy): its counts and byte counts, about 25 bytes a
# branch, where the live tree has at least 1700 bytes a branch (its basket arrays, 10
# slots at first, grow tenfold on each move: mktree's resize_factor, 10 by default); so
# one loose byte more per TREE_SHARE bytes of live uncompressed TTree payload (itself
# data the scanners see), in what uproot leaves: not in a gap ROOT marked free with its
# negated length (what ROOT leaves there is its own records').
TREE_SHARE = 128
# An older copy of a tree left whole (no basket written over it): its key and payload are
# the live tree's but for each branch's counts, lengths and byte counts that changed
# (uproot 5.7: 39 bytes and 37 to 42 a branch with baskets, measured over 1 to 24
# branches of numbers and jagged arrays, files up to 286 MB: larger counts have fewer zero
# bytes), so at most TREE_LOOSE + TREE_BRANCH a branch.
TREE_LOOSE, TREE_BRANCH = 48, 48
# An older copy written over (a basket of another tree over its head) leaves the same
# counts behind it: so the file's share also holds one copy's TREE_LOOSE + TREE_BRANCH a
# branch for each tree uproot moved (its basket arrays start with 10 slots, and it moves
# the tree when an extend finds all but one filled: at its 10th, so a tree it moved has
# MOVES_AT baskets a branch or more; session 35: 9 was taken for a move, 1 too few).
MOVES_AT = 10
# and an RNTuple's older footers (uproot writes a page list and moves the footer on each
# extend, and writes the next blobs over the older footer's head): the tail of each, its
# checksum (8 bytes, of bytes no longer there) and the lengths and counts that changed;
# so LOOSE_STRETCHES bytes more per live page list after the first (one an extend wrote).
_FOOTER, _PAGE_LIST = 2, 3
_LINK = struct.Struct("<QiQ")
_KEY = struct.Struct(">ihiIhh")
_SEGMENT = struct.Struct(">hii")
_SEGMENT_LARGE = struct.Struct(">hqq")
_ZEROS = re.compile(b"\0+")


def check(walk: RootWalk, free: set[int], baskets: root_data.Unlisted) -> None:
    """Each free stretch, free uncompressed record and keys list's slack; baskets those
    no live tree lists (root_data): a deleted tree's, listed by its copy in free space, or
    orphans uproot's del left of a tree made again under its name, whose last copy may
    have been written over."""
    orphans = baskets.orphans
    history = _history(walk, free, baskets.unlive)
    known = [
        r
        for r in walk.records.values()
        if r.body is not None and (r.offset not in free or r.offset in history.last)
    ]
    live = [
        r.key + r.body[: len(r.body) - len(walk.slack.get(r.offset, b""))]  # a keys list without its slack
        for r in known
    ]
    live += [body for offset, (_, body) in walk.envelopes.items() if offset not in free]
    live += _rebuilt(walk, orphans)
    trees = [r for r in known if r.klass == b"TTree"]
    orphaned = _orphaned(walk, orphans)
    share = sum(len(r.body) for r in trees) // TREE_SHARE
    share += sum(_moved_share(r, walk, history, (orphans, orphaned)) for r in trees)
    share += sum(_orphaned_share(walk, group, found) for group, found in orphans.items())
    kept = [(walk.records[at], p) for at, p in walk.payloads.items() if at not in free]
    keys = [r.key for r in walk.records.values() if r.offset not in free]
    ends = root_tails.ends(((r.key, p) for r, p in kept), keys)
    compressed = root_tails.metadata((r.key, p) for r, p in kept if r.klass in MOVED)
    listed = root_tails.keys(r.key for r in walk.records.values())  # what an older keys list names
    budget = Loose(LOOSE_STRETCHES * max(1, _page_lists(walk, free)), share)
    for offset in sorted(free):
        record = walk.records.get(offset)
        if offset in walk.gaps:
            gap = walk.gaps[offset]
            deleted = _deleted(gap, offset)
            rooted = gap[:4] == struct.pack(">i", -len(gap))  # ROOT's free gap
            stretch = gap[deleted or 4 * rooted :]
            if root_tails.written_over(stretch, offset + len(gap), ends):
                continue  # a deleted record's tail: the end of a live record written again
            older = root_tails.older_copy(stretch, compressed, offset)
            if older is not None:  # an older copy of compressed metadata, its start written over
                _covered(older[0], [older[1]], offset, Loose(LOOSE), HEAD)
                continue
            _covered(gap[deleted:], live, offset + deleted, budget, shared=not rooted, keys=listed)
        elif (
            record is not None
            and record.body is not None
            and record.klass in MOVED
            and not segments(record.body)
        ):
            _covered(record.key + record.body, live, offset, Loose(LOOSE), HEAD, keys=listed)
        elif (
            record is not None
            and record.body is not None
            and _identity(record.key) in history.trees
            and offset not in history.last
        ):
            # an older copy of a tree uproot moved (its basket arrays full), left whole
            _covered(record.key + record.body, live, offset, Loose(_tree_loose(record, walk, history)))
        elif record is not None:
            _deleted_record(record, history)
    for offset, slack in walk.slack.items():
        _covered(slack, live, offset + walk.records[offset].nbytes - len(slack), budget, shared=True)


@dataclass
class Loose:
    """The loose bytes free space may still hold (shared by the stretches of a file): any
    stretch's, then the TTree share, only for what uproot leaves."""

    left: int
    shared: int = 0


@dataclass(frozen=True)
class History:
    """What explains a whole record in free space: the live trees and the deleted ones
    (an older copy of one uproot moved) and, for a record deleted there, the file's
    directories and the span of its datimes (from the top directory's fDatimeC to its
    fDatimeM or the last live key's datime, the later)."""

    trees: frozenset[tuple[int, bytes]]  # live or deleted: (parent, key strings)
    last: frozenset[int]  # where a deleted tree's last copy is (_deleted_trees)
    branches: dict[tuple[int, bytes], int]  # (parent, tree) of baskets -> branches
    directories: frozenset[int]
    created: int
    latest: int


def _history(walk: RootWalk, free: set[int], unlive: dict[tuple[int, bytes], list[int]]) -> History:
    live = [r for r in walk.records.values() if r.offset not in free]
    deleted = _deleted_trees(walk, free, unlive)
    return History(
        frozenset(_identity(r.key) for r in live if r.klass == b"TTree")
        | frozenset(_identity(r.key) for r in deleted.values()),
        frozenset(deleted),
        Counter((parent, tree) for parent, tree, _ in walk.data.cycles),
        frozenset(r.offset for r in walk.records.values() if r.klass in DIRECTORIES),
        *_top_datimes(walk.records[walk.header.begin], live),
    )


def _deleted_trees(
    walk: RootWalk, free: set[int], unlive: dict[tuple[int, bytes], list[int]]
) -> dict[int, Record]:
    """The TTrees uproot's del left whole in free space, by position: of the whole TTree
    records of a key (class, name, title, parent) in free space, each that lists a basket
    no live tree and no other such copy lists (a tree's last copy lists the basket whose
    slot moved it, which its older copies lack; each deleted tree of the name, made again
    after the del, leaves one), and where no live tree has the key, the largest (uproot's
    basket arrays grow each time it moves a tree, so its last copy is its largest; the
    later one if two are equal). Each one's payload is a deleted record's
    (_deleted_record: the history must explain its key); the older copies uproot moved it
    from, whole or written over, are the remains of it, as of a live tree."""
    copies: dict[tuple[int, bytes], list[Record]] = {}
    for r in walk.records.values():
        if r.klass == b"TTree" and r.body is not None:
            copies.setdefault(_identity(r.key), []).append(r)
    deleted: dict[int, Record] = {}
    for found in copies.values():
        whole = [r for r in found if r.offset in free]
        name, _ = _tree_of(found[0], walk)
        group = (key_fields(found[0].key)[1], name)
        seeks = walk.data.seeks.get(group, array("q"))
        candidates = array("q", (seeks[i] for i in unlive.get(group, ())))
        lists = [_listed(candidates, r) for r in whole] if candidates else []
        for i, record in enumerate(whole if lists else ()):
            if lists[i] - set().union(*(listed for j, listed in enumerate(lists) if j != i)):
                deleted[record.offset] = record
        if whole and len(whole) == len(found):
            largest = max(whole, key=lambda r: (r.nbytes, r.offset))
            deleted[largest.offset] = largest
    return deleted


def _listed(seeks: array, copy: Record) -> set[int]:
    """The baskets (of seeks: their positions) a copy of a tree lists (fBasketSeek)."""
    missing = set(root_data.unlisted(seeks, [copy.body or b""]))
    return {seek for i, seek in enumerate(seeks) if i not in missing}


def _deleted_record(record: Record, history: History) -> None:
    """A whole record in free space that no live record explains (uproot's del leaves the
    record it deletes whole; ROOT negates its length): written while the file was, in one
    of its directories. Its key's datime lies between the file's creation and its last
    write (_top_datimes), its parent is a directory of the file and its cycle at least 1, as the
    writers give them. Its payload is a record's."""
    _, parent, cycle = key_fields(record.key)
    datime = _KEY.unpack_from(record.key)[3]
    if not history.created <= datime <= history.latest or parent not in history.directories or cycle < 1:
        raise Invalid(
            f"root: the record at {record.offset} in free space ({record.klass.decode('latin-1')}) is none "
            "the file's history explains: a record deleted there was written while the file was "
            "(its datime between the file's creation and its last write), in one of its directories, "
            "cycle 1 or more (copy the objects into a new file, e.g. with uproot)"
        )


def _top_datimes(top: Record, live: list[Record]) -> tuple[int, int]:
    """When the file was created and last written: the top directory's fDatimeC (after its
    TNamed: name and title, and its version), and the later of its fDatimeM and the last
    live key's datime. A job that deletes a tree it moved leaves no key as late as the
    tree's last copy, but the writer sets fDatimeM when it closes the file (uproot, ROOT).
    (0, the last key's) if the top directory is compressed."""
    latest = max((_KEY.unpack_from(r.key)[3] for r in live), default=0)
    if top.body is None:
        return 0, latest
    at = read_string(top.body, read_string(top.body, 0, "the top directory")[1], "the top directory")[1]
    created, modified = struct.unpack_from(">II", top.body.ljust(at + 10, b"\0"), at + 2)
    return created, max(latest, modified)


def _tree_loose(record: Record, walk: RootWalk, history: History) -> int:
    """The loose bytes an older copy of a tree, left whole, may hold: TREE_LOOSE and
    TREE_BRANCH a branch with baskets (each branch's counts, lengths and byte counts that
    changed when the tree moved)."""
    name, homes = _tree_of(record, walk)
    return TREE_LOOSE + TREE_BRANCH * sum(history.branches.get((home, name), 0) for home in homes)


def _moved_share(tree: Record, walk: RootWalk, history: History, deleted: tuple[dict, Counter]) -> int:
    """What an older copy of a tree (live, or a deleted one's last copy) written over may
    leave in the file's free space: a whole copy's loose bytes (_tree_loose) if uproot
    moved the tree, else nothing (one copy, however often it moved). Moved: uproot writes
    a tree's record at its first extend and, at its MOVES_AT-th, a new copy where the file
    has room for it, at its end as a rule: so a branch of it has MOVES_AT baskets or more
    and the baskets of its first MOVES_AT - 1 extends (as many a branch with baskets) lie
    before its record, where an unmoved tree's has only those before it that filled
    smaller free space there (the orphans of a tree deleted before it not counted:
    _orphaned_share)."""
    name, homes = _tree_of(tree, walk)
    orphans, orphaned = deleted  # the orphan baskets' indexes by (parent, tree); their count by branch
    before = 0
    for (home, of), seeks in walk.data.seeks.items():
        if of == name and home in homes:
            left = set(orphans.get((home, of), ()))
            before += sum(1 for i, seek in enumerate(seeks) if seek < tree.offset and i not in left)
    branches = _own_branches(walk, (name, homes), orphaned)
    moved = branches and max(branches.values()) >= MOVES_AT and before >= (MOVES_AT - 1) * len(branches)
    return _tree_loose(tree, walk, history) if moved else 0


def _own_branches(walk: RootWalk, tree: tuple[bytes, set[int]], orphaned: Counter) -> Counter:
    """The baskets of each branch of a tree (name, where its baskets may say it is) but
    the orphans of a tree deleted before it (_orphaned)."""
    name, homes = tree
    counts = Counter(
        {
            (home, branch): sum(counts) - orphaned[(home, of, branch)]
            for (home, of, branch), counts in walk.data.cycles.items()
            if of == name and home in homes
        }
    )
    return +counts  # branches with baskets of their own


def _rebuilt(walk: RootWalk, orphans: dict[tuple[int, bytes], list[int]]) -> list[bytes]:
    """The basket arrays of each deleted tree whose baskets are orphans, recomputed from
    them as uproot writes them (a branch's fBasketBytes, fBasketEntry and fBasketSeek:
    big-endian, in the order of the baskets' positions): what is left of its last copy
    where a later record was written over its head is runs of them and of the live tree."""
    out = []
    for group, found in orphans.items():
        branches: dict[int, list[tuple[int, int, int]]] = {}
        for i in found:
            number, _, _, nbytes, entries = root_data.shape(walk.data, group, i)
            branches.setdefault(number, []).append((walk.data.seeks[group][i], nbytes, entries))
        for baskets in branches.values():
            baskets.sort()
            first = [0]
            for _, _, entries in baskets:
                first.append(first[-1] + entries)
            out.append(b"".join(struct.pack(">i", nbytes) for _, nbytes, _ in baskets))
            out.append(b"".join(struct.pack(">q", entry) for entry in first))
            out.append(b"".join(struct.pack(">q", seek) for seek, _, _ in baskets))
    return out


def _orphaned(walk: RootWalk, orphans: dict[tuple[int, bytes], list[int]]) -> Counter:
    """The orphan baskets of each (parent, tree, branch)."""
    names = {number: branch for branch, number in walk.data.branches.items()}
    return Counter(
        (*group, names[root_data.shape(walk.data, group, i)[0]])
        for group, found in orphans.items()
        for i in found
    )


def _orphaned_share(walk: RootWalk, group: tuple[int, bytes], found: list[int]) -> int:
    """What a deleted tree whose baskets are orphans may leave in the file's free space:
    its last copy's loose bytes, written over (TREE_LOOSE and TREE_BRANCH a branch with
    orphan baskets: the counts and lengths that are not the live tree's), and as much
    again for its older copies if uproot moved it (a branch of MOVES_AT baskets or more)."""
    counts = Counter(root_data.shape(walk.data, group, i)[0] for i in found)
    copies = 2 if max(counts.values()) >= MOVES_AT else 1
    return copies * (TREE_LOOSE + TREE_BRANCH * len(counts))


def _tree_of(record: Record, walk: RootWalk) -> tuple[bytes, set[int]]:
    """A tree's name and where its baskets' keys may say it is: its directory, or the top
    one (root_data)."""
    parent, strings = _identity(record.key)
    name = read_string(strings, read_string(strings, 0, "a key")[1], "a key")[0]  # after the class
    return name, {parent, walk.header.begin}


def _identity(key: bytes) -> tuple[int, bytes]:
    """A key's parent and its strings (class, name, title) as they are written."""
    wide = struct.unpack_from(">h", key, 4)[0] == 1004
    return key_fields(key)[1], key[_KEY.size + (16 if wide else 8) :]


def _page_lists(walk: RootWalk, free: set[int]) -> int:
    """The live page list envelopes a live footer links to (its envelope link: the
    list's length, then its locator: length and position, little-endian)."""
    live = {at: envelope for at, envelope in walk.envelopes.items() if at not in free}
    footers = [body for _, body in live.values() if body[0] == _FOOTER]
    return sum(
        1
        for at, body in live.values()
        if body[0] == _PAGE_LIST and any(_LINK.pack(len(body), len(body), at) in footer for footer in footers)
    )


def segments(body: bytes) -> bool:
    """Whether body is a FreeSegments record's: segments [first, last] in increasing
    order, not overlapping (version 1, or 1001 with 64-bit positions past 2 GB)."""
    at, previous = 0, -1
    while at < len(body):
        large = body[at : at + 2] == b"\3\351"  # 1001
        layout = _SEGMENT_LARGE if large else _SEGMENT
        if at + layout.size > len(body) or not (large or body[at : at + 2] == b"\0\1"):
            return False
        _, first, last = layout.unpack_from(body, at)
        if not previous < first <= last:
            return False
        at, previous = at + layout.size, last
    return bool(body)


def _deleted(data: bytes, offset: int) -> int:
    """The length of the record ROOT deleted at the start of a free stretch (0: none):
    its length negated, the rest of its key as it was (naming this offset as its own).
    Its payload is a record's; what follows it in the stretch is free space."""
    if len(data) < _KEY.size + 8:
        return 0
    nbytes, version, _, _, keylen, _ = _KEY.unpack_from(data)
    seek = struct.unpack_from(">q" if version == 1004 else ">i", data, _KEY.size)[0]
    if version in (4, 1004) and seek == offset and _KEY.size < keylen <= -nbytes <= len(data):
        return -nbytes
    return 0


def _covered(  # noqa: PLR0913 - the checks' bounds
    data: bytes,
    live: list[bytes],
    offset: int,
    loose: Loose,
    head: int | None = None,
    shared: bool = False,
    keys: root_tails.Keys | None = None,
) -> None:
    """data is zeros, runs of live metadata and (with keys) keys of the file as an older
    keys list names them (root_tails.listed), but for loose bytes (taken from loose.left,
    then from loose.shared if `shared`), in its first `head` bytes if given."""
    spans = root_tails.listed(data, keys) if keys else []
    at, span = 0, 0
    while at < len(data):
        zeros = _ZEROS.match(data, at)
        if zeros:
            at = zeros.end()
            continue
        run = _longest(data, at, live)
        if run >= MIN_RUN:
            at += run
            continue
        while span < len(spans) and spans[span][1] <= at:
            span += 1
        if span < len(spans) and spans[span][0] <= at:  # inside a key of the file
            at = spans[span][1]
            continue
        if loose.left:
            loose.left -= 1
        elif shared and loose.shared:
            loose.shared -= 1
        else:
            raise _stray(offset, at)
        at += 1
        if head is not None and at > head:
            raise _stray(offset, at - 1)


def _stray(offset: int, at: int) -> Invalid:
    return Invalid(
        f"root: the free space at {offset} holds data that is not the remains of a record "
        f"the writer moved (free space is zeros, a record, or remains of the live metadata; "
        f"byte {offset + at} is none: a payload, or what is left of a deleted object "
        "written over, which vmguard cannot check: copy the objects into a new file)"
    )


def _longest(data: bytes, at: int, live: list[bytes]) -> int:
    """The length of the longest run of data from `at` found in a live record (0 if it is
    shorter than MIN_RUN and not the rest of data)."""

    def found(n: int) -> bool:
        piece = data[at : at + n]
        return any(piece in record for record in live)

    if at + MIN_RUN > len(data):  # the last piece: shorter, where a run was cut off
        return MIN_RUN if found(len(data) - at) else 0
    if not found(MIN_RUN):
        return 0
    low, high = MIN_RUN, MIN_RUN * 2
    while at + high <= len(data) and found(high):
        low, high = high, high * 2
    high = min(high, len(data) - at + 1)
    while high - low > 1:  # found(low), not found(high) (or past the end)
        middle = (low + high) // 2
        low, high = (middle, high) if found(middle) else (low, middle)
    return low
