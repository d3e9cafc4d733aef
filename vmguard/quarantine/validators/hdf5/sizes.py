"""How many bytes each header message's content takes, parsed from the content itself:
a message is declared exactly that, padded (v1 headers) to 8 bytes with zeros
(storage.padded), so no message carries bytes a reader never reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import terminal
from ..stream import Invalid
from . import fills, properties
from .ledger import File
from .shapes import dataspace, pipeline

if TYPE_CHECKING:
    from .objects import Message

MAX_NESTING = 32  # datatypes inside datatypes: far beyond any real file
_FIXED = {0x10: 16, 0x11: 16, 0x12: 8, 0x0E: 16, 0x13: 7, 0x16: 5}
# class -> the class bits it defines (the rest reserved, zero): byte order, padding, sign,
# normalization, sign location, character set, member count, tag length...
_CLASS_BITS = {
    0: 0x0F,
    1: 0xFF7F,
    2: 0x01,
    3: 0xFF,
    4: 0x0F,
    5: 0xFF,
    6: 0xFFFF,
    7: 0x0F,
    8: 0xFFFF,
    9: 0xFFF,
    10: 0,
}
# class -> (shift, mask, largest value) of each field of its class bits that names one of a few
# values: float normalisation (bits 4-5), string padding and character set, vlen kind, padding
# and character set; reserved values are set by no writer (libhdf5 decodes them unchecked)
_ENUMERATED = {
    1: ((4, 0x3, 2),),
    3: ((0, 0xF, 2), (4, 0xF, 1)),
    9: ((0, 0xF, 1), (4, 0xF, 2), (8, 0xF, 1)),
}
_DATATYPE_PROPERTIES = {0: 4, 1: 12, 2: 2, 3: 0, 4: 4, 7: 0}  # class -> bytes after the 8-byte header


def content(f: File, m: Message, what: str) -> int | None:
    """The bytes of `m`'s content; None for the messages checked elsewhere (NIL: zeros;
    attribute: storage.attribute)."""
    if m.flags & 0x02:
        return shared(f, m.at, what)
    if m.kind in _FIXED:
        return _FIXED[m.kind]
    parse = _PARSERS.get(m.kind)
    return None if parse is None else parse(within(f, m), m.at, what)


def within(f: File, m: Message) -> File:
    """The file as far as the message reaches: parsing its content reads nothing past it
    (a crafted count of members or a missing NUL stops at the message's end)."""
    return File(f.buf, min(f.eof, m.at + m.size))


def shared(f: File, at: int, what: str) -> int:
    """The size of a shared message: version 2, type 2 (committed), then the address of
    the object header holding the message, as libhdf5 writes it under every libver
    (H5O__shared_encode keeps version 3 for the shared message heap; a committed
    reference in version 3 reads alike: a bit per message). Version 1 (HDF5 1.6
    and older: 6 reserved bytes and a whole symbol table entry, of which later libraries
    read 16 bytes) and messages in a shared message heap are refused."""
    version, kind = f.unpack("BB", at, f"a shared message of {what}")
    if version == 1:
        raise Invalid(f"hdf5: a version 1 shared message (HDF5 1.6 and older) in {what} is not supported")
    if version == 3 and kind == 1:
        raise Invalid(f"hdf5: shared messages in the shared message heap ({what}) are not supported")
    if version != 2 or kind != 2:
        raise Invalid(
            f"hdf5: a shared message of {what} has version {version} and type {kind} "
            "(libhdf5 writes version 2, type 2: a committed object's header)"
        )
    return 10


def datatype(f: File, at: int, what: str, depth: int = 0) -> int:
    """The size of the datatype at `at` (with the datatypes it is built from)."""
    if depth > MAX_NESTING:
        raise Invalid(f"hdf5: the datatype of {what} nests more than {MAX_NESTING} deep")
    head, bits, high, size = f.unpack("BHBI", at, f"the datatype of {what}")
    cls, version = head & 0x0F, head >> 4
    if (bits | high << 16) & ~_CLASS_BITS.get(cls, 0):
        raise Invalid(f"hdf5: the reserved bits of a datatype of {what} are set")
    if not _enumerated(cls, bits):
        raise Invalid(
            f"hdf5: the class bits of a datatype of {what} ({bits:#06x}) name a padding, character set, "
            "normalisation or kind libhdf5 never writes"
        )
    properties.check(f, at, what)
    if cls in _DATATYPE_PROPERTIES:
        return 8 + _DATATYPE_PROPERTIES[cls]
    if cls == 5:
        return 8 + _tag(f, at + 8, bits & 0xFF, what)
    if cls == 9:  # variable-length: its base type
        return 8 + datatype(f, at + 8, what, depth + 1)
    if cls == 10:
        return _array(f, at, version, what, depth)
    if cls == 6:
        return _compound(f, at, (version, bits, size), what, depth)
    if cls == 8:
        return _enum(f, at, (version, bits), what, depth)
    raise Invalid(f"hdf5: datatype class {cls} in {what} is unknown")


def _enumerated(cls: int, bits: int) -> bool:
    """Whether the class bits that name one of a few values (a string's padding and
    character set, a float's mantissa normalisation, a variable-length type's kind) name
    one; a sequence's padding and character set bits are zero (libhdf5 writes them only
    for strings)."""
    if cls == 9 and not bits & 0x0F and bits & 0xFF0:
        return False
    fields = _ENUMERATED.get(cls, ())
    return all(bits >> shift & mask <= largest for shift, mask, largest in fields)


def _tag(f: File, at: int, size: int, what: str) -> int:
    """An opaque datatype's tag: its characters, then NULs up to the next multiple of 8
    (as libhdf5 writes it; a reader gets the characters up to the NUL)."""
    tag = f.bytes(at, size, f"the datatype of {what}")
    length = tag.find(b"\0") if b"\0" in tag else size
    if tag[length:].strip(b"\0") or size != -(-length // 8) * 8:
        raise Invalid(f"hdf5: the tag of an opaque datatype of {what} is not NUL-padded as libhdf5 writes it")
    terminal.check(tag[:length], f"the tag of an opaque datatype of {what}", "hdf5")  # h5dump prints it
    return size


def _name(f: File, at: int, version: int, what: str, called: str = "") -> int:
    """The bytes of a member name (or what `called` names: a comment): NUL-terminated,
    padded to 8 before version 3; its characters text a reader prints (h5py's dtype.names
    and enum dictionaries, h5dump's listing: session 40)."""
    length = f.bytes(at, max(0, f.eof - at), f"a name in {what}").find(b"\0")
    if length < 0:
        raise Invalid(f"hdf5: a name in a message of {what} has no NUL")
    terminal.check(f.bytes(at, length, what), called or f"a member name in the datatype of {what}", "hdf5")
    if version >= 3:
        return length + 1
    padded = -(-(length + 1) // 8) * 8  # with zeros: what libhdf5 writes, no reader reads
    if f.bytes(at + length, padded - length, f"a name in {what}").strip(b"\0"):
        raise Invalid(f"hdf5: the padding after a member name in the datatype of {what} holds data")
    return padded


def _compound(f: File, at: int, head: tuple[int, int, int], what: str, depth: int) -> int:
    return max((pos + size for _, pos, size in members(f, at, head, what, depth)), default=at + 8) - at


def members(
    f: File, at: int, head: tuple[int, int, int], what: str, depth: int
) -> Iterator[tuple[int, int, int]]:
    """(offset in the element, address, size) of the datatype of each member of the
    compound at `at`; head is (version, class bits, element size)."""
    version, count, size = head
    pos = at + 8
    width = max(1, (size.bit_length() + 7) // 8)
    for _ in range(count & 0xFFFF):
        pos += _name(f, pos, version, what)
        offset = int.from_bytes(f.bytes(pos, 4 if version < 3 else width, what), "little")
        if version == 1:
            _member_dims(f, pos + 4, what)
        pos += {1: 32, 2: 4}.get(version, width)  # offset (v1: and an array's dimensions)
        n = datatype(f, pos, what, depth + 1)
        yield offset, pos, n
        pos += n


def _member_dims(f: File, at: int, what: str) -> None:
    """The 28 bytes after a version 1 compound member's offset (dimensionality, 3 reserved,
    permutation, 4 reserved, four dimension sizes): libhdf5 writes zeros (an array member
    is an array datatype) and reads none of them for dimensionality 0."""
    fields = f.bytes(at, 28, f"the datatype of {what}")
    if fields[0]:
        raise Invalid(
            f"hdf5: a version 1 compound member of {what} with {fields[0]} array dimensions "
            "(HDF5 1.4 and older) is not supported"
        )
    if fields.strip(b"\0"):
        raise Invalid(
            f"hdf5: the dimension fields of a version 1 compound member of {what} hold data "
            "(libhdf5 writes zeros: reserved, permutation and sizes of no dimension)"
        )


def _enum(f: File, at: int, head: tuple[int, int], what: str, depth: int) -> int:
    version, members = head
    base = f.unpack("4xI", at + 8, f"the datatype of {what}")[0]
    pos = at + 8 + datatype(f, at + 8, what, depth + 1)
    for _ in range(members & 0xFFFF):
        pos += _name(f, pos, version, what)
    return pos + (members & 0xFFFF) * base - at


def _array(f: File, at: int, version: int, what: str, depth: int) -> int:
    """An array datatype; before version 3 its rank is followed by 3 reserved bytes and,
    after its dimensions, a permutation libhdf5 writes as 0, 1, 2... (no reader uses it)."""
    pos = array_base(f, at, version, what)
    if version == 2:
        rank = f.unpack("B", at + 8, f"the datatype of {what}")[0]
        reserved = f.unpack("3B", at + 9, what)
        if reserved + f.unpack("I" * rank, at + 12 + 4 * rank, what) != (0, 0, 0, *range(rank)):
            raise Invalid(
                f"hdf5: the reserved bytes or permutation of an array datatype of {what} are not what "
                "libhdf5 writes (zeros; 0, 1, 2...)"
            )
    return pos - at + datatype(f, pos, what, depth + 1)


def array_dims(f: File, at: int, what: str) -> tuple[int, ...]:
    """The dimensions of the array datatype at `at`."""
    version = f.unpack("B", at, f"the datatype of {what}")[0] >> 4
    rank = f.unpack("B", at + 8, f"the datatype of {what}")[0]
    return f.unpack("I" * rank, at + (12 if version == 2 else 9), f"the datatype of {what}")


def array_base(f: File, at: int, version: int, what: str) -> int:
    """The address of the base type of the array datatype at `at`."""
    rank = f.unpack("B", at + 8, f"the datatype of {what}")[0]
    return at + 9 + (3 + 8 * rank if version == 2 else 4 * rank)  # v2: reserved, permutation


def _layout(f: File, at: int, what: str) -> int:
    version, cls = f.unpack("BB", at, f"the layout of {what}")
    if cls == 3:
        raise Invalid(f"hdf5: {what} is a virtual dataset (its data lives in other files): not supported")
    if cls == 0:
        return 4 + f.unpack("H", at + 2, what)[0]
    if cls == 1:
        return 18
    if version == 3:
        return 11 + 4 * f.unpack("B", at + 2, what)[0]
    flags, ndims, width = f.unpack("BBB", at + 2, what)
    pos = at + 5 + ndims * width
    index = f.unpack("B", pos, what)[0]
    sizes = {1: 8 + (12 if flags & 0x02 else 0), 2: 8, 3: 1 + 8, 4: 5 + 8, 5: 6 + 8}  # info + address
    if index not in sizes:
        raise Invalid(f"hdf5: chunk index type {index} in {what} is unknown")
    return pos + 1 + sizes[index] - at


def _old_fill(f: File, at: int, what: str) -> int:
    return 4 + f.unpack("I", at, f"the fill value of {what}")[0]


def _link(f: File, at: int, what: str) -> int:
    _, flags = f.unpack("BB", at, f"a link of {what}")
    kind = f.unpack("B", at + 2, what)[0] if flags & 0x08 else 0
    pos = at + 2 + (1 if flags & 0x08 else 0) + (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    pos += width + int.from_bytes(f.bytes(pos, width, what), "little")
    if kind == 0:
        return pos + 8 - at
    return pos + 2 + f.unpack("H", pos, what)[0] - at  # a soft or external link's value


def link_name(f: File, at: int, what: str) -> tuple[bytes, int | None]:
    """(name, creation order or None) of the link message at `at`."""
    _, flags = f.unpack("BB", at, f"a link of {what}")
    order = f.unpack("Q", at + 2 + (1 if flags & 0x08 else 0), what)[0] if flags & 0x04 else None
    pos = at + 2 + (1 if flags & 0x08 else 0) + (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    return f.bytes(pos + width, int.from_bytes(f.bytes(pos, width, what), "little"), what), order


def _flagged(fixed: int, optional: tuple[tuple[int, int], ...]):  # noqa: ANN202
    """Version, flags, `fixed` bytes and a field of each (flag, bytes) the flags name."""

    def size(f: File, at: int, what: str) -> int:
        flags = f.unpack("xB", at, what)[0]
        return 2 + fixed + sum(n for bit, n in optional if flags & bit)

    return size


def _comment(f: File, at: int, what: str) -> int:
    return _name(f, at, 3, what, f"the comment of {what}")


def _file_space(f: File, at: int, what: str) -> int:
    version, strategy, persist = f.unpack("BBB", at, what)
    if (version == 0 and strategy == 1) or (version >= 1 and persist):
        raise Invalid("hdf5: persisted free-space sections are not supported (h5py's fs_persist=True)")
    return 10 if version == 0 else 29


_PARSERS = {
    0x01: lambda f, at, what: dataspace(f, at, what).size,
    0x03: datatype,
    0x04: _old_fill,
    0x05: fills.size,
    0x06: _link,
    0x08: _layout,
    0x0B: lambda f, at, what: pipeline(f, at, what)[1],
    0x0D: _comment,
    0x02: _flagged(16, ((0x01, 8), (0x02, 8))),
    0x0A: _flagged(0, ((0x01, 4), (0x02, 4))),
    0x15: _flagged(16, ((0x01, 2), (0x02, 8))),
    0x17: _file_space,
}
