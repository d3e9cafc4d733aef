"""h5netcdf's _Netcdf4Dimid set twice (session 40, issue #13's "nothing approved is lost").
h5netcdf writes a dimension's `_Netcdf4Dimid` first when it makes the scale (order 0),
then, giving the dimension a coordinate variable of fixed size, sets it again where
`not attrs.get("_Netcdf4Dimid", False)`: the first dimension's id is 0, so it always does.
h5py overwrites an attribute by H5Adelete then H5Acreate (h5py issue 1385), so libhdf5
frees order 0 and gives the new message the next order, with the same name and value; in
the header the deleted message became a null of zeros and H5O__condense_header slid the
others over it (H5O__release_mesg, H5O__move_msgs_forward), nothing of it left. So every
such h5netcdf file shows order 0 missing on its first dimension's scale. Admitted
(dense.creation_orders): order 0 missing, and only it, where the object is a dimension
scale (CLASS) holding a `_Netcdf4Dimid` of a later order whose value is the 4 zero bytes
of dimension id 0; any other gap, or one beside another `_Netcdf4Dimid`, is still refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scalelists import attribute_name
from .shapes import attribute_places

if TYPE_CHECKING:
    from .ledger import File

NAME = b"_Netcdf4Dimid"
CLASS = b"CLASS"  # a dimension scale's (H5DSset_scale): h5netcdf sets the id twice only on one
ORDER = 0  # the first message h5netcdf gives a new scale
VALUE = bytes(4)  # dimension id 0 as an int32: the only value h5netcdf sets again


def overwritten(f: File, attributes: list[tuple[int, int, int | None]], what: str) -> frozenset[int]:
    """The creation orders an overwrite of `_Netcdf4Dimid` may have left missing among
    an object's attributes (where each message lies, its size, its creation order):
    {0} for a dimension scale (its CLASS attribute) holding a `_Netcdf4Dimid` of a later
    order whose value is dimension id 0, else none."""
    names = {attribute_name(f, at, what): (at, size, order) for at, size, order in attributes}
    if CLASS not in names or NAME not in names:
        return frozenset()
    at, size, order = names[NAME]
    value = attribute_places(f, at, what)[3]
    if order and at + size - value == len(VALUE) and f.bytes(value, len(VALUE), what) == VALUE:
        return frozenset({ORDER})
    return frozenset()
