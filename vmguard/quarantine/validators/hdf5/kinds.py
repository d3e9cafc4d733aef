"""Which kind of object a header is, and that it holds only that kind's messages.

libhdf5 tells an object's kind from its messages, in this order (H5O__obj_class_real):
a group (a symbol table or link info message), else a dataset (a datatype and a
dataspace message; it must have a layout too), else a committed datatype (a datatype
message). A reader then reads only that kind's messages: a dataspace, fill value,
layout or datatype message in a group is never read, yet the walk would check and
publish it (a dataset's data under a group's header is data no reader returns), and a
dataspace or fill value message beside no layout is in no dataset a reader can open.
libhdf5 writes none of them there, so they are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .objects import Message

_GROUP = {0x11: "symbol table", 0x02: "link info", 0x0A: "group info", 0x06: "link"}
_DATASET = {0x01: "dataspace", 0x04: "old fill value", 0x05: "fill value", 0x08: "layout"}
_DATATYPE = 0x03


def check(first: dict[int, Message], what: str) -> None:
    """The messages of one object header (by type: `first`) are one kind's."""
    group = sorted(_GROUP[k] for k in first.keys() & _GROUP.keys())
    dataset = sorted(_DATASET[k] for k in first.keys() & _DATASET.keys())
    if group and (dataset or _DATATYPE in first):
        extra = ", ".join(dataset + (["datatype"] if _DATATYPE in first else []))
        raise Invalid(
            f"hdf5: the object header of {what} is a group ({', '.join(group)} messages) and holds "
            f"{extra} messages, which a reader never reads there"
        )
    if dataset and 0x08 not in first:
        raise Invalid(
            f"hdf5: the object header of {what} holds {', '.join(dataset)} messages and no layout "
            "(in no dataset a reader can open: it never reads them)"
        )
