"""A live tree's basket arrays, every slot accounted for (session 40, attack r root): each
branch streams fMaxBaskets slots of fBasketBytes, fBasketEntry and fBasketSeek, of which
readers take the first fWriteBasket (fBasketEntry: one more, where the next basket would
start). ROOT's TBranch (ExpandBasketArrays: TStorage::ReAlloc zeroes what it adds) and
uproot leave the rest zero, so any other bytes there are bytes no reader uses: refused.
The slots used are the baskets the walk found: each fBasketSeek a live basket key of that
branch (its tree's directory or the top one: root_data), its fBasketBytes that key's
Nbytes, and fBasketEntry where each basket starts (0, then each adds its key's fNevBuf),
so no slot holds a number the file does not. fBasketEntry[fWriteBasket] may be less than
fEntries: ROOT keeps the last entries in a basket streamed inside the tree (fBaskets)."""

from __future__ import annotations

from . import root_data, root_strings
from .root_model import KEY, Record, RootWalk, key_fields
from .stream import Invalid

_BASKET = tuple[int, int, int]  # a live basket key: its branch's number, Nbytes, fNevBuf


def check(walk: RootWalk, free: set[int]) -> None:
    """Every live TTree whose payload is known (uncompressed, or inflated: root_data) and
    read (TTree 20, TBranch 13): each branch's basket arrays as the module says."""
    for record in walk.records.values():
        if record.klass not in root_data.TREES or record.offset in free:
            continue
        payload = root_data.tree_payload(record, walk.data)
        if payload is None:
            continue
        keylen = KEY.unpack_from(record.key)[4]
        try:
            branches = root_strings.basket_slots(record.klass, payload, (record.offset, keylen))
        except root_strings.ObjectLayout as error:
            raise _refused(record, b"", f"are not streamed as ROOT and uproot write them ({error})") from None
        baskets = _baskets(walk, free, record)
        for branch in branches:
            _branch(record, branch, (walk.data.branches.get(branch.name, -1), baskets))


def _baskets(walk: RootWalk, free: set[int], tree: Record) -> dict[int, _BASKET]:
    """The live basket keys that may be the tree's, by position: those naming it as their
    tree and its directory or the top one as parent (root_data)."""
    name = root_data.key_name(tree.key)
    out: dict[int, _BASKET] = {}
    for home in {key_fields(tree.key)[1], walk.header.begin}:
        seeks = walk.data.seeks.get((home, name), ())
        for i, seek in enumerate(seeks):
            if seek not in free:
                number, _, _, nbytes, count = root_data.shape(walk.data, (home, name), i)
                out[seek] = (number, nbytes, count)
    return out


def _branch(tree: Record, branch: root_strings.BranchSlots, known: tuple[int, dict[int, _BASKET]]) -> None:
    """One branch's arrays (known: its number among the baskets' branches, the tree's
    live baskets): the slots past the used ones zero, the used ones its baskets."""
    (number, baskets), write, slots = known, branch.write, len(branch.seek)
    if not 0 <= write < slots or not len(branch.nbytes) == len(branch.entry) == slots:
        raise _refused(tree, branch.name, f"hold {slots} slots for fWriteBasket {write}: ROOT "
                       "and uproot stream fMaxBaskets slots of each, more than the baskets written")
    if any(branch.nbytes[write:]) or any(branch.seek[write:]) or any(branch.entry[write + 1 :]):
        raise _refused(tree, branch.name, f"hold bytes in the slots past the {write} baskets written: "
                       "ROOT and uproot leave them zero (no reader takes a basket from them)")
    for i in range(write):
        found = baskets.get(branch.seek[i])
        if found is None or found[:2] != (number, branch.nbytes[i]):
            raise _refused(tree, branch.name, f"list a basket (slot {i}: at {branch.seek[i]}, "
                           f"{branch.nbytes[i]} bytes) that is no live basket key of the branch "
                           "with those Nbytes")
        if branch.entry[i + 1] - branch.entry[i] != found[2]:
            raise _refused(tree, branch.name, f"say basket {i} starts at entry {branch.entry[i]} "
                           f"and the next at {branch.entry[i + 1]}, not {found[2]} (its fNevBuf) after")
    twice = len(set(branch.seek[:write])) < write
    if twice or branch.entry[0] != 0 or not branch.entry[write] <= branch.entries:
        raise _refused(tree, branch.name, "list baskets twice, or entries from other than 0 up to "
                       f"fEntries ({branch.entries})")


def _refused(tree: Record, branch: bytes, rule: str) -> Invalid:
    what = f"the branch {branch[:40]!r}'s basket arrays" if branch else "the branches' basket arrays"
    return Invalid(
        f"root: {what} (fBasketBytes, fBasketEntry, fBasketSeek) of the tree at {tree.offset} {rule} "
        "(rewrite the file with uproot)"
    )
