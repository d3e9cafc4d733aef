"""Dense link and attribute storage: a group's links (link info message) or an object's
attributes (attribute info message) kept as messages in a fractal heap (fractalheap.py),
indexed by name (v2 B-tree type 5 / 8) and, when creation order is indexed, by creation
order (type 6 / 9; btree2.py). Every record of each index names one heap object, every
object is named by exactly one record of each index, every object is exactly one link
or attribute message (walked as if it were in the object's header: sizes.py,
storage.py), a record's name hash is lookup3 of the object's name, its creation order
the message's (links) or the other index's (attributes), each index in key order."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import btree2, choices, dimids, fractalheap, once, scalelists, sizes
from .checksum import lookup3
from .heldblocks import Held
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message, Walker


NO_ORDER = 0xFFFF  # a dense attribute record's creation order when none is tracked
_NAMED = {5: once.Named.LINK, 8: once.Named.ATTRIBUTE}  # what a name index's records name


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    kind: str  # "link" or "attribute"
    message: int  # the message type its objects are
    heap: int
    trees: tuple[tuple[int, int], ...]  # (address, record type): the name index first
    max_order: int | None  # the info message's next creation order, when tracked


def link_info(w: Walker, m: Message, what: str, first: dict[int, Message]) -> None:
    order, heap, trees = info(w.file, m, what)
    trees = tuple(zip(trees, (5, 6), strict=False))
    walk(w, Storage(kind="link", message=0x06, heap=heap, trees=trees, max_order=order), what, first)


def attribute_info(w: Walker, m: Message, what: str, first: dict[int, Message]) -> None:
    order, heap, trees = info(w.file, m, what)
    trees = tuple(zip(trees, (8, 9), strict=False))
    walk(w, Storage(kind="attribute", message=0x0C, heap=heap, trees=trees, max_order=order), what, first)


def info(f: File, m: Message, what: str) -> tuple[int | None, int, tuple[int, ...]]:
    """(the next creation order when tracked, the heap, the name index and the creation
    order index when kept) of a link info (0x02) or attribute info (0x15) message."""
    name = f"the {'link' if m.kind == 0x02 else 'attribute'} info message of {what}"
    version, flags = f.unpack("BB", m.at, name)
    if version or flags & ~0x03:
        raise Invalid(f"hdf5: {name} has version {version} or unknown flags")
    width = (8 if m.kind == 0x02 else 2) if flags & 0x01 else 0
    order = int.from_bytes(f.bytes(m.at + 2, width, name), "little") if width else None
    heap, *trees = f.unpack("QQQ" if flags & 0x02 else "QQ", m.at + 2 + width, name)
    return order, heap, tuple(trees)


def creation_orders(
    orders: list[int | None],
    tracked: tuple[int | None, int | None],
    what: str,
    opened: int = 1,
    rewritten: tuple[int, int] = (0, 0),
    overwritten: frozenset[int] = frozenset(),
) -> None:
    """The creation orders of an object's links or attributes: tracked (a next order
    given), exactly 0..n-1 and the next one n; untracked, each the value libhdf5 writes
    then (tracked[1]: no field for links and header messages, 65535 in the record of a
    dense attribute: H5O_MAX_CRT_ORDER_IDX, or below `opened` for one that was in the
    header as a message: libhdf5 decodes an untracked compact attribute's order as 0, and
    opening one (H5O__attr_open_cb: h5py's attrs.modify, reading it) sets it to its
    index among the header's attribute messages, "somewhat arbitrary", in the message's
    own shared struct; the move to dense storage keeps either. session 38, attack nh5's
    ctl-nh5-min9-modify-dense: a root float set again with attrs.modify, then the root's
    attributes went dense, its record carries 3, its place among the root's five).
    `rewritten`: how many orders may be missing, all below which order (a dimension
    scale's REFERENCE_LIST rewritten at each attach: scalelists.py). `overwritten`: the
    orders that may be missing besides (h5netcdf's _Netcdf4Dimid set twice: dimids.py)."""
    following, untracked = tracked
    allowed = {untracked} if untracked is None else {untracked, *range(max(1, opened))}
    if following is None:
        if any(order not in allowed for order in orders):
            other = "" if untracked is None else f" other than {untracked} or one below {max(1, opened)}"
            raise Invalid(f"hdf5: {what} tracks no creation order, yet one carries one{other}")
    elif not _dense_orders(orders, following, rewritten, overwritten):
        raise Invalid(
            f"hdf5: the creation orders of {what} are not 0..{len(orders) - 1} with {len(orders)} next "
            f"(they begin {sorted(orders)[:8]}, next {following}; deleted or replaced: rewrite the file)"
        )


def _dense_orders(
    orders: list[int | None], following: int, rewritten: tuple[int, int], overwritten: frozenset[int]
) -> bool:
    """0..following-1 each at most once, missing any of `overwritten` and besides at most
    rewritten[0], each below rewritten[1]."""
    got = sorted(o for o in orders if o is not None)
    gaps = rewritten[0] + len(overwritten)
    if len(got) != len(orders) or len(set(got)) != len(got) or following - len(got) > gaps:
        return False  # (the last test before range(following): a forged next order is 2^64)
    if got and got[-1] >= following:
        return False
    missing = set(range(following)) - set(got) - overwritten
    return len(missing) <= rewritten[0] and all(o < rewritten[1] for o in missing)


def compact(w: Walker, messages: list[Message], first: dict[int, Message], what: str) -> None:
    """The creation orders of the links and attributes kept in an object's header: a link
    message's own, an attribute message's in its header's order field (the header's other
    messages hold there 0 or the order of an attribute whose slot they took, below the
    next order: libhdf5 does not clear a reused slot)."""
    for kind, info_kind in ((0x06, 0x02), (0x0C, 0x15)):
        held = [m for m in messages if m.kind == kind]
        got = info(w.file, first[info_kind], what) if info_kind in first else (None, UNDEFINED, ())
        if got[1] != UNDEFINED:
            continue  # dense storage: walk() checks its orders
        rewritten, overwritten = (0, 0), frozenset[int]()
        if kind == 0x06:
            orders = [sizes.link_name(sizes.within(w.file, m), m.at, what)[1] for m in held]
        else:
            orders = [m.order for m in held]
            if got[0] is not None and got[0] != len(held):  # orders missing: a rewritten list's?
                rewritten = scalelists.rewrites(w.file, [(m.at, m.order) for m in held], what)
                overwritten = dimids.overwritten(w.file, [(m.at, m.size, m.order) for m in held], what)
        kinds = "links" if kind == 0x06 else "attributes"
        creation_orders(orders, (got[0], None), f"the {kinds} of {what}", 1, rewritten, overwritten)
    following = info(w.file, first[0x15], what)[0] if 0x15 in first else None
    others = [m for m in messages + w.continuations if m.kind != 0x0C]
    if any(m.order is not None and m.order >= max(1, following or 0) for m in others):
        raise Invalid(
            f"hdf5: a message of the object header of {what} carries a creation order no attribute had"
        )


def walk(w: Walker, s: Storage, what: str, first: dict[int, Message]) -> None:
    """The heap, its indexes and every object they name."""
    if s.heap == UNDEFINED:
        if any(tree != UNDEFINED for tree, _ in s.trees):
            raise Invalid(f"hdf5: {what} has an index of dense {s.kind} storage but no heap")
        return
    if s.message in first:
        raise Invalid(f"hdf5: {what} keeps {s.kind}s both in its header and in dense storage")
    where = f"the {s.kind}s of {what}"
    heap = fractalheap.open_heap(w, s.heap, where, s.kind)
    names: dict[int, tuple[int | None, int]] = {}  # heap offset -> (creation order, flags) by name
    for address, kind in s.trees:
        if address == UNDEFINED:
            raise Invalid(f"hdf5: the dense {s.kind} storage of {what} lacks an index")
        size = heap.id_len + {5: 4, 6: 8, 8: 9, 9: 5}[kind]
        index = _index(heap, btree2.records(w, address, kind, (size, where)), kind)
        if kind in (5, 8):
            found = {offset: _object(w, kind, record, what, first) for offset, record in index.items()}
            keys = [(index[offset][0], name) for offset, (_, _, name) in found.items()]
            once.in_order(keys, _NAMED[kind], what, f"the records of the name index of {where}")
            names = {offset: (order, flags) for offset, (order, flags, _) in found.items()}
            objects = {offset: record[3:] for offset, record in index.items()}
        elif index.keys() != names.keys() or any(
            (record[1], record[2]) != names[offset] for offset, record in index.items()
        ):
            raise Invalid(
                f"hdf5: the creation order index of the dense {s.kind}s of {what} does not "
                "name the objects its name index names, in their creation order"
            )
    most = w.compact if s.kind == "attribute" else _links_most(w, first, what)
    choices.dense(most or 0, [length for _, length in objects.values()], heap.reverted, s.kind, what)
    untracked = None if s.kind == "link" else NO_ORDER
    rewritten, overwritten = (0, 0), frozenset[int]()
    if s.kind == "attribute" and s.max_order is not None and s.max_order != len(names):  # orders missing
        held = [(objects[o][0], objects[o][1], names[o][0]) for o in names]
        rewritten = scalelists.rewrites(w.file, [(at, order) for at, _, order in held], what)
        overwritten = dimids.overwritten(w.file, held, what)
        heap.copies = scalelists.deleted(w.file, held, s.max_order, what, overwritten)
        w.ledger.emptied.add(heap)  # a copy may also stay in a block the rewrite emptied
    creation_orders(  # an attribute opened while a message: its index among at most max compact
        [order for order, _ in names.values()], (s.max_order, untracked), f"the {s.kind}s of {what}",
        w.compact or 1, rewritten, overwritten,
    )
    if s.max_order is not None:  # tracked: 0..n-1, the order the heap got its objects in
        heap.orders = sorted(names, key=lambda offset: names[offset][0] or 0)
    _held(w, s, objects, names, first)
    fractalheap.settle(w, heap)


def _links_most(w: Walker, first: dict[int, Message], what: str) -> int:
    """The most links the group's header may keep (its group info message's phase change)."""
    return choices.link_phase_change(w, first[0x0A], what) if 0x0A in first else choices.DEFAULT_PHASE[0]


def _held(w: Walker, s: Storage, objects: dict[int, tuple[int, int]], names: dict, first: dict) -> None:
    """The dense objects as a continuation block of the header held them, in the order
    it got them (heldblocks.py): by creation order, its order field, where tracked (a
    tracked link's field is not its order: none), else as the heap got them; and the
    header's messages a continuation message may have displaced into such a block."""
    tracked = s.max_order is not None
    if tracked and s.kind == "link":
        return
    ordered = sorted(names, key=lambda o: names[o][0] or 0) if tracked else sorted(names)
    images = []
    for offset in ordered:
        address, length = objects[offset]
        field = (names[offset][0] or 0).to_bytes(2, "little") if tracked else b""
        head = struct.pack("<BHB", s.message, length, 0) if length < 1 << 16 else b""
        images.append(head + field + w.file.bytes(address, length, "a dense object") if head else b"")
    if all(images):
        w.ledger.held.add(Held(images=tuple(images), gap=3 + (2 if tracked else 0), movers=_movers(w, first)))


def _movers(w: Walker, first: dict) -> tuple[bytes, ...]:
    """The header's own messages of 16 bytes or more (a continuation message's size:
    H5O__alloc_chunk moves one such out of its way), as a block holds them."""
    out = []
    for m in first.values():
        if m.kind not in (0x00, 0x10) and m.size >= 16 and m.align == 1:
            head = struct.pack("<BHB", m.kind, m.size, m.flags)
            field = b"" if m.order is None else m.order.to_bytes(2, "little")
            out.append(head + field + w.file.bytes(m.at, m.size, "a message"))
    return tuple(out)


def _index(heap: fractalheap.Heap, records: list, kind: int) -> dict[int, tuple[int, ...]]:
    """heap offset -> (hash or creation order, creation order, message flags, file
    address, length) of each record's object, the records in key order (name index: by
    hash; creation order index: strictly increasing)."""
    reached: set[int] = set()
    out, before, n = {}, -1, heap.id_len
    for _, rec in records:
        if kind == 5:
            key, order, flags, heap_id = int.from_bytes(rec[:4], "little"), None, 0, rec[4:]
        elif kind == 6:
            key, heap_id = int.from_bytes(rec[:8], "little"), rec[8:]
            order, flags = key, 0
        else:
            heap_id, flags, order = rec[:n], rec[n], int.from_bytes(rec[n + 1 : n + 5], "little")
            key = int.from_bytes(rec[n + 5 : n + 9], "little") if kind == 8 else order
        if key < before or (kind in (6, 9) and key == before):
            raise Invalid(
                f"hdf5: the records of the version 2 B-tree (type {kind}) of {heap.what} are not in key order"
            )
        before = key
        offset, address, length = heap.find(heap_id, reached)
        out[offset] = (key, order, flags, address, length)
    return out


def _object(
    w: Walker, kind: int, record: tuple[int, ...], what: str, first: dict
) -> tuple[int | None, int, bytes]:
    """Walk one heap object as the message it is; its name's hash is the record's.
    Returns (its creation order: a link's own, an attribute's record's; its flags; its name)."""
    from .objects import Message  # the walk's own type (objects imports this module)

    key, order, flags, address, length = record
    if flags:
        raise Invalid(f"hdf5: a dense attribute of {what} has message flags {flags} (not supported)")
    m = Message(0x06 if kind == 5 else 0x0C, 0, address, length, 1)
    if length < 1 << 16:  # it may have been a message of the header (moved.py); a larger one never was
        w.dense.setdefault(w.at, []).append((m.kind, address, length))
        if kind == 8 and order is not None:  # its order field when a header held it (oldblocks.py)
            w.orders[address] = order
    w.take(m, what, first)
    within = sizes.within(w.file, m)
    if kind == 5:
        name, order = sizes.link_name(within, address, what)
    else:
        name = _attribute_name(within, address, what)
    if lookup3(name) != key:
        raise Invalid(
            f"hdf5: the name hash of a record of the dense storage of {what} is not lookup3 "
            f"of its name {name.decode('utf-8', 'replace')!r}"
        )
    return order, flags, name


def _attribute_name(f: File, at: int, what: str) -> bytes:
    """The name of the attribute message at `at` (storage.attribute checked its NUL)."""
    version, _, size = f.unpack("BBH", at, f"an attribute of {what}")
    return f.bytes(at + (9 if version == 3 else 8), size, f"an attribute of {what}").rstrip(b"\0")
