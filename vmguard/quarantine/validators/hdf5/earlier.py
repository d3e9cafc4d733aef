"""An attribute's earlier value in a null message, put back to today's before the null is
matched (moved.py): the one thing a null holds that the file no longer shows.

h5py's attrs.modify writes a scalar attribute in place: libhdf5 decodes the new value
into the message's native struct and marks it dirty, but the chunk image keeps the old
bytes until the next flush encodes it. A message slid forward over a null in between
(H5O__move_msgs_forward: a memmove of the image) leaves the tail of its image, so the
null keeps the attribute's dataspace and its earlier value (session 39, attack nh5's
sweep seeds 134 and 362: the root's float 'fixed' of 3.0 and 1.0 where it is 4.0 and 5.0
now). What is put back: one scalar number attribute of the header (oldmessages.earlier:
at most 8 bytes) a null, each place where the last CONTEXT bytes of its message before
its value (a scalar's dataspace, 02 00 00 00 in version 2) are followed by a value not
today's, all those values the same (one earlier value); the null is then matched as
ever, so the context and what follows must be what libhdf5 leaves. What is free: that
value's bytes (64 bits a null at most) and which attribute (log2 of the scalars)."""

from __future__ import annotations

CONTEXT = 4  # bytes of the message right before its value that must show before an earlier value


def restored(data: bytes, scalars: list[tuple[bytes, int]]) -> list[bytes]:
    """`data` with one scalar's earlier values put back to today's, for each scalar
    (body, value size) whose earlier values it shows (none: [])."""
    out = []
    for body, size in scalars:
        value, lead = body[-size:], body[-size - CONTEXT : -size]
        places, olds = [], set()
        at = data.find(lead)
        while at >= 0:
            where = at + CONTEXT
            if where + size <= len(data) and data[where : where + size] != value:
                places.append(where)
                olds.add(data[where : where + size])
            at = data.find(lead, at + 1)
        if places and len(olds) == 1:
            fixed = bytearray(data)
            for where in places:
                fixed[where : where + size] = value
            out.append(bytes(fixed))
    return out
