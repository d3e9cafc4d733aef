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
from dataclasses import dataclass

from . import root_data, root_keylists, root_model, root_rntuple, root_tails, root_trees, root_versions
from .root_model import KEY, RootWalk, key_fields
from .stream import Invalid

MIN_RUN = 24
# The metadata uproot moves when it outgrows its place: a free record of another class is
# one deleted (del f[name]), its payload a record's like a live one's.
MOVED = (b"TList", b"TFile", b"TDirectory", b"TDirectoryFile")
LOOSE = 24  # bytes of a moved record (its key whole) that are neither zeros nor in a run,
HEAD = 96  # all in its first HEAD bytes (its key and list header)
# Runs of a live keys list behind a keys list's versions: the rest of one version the
# reader could not follow (it ended on a key the file no longer holds, a deleted record's
# written over). Measured, session 38: 17 of the 404 published of 600 random uproot
# workflows use one, none needs a second.
LISTED_RUNS = 1
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
# and an RNTuple's older footers (uproot writes a page list and moves the footer on each
# extend, and writes the next blobs over the older footer's head): the tail of each, its
# checksum (8 bytes, of bytes no longer there) and the lengths and counts that changed;
# so LOOSE_STRETCHES bytes more per live page list after the first (one an extend wrote).
_FOOTER, _PAGE_LIST = 2, 3
_LINK = struct.Struct("<QiQ")
_SEGMENT = struct.Struct(">hii")
_SEGMENT_LARGE = struct.Struct(">hqq")
_ZEROS = re.compile(b"\0+")
_VERSIONS = re.compile(b"(?=\0\4|\3\354)..", re.DOTALL)


def check(walk: RootWalk, free: set[int], baskets: root_data.Unlisted) -> None:
    """Each free stretch, free uncompressed record and keys list's slack; baskets those
    no live tree lists (root_data): a deleted tree's, listed by its copy in free space, or
    orphans uproot's del left of a tree made again under its name, whose last copy may
    have been written over."""
    orphans = baskets.orphans
    history = root_trees.history(walk, free, baskets.unlive)
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
    orphaned = root_trees.orphaned(walk, orphans)
    share = sum(len(r.body) for r in trees) // TREE_SHARE
    share += sum(root_trees.moved_share(r, walk, history, (orphans, orphaned)) for r in trees)
    share += sum(root_trees.orphaned_share(walk, group, found) for group, found in orphans.items())
    kept = [(walk.records[at], p) for at, p in walk.payloads.items() if at not in free]
    keys = [r.key for r in walk.records.values() if r.offset not in free]
    ends = root_tails.ends(((r.key, p) for r, p in kept), keys)
    compressed = root_tails.metadata((r.key, p) for r, p in kept if r.klass in MOVED)
    root_keylists.older_lists(walk, free, {o for o in free if segments(_body(walk, o))})
    listed = root_keylists.history(walk, free, MOVED)  # what older keys lists hold
    budget = Loose(LOOSE_STRETCHES * max(1, _page_lists(walk, free)), share)
    anchors = root_rntuple.written_over(walk, free)  # deleted RNTuples' anchors, written over
    for offset in sorted(free):
        record = walk.records.get(offset)
        if offset in anchors:
            continue
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
            rest = root_keylists.zeroed(gap[deleted:], 0, listed)  # an older keys list's tail
            _covered(rest, live, offset + deleted, budget, shared=not rooted)
        elif (
            record is not None
            and record.body is not None
            and record.klass in MOVED
            and not segments(record.body)
        ):
            _covered(root_keylists.older_list(record, walk, free, listed), live, offset, Loose(LOOSE), HEAD)
        elif (
            record is not None
            and record.body is not None
            and root_trees.identity(record.key) in history.trees
            and offset not in history.last
        ):
            # an older copy of a tree uproot moved (its basket arrays full), left whole
            loose = Loose(root_trees.tree_loose(record, walk, history))
            _covered(record.key + record.body, live, offset, loose)
        elif record is not None:
            root_trees.deleted_record(record, history)
    lists = [body for r, body in zip(known, live, strict=False) if r.offset in walk.lists]
    others = [body for r, body in zip(known, live, strict=False) if r.offset not in walk.lists]
    others += live[len(known) :]
    for offset, slack in walk.slack.items():
        at = offset + walk.records[offset].nbytes - len(slack)
        if offset in walk.lists:  # a keys list: its older versions, then what its place held
            _behind_list(walk, offset, (slack, at), listed, budget, (others, lists))
        else:  # the StreamerInfo's: what the space held before
            _covered(root_keylists.zeroed(slack, 0, listed), live, at, budget, shared=True)


def _behind_list(
    walk: RootWalk,
    offset: int,
    where: tuple[bytes, int],
    listed: root_keylists.Keys,
    budget: Loose,
    live: tuple[list[bytes], list[bytes]],
) -> None:
    """A live keys list's slack: its older versions (root_versions), then the rest of a
    version the reader could not follow (one that ended on a key the file no longer
    holds) and what the list's place held before it was written there: nothing behind
    the top list uproot.create allocated and never moved (root_versions.fresh), else
    runs of the live metadata but the keys lists'; and at most LISTED_RUNS runs of a live
    keys list (copies of keys the file holds: versions() alone reads them), and the
    file's loose bytes."""
    slack, at = where
    directory, last = walk.lists[offset]
    affords = (budget.left + budget.shared) // listed.cost
    writers = root_versions.writers(walk)
    slack, shorter = root_versions.versions(slack, directory, last, listed, affords, writers)
    _charge(budget, shorter * listed.cost, at)
    others, lists = live  # the live metadata but the keys lists, and the live keys lists
    if root_versions.first_place(walk, offset):
        rewritten = writers or bool(listed.deleted.get(directory))
        stray = root_versions.fresh(slack, listed, rewritten, writers)
        if stray >= 0:
            raise _stray(at, stray)
        others = []  # the place held nothing: what is left is of versions (keys) alone
    trial = Loose(budget.left, budget.shared)
    try:
        _covered(slack, others, at, trial, shared=True, rationed=Rationed(lists, LISTED_RUNS, listed))
    except Invalid:  # copies of keys dated in another second than the live key: once more so
        slack, redated = _redated(slack, walk, directory, others + lists)
        _charge(budget, redated, at)
        _covered(slack, others, at, budget, shared=True, rationed=Rationed(lists, LISTED_RUNS, listed))
    else:
        budget.left, budget.shared = trial.left, trial.shared


def _redated(data: bytes, walk: RootWalk, directory: int, live: list[bytes]) -> tuple[bytes, int]:
    """data with the datime of each copy of a key of this directory naming a record's
    position (its key's but for lengths, datime, class, name and title: a record deleted
    and written over by it, whose key an older version of the list holds) set to that
    record's, where it is a date-time of the file's history (within CLOCKS of its
    datimes); and what naming those datimes costs in loose bytes (log2 of the history's
    seconds each). Where the jobs share one second the copy is a run of the live key as
    it is (session 39: jobs a minute apart, strings-100 of bench_root_del_sweep --apart)."""
    stamps = [root_model.seconds(KEY.unpack_from(r.key)[3]) for r in walk.records.values()]
    known = [s for s in stamps if s is not None]
    if not known:
        return data, 0
    low, high = min(known) - root_model.CLOCKS, max(known) + root_model.CLOCKS
    cost = ((high - low).bit_length() + 7) // 8
    out, spent = bytearray(data), 0
    for found in _VERSIONS.finditer(data, 4, max(4, len(data) - KEY.size - 4)):  # a key's version
        p = found.start() - 4
        large = found.group() == b"\3\354"
        seek, pdir = struct.unpack_from(">qq" if large else ">ii", data.ljust(p + 34, b"\0"), p + 18)
        record = walk.records.get(seek)
        if record is None or pdir != directory or key_fields(record.key)[1] != directory:
            continue
        datime, own = KEY.unpack_from(data, p)[3], KEY.unpack_from(record.key)[3]
        when = root_model.seconds(datime)
        head = data[p : p + KEY.size + 8]  # up to its fSeekPdir: a run of live metadata as it is?
        if datime != own and when is not None and low <= when <= high and not any(head in r for r in live):
            out[p + 10 : p + 14] = record.key[10:14]
            spent += cost
    return bytes(out), spent


@dataclass
class Loose:
    """The loose bytes free space may still hold (shared by the stretches of a file): any
    stretch's, then the TTree share, only for what uproot leaves."""

    left: int
    shared: int = 0


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


def _body(walk: RootWalk, offset: int) -> bytes:
    """The payload of the uncompressed record at offset (b"": none)."""
    record = walk.records.get(offset)
    return record.body or b"" if record is not None else b""


def _deleted(data: bytes, offset: int) -> int:
    """The length of the record ROOT deleted at the start of a free stretch (0: none):
    its length negated, the rest of its key as it was (naming this offset as its own).
    Its payload is a record's; what follows it in the stretch is free space."""
    if len(data) < KEY.size + 8:
        return 0
    nbytes, version, _, _, keylen, _ = KEY.unpack_from(data)
    seek = struct.unpack_from(">q" if version == 1004 else ">i", data, KEY.size)[0]
    if version in (4, 1004) and seek == offset and KEY.size < keylen <= -nbytes <= len(data):
        return -nbytes
    return 0


@dataclass
class Rationed:
    """Runs of these records (the live keys lists) count only `left` times (where no
    other run is found); once they are spent, a byte that lies in another run of them
    (`another`) is refused, not paid for as a loose byte: the one home of "at most
    LISTED_RUNS runs of a live keys list" (session 39, attack o: two runs in a chosen
    order, or keys repeated, passed where the longest match ran from one into the next
    and loose bytes paid for the rest). What uproot leaves past it is the end of an older
    version that ended on a key the counted run ends on (the list's last key then), a
    tail of that key up to its end: loose bytes still pay for each of its bytes."""

    sources: list[bytes]
    left: int
    keys: root_keylists.Keys
    last: frozenset[bytes] = frozenset()  # the keys the counted run ends on
    seen: int = -1  # the pieces starting up to here are judged (each once: a slack's bytes)

    def count(self, data: bytes, at: int, run: int) -> None:
        """Count the run data[at : at + run]: the keys the last key end in it ends."""
        self.left -= 1
        for stop in range(at + run, at, -1):
            found = self.keys.ends.get(data[max(at, stop - root_keylists.END) : stop], ())
            ending = {k for k in found if k.endswith(data[max(at, stop - len(k)) : stop])}
            if ending:
                self.last = frozenset(ending)
                return

    def another(self, data: bytes, at: int, live: list[bytes]) -> bool:
        """Whether byte `at` lies in a run of the sources no counted run holds: MIN_RUN
        bytes of one (ending on a byte that is not zero: a piece of a list that runs on
        into zeros is the end of one counted) found in no other live record, that is no
        tail of a key the counted run ends on, running to its end."""
        first, self.seen = max(0, at - MIN_RUN + 1, self.seen + 1), max(self.seen, at)
        for start in range(first, min(at, len(data) - MIN_RUN) + 1):
            piece = data[start : start + MIN_RUN]
            if not piece[-1] or not any(piece in s for s in self.sources) or any(piece in r for r in live):
                continue
            if not any(_tail_to_end(data, start, key) for key in self.last):
                return True
        return False


def _tail_to_end(data: bytes, at: int, key: bytes) -> bool:
    """Whether data from `at` is a tail of key running to the key's end."""
    piece = data[at : at + MIN_RUN]
    where = key.find(piece)
    while where >= 0:
        if data[at : at + len(key) - where] == key[where:]:
            return True
        where = key.find(piece, where + 1)
    return False


def _covered(
    data: bytes,
    live: list[bytes],
    offset: int,
    loose: Loose,
    head: int | None = None,
    shared: bool = False,
    rationed: Rationed | None = None,
) -> None:
    """data is zeros and runs of live metadata (or, `rationed.left` times, of its
    sources), but for loose bytes (taken from loose.left, then from loose.shared if
    `shared`), in its first `head` bytes if given."""
    at = 0
    while at < len(data):
        zeros = _ZEROS.match(data, at)
        if zeros:
            at = zeros.end()
            continue
        run = _longest(data, at, live)
        if run >= MIN_RUN:
            at += run
            continue
        if rationed is not None and rationed.left and (run := _longest(data, at, rationed.sources)):
            rationed.count(data, at, run)
            at += run
            continue
        if rationed is not None and not rationed.left and rationed.another(data, at, live):
            raise _stray(offset, at)  # a run more than counted: not paid for as loose bytes
        if loose.left:
            loose.left -= 1
        elif shared and loose.shared:
            loose.shared -= 1
        else:
            raise _stray(offset, at)
        at += 1
        if head is not None and at > head:
            raise _stray(offset, at - 1)


def _charge(loose: Loose, cost: int, offset: int) -> None:
    """Take `cost` loose bytes (the stretch's, then the shared ones), or Invalid."""
    mine = min(cost, loose.left)
    loose.left -= mine
    if cost - mine > loose.shared:
        raise _stray(offset, 0)
    loose.shared -= cost - mine


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
