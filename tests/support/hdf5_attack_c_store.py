"""Third HDF5 attack: payloads in storage, filter and header fields (issue #13, session 30).

Filter pipeline padding and names, the filter mask of chunk index entries (v1 B-tree
keys, single chunk, fixed array), message flags, group info fields. Offsets from the
HDF5 specification; lookup3 recomputed where the format has it.
"""

from __future__ import annotations

import io
import struct
import zlib

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import (
    PAYLOAD,
    find,
    h5file,
    lookup3,
    move_into_nil,
    nil_out,
    put,
)

PLINE, LAYOUT, GINFO, ATTR = 0x0B, 0x08, 0x0A, 0x0C


def _filtered(f) -> None:
    ds = f.create_dataset("z", data=np.arange(30, dtype="<i4"), chunks=(10,),
                          compression="gzip", shuffle=True, fletcher32=True)
    ds.attrs["slack"] = np.zeros(16)  # made a NIL message to move a message into


def _pline(offset: int) -> bytearray:
    """Pipeline v1 of shuffle, deflate, fletcher32: reserved at 2-7, shuffle's client data
    padding at 28, fletcher32's name 'fletcher32\\0' padded to 16 at 64."""
    buf = h5file(_filtered)
    hdr, msg = find(buf, "z", PLINE)
    put(buf, hdr, msg.body + offset, PAYLOAD)
    return buf


def pline_reserved() -> bytearray:
    return _pline(2)


def pline_cdata_padding() -> bytearray:
    return _pline(28)


def pline_name_padding() -> bytearray:
    return _pline(64 + 11)


def pline_shuffle_size() -> bytearray:
    """shuffle's client data value (the element size, set by libhdf5) set to PWND."""
    return _pline(24)


def shuffle_size_edge() -> bytearray:
    """shuffle's element size (client data) set to 1 for 4-byte elements: libhdf5 then
    does not unshuffle, and of the last chunk (30 of 100 elements in the extent) a
    reader gets raw bytes 0..119 only. The walk, unshuffling by 4, sees bytes 200..229 as
    the third bytes of 30 elements in the extent; there they hold PWND x 7 + 'PW'.
    Every value a reader gets is zero."""
    data = np.zeros(230, "<u4")
    data[200:] = [PAYLOAD[i % 4] << 16 for i in range(30)]
    buf = h5file(lambda f: f.create_dataset("h", data=data, chunks=(100,), shuffle=True,
                                            compression="gzip"))
    hdr, msg = find(buf, "h", PLINE)
    put(buf, hdr, msg.body + 24, struct.pack("<I", 1))
    return buf


def shuffle_skipped_edge() -> bytearray:
    """As shuffle-size-edge, but the last chunk's filter mask (v1 B-tree key) says the
    shuffle filter (bit 0) was skipped for it: libhdf5 does not unshuffle it."""
    data = np.zeros(230, "<u4")
    data[200:] = [PAYLOAD[i % 4] << 16 for i in range(30)]
    buf = h5file(lambda f: f.create_dataset("h", data=data, chunks=(100,), shuffle=True,
                                            compression="gzip"))
    hdr, msg = find(buf, "h", LAYOUT)
    tree = struct.unpack_from("<Q", buf, msg.body + 3)[0]
    assert buf[tree:tree + 4] == b"TREE" and buf[tree + 6] == 3
    struct.pack_into("<I", buf, tree + 24 + 2 * (24 + 8) + 4, 1)
    return buf


def last_chunk(buf: bytes) -> bytes:
    """shuffle-size-edge's last chunk as stored, inflated (where its payload is)."""
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        return zlib.decompress(f["h"].id.read_direct_chunk((200,))[1])


FILTER_FLAGS = (8 + 5, 32 + 5, 56 + 5, 56 + 4)  # shuffle, deflate, fletcher32 high; f32 low


def pline_filter_flags() -> bytearray:
    """Filter pipeline v1: each filter's 2-byte flags (bit 0 'optional'; the rest unused
    in the file): high bytes 'P', 'W', 'N' and fletcher32's low byte 'D' (bit 0 clear, as
    written)."""
    buf = h5file(_filtered)
    hdr, msg = find(buf, "z", PLINE)
    for at, byte in zip(FILTER_FLAGS, PAYLOAD, strict=True):
        buf[msg.body + at] = byte
    put(buf, hdr, msg.body, bytes(buf[msg.body:msg.body + 1]))
    return buf


def filter_flag_bytes(buf: bytes) -> bytes:
    _, msg = find(buf, "z", PLINE)
    return bytes(buf[msg.body + at] for at in FILTER_FLAGS)


def pline_name_after_nul() -> bytearray:
    """deflate's name 'deflate\\0' declared 16 bytes: 'deflate\\0PWND\\0\\0\\0\\0'. libhdf5
    keeps the name up to the NUL (H5Pget_filter returns 'deflate')."""
    buf = h5file(_filtered)
    nil_out(buf, *find(buf, "z", ATTR))
    hdr, msg = find(buf, "z", PLINE)
    body = bytearray(buf[msg.body:msg.body + msg.size])
    deflate = bytearray(body[32:56])
    struct.pack_into("<H", deflate, 2, 16)
    deflate[16:16] = PAYLOAD + bytes(4)
    move_into_nil(buf, hdr, msg, bytes(body[:32] + deflate + body[56:]))
    return buf


def pline_fletcher_cdata() -> bytearray:
    """fletcher32 given one client data value (PWND): its filter ignores client data."""
    buf = h5file(_filtered)
    nil_out(buf, *find(buf, "z", ATTR))
    hdr, msg = find(buf, "z", PLINE)
    body = bytearray(buf[msg.body:msg.body + msg.size])
    struct.pack_into("<H", body, 56 + 6, 1)
    move_into_nil(buf, hdr, msg, bytes(body + PAYLOAD + bytes(4)))
    return buf


def pline_v2_fletcher_cdata() -> bytearray:
    """The same under libver latest (pipeline v2, no names, no padding): fletcher32 given
    one client data value, PWND."""
    buf = h5file(lambda f: f.create_dataset("z", data=np.arange(30, dtype="<i4"), chunks=(10,),
                                            fletcher32=True), libver="latest")
    hdr, msg = find(buf, "z", PLINE)
    body = bytes(buf[msg.body:msg.body + msg.size])
    assert body[:4] == b"\x02\x01\x03\x00" and body[6:8] == b"\0\0", body
    move_into_nil(buf, hdr, msg, body[:6] + b"\x01\x00" + PAYLOAD)
    return buf


def _btree_key_mask(filtered: bool) -> bytearray:
    """v1 B-tree chunk index: each key is chunk size (4), filter mask (4), offsets. The
    mask's bits name filters skipped; bits past the pipeline's filters mean nothing."""
    def build(f):
        kw = {"compression": "gzip"} if filtered else {}
        f.create_dataset("c", data=np.arange(30, dtype="<i4"), chunks=(10,), **kw)
    buf = h5file(build)
    hdr, msg = find(buf, "c", LAYOUT)
    tree = struct.unpack_from("<Q", buf, msg.body + 3)[0]
    assert buf[tree:tree + 4] == b"TREE"
    mask = PAYLOAD if not filtered else bytes([PAYLOAD[0] & 0xFE]) + PAYLOAD[1:]
    buf[tree + 24 + 4:tree + 24 + 8] = mask
    return buf


def btree_mask_unfiltered() -> bytearray:
    return _btree_key_mask(False)


def btree_mask_high_bits() -> bytearray:
    return _btree_key_mask(True)


def btree_key_element_offset() -> bytearray:
    """v1 B-tree chunk key: after the dataset's dimensions' offsets comes the offset in the
    element 'dimension' (0, but the final key's holds the element size); PWND (a
    multiple of the element size) in the first key's."""
    buf = h5file(lambda f: f.create_dataset("c", data=np.arange(3000, dtype="<i4"),
                                            chunks=(1000,)))
    hdr, msg = find(buf, "c", LAYOUT)
    tree = struct.unpack_from("<Q", buf, msg.body + 3)[0]
    buf[tree + 24 + 16:tree + 24 + 20] = PAYLOAD
    return buf


def single_chunk_mask() -> bytearray:
    """Layout (libver latest) of one filtered chunk: filtered size (8), filter mask (4)."""
    buf = h5file(lambda f: f.create_dataset("s", data=np.arange(30, dtype="<i4"), chunks=(30,),
                                            compression="gzip"), libver="latest")
    hdr, msg = find(buf, "s", LAYOUT)
    assert buf[msg.body + 7] == 1, "single chunk index"
    put(buf, hdr, msg.body + 16, PAYLOAD)
    return buf


def fixed_array_mask() -> bytearray:
    """Fixed array of filtered chunks: each element address (8), size, filter mask (4);
    the data block's lookup3 recomputed."""
    buf = h5file(lambda f: f.create_dataset("a", data=np.arange(30, dtype="<i4"), chunks=(10,),
                                            compression="gzip"), libver="latest")
    hdr, msg = find(buf, "a", LAYOUT)
    assert buf[msg.body + 7] == 3, "fixed array index"
    fahd = struct.unpack_from("<Q", buf, msg.body + 9)[0]
    entry = buf[fahd + 6]
    fadb = struct.unpack_from("<Q", buf, fahd + 16)[0]
    assert buf[fadb:fadb + 4] == b"FADB"
    first = fadb + 14
    buf[first + entry - 4:first + entry] = PAYLOAD
    end = first + 3 * entry
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[fadb:end])))
    return buf


def _flags_dataset(f) -> None:
    f.create_dataset("z", data=np.arange(30, dtype="<i4"), chunks=(10,), compression="gzip")


# 80 of 256 flag values read (no "shared", no "was unknown" without "mark if unknown"...)
CARRIER = b"PULD"
FLAGGED = (0x01, 0x03, 0x05, PLINE)


def flags_of(buf: bytes, path: str) -> bytes:
    """The flags bytes of FLAGGED's messages, in order (the carrier, if patched)."""
    out = b""
    for mtype in FLAGGED:
        hdr, msg = find(buf, path, mtype)
        out += bytes([buf[msg.head + (4 if hdr.version == 1 else 3)]])
    return out


def message_flags() -> bytearray:
    """The flags byte of four shareable messages (dataspace, datatype, fill value,
    pipeline) set to CARRIER's bytes: bits libhdf5 reads only for unknown messages or
    when it writes ("mark if unknown", "shareable", "fail if unknown")."""
    buf = h5file(_flags_dataset)
    for mtype, byte in zip(FLAGGED, CARRIER, strict=True):
        hdr, msg = find(buf, "z", mtype)
        put(buf, hdr, msg.head + 4, bytes([byte]))
    return buf


def message_flags_v2() -> bytearray:
    buf = h5file(_flags_dataset, libver="latest")
    for mtype, byte in zip(FLAGGED, CARRIER, strict=True):
        hdr, msg = find(buf, "z", mtype)
        put(buf, hdr, msg.head + 3, bytes([byte]))
    return buf


def nil_message_body() -> bytearray:
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    hdr, msg = find(buf, "d", 0x00)
    put(buf, hdr, msg.body + 8, PAYLOAD)
    return buf


def v1_header_alignment() -> bytearray:
    """The 4 bytes that align a v1 object header's messages to 8."""
    buf = h5file(lambda f: f.create_dataset("d", data=np.arange(3)))
    hdr, _ = find(buf, "d", 0x01)
    put(buf, hdr, hdr.start + 12, PAYLOAD)
    return buf


def _group(f) -> None:
    f.create_group("g")
    f["g"].create_dataset("x", data=np.arange(3))


def group_info_estimates() -> bytearray:
    """Group info message (latest): flag bit 1 adds 'estimated number of entries' and
    'estimated link name length' (2 + 2): libhdf5 uses them only to size new groups."""
    buf = h5file(_group, libver="latest")
    hdr, msg = find(buf, "g", GINFO)
    body = bytearray(buf[msg.body:msg.body + msg.size])
    assert body[1] == 0, body
    move_into_nil(buf, hdr, msg, bytes([0, 2]) + PAYLOAD)
    return buf


def group_info_phase_change() -> bytearray:
    """Flag bit 0 adds max compact (2) and min dense (2): set to 'PW' / 'ND' (ND < PW+1,
    a valid pair), a group of 1 link."""
    buf = h5file(_group, libver="latest")
    hdr, msg = find(buf, "g", GINFO)
    move_into_nil(buf, hdr, msg, bytes([0, 1]) + PAYLOAD)
    return buf


ATTACKS = {
    "pline-v1-reserved.h5": pline_reserved,
    "pline-cdata-padding.h5": pline_cdata_padding,
    "pline-name-padding.h5": pline_name_padding,
    "pline-name-after-nul.h5": pline_name_after_nul,
    "pline-shuffle-size.h5": pline_shuffle_size,
    "pline-filter-flags.h5": pline_filter_flags,
    "shuffle-size-edge.h5": shuffle_size_edge,
    "shuffle-skipped-edge.h5": shuffle_skipped_edge,
    "pline-fletcher32-cdata.h5": pline_fletcher_cdata,
    "pline-v2-fletcher32-cdata.h5": pline_v2_fletcher_cdata,
    "btree-key-mask-unfiltered.h5": btree_mask_unfiltered,
    "btree-key-mask-high-bits.h5": btree_mask_high_bits,
    "btree-key-element-offset.h5": btree_key_element_offset,
    "single-chunk-mask.h5": single_chunk_mask,
    "fixed-array-mask.h5": fixed_array_mask,
    "message-flags-v1.h5": message_flags,
    "message-flags-v2.h5": message_flags_v2,
    "nil-message-body.h5": nil_message_body,
    "v1-header-alignment.h5": v1_header_alignment,
    "group-info-estimates.h5": group_info_estimates,
    "group-info-phase-change.h5": group_info_phase_change,
}
