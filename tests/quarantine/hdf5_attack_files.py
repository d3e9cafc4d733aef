"""The files of the independent HDF5 attacks (test_attack_independent_hdf5.py): each
attack writes a file with h5py and patches bytes; the controls are what h5py writes.

STRUCTURE: payloads in or around structure bytes (each must be refused by the HDF5 rules);
HOSTILE: loops and huge counts (refused quickly); control_files / edge_files: legal
output, each to be published byte-identical."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_bytes import (
    checksummed_length,
    fix_v2_checksum,
    info,
    lookup3,
    message,
    put,
    set_eof,
    sig_at,
    u,
    v1_messages,
    v2_header,
    write_h5,
    zlib_of_zeros,
)

PAYLOAD = b"HIDDEN-PAYLOAD/" + hashlib.sha256(b"exfil").hexdigest().encode() + b"/END"  # 83 B


UNDEF = 0xFFFFFFFFFFFFFFFF


def payload_array(n: int) -> np.ndarray:
    return np.frombuffer((PAYLOAD * (n // len(PAYLOAD) + 1))[:n], dtype=np.uint8)


def _basic(f) -> None:
    f["x"] = np.arange(100.0)
    f.attrs["note"] = "run 42"
    f.create_dataset("c", data=np.arange(10_000), chunks=(1000,), compression="gzip")
    f.create_dataset("v", data=["alpha", "beta"], dtype=h5py.string_dtype())


def basic(d: Path, libver: str = "earliest", name: str = "basic.h5") -> bytearray:
    return write_h5(d / name, _basic, libver=libver)


def appended(d: Path) -> bytes:
    return bytes(basic(d)) + PAYLOAD


def appended_latest(d: Path) -> bytes:
    return bytes(basic(d, "latest")) + PAYLOAD


def appended_zeros_then_payload(d: Path) -> bytes:
    data = basic(d)
    data += bytes(4096) + PAYLOAD
    set_eof(data, len(data) - len(PAYLOAD))
    return bytes(data)


def raised_eof(d: Path) -> bytes:
    data = basic(d) + PAYLOAD
    set_eof(data, len(data))
    return bytes(data)


def raised_eof_latest(d: Path) -> bytes:
    data = basic(d, "latest") + PAYLOAD
    set_eof(data, len(data))
    return bytes(data)


def raised_eof_past_size(d: Path) -> bytes:
    """End-of-file address beyond the file's size (a truncated file)."""
    data = basic(d)
    set_eof(data, len(data) + 4096)
    return bytes(data)


def user_block(d: Path) -> bytes:
    """A 512-byte user block (h5py's own option) carrying the payload: prepended."""
    data = write_h5(d / "ub.h5", _basic, userblock_size=512)
    assert data[512:516] == b"\x89HDF"
    data[: len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def prepended(d: Path) -> bytes:
    """The payload, then a whole HDF5 file at 512 (where a reader searches too)."""
    return (PAYLOAD + bytes(512 - len(PAYLOAD))) + bytes(basic(d))


def _aligned(f) -> None:
    f["small"] = np.arange(10, dtype="u1")
    f["big"] = np.arange(5000.0)


def aligned_gap(d: Path) -> bytes:
    """Alignment (h5py's option) leaves zero gaps between structures: payload in one."""
    path = d / "aligned.h5"
    data = write_h5(path, _aligned, alignment_threshold=1024, alignment_interval=4096)
    off = info(path, "big", "offset")
    start = off - len(PAYLOAD) - 16
    assert off % 4096 == 0 and not any(data[start - 512 : off]), "no zero gap before the dataset"
    data[start : start + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def local_heap_free(d: Path) -> bytes:
    """A group's local heap: payload in the free block of its data segment."""

    def build(f) -> None:
        for i in range(12):
            f[f"name_{i:02d}_" + "n" * 40] = np.arange(3)
        for i in range(11):
            del f[f"name_{i:02d}_" + "n" * 40]

    data = write_h5(d / "heap.h5", build)
    heap = sig_at(data, b"HEAP")[0]
    seg_size, free, seg = u(data, heap + 8), u(data, heap + 16), u(data, heap + 24)
    assert free != 1, "no free block in the heap"
    block_size = u(data, seg + free + 8)
    assert block_size >= 16 + len(PAYLOAD) and free + block_size <= seg_size
    data[seg + free + 16 : seg + free + 16 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def _gcol_free(data: bytes) -> tuple[int, int]:
    """(offset, end) of the free-space object of the first global heap collection."""
    col = sig_at(data, b"GCOL")[0]
    end, p = col + u(data, col + 8), col + 16
    while p + 16 <= end:
        index, size = u(data, p, "<H"), u(data, p + 8)
        if index == 0:
            return p, end
        p += 16 + (size + 7) // 8 * 8
    raise AssertionError("no free space in the collection")


def global_heap_free(d: Path) -> bytes:
    """Variable-length strings live in a 4 KiB global heap collection: payload in its free space."""
    data = basic(d)
    free, end = _gcol_free(data)
    assert end - free - 16 >= len(PAYLOAD)
    data[free + 16 : free + 16 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def global_heap_padding(d: Path) -> bytes:
    """A heap object's padding to 8 bytes (the string attribute "run 42": 6 bytes, 2 of padding)."""
    data = basic(d)
    first = sig_at(data, b"GCOL")[0] + 16
    size = u(data, first + 8)
    pad = -size % 8
    assert u(data, first, "<H") == 1 and pad > 0
    data[first + 16 + size : first + 16 + size + pad] = PAYLOAD[:pad]
    return bytes(data)


def global_heap_object_orphan(d: Path) -> bytes:
    """A heap object no dataset refers to (taken out of the free space; reference count 0)."""
    data = basic(d)
    free, end = _gcol_free(data)
    room = end - free
    body = (PAYLOAD + bytes(8))[: (len(PAYLOAD) + 7) // 8 * 8]
    struct.pack_into("<HHIQ", data, free, 9, 0, 0, len(PAYLOAD))
    data[free + 16 : free + 16 + len(body)] = body
    rest = free + 16 + len(body)
    struct.pack_into("<HHIQ", data, rest, 0, 0, 0, room - 16 - len(body))
    return bytes(data)


def _btree(data: bytes, node_type: int) -> int:
    for at in sig_at(data, b"TREE"):
        if data[at + 4] == node_type:
            return at
    raise AssertionError(f"no v1 B-tree of type {node_type}")


def btree_unused_group(d: Path) -> bytes:
    """The root group's v1 B-tree (room for 2K=32 children, 1 used): payload in the unused entries."""
    data = basic(d)
    tree = _btree(data, 0)
    used, k = u(data, tree + 6, "<H"), u(data, 18, "<H")
    first_free = tree + 24 + used * 16 + 8
    node_end = tree + 24 + (2 * k + 1) * 8 + 2 * k * 8
    assert node_end - first_free >= len(PAYLOAD) + 16 and not any(data[first_free:node_end])
    data[first_free + 8 : first_free + 8 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def btree_unused_chunk(d: Path) -> bytes:
    """A chunked dataset's v1 B-tree (room for 64 chunks, 10 used): payload in the unused entries."""
    data = basic(d)
    tree = _btree(data, 1)
    used, key = u(data, tree + 6, "<H"), 8 + 8 * 2  # size, mask, 2 offsets (rank 1 + 1)
    first_free = tree + 24 + used * (key + 8) + key
    data[first_free + 8 : first_free + 8 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def symbol_node_unused(d: Path) -> bytes:
    """A symbol table node (room for 2*leaf K = 8 entries, 3 used): payload in an unused entry."""
    data = basic(d)
    node = sig_at(data, b"SNOD")[0]
    used = u(data, node + 6, "<H")
    assert used <= 5
    start = node + 8 + (used + 1) * 40
    data[start : start + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def symbol_entry_scratch(d: Path) -> bytes:
    """The scratch pad of a symbol table entry whose cache type (0) says it holds nothing."""
    data = basic(d)
    node = sig_at(data, b"SNOD")[0]
    for i in range(u(data, node + 6, "<H")):
        entry = node + 8 + i * 40
        if u(data, entry + 16, "<I") == 0:
            data[entry + 24 : entry + 40] = PAYLOAD[:16]
            return bytes(data)
    raise AssertionError("no entry of cache type 0")


def chunk_unreferenced(d: Path) -> bytes:
    """Four chunks written, the B-tree then says three: the fourth chunk's bytes hang loose."""

    def build(f) -> None:
        f.create_dataset("c", data=payload_array(1024), chunks=(256,))

    data = write_h5(d / "chunks.h5", build)
    tree = _btree(data, 1)
    assert u(data, tree + 6, "<H") == 4
    put(data, tree + 6, 3, "<H")
    return bytes(data)


def _dataset_header(d: Path, name: str = "x", libver: str = "earliest") -> tuple[bytearray, int]:
    path = d / f"oh-{libver}.h5"
    data = basic(d, libver, path.name)
    return data, info(path, name)


def oh_nil_message(d: Path) -> bytes:
    """A v1 object header's NIL message (the header's spare room) holding the payload."""
    data, addr = _dataset_header(d)
    body, size = message(data, addr, 0)
    assert size >= len(PAYLOAD)
    data[body : body + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def oh_prefix_padding(d: Path) -> bytes:
    """The 4 padding bytes after a v1 object header's 12-byte prefix."""
    data, addr = _dataset_header(d)
    data[addr + 12 : addr + 16] = b"EVIL"
    return bytes(data)


def oh_message_reserved(d: Path) -> bytes:
    """The 3 reserved bytes of a v1 message header."""
    data, addr = _dataset_header(d)
    body = v1_messages(data, addr)[0][3]
    data[body - 3 : body] = b"EVL"
    return bytes(data)


def oh_message_padding(d: Path) -> bytes:
    """The padding of a v1 message to 8 bytes (a float datatype: 20 bytes + 4 padding)."""
    data, addr = _dataset_header(d)
    body, size = message(data, addr, 3)
    assert size == 24 and data[body] & 0x0F == 1 and not any(data[body + 20 : body + 24])
    data[body + 20 : body + 24] = b"EVIL"
    return bytes(data)


def oh_message_slack(d: Path) -> bytes:
    """The layout message (18 bytes of content) made to swallow the NIL message after it:
    the payload in the message's slack, which no decoder reads."""
    data, addr = _dataset_header(d)
    msgs = v1_messages(data, addr)
    (t1, s1, _, b1), (t2, s2, _, b2) = msgs[-2:]
    assert t1 == 8 and t2 == 0 and b1 + s1 + 8 == b2
    put(data, b1 - 6, s1 + 8 + s2, "<H")
    data[b1 + 24 : b1 + 24 + len(PAYLOAD)] = PAYLOAD
    put(data, addr + 2, u(data, addr + 2, "<H") - 1, "<H")
    return bytes(data)


def superblock_reserved(d: Path) -> bytes:
    """The 4 reserved bytes of the root group's symbol table entry in superblock 0."""
    data = basic(d)
    assert not any(data[76:80])
    data[76:80] = b"EVIL"
    return bytes(data)


def local_heap_padding(d: Path) -> bytes:
    """A link name's padding to 8 bytes in the group's local heap ("c" + NUL + 6 bytes)."""
    data = basic(d)
    heap = sig_at(data, b"HEAP")[0]
    seg, size = u(data, heap + 24), u(data, heap + 8)
    names = bytes(data[seg : seg + size])
    at = names.index(b"\0c\0") + 1
    assert not any(names[at + 2 : at + 8])
    data[seg + at + 2 : seg + at + 8] = b"EVIL!!"
    return bytes(data)


def chunk_outside_extent(d: Path) -> bytes:
    """A chunk moved (in the B-tree key) to coordinates far beyond the dataset's extent:
    referenced, but no reader ever reads it."""

    def build(f) -> None:
        f.create_dataset("c", data=payload_array(1024), chunks=(256,))

    data = write_h5(d / "outside.h5", build)
    tree = _btree(data, 1)
    last = tree + 24 + 3 * 32
    assert u(data, last + 8) == 768
    put(data, last + 8, 1 << 30)
    put(data, tree + 24 + 4 * 32 + 8, (1 << 30) + 256)  # the key after it stays greater
    return bytes(data)


def oh_unknown_message(d: Path) -> bytes:
    """The NIL message retyped as an unknown message type (0x99, no flags): HDF5 readers
    skip unknown messages, so its body is bytes no reader shows."""
    data, addr = _dataset_header(d)
    body, size = message(data, addr, 0)
    put(data, body - 8, 0x99, "<H")
    data[body : body + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def oh_unknown_message_latest(d: Path) -> bytes:
    data, addr = _dataset_header(d, libver="latest")
    _, _, msgs = v2_header(data, addr)
    body, size = next((b, s) for t, s, b in msgs if t == 0)
    data[body - 4] = 0x99
    data[body : body + len(PAYLOAD)] = PAYLOAD
    fix_v2_checksum(data, addr)
    return bytes(data)


def chunk_referenced_twice(d: Path) -> bytes:
    """Two B-tree entries naming the same chunk (its bytes claimed twice); the chunk they
    no longer name is zeroed, so nothing else is wrong."""

    def build(f) -> None:
        f.create_dataset("c", data=payload_array(1024), chunks=(256,))

    data = write_h5(d / "twice.h5", build)
    tree = _btree(data, 1)
    first, second = u(data, tree + 24 + 24), u(data, tree + 24 + 32 + 24)
    data[second : second + 256] = bytes(256)
    put(data, tree + 24 + 32 + 24, first)
    return bytes(data)


def chunk_btree_final_key(d: Path) -> bytes:
    """The last key of a chunk B-tree node is only an upper bound: its chunk size and filter
    mask (8 bytes) mean nothing to a reader."""
    data = basic(d)
    tree = _btree(data, 1)
    last_key = tree + 24 + u(data, tree + 6, "<H") * 32
    data[last_key : last_key + 8] = PAYLOAD[:8]
    return bytes(data)


def btree_sibling(d: Path) -> bytes:
    """A single chunk B-tree node's left sibling (undefined: there is none) set to 8 bytes of
    payload: iteration and lookup descend through children, never siblings."""
    data = basic(d)
    tree = _btree(data, 1)
    assert u(data, tree + 8) == UNDEF
    data[tree + 8 : tree + 16] = PAYLOAD[:8]
    return bytes(data)


def global_heap_object_reserved(d: Path) -> bytes:
    """The 4 reserved bytes of a global heap object's header (one per string: they scale)."""
    data = basic(d)
    first = sig_at(data, b"GCOL")[0] + 16
    assert u(data, first, "<H") == 1 and not any(data[first + 4 : first + 8])
    data[first + 4 : first + 8] = b"EVIL"
    return bytes(data)


def oh_reference_count(d: Path) -> bytes:
    """A v1 object header's reference count (1 hard link) set to 4 bytes of payload."""
    data, addr = _dataset_header(d)
    assert u(data, addr + 4, "<I") == 1
    data[addr + 4 : addr + 8] = b"EVIL"
    return bytes(data)


def dataspace_reserved(d: Path) -> bytes:
    """The reserved bytes of a version 1 dataspace message."""
    data, addr = _dataset_header(d)
    body, _ = message(data, addr, 1)
    assert data[body] == 1 and not any(data[body + 3 : body + 8])
    data[body + 3 : body + 8] = b"EVIL!"
    return bytes(data)


def _unused_chunk_slot(d: Path, block_sig: bytes, maxshape) -> bytes:
    """A chunk index element (address, size, filter mask) of a chunk never written: address
    undefined, so its size and mask (12 bytes) are read by no one; payload there."""

    def build(f) -> None:
        ds = f.create_dataset(
            "c", shape=(4000,), maxshape=maxshape, dtype="i8", chunks=(1000,), compression="gzip"
        )
        ds[:2000] = np.arange(2000)

    data = write_h5(d / "slots.h5", build, libver="latest")
    block = sig_at(data, block_sig)[0]
    length = checksummed_length(data, block)
    undefined = data.find(b"\xff" * 8, block, block + length)
    assert undefined > 0 and not any(data[undefined + 8 : undefined + 20])
    data[undefined + 8 : undefined + 20] = PAYLOAD[:12]
    put(data, block + length, lookup3(bytes(data[block : block + length])), "<I")
    return bytes(data)


def fixed_array_unused_element(d: Path) -> bytes:
    return _unused_chunk_slot(d, b"FADB", None)


def extensible_array_unused_element(d: Path) -> bytes:
    return _unused_chunk_slot(d, b"EAIB", (None,))


def oh_nil_message_latest(d: Path) -> bytes:
    """A v2 object header's NIL message holding the payload (checksum recomputed)."""
    data, addr = _dataset_header(d, libver="latest")
    _, _, msgs = v2_header(data, addr)
    body, size = next((b, s) for t, s, b in msgs if t == 0)
    assert size >= len(PAYLOAD)
    data[body : body + len(PAYLOAD)] = PAYLOAD
    fix_v2_checksum(data, addr)
    return bytes(data)


def oh_message_slack_latest(d: Path) -> bytes:
    """A v2 header's layout message made to swallow the NIL message after it: payload in its slack."""
    data, addr = _dataset_header(d, libver="latest")
    _, end, msgs = v2_header(data, addr)
    (t1, s1, b1), (t2, s2, b2) = msgs[-2:]
    assert t1 == 8 and t2 == 0 and b1 + s1 + 4 == b2 and b2 + s2 == end
    put(data, b1 - 3, s1 + 4 + s2, "<H")
    data[b1 + 24 : b1 + 24 + len(PAYLOAD)] = PAYLOAD
    fix_v2_checksum(data, addr)
    return bytes(data)


def oh_gap_latest(d: Path) -> bytes:
    """A v2 header's gap (HDF5 allows one, under 4 bytes, in a chunk without NIL messages):
    the layout message swallows the NIL but 3 bytes, which are the gap, holding 3 bytes."""
    data, addr = _dataset_header(d, libver="latest")
    _, end, msgs = v2_header(data, addr)
    (t1, s1, b1), (t2, s2, b2) = msgs[-2:]
    assert t1 == 8 and t2 == 0 and b2 + s2 == end
    put(data, b1 - 3, s1 + 4 + s2 - 3, "<H")
    data[end - 3 : end] = b"EVL"
    fix_v2_checksum(data, addr)
    return bytes(data)


def deleted_dataset(d: Path) -> bytes:
    """h5py alone: a dataset of payload, then deleted (superblock 0 keeps no free-space list)."""

    def build(f) -> None:
        f["victim"] = payload_array(4000)
        f["keep"] = np.arange(100.0)
        del f["victim"]

    data = write_h5(d / "deleted.h5", build)
    assert PAYLOAD in data
    return bytes(data)


def deleted_dataset_latest(d: Path) -> bytes:
    def build(f) -> None:
        f["victim"] = payload_array(4000)
        f["keep"] = np.arange(100.0)
        del f["victim"]

    data = write_h5(d / "deleted-latest.h5", build, libver="latest")
    assert PAYLOAD in data
    return bytes(data)


def persisted_free_space(d: Path) -> bytes:
    """A file that persists its free space (h5py's fs_persist): the payload's space listed free."""

    def build(f) -> None:
        f["victim"] = payload_array(4000)
        f["keep"] = np.arange(100.0)
        del f["victim"]

    data = write_h5(d / "fsm.h5", build, libver="latest", fs_strategy="fsm", fs_persist=True)
    assert PAYLOAD in data
    return bytes(data)


def anonymous_dataset(d: Path) -> bytes:
    """h5py alone: an anonymous (never linked) dataset of payload."""

    def build(f) -> None:
        anonymous = f.create_dataset(None, data=payload_array(4000))
        f["keep"] = np.arange(100.0)
        f.flush()
        del anonymous

    data = write_h5(d / "anon.h5", build)
    assert PAYLOAD in data
    return bytes(data)


def attribute_slack(d: Path) -> bytes:
    """An attribute of 64 bytes whose dataspace is then declared as 8: 56 bytes no reader sees."""

    def build(f) -> None:
        f["x"] = np.arange(10.0)
        f["x"].attrs["blob"] = payload_array(64)

    path = d / "attr.h5"
    data = write_h5(path, build)
    body, _ = message(data, info(path, "x"), 12)
    assert data[body] == 1
    name_size, type_size, space_size = struct.unpack_from("<HHH", data, body + 2)
    pad = lambda n: (n + 7) // 8 * 8  # noqa: E731
    space = body + 8 + pad(name_size) + pad(type_size)
    assert data[space] == 1 and data[space + 1] == 1 and u(data, space + 8) == 64
    put(data, space + 8, 8)
    if data[space + 2] & 1:
        put(data, space + 16, 8)
    return bytes(data)


def _shrink_space(data: bytearray, addr: int, new: int, old: int) -> None:
    body, _ = message(data, addr, 1)
    assert data[body] == 1 and data[body + 1] == 1 and u(data, body + 8) == old
    put(data, body + 8, new)
    if data[body + 2] & 1:
        put(data, body + 16, new)


def contiguous_slack(d: Path) -> bytes:
    """A contiguous dataset of 4096 bytes declared as 16 elements: the extent says 4096."""

    def build(f) -> None:
        f["x"] = payload_array(4096)

    path = d / "contig.h5"
    data = write_h5(path, build)
    _shrink_space(data, info(path, "x"), 16, 4096)
    return bytes(data)


def compact_slack(d: Path) -> bytes:
    """A compact dataset of 512 bytes declared as 8 elements."""

    def build(f) -> None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((512,))
        dset = h5py.h5d.create(f.id, b"x", h5py.h5t.STD_U8LE, space, dcpl=dcpl)
        dset.write(h5py.h5s.ALL, h5py.h5s.ALL, payload_array(512))

    path = d / "compact.h5"
    data = write_h5(path, build)
    _shrink_space(data, info(path, "x"), 8, 512)
    return bytes(data)


def _two(f) -> None:
    f["a"] = np.arange(64, dtype="u1") + 1
    f["b"] = np.zeros(64, dtype="u1")


def _layout_address(data: bytes, addr: int) -> int:
    body, _ = message(data, addr, 8)
    assert data[body] == 3 and data[body + 1] == 1, "not a contiguous v3 layout"
    return body + 2


def overlap_datasets(d: Path) -> bytes:
    """Dataset b's extent moved onto a's (b's own bytes were zeros: nothing else changes)."""
    path = d / "two.h5"
    data = write_h5(path, _two)
    put(data, _layout_address(data, info(path, "b")), info(path, "a", "offset"))
    return bytes(data)


def overlap_metadata(d: Path) -> bytes:
    """Dataset b's extent moved onto the root group's object header."""
    path = d / "two-meta.h5"
    data = write_h5(path, _two)
    put(data, _layout_address(data, info(path, "b")), u(data, 64))
    return bytes(data)


def extent_past_eof(d: Path) -> bytes:
    """A contiguous extent that ends after the end-of-file address."""
    path = d / "past.h5"
    data = write_h5(path, _two)
    put(data, _layout_address(data, info(path, "b")), len(data) - 8)
    return bytes(data)


def _gzip_chunks(d: Path, name: str) -> tuple[bytearray, int, list]:
    def build(f) -> None:
        f.create_dataset("c", data=np.arange(4000), chunks=(1000,), compression="gzip")

    path = d / name
    data = write_h5(path, build)
    return data, _btree(data, 1), info(path, "c", "chunks")


def _chunk_entry(data: bytes, tree: int, addr: int) -> int:
    """Offset of the key (size, mask, offsets) before the child that points at addr."""
    key = 8 + 8 * 2
    for i in range(u(data, tree + 6, "<H")):
        entry = tree + 24 + i * (key + 8)
        if u(data, entry + key) == addr:
            return entry
    raise AssertionError("chunk not in the B-tree")


def chunk_size_lie_long(d: Path) -> bytes:
    """A gzip chunk moved to the end with the payload after its deflate stream, and its
    declared size covering both: readers inflate to Z_STREAM_END and never see the rest."""
    data, tree, chunks = _gzip_chunks(d, "lie-long.h5")
    chunk = chunks[1]
    entry = _chunk_entry(data, tree, chunk.byte_offset)
    stream = bytes(data[chunk.byte_offset : chunk.byte_offset + chunk.size])
    data[chunk.byte_offset : chunk.byte_offset + chunk.size] = bytes(chunk.size)
    new = len(data)
    data += stream + PAYLOAD
    put(data, entry, len(stream) + len(PAYLOAD), "<I")
    put(data, entry + 24, new)
    set_eof(data, len(data))
    return bytes(data)


def chunk_size_lie_unfiltered(d: Path) -> bytes:
    """An unfiltered chunk (256 bytes: a reader reads exactly that) moved to the end with the
    payload after it, its key's size covering both."""

    def build(f) -> None:
        f.create_dataset("c", data=np.arange(1024, dtype="u1"), chunks=(256,))

    path = d / "lie-raw.h5"
    data = write_h5(path, build)
    tree, chunk = _btree(data, 1), info(path, "c", "chunks")[1]
    entry = _chunk_entry(data, tree, chunk.byte_offset)
    raw = bytes(data[chunk.byte_offset : chunk.byte_offset + 256])
    data[chunk.byte_offset : chunk.byte_offset + 256] = bytes(256)
    put(data, entry, 256 + len(PAYLOAD), "<I")
    put(data, entry + 24, len(data))
    data += raw + PAYLOAD
    set_eof(data, len(data))
    return bytes(data)


def duplicate_layout(d: Path, payload: bytes = PAYLOAD) -> bytes:
    """A second layout message (HDF5 reads the first of a type) whose contiguous extent holds
    the payload appended under a raised end-of-file address: claimed, never read."""
    data, addr = _dataset_header(d)
    body, size = message(data, addr, 0)
    first, _ = message(data, addr, 8)
    assert size >= 24
    put(data, body - 8, 8, "<H")
    data[body : body + 18] = data[first : first + 18]
    put(data, body + 2, len(data))
    put(data, body + 10, len(payload))
    data += payload
    set_eof(data, len(data))
    return bytes(data)


def chunk_size_lie_short(d: Path) -> bytes:
    """A gzip chunk declared 8 bytes shorter than its stream: its tail is unaccounted."""
    data, tree, chunks = _gzip_chunks(d, "lie-short.h5")
    entry = _chunk_entry(data, tree, chunks[1].byte_offset)
    put(data, entry, chunks[1].size - 8, "<I")
    return bytes(data)


def driver_info_block(d: Path) -> bytes:
    """Superblock 0's driver information block address pointing at an appended block."""
    data = basic(d)
    block = len(data)
    data += struct.pack("<B3sI8s", 0, b"\0\0\0", len(PAYLOAD), b"NCSAmult") + PAYLOAD
    put(data, 48, block)
    set_eof(data, len(data))
    return bytes(data)


def free_space_address(d: Path) -> bytes:
    """Superblock 0's (unused, must be undefined) free-space address pointing at the payload."""
    data = basic(d)
    put(data, 32, len(data))
    data += PAYLOAD
    set_eof(data, len(data))
    return bytes(data)


def base_address(d: Path) -> bytes:
    """A non-zero base address: every address shifted by the payload prepended."""
    data = bytes(basic(d))
    shifted = bytearray(data)
    put(shifted, 24, 512)
    put(shifted, 40, len(data))
    return (PAYLOAD + bytes(512 - len(PAYLOAD))) + bytes(shifted)


def external_storage(d: Path) -> bytes:
    """A dataset whose data is in another file (the external file list), named absolute."""

    def build(f) -> None:
        f.create_dataset("e", shape=(64,), dtype="u1", external=[("/etc/hostname", 0, 64)])

    return bytes(write_h5(d / "ext.h5", build))


def external_link(d: Path) -> bytes:
    """A link into another file, opened by whoever reads this one (link messages of the
    latest format: with superblock 0, HDF5 leaves the old symbol table behind)."""

    def build(f) -> None:
        f["x"] = np.arange(3)
        f["elsewhere"] = h5py.ExternalLink("/etc/passwd", "/data")

    return bytes(write_h5(d / "extlink.h5", build, libver="latest"))


def virtual_dataset(d: Path) -> bytes:
    """A virtual dataset whose data is in another file."""
    with h5py.File(d / "source.h5", "w") as f:
        f["data"] = np.arange(100)

    def build(f) -> None:
        layout = h5py.VirtualLayout(shape=(100,), dtype="i8")
        layout[:] = h5py.VirtualSource(str(d / "source.h5"), "data", shape=(100,))
        f.create_virtual_dataset("vds", layout)

    return bytes(write_h5(d / "vds.h5", build, libver="latest"))


def payload_behind_soft_link(d: Path) -> bytes:
    """An object header only a soft link "names" (soft links name paths, reach nothing):
    the group's only hard link to it is removed, the bytes stay."""

    def build(f) -> None:
        f["hidden"] = payload_array(2000)
        f["x"] = np.arange(10.0)
        f["s"] = h5py.SoftLink("/hidden")
        del f["hidden"]

    data = write_h5(d / "soft.h5", build)
    assert PAYLOAD in data
    return bytes(data)


def _large(f) -> None:
    _basic(f)
    f["big"] = np.random.default_rng(3).integers(0, 255, size=3 << 20, dtype="u1")


def gzip_raised_eof_large(d: Path) -> bytes:
    """HDF5 inside gzip (the policy admits gzip of allowed types), inflated larger than what a
    worker holds (3 MiB): the payload under a raised end-of-file address."""
    data = write_h5(d / "large.h5", _large) + PAYLOAD
    set_eof(data, len(data))
    return gzip.compress(bytes(data), mtime=0)


def large_raised_eof(d: Path) -> bytes:
    """Over 1 MiB (the walk then runs elsewhere: on vmguard's own copy): raised end-of-file."""
    data = write_h5(d / "large.h5", _large) + PAYLOAD
    set_eof(data, len(data))
    return bytes(data)


def large_oh_nil_message(d: Path) -> bytes:
    path = d / "large.h5"
    data = write_h5(path, _large)
    body, size = message(data, info(path, "x"), 0)
    data[body : body + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def large_btree_unused_chunk(d: Path) -> bytes:
    data = write_h5(d / "large.h5", _large)
    tree = _btree(data, 1)
    first_free = tree + 24 + u(data, tree + 6, "<H") * 32 + 24
    data[first_free + 8 : first_free + 8 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def large_deleted_dataset(d: Path) -> bytes:
    def build(f) -> None:
        _large(f)
        f["victim"] = payload_array(4000)
        f["keep"] = np.arange(100.0)
        del f["victim"]

    data = write_h5(d / "large-deleted.h5", build)
    assert PAYLOAD in data
    return bytes(data)


def gzip_oh_nil_message(d: Path) -> bytes:
    return gzip.compress(oh_nil_message(d), mtime=0)


STRUCTURE = {
    f.__name__: f
    for f in (
        appended,
        appended_latest,
        appended_zeros_then_payload,
        raised_eof,
        raised_eof_latest,
        raised_eof_past_size,
        user_block,
        prepended,
        base_address,
        aligned_gap,
        local_heap_free,
        global_heap_free,
        global_heap_padding,
        global_heap_object_orphan,
        btree_unused_group,
        btree_unused_chunk,
        symbol_node_unused,
        symbol_entry_scratch,
        chunk_unreferenced,
        oh_nil_message,
        oh_prefix_padding,
        oh_message_reserved,
        oh_message_padding,
        oh_message_slack,
        oh_unknown_message,
        oh_unknown_message_latest,
        chunk_referenced_twice,
        chunk_btree_final_key,
        oh_reference_count,
        btree_sibling,
        global_heap_object_reserved,
        dataspace_reserved,
        fixed_array_unused_element,
        extensible_array_unused_element,
        oh_nil_message_latest,
        oh_message_slack_latest,
        oh_gap_latest,
        superblock_reserved,
        local_heap_padding,
        chunk_outside_extent,
        deleted_dataset,
        deleted_dataset_latest,
        persisted_free_space,
        anonymous_dataset,
        attribute_slack,
        contiguous_slack,
        compact_slack,
        overlap_datasets,
        overlap_metadata,
        extent_past_eof,
        chunk_size_lie_long,
        chunk_size_lie_short,
        chunk_size_lie_unfiltered,
        duplicate_layout,
        driver_info_block,
        free_space_address,
        external_storage,
        external_link,
        virtual_dataset,
        payload_behind_soft_link,
        gzip_raised_eof_large,
        large_raised_eof,
        large_oh_nil_message,
        large_btree_unused_chunk,
        large_deleted_dataset,
        gzip_oh_nil_message,
    )
}


# A file whose first bytes are not HDF5 at offset 0 may be refused as another type.
ALSO_ACCEPTED = {
    "user_block": {"type-not-allowed"},
    "prepended": {"type-not-allowed"},
    "base_address": {"type-not-allowed"},
}


def btree_self_cycle_group(d: Path) -> bytes:
    """The root group's B-tree made a level-1 node whose child is itself."""
    data = basic(d)
    tree = _btree(data, 0)
    data[tree + 5] = 1
    put(data, tree + 24 + 8, tree)
    return bytes(data)


def btree_self_cycle_chunk(d: Path) -> bytes:
    """A chunk B-tree made a level-1 node whose children are all itself."""
    data = basic(d)
    tree = _btree(data, 1)
    data[tree + 5] = 1
    for i in range(u(data, tree + 6, "<H")):
        put(data, tree + 24 + i * 32 + 24, tree)
    return bytes(data)


def btree_two_node_cycle(d: Path) -> bytes:
    """The root group's B-tree pointing at a copy of itself that points back (two nodes)."""
    data = basic(d)
    tree = _btree(data, 0)
    k = u(data, 18, "<H")
    size = 24 + (2 * k + 1) * 8 + 2 * k * 8
    copy = len(data)
    data[tree + 5] = 1
    put(data, tree + 24 + 8, copy)
    node = bytearray(data[tree : tree + size])
    put(node, 24 + 8, tree)
    data += node
    set_eof(data, len(data))
    return bytes(data)


def continuation_cycle(d: Path) -> bytes:
    """A v1 object header whose NIL message becomes a continuation back onto its own messages."""
    data, addr = _dataset_header(d)
    body, size = message(data, addr, 0)
    put(data, body - 8, 0x10, "<H")
    put(data, body, addr + 16)
    put(data, body + 8, u(data, addr + 8, "<I"))
    return bytes(data)


def subgroup_cycle_by_address(d: Path) -> bytes:
    """A symbol table entry patched to name the root group's own header (a hard-link cycle
    written byte-wise, link counts not raised)."""
    data = basic(d)
    node = sig_at(data, b"SNOD")[0]
    put(data, node + 8 + 8, u(data, 64))
    return bytes(data)


def huge_message_count(d: Path) -> bytes:
    data, addr = _dataset_header(d)
    put(data, addr + 2, 0xFFFF, "<H")
    return bytes(data)


def huge_btree_entries(d: Path) -> bytes:
    data = basic(d)
    put(data, _btree(data, 1) + 6, 0xFFFF, "<H")
    return bytes(data)


def huge_local_heap(d: Path) -> bytes:
    data = basic(d)
    put(data, sig_at(data, b"HEAP")[0] + 8, 1 << 62)
    return bytes(data)


def huge_global_heap(d: Path) -> bytes:
    data = basic(d)
    put(data, sig_at(data, b"GCOL")[0] + 8, 1 << 62)
    return bytes(data)


def huge_dims_contiguous(d: Path) -> bytes:
    """A contiguous dataset declared with 2**62 elements of 8 bytes (overflows 64 bits)."""
    data, addr = _dataset_header(d)
    _shrink_space(data, addr, 1 << 62, 100)
    return bytes(data)


def huge_gcol_object(d: Path) -> bytes:
    """A global heap object claiming 2**62 bytes."""
    data = basic(d)
    col = sig_at(data, b"GCOL")[0]
    put(data, col + 16 + 8, 1 << 62)
    return bytes(data)


def chunk_bomb(d: Path) -> bytes:
    """A gzip chunk of 8000 bytes replaced by a deflate stream of 512 MiB of zeros."""
    data, tree, chunks = _gzip_chunks(d, "bomb.h5")
    chunk = chunks[0]
    entry = _chunk_entry(data, tree, chunk.byte_offset)
    bomb = zlib_of_zeros(512)
    data[chunk.byte_offset : chunk.byte_offset + chunk.size] = bytes(chunk.size)
    put(data, entry, len(bomb), "<I")
    put(data, entry + 24, len(data))
    data += bomb
    set_eof(data, len(data))
    return bytes(data)


HOSTILE = {
    f.__name__: f
    for f in (
        btree_self_cycle_group,
        btree_self_cycle_chunk,
        btree_two_node_cycle,
        continuation_cycle,
        subgroup_cycle_by_address,
        huge_message_count,
        huge_btree_entries,
        huge_local_heap,
        huge_global_heap,
        huge_dims_contiguous,
        huge_gcol_object,
    )
}


def _lab(f) -> None:
    rng = np.random.default_rng(5)
    f.attrs["experiment"] = "gleam"
    f.attrs["run"] = np.int64(4711)
    f.attrs["tags"] = np.array([b"mc", b"reco"])
    f.attrs["comment"] = h5py.Empty("f")
    run = f.create_group("run/0001")
    run.attrs["detector"] = "barrel"
    run.create_dataset("hits", data=rng.integers(0, 1 << 16, size=50_000), chunks=(4096,), compression="gzip")
    run.create_dataset(
        "energy",
        data=rng.normal(size=(300, 40)).astype("f4"),
        compression="gzip",
        shuffle=True,
        fletcher32=True,
    )
    grow = run.create_dataset("grow", shape=(0, 3), maxshape=(None, 3), chunks=(64, 3), dtype="f8")
    for _ in range(5):
        grow.resize(grow.shape[0] + 100, axis=0)
        grow[-100:] = rng.normal(size=(100, 3))
    run["names"] = np.array(["mu", "e", "tau"], dtype=h5py.string_dtype())
    run["fixed"] = np.array([b"abc", b"defgh"])
    run["scalar"] = 3.5
    run["table"] = np.array([(1, 2.0), (3, 4.0)], dtype=[("id", "i4"), ("w", "f8")])
    run["empty"] = h5py.Empty("f8")
    run.create_dataset("many", data=np.arange(20_000), chunks=(100,))  # a B-tree of several levels
    f["calib"] = np.arange(1000.0)
    f["ref"] = f["calib"].ref
    f["dtype"] = np.dtype("f8")
    for i in range(40):
        f.create_group(f"runs/r{i:03d}").create_dataset("n", data=np.arange(i + 1))
    for i in range(20):
        f["calib"].attrs[f"coef{i}"] = float(i)


def _unwritten(f) -> None:
    """Datasets created and never written: no storage allocated (undefined addresses)."""
    f.create_dataset("chunked", shape=(1000,), dtype="f4", chunks=(100,))
    f.create_dataset("contiguous", shape=(50,), dtype="i4", fillvalue=-1)
    f["written"] = np.arange(10)


def _strings_log(f) -> None:
    """A log kept as a resizable dataset of strings (chunked, variable-length)."""
    log = f.create_dataset("log", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
    for i in range(3):
        log.resize((log.shape[0] + 100,))
        log[-100:] = [f"step {i}.{j}: ok" for j in range(100)]


def _simple(f) -> None:
    """What a small job writes with libver='latest': few links, fixed-size datasets."""
    f.attrs["experiment"] = "gleam"
    f["x"] = np.arange(1000.0)
    f.create_dataset("hits", data=np.arange(50_000), chunks=(4096,), compression="gzip")
    g = f.create_group("run")
    g["names"] = np.array(["mu", "e"], dtype=h5py.string_dtype())
    g.attrs["detector"] = "barrel"


def _swmr(f) -> None:
    grow = f.create_dataset("t", shape=(0,), maxshape=(None,), chunks=(256,), dtype="f8")
    f.swmr_mode = True
    for i in range(4):
        grow.resize((grow.shape[0] + 300,))
        grow[-300:] = np.arange(300.0) + i
        grow.flush()


def _tracked(f) -> None:
    g = f.create_group("ordered", track_order=True)
    for i in range(30):
        g[f"d{i}"] = np.arange(i + 1)
        g.attrs[f"a{i}"] = "x" * i


def _soft(f) -> None:
    f["x"] = np.arange(5)
    f["nowhere"] = h5py.SoftLink("/does/not/exist")
    f["here"] = h5py.SoftLink("/x")


def _hardlink_cycle(f) -> None:
    g = f.create_group("g")
    g["x"] = np.arange(5)
    g["up"] = f["/"]
    f["alias"] = g["x"]


def _huge_sparse(f) -> None:
    big = f.create_dataset("big", shape=(1 << 40,), dtype="u1", chunks=(1 << 16,), maxshape=(None,))
    big[5 << 20 : (5 << 20) + 100] = 7


def _deep(f) -> None:
    f.create_group("/".join(["d"] * 600))


def control_files(d: Path) -> dict[str, bytes]:
    out = {}
    for name, build, kw in (
        ("lab-earliest.h5", _lab, {"libver": "earliest"}),
        ("lab-latest.h5", _lab, {"libver": "latest"}),
        ("lab-v110.h5", _lab, {"libver": ("v110", "v110")}),
        ("unwritten-earliest.h5", _unwritten, {}),
        ("strings-log.h5", _strings_log, {}),
        ("simple-latest.h5", _simple, {"libver": "latest"}),
        ("unwritten-latest.h5", _unwritten, {"libver": "latest"}),
        ("swmr.h5", _swmr, {"libver": "latest"}),
        ("ordered-earliest.h5", _tracked, {}),
        ("ordered-latest.h5", _tracked, {"libver": "latest"}),
        ("aligned.h5", _aligned, {"alignment_threshold": 1024, "alignment_interval": 4096}),
        ("basic.h5", _basic, {}),
    ):
        out[name] = bytes(write_h5(d / name, build, **kw))
    out["large.h5.gz"] = gzip.compress(bytes(write_h5(d / "large.h5", _large)), mtime=0)
    return out


def edge_files(d: Path) -> dict[str, bytes]:
    """Legal HDF5 a walker can trip over: each fully accounted, so each must be published."""
    out = {}
    for name, build in (
        ("soft-nowhere.h5", _soft),
        ("hardlink-cycle.h5", _hardlink_cycle),
        ("huge-sparse.h5", _huge_sparse),
        ("deep-groups.h5", _deep),
    ):
        out[name] = bytes(write_h5(d / name, build))
    return out
