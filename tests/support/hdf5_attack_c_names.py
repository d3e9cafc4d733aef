"""Third HDF5 attack: names, heaps and datatype class bits (issue #13, session 30).

Local heap name padding and free blocks, global heap object padding and reserved bytes, and the reserved class bits of datatypes, spread over two datasets where one
field is too small for the 4-byte payload (SPREAD says where to read it back).
"""

from __future__ import annotations

import struct

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import (
    PAYLOAD,
    find,
    h5file,
    put,
)

DTYPE = 0x03


def _heap_data(buf: bytes) -> int:
    at = buf.find(b"HEAP")
    return struct.unpack_from("<Q", buf, at + 24)[0]


def lheap_name_padding() -> bytearray:
    """Local heap of the root group (v1): link names padded to 8; PWND after 'dd\\0'."""
    buf = h5file(lambda f: f.create_dataset("dd", data=np.arange(3)))
    data = _heap_data(buf)
    at = buf.index(b"dd\0", data)
    buf[at + 3:at + 7] = PAYLOAD
    return buf


def lheap_softlink_padding() -> bytearray:
    """A soft link's value '/dd' in the local heap, padded to 8: PWND after its NUL."""
    def build(f):
        f.create_dataset("dd", data=np.arange(3))
        f["s"] = h5py.SoftLink("/dd")
    buf = h5file(build)
    at = buf.index(b"/dd\0", _heap_data(buf))
    buf[at + 4:at + 8] = PAYLOAD
    return buf


def lheap_free_block() -> bytearray:
    """The local heap's free block: its next/size header, then bytes libhdf5 never
    reads; PWND after the header."""
    buf = h5file(lambda f: f.create_dataset("dd", data=np.arange(3)))
    at = buf.find(b"HEAP")
    free = struct.unpack_from("<Q", buf, at + 16)[0]
    data = _heap_data(buf)
    assert struct.unpack_from("<Q", buf, data + free + 8)[0] >= 24
    buf[data + free + 16:data + free + 20] = PAYLOAD
    return buf


def _vlen_str(f) -> None:
    f.create_dataset("s", data=["abc"], dtype=h5py.string_dtype())


def gheap_object_padding() -> bytearray:
    """Global heap object 'abc' (3 bytes) padded to 8: PWND in its padding."""
    buf = h5file(_vlen_str)
    col = buf.find(b"GCOL")
    obj = col + 16
    assert struct.unpack_from("<HHIQ", buf, obj) == (1, 0, 0, 3)
    buf[obj + 16 + 3:obj + 16 + 7] = PAYLOAD
    return buf


def gheap_object_reserved() -> bytearray:
    buf = h5file(_vlen_str)
    obj = buf.find(b"GCOL") + 16
    buf[obj + 4:obj + 8] = PAYLOAD
    return buf


def mtime_reserved() -> bytearray:
    """Modification time message v1 (track_times=True): version, 3 reserved bytes,
    seconds. 'PWN' in one dataset's, 'D' in the other's (the time itself is listed)."""
    def build(f):
        for name in ("a", "b"):
            f.create_dataset(name, data=[1], track_times=True)
    buf = h5file(build)
    for path, part in (("a", PAYLOAD[:3]), ("b", PAYLOAD[3:])):
        hdr, msg = find(buf, path, 0x12)
        put(buf, hdr, msg.body + 1, part)
    return buf


def attr_v1_reserved() -> bytearray:
    """v1 attribute message: the reserved byte after its version; one payload byte in
    each of four attributes."""
    def build(f):
        d = f.create_dataset("d", data=[1])
        for k in range(4):
            d.attrs[f"k{k}"] = k
    buf = h5file(build)
    for k in range(4):
        hdr, msg = find(buf, "d", 0x0C, k)
        put(buf, hdr, msg.body + 1, PAYLOAD[k:k + 1])
    return buf


def heap_headers_reserved() -> bytearray:
    """The 3 reserved bytes of the local heap header ('PWN') and of the global heap
    collection header ('D')."""
    buf = h5file(_vlen_str)
    lh, gc = buf.find(b"HEAP"), buf.find(b"GCOL")
    buf[lh + 5:lh + 8] = PAYLOAD[:3]
    buf[gc + 5:gc + 6] = PAYLOAD[3:]
    return buf


def _group_nodes(offset) -> bytearray:
    buf = h5file(lambda f: f.create_dataset("a", data=[1]))
    at = buf.find(offset[0])
    buf[at + offset[1]:at + offset[1] + 4] = PAYLOAD
    return buf


def snod_entry_reserved() -> bytearray:
    """Root SNOD, entry 0: link name offset, header address, cache type, 4 reserved."""
    return _group_nodes((b"SNOD", 8 + 20))


def snod_unused_entry() -> bytearray:
    """Root SNOD: entry 1 of 8 is unused (one link)."""
    return _group_nodes((b"SNOD", 8 + 40 + 8))


def tree_unused_child() -> bytearray:
    """Root group's v1 B-tree: one child; the second child slot is unused."""
    return _group_nodes((b"TREE", 24 + 8 + 8 + 8))


def _class_bits(build, paths: tuple[str, str], byte: int, **kw) -> bytearray:
    buf = h5file(build, **kw)
    for path, half in zip(paths, (PAYLOAD[:2], PAYLOAD[2:]), strict=True):
        hdr, msg = find(buf, path, DTYPE)
        put(buf, hdr, msg.body + byte, half)
    return buf


def int_class_bits() -> bytearray:
    """Integer datatype class bits 8-23 are reserved: 'PW' in one dataset's, 'ND' in the
    other's."""
    def build(f):
        f.create_dataset("a", data=np.arange(3, dtype="<i4"))
        f.create_dataset("b", data=np.arange(3, dtype="<i4"))
    return _class_bits(build, ("a", "b"), 2)


def vlen_seq_class_bits() -> bytearray:
    """Variable-length sequence: class bits 8-23 (charset and reserved; padding and
    charset apply only to strings): 'PW' / 'ND'."""
    def build(f):
        for name in ("a", "b"):
            f.create_dataset(name, data=[np.arange(2), np.arange(3)],
                             dtype=h5py.vlen_dtype("<i4"))
    return _class_bits(build, ("a", "b"), 2)


def ref_class_bits() -> bytearray:
    """Object reference datatype: class bits 8-23 reserved: 'PW' / 'ND'."""
    def build(f):
        for name in ("a", "b"):
            f.create_dataset(name, data=[f.ref], dtype=h5py.ref_dtype)
    return _class_bits(build, ("a", "b"), 2)


def spread(paths: tuple[str, str], byte: int):
    def read(buf: bytes) -> bytes:
        out = b""
        for path in paths:
            _, msg = find(buf, path, DTYPE)
            out += bytes(buf[msg.body + byte:msg.body + byte + 2])
        return out
    return read


SPREAD = {
    "attr-v1-reserved.h5": lambda buf: bytes(
        buf[find(buf, "d", 0x0C, k)[1].body + 1] for k in range(4)),
    "heap-headers-reserved.h5": lambda buf: bytes(
        buf[buf.find(b"HEAP") + 5:buf.find(b"HEAP") + 8]
        + buf[buf.find(b"GCOL") + 5:buf.find(b"GCOL") + 6]),
    "mtime-reserved.h5": lambda buf: b"".join(
        bytes(buf[m.body + 1:m.body + 1 + n]) for m, n in (
            (find(buf, "a", 0x12)[1], 3), (find(buf, "b", 0x12)[1], 1))),
    "int-class-bits.h5": spread(("a", "b"), 2),
    "vlen-seq-class-bits.h5": spread(("a", "b"), 2),
    "ref-class-bits.h5": spread(("a", "b"), 2),
}

ATTACKS = {
    "lheap-name-padding.h5": lheap_name_padding,
    "lheap-softlink-padding.h5": lheap_softlink_padding,
    "lheap-free-block.h5": lheap_free_block,
    "gheap-object-padding.h5": gheap_object_padding,
    "gheap-object-reserved.h5": gheap_object_reserved,
    "mtime-reserved.h5": mtime_reserved,
    "attr-v1-reserved.h5": attr_v1_reserved,
    "heap-headers-reserved.h5": heap_headers_reserved,
    "snod-entry-reserved.h5": snod_entry_reserved,
    "snod-unused-entry.h5": snod_unused_entry,
    "tree-unused-child.h5": tree_unused_child,
    "int-class-bits.h5": int_class_bits,
    "vlen-seq-class-bits.h5": vlen_seq_class_bits,
    "ref-class-bits.h5": ref_class_bits,
}
