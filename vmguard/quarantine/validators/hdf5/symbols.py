"""A group of the old kind: its symbol table, a v1 B-tree of SNOD nodes whose entries
name their objects by offsets into the group's local heap, and that heap (names padded
to 8 bytes, free blocks, nothing else). Each structure claims its extent in the ledger."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import terminal
from ..stream import Invalid
from . import btree, fields, once, remains
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from collections.abc import Callable

    from .objects import Walker

    Found = Callable[[bytes, int, bytes | None], None]


def symbol_table(w: Walker, root: int, heap: int, what: str, found: Found | None = None) -> None:
    """A group of the old kind: its B-tree, its SNOD nodes and its local heap of names;
    `found`: given each entry's (name, object header, soft link value) instead of
    reaching it (a table libhdf5 left behind: converted.py)."""
    entries: list[tuple[int, int, int | None]] = []
    before, ends = 0, []  # the empty name, at 0 in every group's heap
    shape = (0, fields.K_DEFAULTS["group"], 8)
    tree = btree.leaves(w, root, shape, f"the group B-tree of {what}", ends.append)
    for node, left, right in tree:
        entries += _snod(w, node, what)
        names = (int.from_bytes(left, "little"), int.from_bytes(right, "little"))
        if not entries or names != (before, entries[-1][0]):
            raise Invalid(f"hdf5: the keys of the group B-tree of {what} are not the names they bound")
        before = names[1]
    if any(int.from_bytes(end, "little") != before for end in ends):  # an empty group: 0
        raise Invalid(f"hdf5: the last key of the group B-tree of {what} is not its last name")
    texts = [offset for _, _, offset in entries if offset is not None]  # soft links' values
    segment = _local_heap(w, heap, [offset for offset, _, _ in entries] + texts, what)
    names = [(0, segment[offset : segment.index(b"\0", offset)]) for offset, _, _ in entries]
    once.in_order([(0, b""), *names], once.Named.LINK, what, f"the symbol table entries of {what}")
    for offset, header, text in entries:
        raw = segment[offset : segment.index(b"\0", offset)]
        if found is not None:
            found(raw, header, None if text is None else segment[text : segment.index(b"\0", text)])
        else:  # a live group's: each name its only link of that name (once.py)
            once.name(w, once.Named.LINK, raw, what)
            w.reach(header, f"{what.rstrip('/')}/{raw.decode('utf-8', 'replace')}")


def symbol_entry(w: Walker, raw: bytes, what: str) -> tuple[int, int, int | None]:
    """A symbol table entry: (name offset, object header, offset of a soft link's value,
    both in the local heap). Its scratch pad holds what its cache type says, nothing else:
    nothing (0), the group's B-tree and heap (1: checked against the group's own symbol
    table message when it is visited) or a soft link's value (2)."""
    name, header, cache, reserved = struct.unpack_from("<QQII", raw)
    scratch, value = raw[24:40], None
    if cache == 1 and header != UNDEFINED:
        w.cached.setdefault(header, set()).add(struct.unpack_from("<QQ", scratch))
    elif cache == 2 and header == UNDEFINED:
        value, scratch = struct.unpack_from("<I", scratch)[0], scratch[4:]
    elif cache != 0:
        raise Invalid(f"hdf5: a symbol table entry of {what} has cache type {cache}")
    if reserved or (cache != 1 and scratch.strip(b"\0")):
        raise Invalid(f"hdf5: the reserved bytes or scratch pad of a symbol table entry of {what} hold data")
    return name, header, value


def _snod(w: Walker, node: int, what: str) -> list[tuple[int, int, int | None]]:
    """The entries of a symbol table node (symbol_entry)."""
    k, f = fields.K_DEFAULTS["leaf"], w.file
    name = f"a symbol table node of {what}"
    w.ledger.claim(node, 8 + 2 * k * 40, name)
    f.signature(node, b"SNOD", name)
    version, reserved, count = f.unpack("4xBBH", node, name)
    if version != 1 or reserved or count > 2 * k:
        raise Invalid(
            f"hdf5: {name} at {node} has version {version}, reserved byte {reserved} or {count} entries"
        )
    end = node + 8 + count * 40
    if f.bytes(end, node + 8 + 2 * k * 40 - end, name).strip(b"\0"):
        raise Invalid(f"hdf5: the unused entries of {name} at {node} hold data")
    raw = f.bytes(node + 8, count * 40, name)
    return [symbol_entry(w, raw[i : i + 40], what) for i in range(0, count * 40, 40)]


def _local_heap(w: Walker, heap: int, names: list[int], what: str) -> bytes:
    """A local heap: its header, its data segment of names and free blocks (zeros after
    their 16-byte header); bytes that are neither are zeros. Returns the segment."""
    f, name = w.file, f"the local heap of {what}"
    w.ledger.claim(heap, 32, name)
    f.signature(heap, b"HEAP", name)
    version, reserved, size, free, data = f.unpack("4xB3sQQQ", heap, name)
    if version != 0 or reserved.strip(b"\0"):
        raise Invalid(f"hdf5: {name} has version {version} or its reserved bytes hold data")
    w.ledger.claim(data, size, f"the data segment of {name}")
    segment = f.bytes(data, size, name)
    if segment[:1] != b"\0":
        raise Invalid(f"hdf5: {name} does not start with the empty name (a NUL)")
    used = []
    for offset in [0, *names]:  # every group's heap starts with the empty name
        end = segment.find(b"\0", offset)
        if offset >= size or end < 0:
            raise Invalid(f"hdf5: a link name of {what} lies outside its local heap")
        terminal.check(segment[offset:end], f"a link name (or soft link value) of {what}", "hdf5")
        padded_end = min(-(-(end + 1) // 8) * 8, size)  # H5HL_ALIGN: names padded to 8 bytes
        padding = segment[end + 1 : padded_end]
        if padding.strip(b"\0") and not remains.stale_free_header(padding, end + 1 - offset, offset, size):
            raise Invalid(
                f"hdf5: the padding after the link name at {data + offset} in {name} holds data "
                "(names are padded to 8 bytes with zeros; the remains of a deleted link: h5repack the file)"
            )
        used.append((offset, padded_end, True))
    seen: set[int] = set()
    while free not in (1, UNDEFINED):
        if free in seen or free + 16 > size:
            raise Invalid(f"hdf5: the free list of {name} loops or leaves the heap")
        seen.add(free)
        following, length = f.unpack("QQ", data + free, name)
        if length < 16 or free + length > size or segment[free + 16 : free + length].strip(b"\0"):
            raise Invalid(f"hdf5: a free block of {name} at {data + free} holds data (free space is zeros)")
        if free % 8 or length % 8:
            raise Invalid(f"hdf5: a free block of {name} at {data + free} is not aligned to 8 bytes")
        used.append((free, free + length, False))
        free = following
    _heap_gaps(segment, sorted(used), (data, name))
    moved = remains.moved_heap(heap, data, segment, names, min(seen, default=None))
    if moved is not None:  # its old block may hold a copy of it (remains.py)
        w.ledger.remains.add(moved)
    return segment


def _heap_gaps(segment: bytes, used: list[tuple[int, int, bool]], where: tuple[int, str]) -> None:
    """The bytes of a local heap's data segment that are neither a name (padded to 8) nor
    a free block: zeros, and only a fragment of less than 16 bytes after a name (too
    small for a free block, libhdf5 leaves it to the name before it: H5HL_insert)."""
    data, name = where
    pos, after_name = 0, False
    for start, end, is_name in used + [(len(segment), len(segment), False)]:
        if segment[pos:start].strip(b"\0"):
            raise Invalid(
                f"hdf5: bytes {data + pos}..{data + start} of {name} are neither a link name nor "
                "free space (the remains of a deleted link: h5repack the file)"
            )
        if start > pos and not (after_name and start - pos < 16):
            raise Invalid(
                f"hdf5: bytes {data + pos}..{data + start} of {name} are free space no free block lists"
            )
        if end > pos:
            pos, after_name = end, is_name
