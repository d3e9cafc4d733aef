"""Variable-length values (16 bytes each: sequence length, global heap collection, object
index) wherever they are stored: an attribute, a compact or contiguous dataset, or the
chunks of a chunked one, read as their bytes stream by (an inflated chunk a piece at a
time: Elements). Each value that points somewhere names one global heap object, which
no other value names and which holds exactly the value's bytes (storage.global_heaps);
a value that points nowhere (never written) is all zeros (or its address undefined)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Walker

MAX_REFS = 4_000_000  # variable-length values in one file
MAX_SHUFFLED = 64 << 20  # a shuffled chunk of values is gathered whole to unshuffle it
ELEMENT = 16


def refs(w: Walker, data: bytes | memoryview, base: int, what: str) -> None:
    """The heap objects the values in `data` (a whole number of them) point to; `base`
    is the size of one item of a sequence (1 for a string)."""
    count = len(data) // ELEMENT
    w.values += count
    if w.values > MAX_REFS:
        raise Invalid(f"hdf5: {what} holds more than {MAX_REFS} variable-length values")
    raw = bytes(data)
    for at in range(0, count * ELEMENT, ELEMENT):
        length = int.from_bytes(raw[at : at + 4], "little")
        heap = int.from_bytes(raw[at + 4 : at + 12], "little")
        index = int.from_bytes(raw[at + 12 : at + 16], "little")
        if not length and heap in (0, UNDEFINED):
            if index:  # (an undefined address, as older writers left it: no room for data)
                raise Invalid(f"hdf5: a variable-length value of {what} that points nowhere holds data")
            continue
        objects = w.heap_refs.setdefault(heap, {})
        if index in objects:
            raise Invalid(
                f"hdf5: two variable-length values of {what} name object {index} of the "
                f"global heap collection at {heap}"
            )
        objects[index] = length * base


class Elements:
    """The values of one chunk as its bytes stream by (feed, then close); a chunk that
    was shuffled (byte planes) is gathered whole first, up to MAX_SHUFFLED."""

    def __init__(self, w: Walker, base: int, what: str, shuffled: tuple[bool, int]) -> None:
        self.w, self.base, self.what = w, base, what
        self.shuffled, size = shuffled
        self.carry = bytearray()
        if self.shuffled and size > MAX_SHUFFLED:
            raise Invalid(
                f"hdf5: a shuffled chunk of variable-length values of {what} is larger "
                f"than {MAX_SHUFFLED >> 20} MiB"
            )

    def feed(self, piece: bytes | memoryview) -> None:
        self.carry += piece
        if self.shuffled:
            return
        whole = len(self.carry) - len(self.carry) % ELEMENT
        refs(self.w, bytes(self.carry[:whole]), self.base, self.what)
        del self.carry[:whole]

    def close(self) -> None:
        data = self.carry
        if self.shuffled:
            n = len(data) // ELEMENT
            data = bytearray(len(data))
            for j in range(ELEMENT):
                data[j : n * ELEMENT : ELEMENT] = self.carry[j * n : (j + 1) * n]
        refs(self.w, data, self.base, self.what)
