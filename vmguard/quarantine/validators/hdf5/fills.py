"""The fill value message (type 0x05) is exactly what libhdf5 writes (H5O__fill_new_encode):
its space allocation time, fill time and "defined" fields name one of their values, and
a value is stored only when one is defined. Versions 1 and 2: allocation time, fill time,
"defined", then, when defined, the value's size and the value (an undefined fill value:
no size and no value in version 2, a size of 0 in version 1, whose size field is always
there). Version 3: one flags byte (allocation time, fill time, "undefined", "have a
value"; bits 6-7 reserved), then a size and a value only when it has one, of at least a
byte. A reader asking for an undefined fill value gets nothing, so bytes stored after an
undefined one would be returned by no reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message

_ALLOC_TIMES = (1, 2, 3)  # early, late, incremental (the default, 0, is resolved before writing)
_FILL_TIMES = (0, 1, 2)  # on allocation, never, if set
_UNDEFINED, _HAVE_VALUE, _RESERVED = 0x10, 0x20, 0xC0


def size(f: File, at: int, what: str) -> int:
    """The bytes of the fill value message at `at`, refused where a field holds a value
    libhdf5 does not write."""
    head, stored = _value(f, at, f"the fill value message of {what}")
    return head + stored


def one_element(f: File, first: dict[int, Message], item: int, what: str) -> None:
    """A dataset's stored fill value is one element of its datatype (`item` bytes): libhdf5
    stores it converted to that type, and a reader gets that many bytes of it."""
    m = first.get(0x05)
    stored = 0 if m is None else _value(f, m.at, f"the fill value message of {what}")[1]
    if stored not in (0, item):
        raise Invalid(f"hdf5: the fill value of {what} is {stored} bytes, its elements {item}")


def _value(f: File, at: int, name: str) -> tuple[int, int]:
    """(bytes before the value, bytes of the value) of the fill value message at `at`."""
    version = f.unpack("B", at, name)[0]
    if version in (1, 2):
        return _v12(f, at, version, name)
    if version == 3:
        return _v3(f, at, name)
    raise Invalid(f"hdf5: {name} has version {version}, which is not supported")


def _v12(f: File, at: int, version: int, name: str) -> tuple[int, int]:
    alloc, time, defined = f.unpack("xBBB", at, name)
    _times(alloc, time, name)
    if defined not in (0, 1):
        raise Invalid(f"hdf5: {name} gives defined {defined} (libhdf5 writes 0 or 1)")
    if not defined and version == 2:
        return 4, 0
    stored = f.unpack("I", at + 4, name)[0]
    if not defined and stored:
        raise Invalid(
            f"hdf5: {name} stores a value of {stored} bytes yet says none is defined "
            "(a reader gets no fill value; libhdf5 writes a size of 0)"
        )
    return 8, stored


def _v3(f: File, at: int, name: str) -> tuple[int, int]:
    flags = f.unpack("xB", at, name)[0]
    _times(flags & 0x03, flags >> 2 & 0x03, name)
    if flags & _RESERVED:
        raise Invalid(f"hdf5: {name} has reserved flags set ({flags:#04x})")
    if flags & _UNDEFINED and flags & _HAVE_VALUE:
        raise Invalid(f"hdf5: {name} says its value is both undefined and stored (flags {flags:#04x})")
    if not flags & _HAVE_VALUE:
        return 2, 0
    stored = f.unpack("I", at + 2, name)[0]
    if not stored:
        raise Invalid(f"hdf5: {name} says it has a value and stores 0 bytes (libhdf5 writes no size then)")
    return 6, stored


def _times(alloc: int, time: int, name: str) -> None:
    if alloc not in _ALLOC_TIMES or time not in _FILL_TIMES:
        raise Invalid(
            f"hdf5: {name} has space allocation time {alloc} or fill time {time}, values libhdf5 never writes"
        )
