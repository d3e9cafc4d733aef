"""Third HDF5 attack: payloads in datatype and dataspace messages (issue #13, session 30).

Each builder writes an ordinary file with h5py and patches bytes that libhdf5 reads past
(skips, or decodes into nothing a reader returns), keeping the file readable. Offsets are
found from the specification's layouts (see hdf5_attack_c_bytes.py), not from vmguard.
"""

from __future__ import annotations

import struct

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import (
    PAYLOAD,
    find,
    h5file,
    move_into_nil,
    put,
)

DTYPE, DSPACE = 0x03, 0x01
PAIR = np.dtype([("a", "<i4"), ("b", "<i4")])


def _table(f) -> None:
    f.create_dataset("t", data=np.zeros(3, PAIR))


def _member_field(field: int) -> bytearray:
    """Compound v1 member 'a': name (8), offset (4), then ndims (1), reserved (3),
    permutation (4), reserved (4), four dimension sizes (16): libhdf5 writes zeros and,
    for ndims 0, reads none of them."""
    buf = h5file(_table)
    hdr, msg = find(buf, "t", DTYPE)
    put(buf, hdr, msg.body + 8 + 8 + 4 + field, PAYLOAD)
    return buf


def cmpd_v1_perm() -> bytearray:
    return _member_field(4)


def cmpd_v1_reserved() -> bytearray:
    return _member_field(8)


def cmpd_v1_unused_dim() -> bytearray:
    return _member_field(12)


def cmpd_v1_attr_and_committed() -> bytearray:
    """The same member fields in an attribute's compound and a committed datatype's:
    PWND in the attribute's member permutation, PWND in the committed type's first
    dimension size (the class reaches every datatype message)."""
    def build(f):
        f.attrs.create("row", np.zeros((), PAIR))
        f["T"] = PAIR
    buf = h5file(build)
    hdr, msg = find(buf, "/", 0x0C)
    at = bytes(buf[msg.body:msg.body + msg.size]).index(b"a\0\0\0\0\0\0\0")
    put(buf, hdr, msg.body + at + 8 + 4 + 4, PAYLOAD)
    hdr, msg = find(buf, "T", DTYPE)
    put(buf, hdr, msg.body + 8 + 8 + 4 + 12, PAYLOAD)
    return buf


def cmpd_v1_member_all() -> bytearray:
    """All 27 bytes after member a's dimensionality: 'PWN' + PWND x 6."""
    buf = h5file(_table)
    hdr, msg = find(buf, "t", DTYPE)
    put(buf, hdr, msg.body + 8 + 8 + 4 + 1, PAYLOAD[:3] + PAYLOAD * 6)
    return buf


def array_v2_perm() -> bytearray:
    """Array datatype v2 (a compound member '(2,)i4'): a 4-byte permutation index per
    dimension, written as 0 and skipped by libhdf5's decoder."""
    buf = h5file(lambda f: f.create_dataset("t", data=np.zeros(3, [("a", "(2,)<i4")])))
    hdr, msg = find(buf, "t", DTYPE)
    member = msg.body + 8 + 8 + 4  # compound v2 member: name (8), offset (4)
    put(buf, hdr, member + 8 + 4 + 4, PAYLOAD)  # array header (8), ndims+res (4), dim
    return buf


def array_attr_perm() -> bytearray:
    """Same field in an attribute's array datatype (h5py's array_create)."""
    def build(f):
        tid = h5py.h5t.array_create(h5py.h5t.STD_I32LE, (2,))
        space = h5py.h5s.create_simple((1,))
        attr = h5py.h5a.create(f.id, b"arr", tid, space)
        attr.write(np.zeros((1, 2), "<i4"), mtype=tid)
    buf = h5file(build)
    hdr, msg = find(buf, "/", 0x0C)
    body = bytes(buf[msg.body:msg.body + msg.size])
    at = body.index(b"\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00")
    put(buf, hdr, msg.body + at + 8, PAYLOAD)
    return buf


def opaque_tag_after_nul() -> bytearray:
    """Opaque datatype with tag 'ab': the tag field is padded to 8 with NULs; PWND after
    the NUL. h5py returns the tag (b'ab') only up to the NUL."""
    def build(f):
        tid = h5py.h5t.create(h5py.h5t.OPAQUE, 4)
        tid.set_tag(b"ab")
        space = h5py.h5s.create_simple((2,))
        ds = h5py.h5d.create(f.id, b"o", tid, space)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.zeros(2, "V4"), mtype=tid)
    buf = h5file(build)
    hdr, msg = find(buf, "o", DTYPE)
    put(buf, hdr, msg.body + 8 + 3, PAYLOAD)
    return buf


def opaque_tag_longer() -> bytearray:
    """Opaque tag length (class bits 0-7) raised from 8 to 16 by moving the message into
    the header's NIL space: 'ab\\0\\0\\0\\0\\0\\0' + 'PWND' + 4 zeros."""
    def build(f):
        tid = h5py.h5t.create(h5py.h5t.OPAQUE, 4)
        tid.set_tag(b"ab")
        space = h5py.h5s.create_simple((2,))
        h5py.h5d.create(f.id, b"o", tid, space)
    buf = h5file(build)
    hdr, msg = find(buf, "o", DTYPE)
    body = bytearray(buf[msg.body:msg.body + 16])
    body[1] = 16
    body += PAYLOAD + bytes(4)
    move_into_nil(buf, hdr, msg, bytes(body))
    return buf


def float_ebias() -> bytearray:
    """A 4-byte float whose exponent bias field (4 bytes) is PWND: libhdf5 converts the
    data with it; a reader gets floats, never the bias bytes."""
    def build(f):
        tid = h5py.h5t.IEEE_F32LE.copy()
        tid.set_ebias(struct.unpack("<I", PAYLOAD)[0])
        space = h5py.h5s.create_simple((2,))
        h5py.h5d.create(f.id, b"x", tid, space)
    return h5file(build)


def dataspace_v1_reserved() -> bytearray:
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    hdr, msg = find(buf, "d", DSPACE)
    put(buf, hdr, msg.body + 4, PAYLOAD)
    return buf


def dataspace_v1_perm() -> bytearray:
    """Dataspace v1 with the permutation-index flag: 8 bytes per dimension appended."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    hdr, msg = find(buf, "d", DSPACE)
    body = bytearray(buf[msg.body:msg.body + msg.size])
    body[2] |= 2
    body += PAYLOAD + bytes(4)
    move_into_nil(buf, hdr, msg, bytes(body))
    return buf


def shared_dtype_v1() -> bytearray:
    """A dataset using a committed datatype: its shared datatype message rewritten as a
    version 1 shared message (version, type, 6 reserved bytes, a skipped 8-byte field,
    the address): libhdf5 reads it and skips 14 bytes; PWND in the reserved ones."""
    def build(f):
        f["T"] = np.dtype("<i4")
        f.create_dataset("d", data=np.arange(3, dtype="<i4"), dtype=f["T"])
    buf = h5file(build)
    hdr, msg = find(buf, "d", DTYPE)
    addr = bytes(buf[msg.body + 2:msg.body + 10])
    body = bytes([1, 2]) + PAYLOAD + bytes(2) + bytes(8) + addr
    move_into_nil(buf, hdr, msg, body)
    return buf


ATTACKS = {
    "cmpd-v1-member-perm.h5": cmpd_v1_perm,
    "cmpd-v1-member-reserved.h5": cmpd_v1_reserved,
    "cmpd-v1-member-unused-dim.h5": cmpd_v1_unused_dim,
    "cmpd-v1-attr-and-committed.h5": cmpd_v1_attr_and_committed,
    "cmpd-v1-member-all.h5": cmpd_v1_member_all,
    "array-v2-perm.h5": array_v2_perm,
    "array-attr-perm.h5": array_attr_perm,
    "opaque-tag-after-nul.h5": opaque_tag_after_nul,
    "opaque-tag-longer.h5": opaque_tag_longer,
    "float-ebias.h5": float_ebias,
    "dataspace-v1-reserved.h5": dataspace_v1_reserved,
    "dataspace-v1-perm.h5": dataspace_v1_perm,
    "shared-dtype-v1.h5": shared_dtype_v1,
}
