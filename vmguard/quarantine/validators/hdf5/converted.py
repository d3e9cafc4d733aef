"""A symbol-table group libhdf5 turned into a new-style group, and what it left.

libhdf5 2.0 (H5G__obj_insert) converts a group of the old kind (symbol table: a v1
B-tree, SNOD nodes, a local heap) into a new-style one (link info, group info, link
messages) when it is given a link the old kind cannot hold: a name marked UTF-8, as
h5py marks a str name with non-ASCII characters (under the default libver, or
('earliest', 'v110')). It copies the links, removes the symbol table message and frees
the B-tree, its nodes and the heap without clearing them; the symbol table entry naming
the group (its parent's, or the superblock's for the root) still caches them. So such a
group's cached B-tree and heap are walked as a symbol table that reaches nothing: every
name in it one of the group's links now, to the same object (or soft link value), its
heap names and zeros elsewhere (symbols.py's checks), and the group holds a link whose
name is not ASCII (why libhdf5 converted it). session 39, attack oh5: every such file
was refused ("a symbol table entry's cache type or scratch pad is not its group's
B-tree and heap", or their bytes reached from no structure). A table a later structure
took part of stays refused (its bytes are claimed twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from . import symbols

if TYPE_CHECKING:
    from .objects import Walker

_NODE = 544  # a group B-tree node of libhdf5's default K (16): 24 + 2K x 8 + (2K + 1) x 8
_CACHED = "hdf5: a symbol table entry's cache type or scratch pad is not its group's B-tree and heap"


def settle(w: Walker) -> None:
    """Every B-tree and heap a symbol table entry caches: its group's own (a group of the
    old kind), or the table libhdf5 left when it converted the group (walked here; its
    entries may cache more: checked in turn)."""
    done: set[tuple[int, frozenset]] = set()
    while True:
        pending = [(group, frozenset(cached)) for group, cached in w.cached.items()
                   if cached != {w.groups.get(group)} and (group, frozenset(cached)) not in done]
        if not pending:
            return _root(w)
        for group, cached in pending:
            done.add((group, cached))
            names = w.named.get(group, {})
            if group in w.groups or len(cached) != 1 or None in cached or all(n.isascii() for n in names):
                raise Invalid(_CACHED)
            ((btree, heap),) = cached
            _left(w, group, btree, heap, names)


def _root(w: Walker) -> None:
    """A converted root whose superblock entry caches nothing (a later session rewrote it):
    the table libhdf5 made with the root (H5G_mkroot: its B-tree node right after the
    root's version 1 header, its heap right after the node), where nothing else lies."""
    roots = [group for group, cached in w.cached.items() if cached == {None}]  # the superblock's
    names = w.named.get(roots[0], {}) if roots else {}
    if not roots or roots[0] in w.groups or all(n.isascii() for n in names):
        return
    f, root = w.file, roots[0]
    if f.unpack("B", root, "the root group")[0] != 1:
        return
    btree = root + 16 + f.unpack("8xI", root, "the root group")[0]
    heap = btree + _NODE
    if heap + 32 > f.eof or f.bytes(btree, 5, "a node") + f.bytes(heap, 4, "a heap") != b"TREE\0HEAP":
        return  # a group node (type 0) and a heap, or not the table libhdf5 made
    if any(start < heap + 32 and btree < end for start, (end, _) in w.ledger.extents.items()):
        return  # a later structure took its place: its bytes are that one's
    _left(w, root, btree, heap, names)


def _left(w: Walker, group: int, btree: int, heap: int, names: dict[bytes, int | bytes]) -> None:
    what = f"the symbol table libhdf5 left of the group at {group}"

    def found(name: bytes, header: int, value: bytes | None) -> None:
        if names.get(name) != (header if value is None else value):
            raise Invalid(
                f"hdf5: {what} names {name.decode('utf-8', 'replace')!r}, which is not a link of "
                "the group now (libhdf5 leaves the names it copied, nothing else)"
            )

    w.groups.pop(group, None)
    symbols.symbol_table(w, btree, heap, what, found)
