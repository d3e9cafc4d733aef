"""Third HDF5 attack: superblock, attribute, link and layout fields (issue #13, session 30).

Offsets from the HDF5 specification; lookup3 recomputed where the format has it.
"""

from __future__ import annotations

import struct

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import (
    PAYLOAD,
    find,
    h5file,
    header,
    lookup3,
    move_into_nil,
    nil_out,
    put,
    resum_superblock,
)

ATTR, LAYOUT, LINK = 0x0C, 0x08, 0x06


def _attr(f) -> None:
    d = f.create_dataset("d", data=np.arange(3))
    d.attrs["ab"] = np.int32(7)


def attr_v1_name_padding() -> bytearray:
    """v1 attribute message: name 'ab\\0' padded to 8; PWND in the padding."""
    buf = h5file(_attr)
    hdr, msg = find(buf, "d", ATTR)
    put(buf, hdr, msg.body + 8 + 3, PAYLOAD)
    return buf


def attr_v1_datatype_padding() -> bytearray:
    """v1 attribute message: the 12-byte datatype padded to 16; PWND in the padding."""
    buf = h5file(_attr)
    hdr, msg = find(buf, "d", ATTR)
    put(buf, hdr, msg.body + 8 + 8 + 12, PAYLOAD)
    return buf


def btree_k_message() -> bytearray:
    """Superblock v2 extension given a B-tree 'K' values message (type 0x13: version 0,
    indexed storage internal K, group internal K, group leaf K), which libhdf5 writes for
    a non-default H5Pset_sym_k/H5Pset_istore_k. Under libver latest no structure of the
    file uses them (compact groups, no v1 B-tree): 'PW' and 'ND' as two K values.
    The extension header is rewritten at the end of the file; its old bytes zeroed."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)), libver="latest",
                 fs_strategy="aggregate")
    old = struct.unpack_from("<Q", buf, 20)[0]
    assert buf[old:old + 4] == b"OHDR" and buf[old + 5] & 0xDF == 0
    prefix = 6 + (16 if buf[old + 5] & 0x20 else 0)
    size = buf[old + prefix]
    messages = bytes(buf[old + prefix + 1:old + prefix + 1 + size])
    kmsg = bytes([0x13]) + struct.pack("<HB", 7, 0) + bytes([0]) + PAYLOAD + struct.pack("<H", 4)
    body = messages + kmsg
    ohdr = bytes(buf[old:old + prefix]) + bytes([len(body)]) + body
    ohdr += struct.pack("<I", lookup3(ohdr))
    buf[old:old + prefix + 1 + size + 4] = bytes(prefix + 1 + size + 4)
    new = len(buf)
    buf += ohdr
    struct.pack_into("<QQ", buf, 20, new, len(buf))
    resum_superblock(buf)
    return buf


def earray_params() -> bytearray:
    """Layout v4/5 with an extensible array index: its five creation parameters (max
    bits, index elements, min pointers, min elements, page bits) are also in the EAHD
    header; libhdf5 opens the array from the header. 4 of them set to PWND's bytes."""
    buf = h5file(lambda f: f.create_dataset("e", data=np.arange(30, dtype="<i4"), chunks=(10,),
                                            maxshape=(None,)), libver="latest")
    hdr, msg = find(buf, "e", LAYOUT)
    assert buf[msg.body + 7] == 4, "extensible array index"
    put(buf, hdr, msg.body + 8 + 1, PAYLOAD)
    return buf


def link_creation_order() -> bytearray:
    """A hard link message in a group that tracks no creation order, given flag bit 2
    and an 8-byte creation order (PWND + 4 zeros)."""
    def build(f):
        g = f.create_group("g")
        g.create_dataset("d", data=[1])
        g.attrs["slack"] = np.zeros(8)
    buf = h5file(build, libver="latest")
    hdr, msg = find(buf, "g", LINK)
    body = bytes(buf[msg.body:msg.body + msg.size])
    new = bytes([body[0], body[1] | 0x04]) + PAYLOAD + bytes(4) + body[2:]
    hdr_attr, attr = find(buf, "g", ATTR)
    nil_out(buf, hdr_attr, attr)
    hdr, msg = find(buf, "g", LINK)
    move_into_nil(buf, hdr, msg, new)
    return buf


def external_file_list() -> bytearray:
    """An external file list (must be refused: a reader opens the named file)."""
    def build(f):
        f.create_dataset("e", shape=(4,), dtype="<i4", external=[("PWND.bin", 0, 16)])
    return h5file(build)


def virtual_dataset() -> bytearray:
    """A virtual dataset mapping a source dataset of a file named PWND.h5 (refused)."""
    def build(f):
        layout = h5py.VirtualLayout(shape=(4,), dtype="<i4")
        layout[:] = h5py.VirtualSource("PWND.h5", "x", shape=(4,))
        f.create_virtual_dataset("v", layout, fillvalue=0)
    return h5file(build)


def root_entry_name_offset() -> bytearray:
    """Superblock v0: the root group's symbol table entry starts with a link name offset
    (8 bytes) that names nothing (the root has no name; libhdf5 writes 0)."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    buf[56:60] = PAYLOAD
    return buf


def unknown_message() -> bytearray:
    """A NIL message turned into an unknown type (0x7F), flagged 'mark if unknown' (libhdf5
    reads past it): PWND as its body."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    hdr, msg = find(buf, "d", 0x00)
    buf[msg.head:msg.head + 2] = struct.pack("<H", 0x7F)
    buf[msg.head + 4] = 0x10
    buf[msg.body:msg.body + 4] = PAYLOAD
    return buf


def page_gap() -> bytearray:
    """A paged file (fs_strategy='page'): PWND in the zeros between the last structure
    and the page-aligned end of the file."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(1000)), libver="latest",
                 fs_strategy="page", fs_page_size=4096)
    assert buf[-64:] == bytes(64)
    buf[-32:-28] = PAYLOAD
    return buf


def _fsinfo(offset: int) -> bytearray:
    """The file space info message of a file with fs_strategy='aggregate' (libver
    latest; not the threshold, a known hole): page size at 11 (8 bytes; used only by
    the paged strategy), page-end metadata threshold at 19 (2), end of allocated space
    before the free-space managers at 21 (8; used only when free space persists)."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)), libver="latest",
                 fs_strategy="aggregate")
    ext = struct.unpack_from("<Q", buf, 20)[0]
    hdr = header(buf, ext)
    msg = next(m for m in hdr.msgs if m.type == 0x17)
    put(buf, hdr, msg.body + offset, PAYLOAD)
    return buf


def fsinfo_eoa() -> bytearray:
    """(PWND in the page size makes the file unreadable: libhdf5 bounds it.)"""
    return _fsinfo(21)


def fill_v1_undefined() -> bytearray:
    """The fill value message (type 5) rewritten as version 1 with 'defined' 0: version 1
    always has a size and a value, yet libhdf5 takes the fill value as undefined (h5py:
    'Can't get fill value (fill value is undefined)'); PWND as the value."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3, dtype="<i4")))
    hdr, msg = find(buf, "d", 0x05)
    move_into_nil(buf, hdr, msg, bytes([1, 2, 2, 0]) + struct.pack("<I", 4) + PAYLOAD)
    return buf


def fill_v1_undefined_chunked() -> bytearray:
    """The same in a chunked dataset of 3 elements in a chunk of 8: the 5 elements past
    the extent are PWND too (libhdf5 returns neither)."""
    def build(f):
        f.create_dataset("c", shape=(3,), maxshape=(8,), chunks=(8,), dtype="<i4")[:] = [0, 1, 2]
    buf = h5file(build)
    hdr, msg = find(buf, "c", 0x05)
    move_into_nil(buf, hdr, msg, bytes([1, 2, 2, 0]) + struct.pack("<I", 4) + PAYLOAD)
    at = buf.find(np.arange(3, dtype="<i4").tobytes() + bytes(20))
    buf[at + 12:at + 32] = PAYLOAD * 5
    return buf


def _nbit(f) -> None:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((10,))
    dcpl.set_filter(h5py.h5z.FILTER_NBIT)
    space = h5py.h5s.create_simple((100,))
    ds = h5py.h5d.create(f.id, b"n", h5py.h5t.STD_I32LE, space, dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(100, dtype="<i4"))


# Refusals the docs announce (external data files, virtual datasets): name, builder,
# what the refusal must name.
DOCUMENTED = {
    "doc-external-file-list.h5": (external_file_list, "external data files"),
    "doc-virtual-dataset.h5": (virtual_dataset, "virtual"),
    "doc-nbit.h5": (lambda: h5file(_nbit), "n-bit"),
}
MISLEADING: dict[str, str] = {}

ATTACKS = {
    "root-entry-name-offset.h5": root_entry_name_offset,
    "unknown-message.h5": unknown_message,
    "page-gap.h5": page_gap,
    "fsinfo-eoa-before-fsm.h5": fsinfo_eoa,
    "fill-v1-undefined.h5": fill_v1_undefined,
    "fill-v1-undefined-chunked.h5": fill_v1_undefined_chunked,
    "attr-v1-name-padding.h5": attr_v1_name_padding,
    "attr-v1-datatype-padding.h5": attr_v1_datatype_padding,
    "btree-k-message.h5": btree_k_message,
    "earray-layout-params.h5": earray_params,
    "link-creation-order-untracked.h5": link_creation_order,
}
