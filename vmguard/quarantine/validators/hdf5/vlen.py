"""The elements of a dataset or attribute whose bytes are more than data
(elements.Element) wherever they are stored: an attribute, a compact or contiguous
dataset, the chunks of a chunked one, read as their bytes stream by (an inflated chunk a
piece at a time: Elements), and the items of a variable-length sequence in its heap
object. Pinned bits (compound padding, the padding bits of numbers) hold what libhdf5
writes there, a NULLTERM string nothing after its NUL: each checked on a window of
elements at once, as integers (C speed, no per-element Python). Each variable-length
value (16 bytes: sequence length, global heap collection, object index) and dataset
region reference (12 bytes: collection, object index) that points somewhere names one
global heap object, which no other value names (storage.global_heaps, heaps.py); one that
points nowhere (never written) is all zeros (or its address undefined). Object references
are gathered and resolved once the walk knows the file's objects (objects.Walker.run)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import fixedtext
from .atoms import OBJECT_REF
from .elements import ELEMENT, PADDING, TEXT, Element
from .fixedtext import Numbering
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .fixedtext import Grid
    from .objects import Walker

MAX_REFS = 4_000_000  # variable-length values and references in one file
MAX_SHUFFLED = 64 << 20  # a shuffled chunk of values is gathered whole to unshuffle it
_WINDOW = 1 << 20  # bytes of elements checked at a time
_NONZERO = bytes([0]) + bytes([1]) * 255  # translate: 1 where a byte is not NUL
REGION = "region"  # a heap object holding a dataset region reference's selection


def check(
    w: Walker | None, data: bytes | memoryview, e: Element, what: str, numbering: Numbering | None = None
) -> None:
    """The elements in `data` (a whole number of them): pinned bits, fixed-length strings
    (named by `numbering`, by default `what`'s elements from 0), then values; read a
    window of whole elements at a time, an element larger than a window a run at a time.
    Without a walker (a heap object's items), no values."""
    view = memoryview(data)
    whole = len(view) - len(view) % e.size
    numbering = numbering or Numbering(what)
    if e.size > _WINDOW:
        for start in range(0, whole, e.size):
            _large(w, view[start : start + e.size], e, what)
            if e.texts:
                at = replace(numbering, first=numbering.first + start // e.size)
                fixedtext.large(view[start : start + e.size], e.texts, at)
        return
    step = _WINDOW // e.size * e.size
    for at in range(0, whole, step):
        raw = bytes(view[at : min(at + step, whole)])
        pinned(raw, e, what)
        if e.texts:
            fixedtext.elements(raw, e.texts, replace(numbering, first=numbering.first + at // e.size))
        if w is not None:
            _refs(w, raw, e, what)


def pinned(raw: bytes, e: Element, what: str) -> None:
    """The pinned bits of whole elements in `raw`."""
    n = len(raw) // e.size
    if e.mask and int.from_bytes(raw, "little") & _tiled(e.mask, n) != _tiled(e.want, n):
        _bits(raw, (e.mask * n, e.want * n), e, what)
    if e.pairs:
        _terminated(raw, _tiled(e.pairs, n), what)


@lru_cache(maxsize=8)  # each up to a window (1 MiB)
def _tiled(pattern: bytes, n: int) -> int:
    """`pattern` repeated n times, as an integer (one window's, computed once per shape)."""
    return int.from_bytes(pattern * n, "little")


def _bits(raw: bytes, pin: tuple[bytes, bytes], e: Element, what: str, at: int = 0) -> None:
    """The bits `pin` masks of `raw` (bytes `at`.. of an element run) are what it wants."""
    mask, want = pin
    if int.from_bytes(raw, "little") & int.from_bytes(mask, "little") == int.from_bytes(want, "little"):
        return
    wrong = next(i for i, (b, m, v) in enumerate(zip(raw, mask, want, strict=False)) if b & m != v)
    rule = e.rule((at + wrong) % e.size)
    if rule == PADDING:
        raise Invalid(
            f"hdf5: {rule} of {what} holds data (bytes no reader returns must be zeros: write the "
            "data from zeroed arrays, e.g. numpy.zeros, or with a packed dtype)"
        )
    raise Invalid(
        f"hdf5: {rule} of {what} hold data (the bits outside a number's fields are the padding its "
        "datatype names, as libhdf5 writes them; no reader returns them)"
    )


def _terminated(raw: bytes, pairs: int, what: str) -> None:
    """No NUL at a position `pairs` marks is followed by a non-NUL (`raw` may be one
    byte longer than `pairs`: a string that goes on in the next window)."""
    nonzero = int.from_bytes(raw.translate(_NONZERO), "little")
    zero = nonzero ^ _tiled(b"\1", len(raw))
    if zero & (nonzero >> 8) & pairs:
        raise Invalid(
            f"hdf5: a NULLTERM string of {what} holds bytes after its terminating NUL (a reader "
            "returns the string up to the NUL; libhdf5 pads it with NULs when it converts one, a "
            "string written as it lies in memory keeps what its buffer held: zero the buffer)"
        )


def _large(w: Walker | None, view: memoryview, e: Element, what: str) -> None:
    """One element larger than a window, a window of it at a time."""
    for at in range(0, e.size, _WINDOW):
        end = min(e.size, at + _WINDOW)
        if e.mask:
            _bits(bytes(view[at:end]), (e.mask[at:end], e.want[at:end]), e, what, at)
        if e.pairs:
            _terminated(bytes(view[at : end + 1]), int.from_bytes(e.pairs[at:end], "little"), what)
    if w is not None:
        _refs(w, view, e, what)


def one(value: bytes, e: Element, what: str) -> None:
    """One element (a fill value): its pinned bits and strings (a reader returns it for
    elements never written); references in it are refused."""
    check(None, value, e, what)
    if e.vlens or e.refs:
        raise Invalid(f"hdf5: a fill value of variable-length values or references ({what}) is not supported")


def _refs(w: Walker, raw: bytes | memoryview, e: Element, what: str) -> None:
    if not e.vlens and not e.refs:
        return
    w.values += len(raw) // e.size * (len(e.vlens) + len(e.refs))
    if w.values > MAX_REFS:
        raise Invalid(f"hdf5: {what} holds more than {MAX_REFS} variable-length values and references")
    for start in range(0, len(raw), e.size):
        for offset, base in e.vlens:
            value = raw[start + offset : start + offset + ELEMENT]
            length = int.from_bytes(value[0:4], "little")
            size = length * base.size if base != TEXT else length
            _heap_id(w, value[4:], (size, base, what), what)
        for offset, kind in e.refs:
            if kind == OBJECT_REF:
                w.objrefs.add(int.from_bytes(raw[start + offset : start + offset + 8], "little"))
            else:
                _heap_id(w, raw[start + offset : start + offset + 12], (None, REGION, what), what)


def _heap_id(w: Walker, value: bytes | memoryview, want: tuple, what: str) -> None:
    """A global heap ID (collection, object index): its heap object, named by no other
    value, holds `want` (bytes or None, what the bytes are)."""
    heap = int.from_bytes(value[0:8], "little")
    index = int.from_bytes(value[8:12], "little")
    if not want[0] and heap in (0, UNDEFINED):
        if index:  # (an undefined address, as older writers left it: no room for data)
            raise Invalid(
                f"hdf5: a variable-length value or reference of {what} that points nowhere holds data"
            )
        return
    objects = w.heap_refs.setdefault(heap, {})
    if index in objects:
        raise Invalid(
            f"hdf5: two variable-length values of {what} name object {index} of the "
            f"global heap collection at {heap}"
        )
    objects[index] = want


class Elements:
    """The elements of one chunk as its bytes stream by (feed, then close); a chunk that
    was shuffled (byte planes) is gathered whole first, up to MAX_SHUFFLED. `grid` is
    where the chunk lies in the dataset (fixedtext.Numbering: to name an element)."""

    def __init__(
        self, w: Walker, e: Element, what: str, shuffled: tuple[bool, int], grid: Grid | None = None
    ) -> None:
        self.w, self.e, self.what, self.numbering = w, e, what, Numbering(what, grid)
        self.shuffled, size = shuffled
        self.carry = bytearray()
        if self.shuffled and size > MAX_SHUFFLED:
            raise Invalid(
                f"hdf5: a shuffled chunk of {self.what}, whose elements hold more than data (variable-length "
                f"values, references, padding, padding bits, fixed-length strings), is larger than "
                f"{MAX_SHUFFLED >> 20} MiB"
            )

    def feed(self, piece: bytes | memoryview) -> None:
        self.carry += piece
        if self.shuffled:
            return
        whole = len(self.carry) - len(self.carry) % self.e.size
        check(self.w, bytes(self.carry[:whole]), self.e, self.what, self.numbering)
        self.numbering = replace(self.numbering, first=self.numbering.first + whole // self.e.size)
        del self.carry[:whole]

    def close(self) -> None:
        data, size = self.carry, self.e.size
        if self.shuffled:
            n = len(data) // size
            data = bytearray(len(data))
            for j in range(size):
                data[j : n * size : size] = self.carry[j * n : (j + 1) * n]
        check(self.w, data, self.e, self.what, self.numbering)
