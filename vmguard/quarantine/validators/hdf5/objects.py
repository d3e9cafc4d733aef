"""The object walk: from the superblock to every object header reached from the root
group (v1 and v2 headers and their continuation blocks), each message of each header
understood or refused. Groups' symbol tables are symbols.py's, dataset storage and
heaps storage.py's; dense link and attribute storage dense.py's."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..stream import Invalid
from . import (
    arrangement,
    choices,
    converted,
    deleteddims,
    dense,
    edges,
    fields,
    kinds,
    moved,
    nullpieces,
    oldlists,
    once,
    pipeline,
    sizes,
    storage,
    superblock,
    symbols,
    tuning,
    versions,
)
from .elements import Element
from .ledger import UNDEFINED, File, Ledger

MAX_OBJECTS = 200_000
MAX_MESSAGES = 2_000_000  # in all headers together

# Messages whose content is the object's own description: nothing in them points
# elsewhere in the file, and they lie inside their header's extent.
_PLAIN = {0x00, 0x01, 0x03, 0x05, 0x0A, 0x0B, 0x0D, 0x0E, 0x12}  # 0x05: fills.py, via sizes
_REPEATED = {0x00, 0x06, 0x0C, 0x10}  # null, link, attribute, continuation: the rest are unique
_REFUSED = {
    0x07: "external data files (the data lives outside the file)",
    0x09: "the bogus message (a test message)",
    0x0F: "shared object header messages (a shared message table)",
    0x14: "a driver information message",
}


@dataclass(slots=True)
class Message:
    kind: int
    flags: int
    at: int  # the address of its data
    size: int
    align: int  # 8 in a v1 header (messages padded to 8 bytes), 1 in a v2 one
    order: int | None = None  # its creation order field (a v2 header tracking attribute order)


@dataclass(slots=True)
class Walker:
    """One walk of one file: what was reached, what is left to visit."""

    file: File
    ledger: Ledger
    todo: list[tuple[int, str]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    heap_refs: dict[int, dict[int, tuple]] = field(default_factory=dict)  # heap -> object -> (bytes, what)
    objrefs: set[int] = field(default_factory=set)  # the addresses object references hold
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # dataset -> its dimensions
    extension: int = UNDEFINED  # the superblock extension's header: an object of no reader
    values: int = 0  # variable-length values read (vlen.MAX_REFS)
    cached: dict[int, set[tuple[int, int] | None]] = field(default_factory=dict)  # group -> (B-tree, heap)
    links: dict[int, int] = field(default_factory=dict)  # object header -> hard links reaching it
    refs: dict[int, int] = field(default_factory=dict)  # object header -> its reference count
    types: dict[int, tuple[int, int, Element | None]] = field(default_factory=dict)  # storage.datatype
    later: list[tuple[Message, str, dict[int, Message], int]] = field(default_factory=list)
    groups: dict[int, tuple[int, int]] = field(default_factory=dict)  # group -> (B-tree, heap)
    named: dict[int, dict[bytes, int | bytes]] = field(default_factory=dict)  # group -> link name -> target
    names: dict[int, set[tuple[once.Named, bytes]]] = field(default_factory=dict)  # object -> names (once.py)
    at: int = UNDEFINED  # the object header being visited
    compact: int | None = None  # the most attributes its (v2) header may keep (choices.py)
    messages: int = 0
    stale: list[moved.Stale] = field(default_factory=list)  # the visited header's non-zero nulls
    continued: bool = False  # the visited header has continuation blocks
    layout: arrangement.Placement | None = None  # its blocks' messages, as they lie (arrangement.py)
    continuations: list[Message] = field(default_factory=list)  # the visited header's continuation messages
    dense: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # header -> (type, at, size)
    orders: dict[int, int] = field(default_factory=dict)  # a dense attribute's address -> its creation order
    budget: nullpieces.Budget = field(default_factory=nullpieces.Budget)
    bounds: frozenset[versions.Bound] = versions.EITHER  # the libver bounds the visited header may be of

    def reach(self, address: int, what: str) -> None:
        if address != UNDEFINED:
            self.todo.append((address, what))
            self.links[address] = self.links.get(address, 0) + 1

    def run(self) -> None:
        while self.todo:
            address, what = self.todo.pop()
            if address in self.seen:
                continue  # a hard link to an object already walked
            if len(self.seen) >= MAX_OBJECTS:
                raise Invalid(f"hdf5: more than {MAX_OBJECTS} objects")
            self.seen.add(address)
            self.visit(address, what)
        for m, what, first, at in self.later:  # every committed datatype is known now
            self.at = at
            _HANDLERS[m.kind](self, m, what, first)
        storage.global_heaps(self)
        dangling = self.objrefs - (self.seen - {self.extension}) - {0}  # 0: h5py's Reference()
        if dangling:
            raise Invalid(f"hdf5: an object reference to no object (address {min(dangling)})")
        converted.settle(self)  # every cached B-tree and heap the group's own, or left by libhdf5
        for address, count in self.refs.items():
            if count != self.links.get(address, 1):
                raise Invalid(
                    f"hdf5: the object header at {address} counts {count} links where "
                    f"{self.links.get(address, 1)} reach it"
                )
        self.ledger.settle()

    def visit(self, address: int, what: str) -> None:
        self.at, self.stale, self.continuations = address, [], []
        waiting = len(self.later)
        messages = header(self, address, what)
        self.bounds = versions.header(self.file, address, what)
        first: dict[int, Message] = {}
        for m in messages:
            if m.kind in first and m.kind not in _REPEATED:
                raise Invalid(f"hdf5: the object header of {what} holds two messages of type {m.kind:#06x}")
            first[m.kind] = m
        kinds.check(first, what)
        dtype = first.get(0x03)
        if dtype is not None:
            tuning.datatype_flags(dtype.flags, 0x08 not in first, what)
        if dtype is not None and not dtype.flags & 0x02:  # a committed datatype's, for its users
            self.types[address] = storage.datatype(sizes.within(self.file, dtype), dtype.at, what)
        for m in messages:
            self.take(m, what, first)
        kinds.one_group(first, what)  # after them: a message's own fault is named first
        dense.compact(self, messages, first, what)
        moved.check(self, messages, first, what)
        moved.owner(self, messages, first)
        oldlists.offer(self.ledger.lists, self.file, messages, what)
        deleteddims.offer(self.ledger.dims, self.file, address, messages, what)
        arrangement.check(messages, first, self.layout, what)
        if self.compact is not None:
            choices.compact(sum(m.kind == 0x0C for m in messages), self.compact, "attribute", what)
        if 0x0A in first:
            links = choices.link_phase_change(self, first[0x0A], what)
            choices.compact(sum(m.kind == 0x06 for m in messages), links, "link", what)
        if len(self.later) == waiting:  # no attribute waits for its datatype: its names are all read
            self.names.pop(address, None)

    def take(self, m: Message, what: str, first: dict[int, Message]) -> None:
        """One message of the object being visited (in its header, or an object of its
        dense storage: dense.py), declared exactly its content."""
        content = sizes.content(self.file, m, what)
        self.bounds = versions.narrow(self.file, m, self.bounds, what)
        if content is not None:
            storage.padded(self, m, content, f"a message of type {m.kind:#06x} of {what}")
        if storage.uses_committed(self.file, m, first.get(0x03)):
            self.later.append((m, what, first, self.at))  # its datatype is another object's
        else:
            self.message(m, what, first)

    def message(self, m: Message, what: str, first: dict[int, Message]) -> None:
        if m.flags & 0x02:  # shared: the message lives in another object's header
            holder = storage.shared(self.file, m.at, what)
            self.reach(holder, f"the object holding a message shared by {what}")
        elif m.kind in _REFUSED:
            raise Invalid(f"hdf5: {_REFUSED[m.kind]} in {what} is not supported")
        elif m.kind in _HANDLERS:
            _HANDLERS[m.kind](self, m, what, first)
        elif m.kind not in _PLAIN:
            raise Invalid(f"hdf5: object header message type {m.kind:#06x} in {what} is not supported")


def header(w: Walker, address: int, what: str) -> list[Message]:
    """The messages of an object header and its continuation blocks; claims them all."""
    f = w.file
    if f.bytes(address, 4, f"the object header of {what}") == b"OHDR":
        blocks, width, order = _header_v2(w, address, what)
    elif f.unpack("B", address, f"the object header of {what}")[0] == 1:
        _, reserved, count, refs, size, padding = f.unpack("BBHIII", address, f"the object header of {what}")
        w.refs[address] = refs
        if reserved or padding:
            raise Invalid(f"hdf5: the reserved bytes of the object header of {what} hold data")
        w.ledger.claim(address, 16 + size, f"the object header of {what}")
        blocks, width, order, w.compact = [(address + 16, size)], 8, 0, None
    else:
        raise Invalid(f"hdf5: the object header of {what} at {address} has an unknown version")
    messages: list[Message] = []
    layout: list[tuple[Message, ...]] = []
    named: dict[int, int] = {}  # a continuation message's data -> the block it names
    for start, size in blocks:  # grows as continuation messages are met
        layout.append(tuple(_messages(w, start, size, width, order, what)))
        for m in layout[-1]:
            if m.kind == 0x10:
                named[m.at] = len(blocks)
                blocks.append(_continuation(w, m, width, what))
                w.continuations.append(m)
            else:
                messages.append(m)
    seen = sum(map(len, layout))
    w.continued = len(blocks) > 1
    w.layout = arrangement.Placement(tuple(layout), named, width + order)
    if width == 4:  # where each block's last message starts (oldblocks.Blocks._grown)
        w.ledger.blocks.lasts |= {(address if i == 0 else at - 4): seq[-1].at - 4 - order
                                  for i, ((at, _), seq) in enumerate(zip(blocks, layout, strict=True)) if seq}
    if width == 8 and seen != count:
        raise Invalid(f"hdf5: the object header of {what} declares {count} messages and holds {seen}")
    return messages


def _header_v2(w: Walker, address: int, what: str) -> tuple[list[tuple[int, int]], int, int]:
    version, flags = w.file.unpack("4xBB", address, f"the object header of {what}")
    if version != 2 or flags & 0xC0:
        raise Invalid(f"hdf5: the object header of {what} has version {version} or unknown flags")
    at = address + 6 + (16 if flags & 0x20 else 0)
    phase = w.file.unpack("HH", at, f"the object header of {what}") if flags & 0x10 else None
    w.compact = choices.attr_phase_change(phase, what)
    at += 4 if flags & 0x10 else 0
    width = 1 << (flags & 0x03)
    size = int.from_bytes(w.file.bytes(at, width, f"the object header of {what}"), "little")
    if width > 1 and size < 1 << (4 * width):  # H5O_HDR_CHUNK0_SIZE: the fewest bytes that hold it
        raise Invalid(
            f"hdf5: the object header of {what} gives its size {size} in {width} bytes (libhdf5: fewer)"
        )
    w.ledger.claim_checked(address, at + width + size + 4 - address, f"the object header of {what}")
    w.refs[address] = 1  # unless a reference count message says more
    return [(at + width, size)], 4, 2 if flags & 0x04 else 0


def _continuation(w: Walker, m: Message, width: int, what: str) -> tuple[int, int]:
    address, length = w.file.unpack("QQ", m.at, f"a continuation message of {what}")
    name = f"a continuation block of the object header of {what}"
    w.ledger.blocks.owned[address, length] = {w.at}  # whose (a freed block names its header's)
    if not w.ledger.claim(address, length, name):
        raise Invalid(f"hdf5: {name} at {address} is reached twice (a loop)")
    if width == 8:
        return address, length
    w.file.signature(address, b"OCHK", name)
    w.file.checksummed(address, length, name)
    if length < 8:
        raise Invalid(f"hdf5: {name} at {address} is too short")
    return address + 4, length - 8


def _messages(w: Walker, start: int, size: int, width: int, order: int, what: str):  # noqa: ANN202
    """The messages of one block: v1 (8-byte headers, 8-byte aligned) or v2 (4 bytes,
    2 more with creation order); a v2 block's last bytes too short for a message are zero."""
    f, end, pos = w.file, start + size, start
    f.inside(start, size, f"the object header of {what}")
    while end - pos >= width + order:
        w.messages += 1
        if w.messages > MAX_MESSAGES:
            raise Invalid(f"hdf5: more than {MAX_MESSAGES} header messages")
        if width == 8:
            kind, length, flags, reserved = f.unpack("HHBH", pos, what)
            if reserved or f.unpack("B", pos + 7, what)[0] or length % 8:
                raise Invalid(f"hdf5: a message header in the object header of {what} at {pos} is malformed")
        else:
            kind, length, flags = f.unpack("BHB", pos, what)
        data = pos + width + order
        if data + length > end:
            raise Invalid(f"hdf5: a message of the object header of {what} overruns its block")
        if kind == 0 and f.bytes(data, length, what).strip(b"\0") and width == 4:
            w.stale.append(moved.Stale(at=data, size=length, block=size, end=end))  # moved.py, after dense
        elif kind == 0 and f.bytes(data, length, what).strip(b"\0"):
            raise Invalid(
                f"hdf5: a null message in the object header of {what} at {data} holds data (a payload, or "
                "the remains of messages libhdf5 moved there, as when a file written in steps moves its "
                "links or attributes to dense storage: an earlier state of the file that vmguard cannot "
                "check: h5repack the file)"
            )
        tuning.message_flags(kind, flags, f"the object header of {what}")
        created = f.unpack("H", pos + width, what)[0] if order else None
        yield Message(kind, flags, data, length, 8 if width == 8 else 1, created)
        pos = data + length
    if f.bytes(pos, end - pos, what).strip(b"\0") or (width == 8 and pos != end):
        raise Invalid(
            f"hdf5: the gap at the end of the object header of {what} ({pos}) holds data, or is in a "
            "version 1 header (whose messages fill each block: libhdf5 writes null messages)"
        )


def _symbol_table(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    btree, heap = w.file.unpack("QQ", m.at, f"the symbol table message of {what}")
    w.groups[w.at] = (btree, heap)
    symbols.symbol_table(w, btree, heap, what)


def _link(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    f = w.file
    version, flags = f.unpack("BB", m.at, f"a link message of {what}")
    if version != 1:
        raise Invalid(f"hdf5: link message version {version} in {what} is not supported")
    cset = fields.link_flags(f, m.at, f"a link message of {what}")
    pos = m.at + 2
    kind = f.unpack("B", pos, what)[0] if flags & 0x08 else 0
    pos += (1 if flags & 0x08 else 0) + (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    length = int.from_bytes(f.bytes(pos, width, what), "little")
    raw = fields.stored_string(f.bytes(pos + width, length, what), f"the name of a link of {what}")
    fields.name_charset(cset, raw, f"the name of a link of {what}")
    once.name(w, once.Named.LINK, raw, what)
    name, pos = raw.decode("utf-8", "replace"), pos + width + length
    if kind == 0:
        w.reach(f.unpack("Q", pos, what)[0], f"{what.rstrip('/')}/{name}")
        w.named.setdefault(w.at, {})[raw] = f.unpack("Q", pos, what)[0]
    elif kind == 1:  # a soft link's value: its length, then the path (no NUL)
        size = f.unpack("H", pos, what)[0]
        w.named.setdefault(w.at, {})[raw] = f.bytes(pos + 2, size, what)
        fields.stored_string(f.bytes(pos + 2, size, what), f"the value of the soft link {name!r} in {what}")
    elif kind == 64:
        raise Invalid(
            f"hdf5: the external link {name!r} in {what} is refused (a reader's HDF5 library "
            "would open a file and path the guest named)"
        )
    else:
        raise Invalid(f"hdf5: link type {kind} in {what} is not supported")


def _refcount(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    version, count = w.file.unpack("BI", m.at, f"the reference count of {what}")
    if version != 0:
        raise Invalid(f"hdf5: the reference count message of {what} has version {version}")
    w.refs[w.at] = count


_HANDLERS = {
    0x11: _symbol_table,
    0x12: fields.mtime,
    0x0E: fields.old_mtime,
    0x0B: pipeline.outside_datasets,
    0x06: _link,
    0x02: dense.link_info,
    0x15: dense.attribute_info,
    0x17: choices.file_space,
    0x13: fields.k_message,
    0x16: _refcount,
    0x08: storage.layout,
    0x0C: storage.attribute,
    0x04: edges.old_fill_value,
}


def walk(buf: bytes | memoryview, size: int) -> dict[int, tuple[int, str]]:
    """Account for every byte of a whole HDF5 file (random access to `buf`); Invalid
    names the first structure or byte that breaks the rule. Returns the extents claimed
    (start -> (end, what)), for tests and diagnostics."""
    f = File(buf, size)
    w = Walker(f, Ledger(f))
    superblock.read(w, size)
    w.run()
    return w.ledger.extents
