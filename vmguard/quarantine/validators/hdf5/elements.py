"""What each byte of one element of a datatype is: a compound's members at their offsets
and an array's items (nested at any depth), the atomic types' pinned bits (atoms.py:
padding bits of integers, bitfields and floats; NULLTERM strings), references, variable-
length values (16 bytes pointing into a global heap: vlen.py) wherever they lie, the
fixed-length strings a reader prints (fixedtext.py), and padding: the bytes of a
compound that no member covers. No reader returns padding, and libhdf5 writes there
whatever the writer's memory held (h5py: numpy's gaps of an aligned dtype, uninitialised
unless the array was zeroed), so padding must be zeros (vlen.check)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import atoms, sizes

if TYPE_CHECKING:
    from .ledger import File

MAX_PARTS = 4096  # variable-length values, references and rules in one element
MAX_PINNED = 64 << 20  # an element with pinned bits is at most this large
ELEMENT = 16  # a variable-length value in the file: length, heap collection, object index
_COMPOUND, _VLEN, _ARRAY = 6, 9, 10
PADDING = "the padding of a compound element"
TEXT = "text"  # a heap object of a variable-length string (no NUL)
# the base type libhdf5 gives every variable-length string: native unsigned char, 8 bits
_UCHAR = {bytes.fromhex("100000000100000000000800"), bytes.fromhex("100100000100000000000800")}


@dataclass(frozen=True, slots=True, kw_only=True)
class Element:
    size: int
    vlens: tuple[tuple[int, Element | str], ...] = ()  # (offset, its items: an Element or TEXT)
    mask: bytes = b""  # bits that hold what libhdf5 writes (b"": none) ...
    want: bytes = b""  # ... and what that is
    pairs: bytes = b""  # 1 where a NUL may not be followed by a non-NUL (NULLTERM strings)
    refs: tuple[tuple[int, int], ...] = ()  # (offset, atoms.OBJECT_REF or REGION_REF)
    rules: tuple[tuple[int, int, str], ...] = ()  # [start, end) of each pinned run: what it is
    texts: bytes = b""  # its fixed-length strings: 1 where one starts, 2 where it goes on (b"": none)

    @property
    def checked(self) -> bool:
        """Whether any byte of the element is more than data (or text a reader prints)."""
        return bool(self.vlens or self.mask or self.pairs or self.refs or self.texts)

    def rule(self, offset: int) -> str:
        """What the pinned byte at `offset` of an element is."""
        return next((text for start, end, text in self.rules if start <= offset < end), PADDING)


def element(f: File, at: int, what: str, depth: int = 0) -> Element:
    """The element of the datatype at `at` (`f` ends where its message does)."""
    if depth > sizes.MAX_NESTING:
        raise Invalid(f"hdf5: the datatype of {what} nests more than {sizes.MAX_NESTING} deep")
    head, bits, _, size = f.unpack("BHBI", at, f"the datatype of {what}")
    cls, version = head & 0x0F, head >> 4
    if cls == _VLEN:
        return _vlen(f, at, (bits, size), what, depth)
    if cls == _COMPOUND:
        parts = [
            (offset, element(f, pos, what, depth + 1))
            for offset, pos, _ in sizes.members(f, at, (version, bits, size), what, depth)
        ]
        return _compound(size, parts, what)
    if cls == _ARRAY:
        base = element(f, sizes.array_base(f, at, version, what), what, depth + 1)
        count = prod(sizes.array_dims(f, at, what))
        if base.size * count != size:
            raise Invalid(
                f"hdf5: an array datatype of {what} is {size} bytes, its items {count} x {base.size}"
            )
        return _repeated(base, count, what) if base.checked else Element(size=size)
    if cls == atoms.ENUM:
        base = element(f, at + 8, what, depth + 1)
        if base.size != size:
            raise Invalid(f"hdf5: an enum datatype of {what} is {size} bytes, its base type {base.size}")
        return base
    return _atom(f, at, (cls, bits, size), what)


def _atom(f: File, at: int, head: tuple[int, int, int], what: str) -> Element:
    cls, bits, size = head
    kind = atoms.reference(cls, bits, size)
    if kind is not None:
        return Element(size=size, refs=((0, kind),))
    if cls == atoms.STRING and size:  # a reader prints it (fixedtext.py)
        _pinnable(size, what)
        ended = atoms.nullterm(cls, bits) and size > 1
        pairs = b"\1" * (size - 1) + b"\0" if ended else b""
        return Element(size=size, pairs=pairs, texts=b"\1" + b"\2" * (size - 1))
    pinned = atoms.pinned(f, at, head)
    if pinned is None:
        return Element(size=size)
    spare, value = pinned
    offset, precision = f.unpack("HH", at + 8, what)
    kind = {atoms.FLOAT: "float", atoms.BITFIELD: "bitfield"}.get(cls, "integer")
    text = f"the padding bits of a {size}-byte {kind} (precision {precision} at bit {offset})"
    if cls == atoms.FLOAT and precision == 80:  # numpy's long double: 6 bytes as memory held them
        text += " (numpy.longdouble leaves them as memory held them: store float64)"
    return Element(
        size=size,
        mask=spare.to_bytes(size, "little"),
        want=value.to_bytes(size, "little"),
        rules=((0, size, text),),
    )


def _vlen(f: File, at: int, head: tuple[int, int], what: str, depth: int) -> Element:
    bits, size = head
    base = element(f, at + 8, what, depth + 1)
    if base.vlens or any(kind != atoms.OBJECT_REF for _, kind in base.refs):
        raise Invalid(
            f"hdf5: a variable-length type of variable-length values or region references ({what}) "
            "is not supported"
        )
    if size != ELEMENT:
        raise Invalid(f"hdf5: a variable-length datatype of {what} is {size} bytes, not {ELEMENT}")
    if bits & 0x0F != 1:
        return Element(size=ELEMENT, vlens=((0, base),))
    if f.bytes(at + 8, 12, what) not in _UCHAR:
        raise Invalid(
            f"hdf5: the base type of a variable-length string of {what} is not libhdf5's (unsigned char)"
        )
    return Element(size=ELEMENT, vlens=((0, TEXT),))


def _compound(size: int, parts: list[tuple[int, Element]], what: str) -> Element:
    """Members in offset order, none overlapping another or the element's end; the gaps
    between them and after the last are padding, with the members' own."""
    vlens: list = []
    refs: list = []
    rules: list[tuple[int, int, str]] = []
    pads: list[tuple[int, int]] = []
    pos = 0
    for offset, part in sorted(parts, key=lambda p: p[0]):
        if offset < pos or offset + part.size > size:
            raise Invalid(f"hdf5: the members of a compound datatype of {what} overlap or overrun it")
        pads.append((pos, offset))
        vlens += [(offset + o, base) for o, base in part.vlens]
        refs += [(offset + o, kind) for o, kind in part.refs]
        rules += [(offset + s, offset + e, text) for s, e, text in part.rules]
        pos = offset + part.size
        _bounded(len(vlens) + len(refs) + len(rules), what)  # as it grows: a nesting of arrays is no bomb
    pads.append((pos, size))
    texts = _texts(size, parts, what)
    if not any(s < e for s, e in pads) and not any(p.mask or p.pairs for _, p in parts):
        return Element(size=size, vlens=tuple(vlens), refs=tuple(refs), texts=texts)
    _pinnable(size, what)
    mask, want, pairs = _pins(size, parts, pads)
    return Element(
        size=size, vlens=tuple(vlens), refs=tuple(refs), mask=mask, want=want, pairs=pairs,
        rules=tuple(rules), texts=texts,
    )


def _texts(size: int, parts: list[tuple[int, Element]], what: str) -> bytes:
    """The map of a compound's fixed-length strings: its members' at their offsets."""
    if not any(part.texts for _, part in parts):
        return b""
    _pinnable(size, what)
    texts = bytearray(size)
    for offset, part in parts:
        texts[offset : offset + len(part.texts)] = part.texts
    return bytes(texts)


def _pins(size: int, parts: list[tuple[int, Element]], pads: list[tuple[int, int]]) -> tuple[bytes, ...]:
    """(mask, want, pairs) of a compound: its members' at their offsets, its padding's all
    pinned to zero."""
    mask, want, pairs = bytearray(size), bytearray(size), bytearray(size)
    for offset, part in parts:
        for field, value in ((mask, part.mask), (want, part.want), (pairs, part.pairs)):
            field[offset : offset + len(value)] = value
    for start, end in pads:
        mask[start:end] = b"\xff" * (end - start)
    return bytes(mask), bytes(want), bytes(pairs) if any(pairs) else b""


def _repeated(base: Element, count: int, what: str) -> Element:
    step = base.size
    _bounded(count * (len(base.vlens) + len(base.refs)), what)
    if base.mask or base.pairs or base.texts:
        _pinnable(step * count, what)
    if count * len(base.rules) <= MAX_PARTS:
        rules = tuple((i * step + s, i * step + e, t) for i in range(count) for s, e, t in base.rules)
    else:  # one text for all (what the rules of the items say), not a rule per item
        rules = ((0, step * count, " or ".join(sorted({t for _, _, t in base.rules}))),)
    return Element(
        size=step * count,
        vlens=tuple((i * step + o, b) for i in range(count if base.vlens else 0) for o, b in base.vlens),
        refs=tuple((i * step + o, k) for i in range(count if base.refs else 0) for o, k in base.refs),
        mask=base.mask * count if base.mask else b"",
        want=base.want * count if base.mask else b"",
        pairs=base.pairs * count if base.pairs else b"",
        rules=rules,
        texts=base.texts * count,
    )


def _pinnable(size: int, what: str) -> None:
    if size > MAX_PINNED:
        raise Invalid(
            f"hdf5: an element of {what} with padding, padding bits or fixed-length strings is larger "
            f"than {MAX_PINNED >> 20} MiB"
        )


def _bounded(parts: int, what: str) -> None:
    if parts > MAX_PARTS:
        raise Invalid(f"hdf5: an element of {what} holds more than {MAX_PARTS} values and references")
