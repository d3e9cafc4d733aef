"""Which kind of object a header is, and that it holds only that kind's messages.

libhdf5 tells an object's kind from its messages, in this order (H5O__obj_class_real):
a group (a symbol table or link info message), else a dataset (a datatype and a
dataspace message; it must have a layout too), else a committed datatype (a datatype
message). A reader then reads only that kind's messages: a dataspace, fill value,
layout or datatype message in a group is never read, yet the walk would check and
publish it (a dataset's data under a group's header is data no reader returns), and a
dataspace or fill value message beside no layout is in no dataset a reader can open.
libhdf5 writes none of them there, so they are refused.

A group is one kind, and libhdf5 decides which by one message (H5G__obj_get_linfo, used
by every lookup and iteration of H5Gobj.c): with a link info message its links are its
link messages or the dense storage that message names, and a symbol table message is
never read; without one, its symbol table, and link messages are never read; with
neither it is no group (H5O__group_isa). `group` is that decision, `one_group` refuses a
header holding the other kind's messages too: the walk would check and publish links no
reader shows (session 40, attack rh5: a soft link of 64 KB in an old-style root, a link
info message that left a whole old-style group empty to h5py). libhdf5 writes no such
header: a group it converts (converted.py) loses its symbol table message."""

from __future__ import annotations

from enum import Enum
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


class Group(Enum):
    """The kind of group a header is, as libhdf5 reads it."""

    NONE = "no group"
    SYMBOL_TABLE = "the old kind (no link info message: its symbol table)"
    LINKS = "the new kind (a link info message: its link messages or dense storage)"


_HELD = {Group.LINKS: "a link info message", Group.SYMBOL_TABLE: "a symbol table"}
_UNREAD = {  # the messages of a group of the other kind (or of any group), never read there
    Group.LINKS: {0x11: "a symbol table"},
    Group.SYMBOL_TABLE: {0x0A: "a group info message", 0x06: "link messages"},
    Group.NONE: {0x0A: "a group info message", 0x06: "link messages"},
}


def group(first: dict[int, Message]) -> Group:
    """The kind of group the header holding `first` is: libhdf5 looks for a link info
    message first (H5G__obj_get_linfo), then a symbol table (H5O__group_isa)."""
    if 0x02 in first:
        return Group.LINKS
    return Group.SYMBOL_TABLE if 0x11 in first else Group.NONE


def one_group(first: dict[int, Message], what: str) -> None:
    """The header holds no message of a kind of group other than the one libhdf5 reads."""
    kind = group(first)
    unread = " and ".join(name for k, name in _UNREAD[kind].items() if k in first)
    if not unread:
        return
    if kind is Group.NONE:
        raise Invalid(
            f"hdf5: the object header of {what} holds {unread} and neither a symbol table nor a link "
            "info message: libhdf5 reads no group there (H5O__group_isa), so no reader shows its links"
        )
    raise Invalid(
        f"hdf5: {what} holds {_HELD[kind]} and {unread}: libhdf5 reads one kind of group, here "
        f"{kind.value} (H5G__obj_get_linfo), never the other: links no reader shows (libhdf5 writes no "
        "such group; h5repack the file to keep what a reader sees)"
    )
