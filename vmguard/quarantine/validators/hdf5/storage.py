"""Where a dataset keeps its contents: its layout (compact, contiguous, chunks indexed by
a v1 B-tree; the newer indexes are chunks.py's), its datatype, attributes, and the global
heap collections that variable-length values point into (a group's symbol table is
symbols.py's). Each structure claims its extent in the ledger."""

from __future__ import annotations

import struct
from functools import partial
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import btree, chunks, edges, fields, fills, fixedtext, once, regions, sizes, vlen
from .chunkdata import Chunking, claim, final_key
from .elements import Element, element
from .ledger import UNDEFINED
from .pipeline import check as check_pipeline
from .shapes import (
    Space,
    attribute_pad,
    attribute_places,
    checkable,
    dataspace,
    deflate_level,
    element_size,
    exact,
    filters,
    fixed,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .ledger import File
    from .objects import Message, Walker


def datatype(f: File, at: int, what: str) -> tuple[int, int, Element | None]:
    """(class, element size, what its elements hold besides data: variable-length values
    or padding, at any depth; None when nothing) of the datatype message at `at` (`f`
    ends where its message ends: sizes.within). The datatype's own fields first (sizes.py),
    so a refusal names the field, not what a misread field made of its elements."""
    sizes.datatype(f, at, what)
    cls = f.unpack("B", at, f"the datatype of {what}")[0] & 0x0F
    e = element(f, at, what)
    return cls, element_size(f, at, what), e if e.checked else None


def _description(w: Walker, first: dict[int, Message], what: str) -> tuple[Space, int, Element | None]:
    """(dataspace, element size, what its elements hold besides data) of a dataset: its own dataspace; its own
    datatype or a committed one (walked before: Walker.later)."""
    space, dtype = first.get(0x01), first.get(0x03)
    if space is None or dtype is None or space.flags & 0x02:
        raise Invalid(f"hdf5: the dataset {what} lacks its own dataspace or a datatype message")
    if dtype.flags & 0x02:
        committed = w.types.get(shared(w.file, dtype.at, what))  # reached by Walker.message
        if committed is None:
            raise Invalid(f"hdf5: the committed datatype of {what} holds no datatype")
        _, item, values = committed
    else:
        _, item, values = datatype(sizes.within(w.file, dtype), dtype.at, what)
    return dataspace(w.file, space.at, what), item, values


def _variable(w: Walker, first: dict[int, Message]) -> bool:
    """Whether a dataset's datatype (its own, or a committed one: _description) is
    itself variable-length (class 9)."""
    dtype = first[0x03]
    if dtype.flags & 0x02:
        return w.types[shared(w.file, dtype.at)][0] == 9
    return w.file.unpack("B", dtype.at, "a datatype")[0] & 0x0F == 9


def shared(f: File, at: int, what: str = "an object") -> int:
    """The object header a shared message (at `at`; sizes.shared) lives in."""
    sizes.shared(f, at, what)
    return f.unpack("Q", at + 2, "a shared message")[0]


def uses_committed(f: File, m: Message, dtype: Message | None) -> bool:
    """Whether a layout or attribute message's datatype is a committed one (another
    object's, walked before its size is needed)."""
    if m.kind == 0x08:
        return dtype is not None and bool(dtype.flags & 0x02)
    return m.kind == 0x0C and bool(f.unpack("xB", m.at, "an attribute")[0] & 0x01)


def layout(w: Walker, m: Message, what: str, first: dict[int, Message]) -> None:
    """A dataset's raw data: inside the message, one extent, or chunks; exactly the
    dataspace x element size, no byte more."""
    f = w.file
    space, item, values = _description(w, first, what)
    fills.one_element(f, first, item, what)
    w.shapes[w.at] = space.dims  # what a region reference to it may select
    version, cls = f.unpack("BB", m.at, f"the layout message of {what}")
    if version not in (3, 4, 5) or cls > 2:
        raise Invalid(f"hdf5: data layout version {version} class {cls} in {what} is not supported")
    if values is not None:  # the padding of its fill value is zeros too
        edges.fill_value(f, first, (item, values), what)
    if cls < 2:
        fixed(space, what)
    if cls == 0:
        size = f.unpack("H", m.at + 2, what)[0]
        exact(size, space.elements * item, f"the compact data of {what}")
        if values:
            _refs(w, (m.at + 4, size), values, what)
        return
    if cls == 1:
        address, size = f.unpack("QQ", m.at + 2, what)
        exact(size, space.elements * item, f"the contiguous extent of {what}")
        if not size and address != UNDEFINED:  # an extent of no bytes: its address reaches no reader
            raise Invalid(
                f"hdf5: the contiguous dataset {what} has no elements and the address {address} "
                "(libhdf5 writes the undefined address, all 0xff)"
            )
        if address != UNDEFINED:
            w.ledger.claim(address, size, f"the data of {what}")
            if values:
                _refs(w, (address, size), values, what)
        return
    pipeline = filters(f, first[0x0B].at if 0x0B in first else None, what)
    level = deflate_level(f, first[0x0B].at if 0x0B in first else None, what)
    checkable(pipeline, what)
    if 0x0B in first:
        check_pipeline(f, first[0x0B].at, (item, _variable(w, first)), what)
    fill = edges.fill_value(f, first, (item, values), what)
    if version == 3:
        ndims, root = f.unpack("BQ", m.at + 2, what)
        dims = f.unpack("I" * ndims, m.at + 11, what)
        c = Chunking(
            what=what, dims=dims, extent=(*space.dims, 1), filters=pipeline, values=values, fill=fill,
            maxdims=space.maxdims, level=level,
        )
        w.ledger.chunks.add(c)  # its chunks' earlier versions may remain (oldchunks.py)
        if dims[-1] != item or ndims != len(space.dims) + 1:
            raise Invalid(f"hdf5: the chunk dimensions of {what} do not match its dataspace and datatype")
        shape, name = (1, fields.K_DEFAULTS["chunk"], 8 + 8 * ndims), f"the chunk B-tree of {what}"
        if root == UNDEFINED:
            return  # no chunk written yet
        for chunk, key, _ in btree.leaves(w, root, shape, name, partial(final_key, c, (*space.maxdims, 1))):
            size, mask = struct.unpack_from("<II", key)
            claim(w, c, (chunk, size, mask), struct.unpack_from(f"<{ndims}Q", key, 8))
        return
    chunks.index(w, m, what, (space, item, (pipeline, level), values, fill))


def attribute(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    """An attribute: its value lies in the message (exactly its dataspace x element size,
    the message's padding zeros), except variable-length values; its elements' padding
    zeros."""
    f = w.file
    version, flags, name, dtype, space = f.unpack("BBHHH", m.at, f"an attribute of {what}")
    if version not in (1, 2, 3):
        raise Invalid(f"hdf5: attribute message version {version} in {what} is not supported")
    if flags & ~0x03 or (version == 1 and flags):
        raise Invalid(
            f"hdf5: the flags of an attribute of {what} ({flags:#04x}) set bits version {version} reserves"
        )
    pad = attribute_pad(version)
    start, at, space_at, data = attribute_places(f, m.at, what)
    if flags & 0x02:
        raise Invalid(f"hdf5: an attribute of {what} with a shared dataspace is not supported")
    if flags:  # a committed datatype's
        _, item, values = _committed(w, shared(f, at, what), what)
    else:
        _, item, values = datatype(sizes.within(f, m), at, what)
    space_of = dataspace(f, space_at, what)
    fixed(space_of, f"an attribute of {what}")
    # the name: its characters and one NUL (its size counts), then padding
    called = f"the name of an attribute of {what}"
    text = fields.stored_string(f.bytes(start, name, what), called, terminated=True)
    fields.name_charset(f.unpack("8xB", m.at, what)[0] if version == 3 else 0, text, called)
    once.name(w, once.Named.ATTRIBUTE, text, what)
    if f.bytes(start + name, pad(name) - name, what).strip(b"\0"):
        raise Invalid(
            f"hdf5: the padding after the name of an attribute of {what} holds data (it is not "
            "NUL-terminated and padded with zeros)"
        )
    needed = sizes.shared(f, at, what) if flags else sizes.datatype(sizes.within(f, m), at, what)
    _field(f, (at, dtype, needed, pad(dtype)), f"the datatype of an attribute of {what}")
    _field(f, (space_at, space, space_of.size, pad(space)), f"the dataspace of an attribute of {what}")
    padded(w, m, data - m.at + space_of.elements * item, f"an attribute of {what}")
    if values:  # its fixed-length strings too (fixedtext.py), as a dataset's
        _refs(w, (data, space_of.elements * item), values, what, f"an attribute of {what}")


def _field(f: File, field: tuple[int, int, int, int], name: str) -> None:
    """An attribute's datatype or dataspace (`name`): declared exactly its content, its
    padding (version 1: to 8 bytes) zeros."""
    start, declared, needed, padded_to = field
    if declared != needed:
        raise Invalid(f"hdf5: {name} is declared {declared} bytes where its content is {needed}")
    if f.bytes(start + needed, padded_to - needed, name).strip(b"\0"):
        raise Invalid(f"hdf5: the padding after {name} holds data (libhdf5 writes zeros)")


def _committed(w: Walker, address: int, what: str) -> tuple[int, int, Element | None]:
    """The committed datatype an attribute shares: one more link to it (HDF5 counts it)."""
    if address not in w.types:
        raise Invalid(f"hdf5: the committed datatype of an attribute of {what} is not reached by a link")
    w.links[address] = w.links.get(address, 0) + 1
    return w.types[address]


def padded(w: Walker, m: Message, content: int, what: str) -> None:
    """A message holds exactly its content, padded (v1 headers) to 8 bytes with zeros."""
    if m.size != -(-content // m.align) * m.align:
        raise Invalid(f"hdf5: {what} is declared {m.size} bytes where its content is {content}")
    if w.file.bytes(m.at + content, m.size - content, what).strip(b"\0"):
        raise Invalid(f"hdf5: the padding of {what} holds data")


def _refs(w: Walker, extent: tuple[int, int], e: Element, what: str, owner: str = "") -> None:
    """The elements in `extent`: their padding, their fixed-length strings (whose are
    they: `owner`, else `what`), the heap objects their values point to."""
    at, size = extent
    w.file.inside(at, size, what)
    vlen.check(w, memoryview(w.file.buf)[at : at + size], e, what, fixedtext.Numbering(owner or what))


def global_heaps(w: Walker) -> None:
    """Every global heap collection a value points to: its objects are all referenced,
    its free space is zeros."""
    f = w.file
    for heap, wanted in w.heap_refs.items():
        name = f"the global heap collection at {heap}"
        f.signature(heap, b"GCOL", name)
        version, reserved, size = f.unpack("4xB3sQ", heap, name)
        if version != 1 or reserved.strip(b"\0") or size < 16:
            raise Invalid(f"hdf5: {name} has version {version}, reserved bytes holding data or size {size}")
        w.ledger.claim(heap, size, name)
        found = _heap_objects(w, heap, size, name)
        _named(wanted.keys(), found, name)
        for index, (length, kind, of) in wanted.items():
            if length is not None and length != found[index][1]:
                raise Invalid(f"hdf5: an object of {name} is not the size of the value that names it")
            regions.content(w, found[index], kind, f"{of} (object {index} of {name})")


def _named(wanted: Iterable[int], found: dict[int, tuple[int, int]], name: str) -> None:
    """Every object of a collection is named by a value, and every value's object is there;
    but an object of 0 bytes may be named by nothing: libhdf5 never frees the object of an
    empty value overwritten (H5T__vlen_disk_delete skips a sequence of length 0)."""
    unnamed = {index for index in found.keys() - set(wanted) if found[index][1]}
    lacking = set(wanted) - found.keys()
    if unnamed:
        raise Invalid(
            f"hdf5: object {min(unnamed)} of {name} is referred to by nothing (libhdf5 leaves the "
            "variable-length values of an attribute rewritten or deleted in the global heap: the "
            "remains of a deleted object: h5repack the file)"
        )
    if lacking:
        raise Invalid(f"hdf5: {name} lacks object {min(lacking)}, which a value refers to")


def _heap_objects(w: Walker, heap: int, size: int, name: str) -> dict[int, tuple[int, int]]:
    """The objects of a global heap collection: index -> (address, size). libhdf5 numbers
    a collection's objects as it allocates them (the next number past the highest, from 1)
    and places each after the last (H5HG_insert; freeing one moves those after it down:
    H5HG_remove), so the numbers increase in placement order; a gap is an object freed (a
    value overwritten), which the file does not record: the gaps are free (what exactness
    leaves)."""
    f, pos, end, found = w.file, heap + 16, heap + size, {}
    while end - pos >= 16:
        index, refs, reserved, length = f.unpack("HHIQ", pos, name)
        padding = f.bytes(pos + 16 + length, -length % 8, name) if index else b""
        if refs:
            raise Invalid(
                f"hdf5: object {index} of {name} has reference count {refs} (libhdf5 writes 0: "
                "variable-length values do not count their objects)"
            )
        if reserved or padding.strip(b"\0"):
            raise Invalid(f"hdf5: the reserved bytes or padding of object {index} of {name} hold data")
        if index == 0:  # free space: the rest of the collection
            if length != end - pos or f.bytes(pos + 16, end - pos - 16, name).strip(b"\0"):
                raise Invalid(f"hdf5: the free space of {name} holds data (free space is zeros)")
            return found
        last = next(reversed(found), 0)  # the highest number so far: they increase
        if index <= last:
            raise Invalid(
                f"hdf5: {name} holds object {index} after object {last} (libhdf5 places its "
                "objects in the order of their numbers)"
            )
        found[index] = (pos + 16, length)
        pos += 16 + -(-length // 8) * 8
    if pos > end or f.bytes(pos, end - pos, name).strip(b"\0"):
        raise Invalid(f"hdf5: the end of {name} holds data")
    return found
