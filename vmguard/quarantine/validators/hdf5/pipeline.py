"""Shuffle's client data agrees with the element size: libhdf5 unshuffles a chunk by
the value it stored (H5Z__set_local_shuffle: the datatype's size; none for a
variable-length datatype, where the filter then skips every chunk), the walk by the
element size. One value, pinned: both agree on which bytes of a chunk are elements.
(The rest of the message, its reserved bytes, names, flags, deflate level and padding,
is shapes.pipeline's.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from .shapes import SHUFFLE, pipeline

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message, Walker


def check(f: File, at: int, item: tuple[int, bool], what: str) -> None:
    """The shuffle filter of the pipeline message at `at` (the first filter when present:
    shapes.checkable) of a dataset of item[0]-byte elements (item[1]: a variable-length
    datatype) holds the client data libhdf5 sets."""
    name = f"the filter pipeline of {what}"
    if SHUFFLE not in pipeline(f, at, what)[0]:
        return
    version = f.unpack("B", at, name)[0]
    entry = at + (8 if version == 1 else 2)
    count = f.unpack("H", entry + (6 if version == 1 else 4), name)[0]
    values = f.unpack(f"{count}I", entry + (16 if version == 1 else 6), name)
    size, variable = item
    wanted = () if variable else (size,)
    if values != wanted:
        raise Invalid(
            f"hdf5: {name} gives shuffle the client data {values}, where libhdf5 sets {wanted} "
            f"for {'a variable-length datatype' if variable else f'{size}-byte elements'}"
        )


def outside_datasets(_w: Walker, _m: Message, what: str, first: dict[int, Message]) -> None:
    """A filter pipeline in a header without a layout (a group's, filtering its link
    heap: H5Pset_deflate on a group creation property list) is refused; a dataset's is
    checked with its layout (storage.layout)."""
    if 0x08 not in first:
        raise Invalid(f"hdf5: a filter pipeline in {what}, which is not a dataset, is not supported")
