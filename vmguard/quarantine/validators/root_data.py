"""The keys of a ROOT file's data records, which no keys list holds (readers find them
through their tree or RNTuple), pinned to what ROOT and uproot write; and the offsets
array of an uncompressed basket of variable-size entries.

A TTree's basket (TBasket::TBasket, uproot's write_np_basket): its branch's name, its
tree's name as title, as parent its tree's directory (uproot) or the top directory
(ROOT's TKey::Create gives the file's, wherever the tree lives), and as cycle 0
(uproot) or the basket's number in its branch (ROOT: fWriteBasket, 0, 1, 2... in the
order it writes them). An RNTuple's blob (uproot's RBlob_Key): no name, no title, cycle
0, parent 0. At the end (check) each basket's tree is a record of the file named as its
title and, where that tree's payload is known (uncompressed, uproot's; zlib or xz blocks,
inflated), its name is a string of that tree (a branch's) and its position one the tree
lists (fBasketSeek)."""

from __future__ import annotations

import struct
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from . import root_codecs, root_model
from .root_model import FMT, KEY, DataKeys, Record, RootWalk, key_fields, read_string, strings_at, windows
from .stream import Invalid, Stream

MAX_BRANCHES = 100_000  # distinct (tree, branch) pairs of baskets
_CHUNK = 1 << 16  # offsets read this many at a time
_SEARCHED = 256  # up to this many baskets a tree: each position searched for (memchr speed)
_PAIRS = 16  # pairs of a branch's orphans searched for in free space, its first
_SEARCH = 1 << 31  # bytes of free space searched for them, at most, a file
TREES = (b"TTree", b"TNtuple", b"TNtupleD")  # the classes whose baskets they are
SHAPE = 5  # numbers kept a basket (shape)
_LITTLE = struct.pack("=i", 1) != struct.pack(">i", 1)


def basket_key(
    keys: DataKeys,
    offset: int,
    fields: tuple[int, int],
    names: tuple[bytes, bytes],
    begin: int,
    shape: tuple[int, int, int],
) -> None:
    """A basket's key: (cycle, parent) and (branch, tree) as its name and title; shape its
    datime, Nbytes and fNevBuf."""
    cycle, parent = fields
    branch, tree = names
    if parent < begin or not branch or not tree or cycle < 0:
        raise Invalid(
            f"root: the basket at {offset} names parent {parent}, cycle {cycle}, branch {branch[:40]!r} "
            f"and tree {tree[:40]!r}: ROOT and uproot write a directory, the basket's number in its "
            "branch, the branch's and the tree's names (rewrite the file with uproot)"
        )
    counts = keys.cycles.get((parent, tree, branch))
    if counts is None:
        if len(keys.cycles) >= MAX_BRANCHES:
            raise Invalid(f"root: baskets of more than {MAX_BRANCHES} branches (not supported)")
        counts = keys.cycles[(parent, tree, branch)] = array("i")
    # ROOT numbers a branch's baskets 0, 1, 2... as it writes them (several trees of one
    # name, in several directories, interleave such runs); uproot writes 0.
    if cycle == len(counts):
        counts.append(0)
    if cycle > len(counts) or (cycle and counts[cycle - 1] <= counts[cycle]):
        raise Invalid(
            f"root: the basket at {offset} (branch {branch[:40]!r}) has cycle {cycle} before as many "
            f"of cycle {cycle - 1}: ROOT numbers a branch's baskets 0, 1, 2... as it writes them, "
            "uproot writes 0 (rewrite the file with uproot)"
        )
    counts[cycle] += 1
    keys.seeks.setdefault((parent, tree), array("q")).append(offset)
    number = keys.branches.setdefault(branch, len(keys.branches))
    keys.shapes.setdefault((parent, tree), array("q")).extend((number, cycle, *shape))


def blob_key(offset: int, fields: tuple[int, int], names: tuple[bytes, bytes]) -> None:
    """An RNTuple blob's key, as uproot writes it: no name or title, cycle 0, parent 0."""
    if fields != (0, 0) or names != (b"", b""):
        raise Invalid(
            f"root: the RBlob at {offset} has cycle {fields[0]}, parent {fields[1]}, name "
            f"{names[0][:40]!r}, title {names[1][:40]!r}: uproot writes an RNTuple's blobs with "
            "cycle 0, parent 0 and no name or title (rewrite the file with uproot)"
        )


def offsets(stream: Stream, offset: int, keylen: int, count: int, last: int) -> None:
    """An uncompressed basket's offsets array, after its entries: its length fNevBuf + 1,
    then where each entry starts (from the key's start: the first at KeyLen, none before
    the previous one or past fLast), then fLast (uproot) or 0 (ROOT leaves the slot it
    never filled)."""
    length = struct.unpack(">i", stream.read(4, "an offsets array", FMT))[0]
    if length != count + 1:
        raise _offsets(offset, f"holds {length} offsets, not fNevBuf + 1 ({count + 1})")
    first = struct.unpack(">i", stream.peek(4))[0]
    if count and first != keylen:
        raise _offsets(offset, f"starts at {first}, not the key's length ({keylen})")
    previous, left = keylen, count + 1
    while left:
        take = min(left, _CHUNK)
        values = array("i", stream.read(4 * take, "an offsets array", FMT))
        if _LITTLE:
            values.byteswap()
        left -= take
        entries = values if left else values[:-1]
        if entries and entries[0] < previous:
            raise _offsets(offset, "has offsets out of order")
        listed = entries.tolist()
        if listed != sorted(listed) or (listed and listed[-1] > last):  # sorted: C speed
            raise _offsets(offset, f"has offsets out of order or past fLast ({last})")
        if entries:
            previous = entries[-1]
        if not left and values[-1] not in (0, last):
            raise _offsets(offset, f"ends with {values[-1]}, not fLast ({last}, uproot) or 0 (ROOT)")


def _offsets(offset: int, rule: str) -> Invalid:
    return Invalid(
        f"root: the offsets array of the basket at {offset} {rule}: ROOT and uproot write where "
        "each entry starts (rewrite the file with uproot)"
    )


@dataclass(frozen=True)
class Unlisted:
    """The baskets (their indexes in keys.seeks) of each (parent, tree) that no live tree
    lists (a deleted tree's, listed by its copy in free space, or orphans), and of those
    the orphans, which no tree lists."""

    unlive: dict[tuple[int, bytes], list[int]]
    orphans: dict[tuple[int, bytes], list[int]]


def check(walk: RootWalk, free: set[int]) -> Unlisted:
    """Each basket's tree is a record named as its title, of the directory the basket
    names as parent (uproot) or of any directory where the basket names the top one
    (ROOT); where that tree's payload is known (uncompressed, uproot's; or zlib or xz),
    the basket's position is one of its fBasketSeek and its branch a string of it, or the
    basket one uproot's del left of a deleted tree (_deleted)."""
    keys, begin = walk.data, walk.header.begin
    trees: dict[bytes, list[tuple[int, bool, bytes | None]]] = {}
    for record in walk.records.values():
        if record.klass in TREES:
            home = key_fields(record.key)[1]
            trees.setdefault(key_name(record.key), []).append(
                (home, record.offset in free, tree_payload(record, keys))
            )
    latest = max((_datime(r.key) for r in walk.records.values() if r.offset not in free), default=0)
    out, found = Unlisted({}, {}), {}
    for (parent, tree), seeks in keys.seeks.items():
        bodies = _bodies(trees, parent, tree, begin)
        if None in bodies:
            continue
        unlive = unlisted(seeks, _bodies(trees, parent, tree, begin, free=False))
        left = array("q", (seeks[i] for i in unlive))
        orphans = [unlive[k] for k in unlisted(left, _bodies(trees, parent, tree, begin, free=True))]
        chance = _foreign(keys, (parent, tree), orphans, bodies)
        unlive, orphans = sorted({*unlive, *chance}), sorted({*orphans, *chance})
        _named(keys, (parent, tree), set(orphans), bodies)
        out.unlive[(parent, tree)] = unlive
        if orphans:
            found[(parent, tree)] = (orphans, bodies)
    listed = _freed(keys, {group: orphans for group, (orphans, _) in found.items()}, walk.gaps.values())
    for group, (orphans, bodies) in found.items():
        created = _created(walk.records, free, *group)
        _deleted(keys, group, orphans, Evidence(bodies, created, latest, group in listed))
        out.orphans[group] = orphans
    return out


def _foreign(keys: DataKeys, group: tuple[int, bytes], orphans: list[int], bodies: list[bytes]) -> list[int]:
    """The baskets of each branch no tree of the group's name has of which some are
    orphans: a deleted tree's, all (its position found in a tree's bytes by chance, as any
    8 bytes, lists none of them). A branch all of whose baskets a tree lists is refused
    (_named)."""
    shapes, names = keys.shapes[group], {number: branch for branch, number in keys.branches.items()}
    numbers = {shapes[SHAPE * i] for i in orphans}
    foreign = {n for n in numbers if not any(_string(names[n]) in body for body in bodies)}
    return [i for i in range(len(keys.seeks[group])) if shapes[SHAPE * i] in foreign]


def _named(keys: DataKeys, group: tuple[int, bytes], orphans: set[int], bodies: list[bytes]) -> None:
    """Each basket a tree lists names a branch of it (a string of its payload): a tree
    lists its own branches' baskets. (An orphan's branch is _deleted's question.)"""
    shapes, names = keys.shapes[group], {number: branch for branch, number in keys.branches.items()}
    listed = {shapes[SHAPE * i] for i in range(len(keys.seeks[group])) if i not in orphans}
    for number in sorted(listed):
        branch = names[number]
        if not any(_string(branch) in body for body in bodies):
            raise Invalid(
                f"root: baskets name the branch {branch[:40]!r}, which is no branch of the tree "
                f"{group[1][:40]!r} (rewrite the file with uproot)"
            )


def _bodies(
    trees: dict[bytes, list[tuple[int, bool, bytes | None]]],
    parent: int,
    tree: bytes,
    begin: int,
    free: bool | None = None,
) -> list[bytes | None]:
    """The payloads (None: not known) of the trees baskets naming (parent, tree) belong to
    (those in free space or live only, if `free` says which); none where no record of the
    file is that tree (a deleted one's last copy written over: _deleted)."""
    found = [(gone, body) for where, gone, body in trees.get(tree, ()) if parent in (begin, where)]
    return [body for gone, body in found if free is None or gone == free]


def tree_payload(record: Record, keys: DataKeys) -> bytes | None:
    """A tree's payload: uncompressed (uproot's), or its blocks inflated (ROOT's, any codec:
    root_codecs.inflated, up to its object length); None for a TNtuple's (not kept)."""
    if record.body is not None or record.offset not in keys.packed:
        return record.body
    return root_codecs.inflated(keys.packed[record.offset], record.offset, KEY.unpack_from(record.key)[2])


def unlisted(seeks: array, bodies: list[bytes]) -> list[int]:
    """The baskets (their indexes in seeks) no tree lists (a branch's fBasketSeek: its
    position, 8 bytes big-endian), in the tree or an older copy of it."""
    known: set[int] = set()
    if len(seeks) > _SEARCHED:  # many: every window of the trees at once
        for body in bodies:
            known.update(windows(body, big=True))
    return [
        i
        for i, seek in enumerate(seeks)
        if not (seek in known if known else any(struct.pack(">q", seek) in body for body in bodies))
    ]


def shape(keys: DataKeys, group: tuple[int, bytes], i: int) -> tuple[int, ...]:
    """The i-th basket of a (parent, tree): its branch's number, cycle, datime, Nbytes and
    fNevBuf."""
    return tuple(keys.shapes[group][SHAPE * i : SHAPE * i + SHAPE])


def _created(records: dict[int, Record], free: set[int], parent: int, tree: bytes) -> int | None:
    """The datime of the live TTree `tree` of the directory at parent (uproot gives a tree's
    key the time it made or last moved it), None if there is none."""
    return max(
        (
            _datime(r.key)
            for r in records.values()
            if r.klass == b"TTree"
            and r.offset not in free
            and key_fields(r.key)[1] == parent
            and key_name(r.key) == tree
        ),
        default=None,
    )


@dataclass(frozen=True)
class Evidence:
    """What the file shows of a (parent, tree) whose baskets are orphans: the payloads of
    its trees (live or in free space; none if no record is that tree), the datime of its
    live tree (None: none is live), the file's last key datime, and whether free space
    lists two of its orphans (_freed)."""

    bodies: list[bytes]
    created: int | None
    latest: int
    freed: bool


def _deleted(keys: DataKeys, group: tuple[int, bytes], orphans: list[int], seen: Evidence) -> None:
    """Baskets no tree lists are what uproot's del leaves when a job deletes a tree: it
    frees the tree's record alone, which a later record may be written over. They are
    uproot's keys (cycle 0, their tree's directory as parent), and the file proves a tree
    of theirs was deleted, by one of:
    - orphans of every branch of the live tree of their name, no other, written no later
      than it (session 35: the tree made again with the same branches, over the deleted
      one's record); a branch's may be a basket of an orphan's extend that a tree's
      bytes list by chance (_extend, session 38);
    - orphans of a branch no tree of their name has (uproot writes baskets only of its
      tree's branches: the deleted tree had other branches), as many of each such branch
      as of any (a tree's branches are extended together), written no later than the live
      tree of their name;
    - two orphans of a branch listed in free space in order, as a tree's fBasketSeek lists
      them (the remains of the deleted tree's record, or of an older copy of it: also where
      no tree of the name was made again, or the live one is an older twin), as many of
      each branch no tree of the name has as of any, written no later than the file's
      last key.
    Written no later: dated at most root_model.CLOCKS after it (written_by; session 39: the
    job that made the tree again may run on a host whose clock is behind the deleting
    one's, an hour west, across a DST change, 9 h: 22 of 600 random workflows whose jobs
    ran at such clocks were refused for orphans dated after the tree).
    (Orphans of a branch a tree has may be fewer: a position may be found in a tree's
    bytes by chance, as any 8 bytes.) Their payloads are data, as a deleted record's
    (docs: what exactness leaves). Anything else is an orphan no reader reads: refused."""
    shapes, seeks = keys.shapes[group], keys.seeks[group]
    rows = [shape(keys, group, i) for i in orphans]
    counts = Counter(number for number, *_ in rows)
    names = {number: branch for branch, number in keys.branches.items()}
    foreign = {n for n in counts if not any(_string(names[n]) in body for body in seen.bodies)}
    whole = all(counts[n] == max(counts.values()) for n in foreign)
    live = seen.created is not None
    if all(cycle == 0 for _, cycle, _, _, _ in rows):
        dates = max(datime for _, _, datime, _, _ in rows)
        branches = {shapes[i] for i in range(0, len(shapes), SHAPE)}
        every = not foreign and set(counts) | _extend(shapes, orphans, counts) == branches
        if (live and root_model.written_by(dates, seen.created) and (every or (foreign and whole))) or (
            root_model.written_by(dates, seen.latest) and whole and seen.freed
        ):
            return
    if not seen.bodies:
        raise Invalid(
            f"root: baskets name the tree {group[1][:40]!r}, which is no tree of the file (a basket "
            "belongs to a tree; a deleted one's shows in free space: rewrite the file with uproot)"
        )
    raise Invalid(
        f"root: the basket at {seeks[orphans[0]]} is in no list of its tree's baskets (fBasketSeek): an "
        "orphan record no reader reads (uproot's del leaves a deleted tree's baskets: uproot's keys, "
        "written before the tree of its name, of every branch of it, of branches it does not have, or "
        "listed in free space; rewrite the file with uproot)"
    )


def _extend(shapes: array, orphans: list[int], counts: Counter) -> set[int]:
    """The branches without orphans whose deleted basket a tree's bytes list by chance (as
    any 8 bytes: 256, the file name a character longer or shorter; session 38, attack n
    root): uproot extends a tree's branches together, one basket each an extend, cycle 0,
    the same entries (fNevBuf) and second (datime), so such a branch shows as many baskets
    listed as an orphaned branch shows listed and orphaned together, and one of them has an
    orphan's extend's shape, the orphan dated before every basket its branch lists (the
    deleted tree's extend came before the live tree's). (Orphans added beside a live tree,
    or of a tree made again with more branches, leave no branch with a basket more; a live
    tree's basket unlisted is no earlier than all it lists but its first extend's, which
    orphans of every branch, already admitted, would carry as well: refused.)"""
    rows = [tuple(shapes[i : i + SHAPE]) for i in range(0, len(shapes), SHAPE)]
    gone = set(orphans)
    listed = Counter(row[0] for i, row in enumerate(rows) if i not in gone)
    first = {}  # each branch's earliest listed basket: a deleted tree's extend is earlier
    for i, (number, _, datime, _, _) in enumerate(rows):
        if i not in gone:
            first[number] = min(first.get(number, datime), datime)
    early = [rows[i] for i in gone if rows[i][2] < first.get(rows[i][0], rows[i][2] + 1)]
    made = {(datime, count) for _, cycle, datime, _, count in early if not cycle}
    written = {listed[number] + counts[number] for number in counts}
    return {
        number
        for i, (number, cycle, datime, _, count) in enumerate(rows)
        if i not in gone and not cycle and (datime, count) in made and {listed[number]} == written
    }


def _freed(keys: DataKeys, orphans: dict[tuple[int, bytes], list[int]], gaps: Iterable[bytes]) -> set:
    """The (parent, tree) of which free space holds two orphans of one branch in order, 8
    bytes big-endian each, side by side: a freed tree record's fBasketSeek listed them.
    What uproot leaves of a list is its record's tail (the last branch's list, from its
    first entry) or an older copy's (10 slots): so the first _PAIRS pairs of each branch
    are searched for, memchr speed, until _SEARCH bytes were searched (what a crafted
    file can cost: it is then refused)."""
    stretches = [gap for gap in gaps if gap.count(0) < len(gap)]  # zeros list nothing
    budget = _SEARCH
    proven: set[tuple[int, bytes]] = set()
    for group, found in orphans.items() if stretches else ():
        branches: dict[int, list[int]] = {}
        for i in found:
            branches.setdefault(keys.shapes[group][SHAPE * i], []).append(keys.seeks[group][i])
        for positions in branches.values():
            positions.sort()
            for a, b in zip(positions[:_PAIRS], positions[1 : _PAIRS + 1], strict=False):
                if group in proven or budget <= 0:
                    break
                budget -= sum(len(gap) for gap in stretches)
                if any(struct.pack(">qq", a, b) in gap for gap in stretches):
                    proven.add(group)
    return proven


def _datime(key: bytes) -> int:
    """A key's datime."""
    return struct.unpack_from(">I", key, 10)[0]


def key_name(key: bytes) -> bytes:
    """A key's name (after its class)."""
    at = read_string(key, strings_at(key), "a key")[1]
    return read_string(key, at, "a key")[0]


def _string(text: bytes) -> bytes:
    """text as ROOT writes a string: a length byte (255 and 4 bytes past 254), the bytes."""
    head = bytes([len(text)]) if len(text) < 255 else b"\xff" + struct.pack(">i", len(text))
    return head + text
