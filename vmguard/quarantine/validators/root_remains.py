"""What ROOT free space may hold. uproot writes nothing in the space it frees: a record it
moved (the StreamerInfo, a keys list, when they outgrow their place; a TTree when its
basket arrays fill; an RNTuple's footer on each extend) stays where it was, whole or
behind records later written over its start, and space it reserved but never wrote stays
zeros. So free space is zeros, a record deleted there (its payload like any record's:
left to the scanners), or the remains of moved metadata, recomputed from the metadata now
live (and a deleted tree's last copy, which its older copies are the remains of: uproot's
del leaves them all): runs of at least MIN_RUN bytes found verbatim in a live
uncompressed record (an older StreamerInfo is the newer one's streamers, an older keys
list its keys), with at most LOOSE bytes between them (the fields that changed when it
moved: lengths, counts, positions), or an older FreeSegments record (its segments in
order). A payload written into free space is none of them. The runs are measured by
root_runs; a live keys list's slack is judged by root_slack."""

from __future__ import annotations

import struct

from . import root_data, root_keylists, root_rntuple, root_slack, root_tails, root_trees
from .root_model import KEY, RootWalk
from .root_runs import Loose, covered

# The metadata uproot moves when it outgrows its place: a free record of another class is
# one deleted (del f[name]), its payload a record's like a live one's.
MOVED = (b"TList", b"TFile", b"TDirectory", b"TDirectoryFile")
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
# and an RNTuple's older footers (uproot writes a page list and moves the footer on each
# extend, and writes the next blobs over the older footer's head): the tail of each, its
# checksum (8 bytes, of bytes no longer there) and the lengths and counts that changed;
# so LOOSE_STRETCHES bytes more per live page list after the first (one an extend wrote).
_FOOTER, _PAGE_LIST = 2, 3
_LINK = struct.Struct("<QiQ")
_SEGMENT = struct.Struct(">hii")
_SEGMENT_LARGE = struct.Struct(">hqq")


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
                covered(older[0], [older[1]], offset, Loose(LOOSE), HEAD)
                continue
            rest = root_keylists.zeroed(gap[deleted:], 0, listed)  # an older keys list's tail
            covered(rest, live, offset + deleted, budget, shared=not rooted)
        elif (
            record is not None
            and record.body is not None
            and record.klass in MOVED
            and not segments(record.body)
        ):
            covered(root_keylists.older_list(record, walk, free, listed), live, offset, Loose(LOOSE), HEAD)
        elif (
            record is not None
            and record.body is not None
            and root_trees.identity(record.key) in history.trees
            and offset not in history.last
        ):
            # an older copy of a tree uproot moved (its basket arrays full), left whole
            loose = Loose(root_trees.tree_loose(record, walk, history))
            covered(record.key + record.body, live, offset, loose)
        elif record is not None:
            root_trees.deleted_record(record, history)
    lists = [body for r, body in zip(known, live, strict=False) if r.offset in walk.lists]
    others = [body for r, body in zip(known, live, strict=False) if r.offset not in walk.lists]
    others += live[len(known) :]
    for offset, slack in walk.slack.items():
        at = offset + walk.records[offset].nbytes - len(slack)
        if offset in walk.lists:  # a keys list: its older versions, then what its place held
            root_slack.behind_list(walk, offset, (slack, at), listed, budget, (others, lists))
        else:  # the StreamerInfo's: what the space held before
            covered(root_keylists.zeroed(slack, 0, listed), live, at, budget, shared=True)


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
