"""One name, one link or attribute: the one check over each object's complete set of
link names (compact link messages, dense links, an old-style group's symbol table
entries) and of attribute names (messages in every block of its header, dense ones).

libhdf5 refuses to create a second link or attribute of a name (H5Lcreate, H5Acreate:
"already exists"), and every reader reads by name: h5py's g[name] and attrs[name],
netCDF's variables and attributes. Of two of one name a reader returns one (the first
message, or the one a binary search lands on) and the other's bytes reach no read by
name (session 40, attack qh5). Names are compared as libhdf5 compares them: bytes,
exactly (H5G__compact_lookup_cb, H5G__node_cmp3: strcmp). In an old-style group the
entries are also kept in strictly increasing name order across the B-tree's nodes
(libhdf5 inserts them so and binary-searches them), and a dense name index's records
of one name hash in name order: an entry out of order is listed yet never found by its
name (h5py's g[name] and attrs[name] raise KeyError)."""

from __future__ import annotations

from enum import Enum
from itertools import pairwise
from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .objects import Walker


class Named(Enum):
    """What a name names: the message type of a link or an attribute."""

    LINK = 0x06
    ATTRIBUTE = 0x0C


def name(w: Walker, kind: Named, raw: bytes, what: str) -> None:
    """The link or attribute `raw` of the object being visited (w.at) is its only one of
    that name; a set per object, filled as its links and attributes are read (and dropped
    once they all are: objects.Walker.visit)."""
    names = w.names.setdefault(w.at, set())
    if (kind, raw) in names:
        raise _twice(kind, raw, what)
    names.add((kind, raw))


def in_order(keys: Sequence[tuple[int, bytes]], kind: Named, what: str, listed: str) -> None:
    """Names as libhdf5 orders and binary-searches them, `keys` strictly increasing: an
    old-style group's entries in B-tree order by name ((0, name): H5G__node_cmp3, strcmp,
    bytes unsigned; after (0, b''), the empty name its first key bounds), a dense name
    index's records by (name hash, name) (H5G__dense_btree2_name_compare,
    H5A__dense_btree2_name_compare: the hash, then strcmp). `listed`: what they are."""
    for before, after in pairwise(keys):
        if before == after and after[1]:
            raise _twice(kind, after[1], what)
        if not before < after:  # (the empty name, which no lookup can ask for, too)
            raise Invalid(
                f"hdf5: {listed} are not in name order ({_shown(after[1])} after {_shown(before[1])}; "
                "libhdf5 keeps them sorted and binary-searches them: a name out of order is listed "
                "and never found)"
            )


def _twice(kind: Named, raw: bytes, what: str) -> Invalid:
    return Invalid(
        f"hdf5: the {kind.name.lower()} name {_shown(raw)} appears twice in {what} (libhdf5 names "
        "one once; a reader by name returns one: the other's bytes are never shown)"
    )


def _shown(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "replace"))
