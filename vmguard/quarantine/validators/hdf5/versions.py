"""The version of a header message is the one libhdf5 writes for it: libhdf5 chooses
most message versions by the file's low libver bound (H5F_LOW_BOUND when the object was
written), not by what the message holds, and reads every version alike, so a version
it never pairs with the rest would be a bit per message that no reader returns.

Two bounds differ for the messages below: 'earliest' (h5py's default) and 'v108' or
later. An object's header shows which wrote it: a version 1 header is the earliest
bound's (later bounds write only version 2); a version 2 header is a later bound's,
unless it tracks creation order or stores a phase change (flags 0x04, 0x10), for which
the earliest bound writes version 2 too. A dataset's dataspace, fill value, layout and
pipeline, written when it is created, are all one bound's (H5Ocopy, h5py's copy, keeps
them and the header's version); an attribute may be added in a later session under
another bound (h5py's libver of that session), and H5Ocopy encodes a copied attribute
under the destination's bound but keeps its dataspace's version, so an attribute's
version is one of either bound's of its own, its dataspace's any of the two.

The table (VERSIONS), checked for HDF5 2.0 (h5py 3.16) under every libver: dataspace 1
(a null one 2) or 2; fill value 2 or 3; filter pipeline 1 or 2; attribute 1 (2 with a
shared datatype, 3 with a UTF-8 name) or 3; a compact or
contiguous layout 3 under every bound, a chunked one 3 or 3 to 5 (the later bounds
choose the chunk index, chunks.py). A datatype (datatype()): its compound, enum and
array types one version at every depth, 1 (2 with an array in it) or 3 to 5; atomic
types 1 (properties.py)."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING

from ..stream import Invalid
from .shapes import attribute_places
from .sizes import array_base, members

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message


class Bound(Enum):
    EARLIEST = "earliest"
    LATER = "v108 or later"


EARLIEST, LATER, EITHER = frozenset({Bound.EARLIEST}), frozenset({Bound.LATER}), frozenset(Bound)
DATASPACE, DATATYPE, FILL, LAYOUT, PIPELINE, ATTRIBUTE = 0x01, 0x03, 0x05, 0x08, 0x0B, 0x0C
COMPOUND, ENUM, VLEN, ARRAY = 6, 8, 9, 10
LATER_TYPES = {3, 4, 5}  # libver v108-v110, v112-v114, v200: a version 2 header does not tell which
NAMES = {DATASPACE: "dataspace", FILL: "fill value", LAYOUT: "layout", PIPELINE: "filter pipeline",
         ATTRIBUTE: "attribute"}
# message type -> (versions under 'earliest', under 'v108' or later), before the
# exceptions _versions makes (a null dataspace, a chunked layout, an attribute's fields)
VERSIONS = {
    DATASPACE: ({1}, {2}),
    FILL: ({2}, {3}),
    LAYOUT: ({3}, {3}),
    PIPELINE: ({1}, {2}),
    ATTRIBUTE: ({1}, {3}),
}


def header(f: File, address: int, what: str) -> frozenset[Bound]:
    """The bounds that may have written the object header at `address`."""
    if f.bytes(address, 4, f"the object header of {what}") != b"OHDR":
        return EARLIEST
    flags = f.unpack("5xB", address, f"the object header of {what}")[0]
    return EITHER if flags & 0x14 else LATER


def narrow(f: File, m: Message, bounds: frozenset[Bound], what: str) -> frozenset[Bound]:
    """The bounds (of `bounds`, the header's so far) under which libhdf5 writes `m` as it
    is; refused when none is left."""
    if m.flags & 0x02:  # a shared message: its holder's
        return bounds
    if m.kind == DATATYPE:
        return datatype(f, m.at, bounds, what)
    if m.kind == ATTRIBUTE and not f.unpack("xB", m.at, what)[0] & 0x01:  # its own datatype, of either bound
        datatype(f, attribute_places(f, m.at, what)[1], EITHER, what)
    if m.kind not in VERSIONS:
        return bounds
    version = f.unpack("B", m.at, f"a message of {what}")[0]
    own = EITHER if m.kind == ATTRIBUTE else bounds  # an attribute may come from a later session
    left = frozenset(b for b in own if version in _versions(f, m.kind, m.at, b, what))
    if not left:
        wanted = "; ".join(f"{sorted(_versions(f, m.kind, m.at, b, what))} under {b.value}" for b in own)
        where = "the libver bound of its object header" if m.kind != ATTRIBUTE else "either bound"
        raise Invalid(
            f"hdf5: the {NAMES[m.kind]} message of {what} has version {version}, where libhdf5 writes "
            f"{wanted} ({where}; libhdf5 writes version 1 headers only under earliest)"
        )
    return bounds if m.kind == ATTRIBUTE else left


def _versions(f: File, kind: int, at: int, bound: Bound, what: str) -> set[int]:
    """The versions libhdf5 writes for the message of type `kind` at `at` under `bound`."""
    earliest = bound is Bound.EARLIEST
    head, second = f.unpack("BB", at, f"a message of {what}")
    if kind == DATASPACE and head == 2 and f.unpack("3xB", at, what)[0] == 2:
        return {2}  # a null dataspace: version 2 under every bound (H5S_create)
    if kind == LAYOUT and second == 2:
        return {3} if earliest else {3, 4, 5}
    if kind == ATTRIBUTE and earliest:  # H5A__set_version: a UTF-8 name 3, shared parts 2
        if head == 3:
            return {3} if f.unpack("8xB", at, what)[0] else set()
        return {2} if second & 0x03 else {1}
    return VERSIONS[kind][0 if earliest else 1]


def datatype(f: File, at: int, bounds: frozenset[Bound], what: str) -> frozenset[Bound]:
    """The bounds (of `bounds`) under which libhdf5 writes the datatype at `at` as it
    is: its compound, enum and array types one version at every depth (libhdf5 raises
    them together: H5T__upgrade_version), under earliest 1, or 2 with an array in it
    (H5T_array_create's, raised into its parents), under later bounds 3, 4 or 5; a
    variable-length type its base type's version (atomic ones are 1: properties.py)."""
    nodes = list(_nodes(f, at, what, 0))
    composite = {version for cls, version, _ in nodes if cls in (COMPOUND, ENUM, ARRAY)}
    natural = 2 if any(cls == ARRAY for cls, _, _ in nodes) else 1
    later = len(composite) <= 1 and composite <= LATER_TYPES
    fits = {Bound.EARLIEST: composite <= {natural}, Bound.LATER: later}
    vlens = all(version == base for cls, version, base in nodes if cls == VLEN)
    left = frozenset(b for b in bounds if vlens and fits[b])
    if not left:
        raise Invalid(
            f"hdf5: a datatype of {what} has compound, enum or array types of versions {sorted(composite)} "
            f"(or a variable-length type not of its base type's version), where libhdf5 writes one for all: "
            f"{natural} under earliest, 3, 4 or 5 under later bounds (its header shows "
            f"{', '.join(sorted(b.value for b in bounds))})"
        )
    return left


def _nodes(f: File, at: int, what: str, depth: int) -> Iterator[tuple[int, int, int]]:
    """(class, version, its base type's version) of the datatype at `at` and of each one
    it is built from (sizes.py parsed them: the depth is bounded)."""
    head, bits, _, size = f.unpack("BHBI", at, f"the datatype of {what}")
    cls, version = head & 0x0F, head >> 4
    bases: list[int] = []
    if cls == COMPOUND:
        bases = [pos for _, pos, _ in members(f, at, (version, bits, size), what, depth)]
    elif cls in (ENUM, VLEN):
        bases = [at + 8]
    elif cls == ARRAY:
        bases = [array_base(f, at, version, what)]
    for base in bases:
        yield from _nodes(f, base, what, depth + 1)
    base_version = f.unpack("B", bases[0], what)[0] >> 4 if cls == VLEN else version
    yield cls, version, base_version
