"""The elements of a dataset or attribute whose bytes are more than data
(elements.Element) wherever they are stored: an attribute, a compact or contiguous
dataset, or the chunks of a chunked one, read as their bytes stream by (an inflated
chunk a piece at a time: Elements). Padding is zeros. Each variable-length value (16
bytes: sequence length, global heap collection, object index; alone or a member of a
compound or an array) that points somewhere names one global heap object, which no
other value names and which holds exactly the value's bytes (storage.global_heaps);
a value that points nowhere (never written) is all zeros (or its address undefined)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from .elements import ELEMENT, Element
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Walker

MAX_REFS = 4_000_000  # variable-length values in one file
MAX_SHUFFLED = 64 << 20  # a shuffled chunk of values is gathered whole to unshuffle it
_WINDOW = 1 << 20  # bytes of elements checked at a time


def check(w: Walker, data: bytes | memoryview, e: Element, what: str) -> None:
    """The elements in `data` (a whole number of them): padding, then values; read a
    window of whole elements at a time, an element larger than a window a run at a time."""
    view = memoryview(data)
    whole = len(view) - len(view) % e.size
    if e.size > _WINDOW:
        for start in range(0, whole, e.size):
            _large(w, view[start : start + e.size], e, what)
        return
    step = _WINDOW // e.size * e.size
    for at in range(0, whole, step):
        raw = bytes(view[at : min(at + step, whole)])
        if e.pads and int.from_bytes(raw, "little") & int.from_bytes(
            e.mask() * (len(raw) // e.size), "little"
        ):
            _refuse(what)
        _refs(w, raw, e, what)


def _large(w: Walker, view: memoryview, e: Element, what: str) -> None:
    """One element larger than a window."""
    for start, end in e.pads:
        for at in range(start, end, _WINDOW):
            if bytes(view[at : min(end, at + _WINDOW)]).strip(b"\0"):
                _refuse(what)
    _refs(w, view, e, what)


def _refuse(what: str) -> None:
    raise Invalid(
        f"hdf5: the padding of a compound element of {what} holds data (bytes no reader returns "
        "must be zeros: write the data from zeroed arrays, e.g. numpy.zeros, or with a packed dtype)"
    )


def padding(value: bytes, e: Element, what: str) -> None:
    """The padding of one element (a fill value) is zeros."""
    if any(value[start:end].strip(b"\0") for start, end in e.pads):
        _refuse(what)


def _refs(w: Walker, raw: bytes | memoryview, e: Element, what: str) -> None:
    if not e.vlens:
        return
    w.values += len(raw) // e.size * len(e.vlens)
    if w.values > MAX_REFS:
        raise Invalid(f"hdf5: {what} holds more than {MAX_REFS} variable-length values")
    for start in range(0, len(raw), e.size):
        for offset, base in e.vlens:
            _ref(w, raw[start + offset : start + offset + ELEMENT], base, what)


def _ref(w: Walker, value: bytes | memoryview, base: int, what: str) -> None:
    """One value: its heap object, named by no other value, holds length x base bytes."""
    length = int.from_bytes(value[0:4], "little")
    heap = int.from_bytes(value[4:12], "little")
    index = int.from_bytes(value[12:16], "little")
    if not length and heap in (0, UNDEFINED):
        if index:  # (an undefined address, as older writers left it: no room for data)
            raise Invalid(f"hdf5: a variable-length value of {what} that points nowhere holds data")
        return
    objects = w.heap_refs.setdefault(heap, {})
    if index in objects:
        raise Invalid(
            f"hdf5: two variable-length values of {what} name object {index} of the "
            f"global heap collection at {heap}"
        )
    objects[index] = length * base


class Elements:
    """The elements of one chunk as its bytes stream by (feed, then close); a chunk that
    was shuffled (byte planes) is gathered whole first, up to MAX_SHUFFLED."""

    def __init__(self, w: Walker, e: Element, what: str, shuffled: tuple[bool, int]) -> None:
        self.w, self.e, self.what = w, e, what
        self.shuffled, size = shuffled
        self.carry = bytearray()
        if self.shuffled and size > MAX_SHUFFLED:
            raise Invalid(
                f"hdf5: a shuffled chunk of variable-length values or padded compounds of {what} "
                f"is larger than {MAX_SHUFFLED >> 20} MiB"
            )

    def feed(self, piece: bytes | memoryview) -> None:
        self.carry += piece
        if self.shuffled:
            return
        whole = len(self.carry) - len(self.carry) % self.e.size
        check(self.w, bytes(self.carry[:whole]), self.e, self.what)
        del self.carry[:whole]

    def close(self) -> None:
        data, size = self.carry, self.e.size
        if self.shuffled:
            n = len(data) // size
            data = bytearray(len(data))
            for j in range(size):
                data[j : n * size : size] = self.carry[j * n : (j + 1) * n]
        check(self.w, data, self.e, self.what)
