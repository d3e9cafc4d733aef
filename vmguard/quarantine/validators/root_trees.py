"""What the file's trees explain in ROOT free space (root_remains.check): the live trees
and the ones uproot's del left whole (a deleted tree's last copy), the older copies uproot
moved them from, whole or written over, and how many loose bytes each may leave (the
counts, lengths and byte counts that changed when it moved); a whole record deleted in
free space, which the file's history (its directories, the span of its datimes) must
explain."""

from __future__ import annotations

import struct
from array import array
from collections import Counter
from dataclasses import dataclass

from . import root_data
from .root_model import CLOCKS, KEY, Record, RootWalk, key_fields, read_string, seconds, strings_at
from .stream import Invalid

DIRECTORIES = (b"TFile", b"TDirectory", b"TDirectoryFile")
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
# How far a deleted record's datime may lie outside the span of the file's own datimes:
# root_model.CLOCKS (hosts' local clocks). Each deleted record's datime so carries at most
# log2 of the span's seconds plus 2 x CLOCKS (17.5 bits in a file written in one second,
# 18.1 over a day).
_SPAN = f"{CLOCKS // 3600} h {CLOCKS % 3600 // 60} min"


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


def history(walk: RootWalk, free: set[int], unlive: dict[tuple[int, bytes], list[int]]) -> History:
    live = [r for r in walk.records.values() if r.offset not in free]
    deleted = _deleted_trees(walk, free, unlive)
    return History(
        frozenset(identity(r.key) for r in live if r.klass == b"TTree")
        | frozenset(identity(r.key) for r in deleted.values()),
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
    (deleted_record: the history must explain its key); the older copies uproot moved it
    from, whole or written over, are the remains of it, as of a live tree."""
    copies: dict[tuple[int, bytes], list[Record]] = {}
    for r in walk.records.values():
        if r.klass == b"TTree" and r.body is not None:
            copies.setdefault(identity(r.key), []).append(r)
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


def deleted_record(record: Record, history: History) -> None:
    """A whole record in free space that no live record explains (uproot's del leaves the
    record it deletes whole; ROOT negates its length): written while the file was, in one
    of its directories. Its key's datime is a date-time within CLOCKS of the span from the
    file's creation to its last write (_top_datimes: _written_while), its parent is a
    directory of the file and its cycle at least 1, as the writers give them. Its payload
    is a record's."""
    _, parent, cycle = key_fields(record.key)
    datime = KEY.unpack_from(record.key)[3]
    if not _written_while(datime, history) or parent not in history.directories or cycle < 1:
        raise Invalid(
            f"root: the record at {record.offset} in free space ({record.klass.decode('latin-1')}) is none "
            "the file's history explains: a record deleted there was written while the file was "
            f"(its datime a date-time from {_SPAN} before the file's creation to {_SPAN} after "
            "its last write: hosts' local clocks), in one of its directories, "
            "cycle 1 or more (copy the objects into a new file, e.g. with uproot)"
        )


def _written_while(datime: int, history: History) -> bool:
    """Whether a key's datime (a packed TDatime) could be a job's that wrote the file: a
    date-time from CLOCKS before the file's creation to CLOCKS after its last write.
    uproot and ROOT date keys with the host's local time (datetime.now(), TDatime), so a
    job on a host in another time zone, one whose clock is off, or one host across a
    daylight-saving change (its clock back an hour in October) dates keys before the
    file's fDatimeC or after its last write; a job's datime is its true time plus its
    host's offset, the file's creation and last write those of their jobs, so the record's
    lies within one offset difference of each. A compressed top directory gives no
    creation (0): no lower bound, as before."""
    at, created, latest = (seconds(d) for d in (datime, history.created, history.latest))
    if at is None or latest is None:
        return False
    return (history.created == 0 or created is not None and created - CLOCKS <= at) and at <= latest + CLOCKS


def _top_datimes(top: Record, live: list[Record]) -> tuple[int, int]:
    """When the file was created and last written: the top directory's fDatimeC (after its
    TNamed: name and title, and its version), and the later of its fDatimeM and the last
    live key's datime. A job that deletes a tree it moved leaves no key as late as the
    tree's last copy, but the writer sets fDatimeM when it closes the file (uproot, ROOT).
    (0, the last key's) if the top directory is compressed."""
    latest = max((KEY.unpack_from(r.key)[3] for r in live), default=0)
    if top.body is None:
        return 0, latest
    at = read_string(top.body, read_string(top.body, 0, "the top directory")[1], "the top directory")[1]
    created, modified = struct.unpack_from(">II", top.body.ljust(at + 10, b"\0"), at + 2)
    return created, max(latest, modified)


def tree_loose(record: Record, walk: RootWalk, history: History) -> int:
    """The loose bytes an older copy of a tree, left whole, may hold: TREE_LOOSE and
    TREE_BRANCH a branch with baskets (each branch's counts, lengths and byte counts that
    changed when the tree moved)."""
    name, homes = _tree_of(record, walk)
    return TREE_LOOSE + TREE_BRANCH * sum(history.branches.get((home, name), 0) for home in homes)


def moved_share(tree: Record, walk: RootWalk, history: History, deleted: tuple[dict, Counter]) -> int:
    """What an older copy of a tree (live, or a deleted one's last copy) written over may
    leave in the file's free space: a whole copy's loose bytes (tree_loose) if uproot
    moved the tree, else nothing (one copy, however often it moved). Moved: uproot writes
    a tree's record at its first extend and, at its MOVES_AT-th, a new copy where the file
    has room for it, at its end as a rule: so a branch of it has MOVES_AT baskets or more
    and the baskets of its first MOVES_AT - 1 extends (as many a branch with baskets) lie
    before its record, where an unmoved tree's has only those before it that filled
    smaller free space there (the orphans of a tree deleted before it not counted:
    orphaned_share)."""
    name, homes = _tree_of(tree, walk)
    orphans, orphaned = deleted  # the orphan baskets' indexes by (parent, tree); their count by branch
    before = 0
    for (home, of), seeks in walk.data.seeks.items():
        if of == name and home in homes:
            left = set(orphans.get((home, of), ()))
            before += sum(1 for i, seek in enumerate(seeks) if seek < tree.offset and i not in left)
    branches = _own_branches(walk, (name, homes), orphaned)
    moved = branches and max(branches.values()) >= MOVES_AT and before >= (MOVES_AT - 1) * len(branches)
    return tree_loose(tree, walk, history) if moved else 0


def _own_branches(walk: RootWalk, tree: tuple[bytes, set[int]], orphaned: Counter) -> Counter:
    """The baskets of each branch of a tree (name, where its baskets may say it is) but
    the orphans of a tree deleted before it (orphaned)."""
    name, homes = tree
    counts = Counter(
        {
            (home, branch): sum(counts) - orphaned[(home, of, branch)]
            for (home, of, branch), counts in walk.data.cycles.items()
            if of == name and home in homes
        }
    )
    return +counts  # branches with baskets of their own


def orphaned(walk: RootWalk, orphans: dict[tuple[int, bytes], list[int]]) -> Counter:
    """The orphan baskets of each (parent, tree, branch)."""
    names = {number: branch for branch, number in walk.data.branches.items()}
    return Counter(
        (*group, names[root_data.shape(walk.data, group, i)[0]])
        for group, found in orphans.items()
        for i in found
    )


def orphaned_share(walk: RootWalk, group: tuple[int, bytes], found: list[int]) -> int:
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
    parent, strings = identity(record.key)
    name = read_string(strings, read_string(strings, 0, "a key")[1], "a key")[0]  # after the class
    return name, {parent, walk.header.begin}


def identity(key: bytes) -> tuple[int, bytes]:
    """A key's parent and its strings (class, name, title) as they are written."""
    return key_fields(key)[1], key[strings_at(key) :]
