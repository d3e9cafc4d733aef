"""Independent black-box attacks on `vmguard vet`'s HDF5 validator (issue #13).

The claim under test (docs/quarantine.md, README threat model): an HDF5 file is
published only if every byte of it is accounted for (superblock at offset 0, every
object header, B-tree, heap, global heap collection and dataset extent reached from
the root group, no overlaps, end-of-file address = size, gaps only zeros), anything the
walker does not understand refused with a reason; the lab's ordinary h5py output is
published byte-identical.

Written without reading vmguard's code. Every file is written by h5py here, then bytes
are patched with struct (the HDF5 file format specification, version 0-3 superblocks).
The files are vetted the way a job runner does it: `python -m vmguard vet Q --policy
batch.yaml --to PUB --job ID` on the SHIPPED batch policy (policy/base.yaml +
policy/batch.yaml of the code under test; only clamd's socket is pointed at a test
clamd). Files of one kind share one vet run (all-or-nothing: each file's own verdict is
read from the JSON entries), so the module stays well under two minutes.

The payload hidden in structure bytes is neutral (no scanner signature, no executable
magic): only the HDF5 validator can catch it, and a test accepts only its reason
(`invalid-format`, detail starting `hdf5:`). A hole is a failing test; holes that remain
are strict xfails naming them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import vmguard
from tests.support.clamd import MARKER, ClamdServer
from tests.support.require import require_tools

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")


def _code_under_test() -> Path:
    """The first PYTHONPATH entry holding vmguard, else the imported one. `python -m pytest`
    puts the current directory first on sys.path, so the vmguard imported here is this
    worktree's even with PYTHONPATH naming another; the vet subprocess runs the PYTHONPATH's."""
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and (Path(entry) / "vmguard" / "__init__.py").is_file():
            return Path(entry).resolve()
    return Path(vmguard.__file__).resolve().parents[1]


CODE = _code_under_test()  # its policy/ and its vmguard are what is tested
PAYLOAD = b"HIDDEN-PAYLOAD/" + hashlib.sha256(b"exfil").hexdigest().encode() + b"/END"  # 83 B
UNDEF = 0xFFFFFFFFFFFFFFFF
M32 = 0xFFFFFFFF

# ---------------------------------------------------------------- HDF5 byte helpers


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    for s1, s2, s3 in ((4, 6, 8), (16, 19, 4)):
        a = ((a - c) & M32) ^ _rot(c, s1)
        c = (c + b) & M32
        b = ((b - a) & M32) ^ _rot(a, s2)
        a = (a + c) & M32
        c = ((c - b) & M32) ^ _rot(b, s3)
        b = (b + a) & M32
    return a, b, c


def lookup3(data: bytes) -> int:
    """Jenkins' lookup3 hashlittle, HDF5's metadata checksum (H5_checksum_lookup3)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n) & M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & M32
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & M32
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & M32
        a, b, c = _mix(a, b, c)
        n, i = n - 12, i + 12
    if n == 0:
        return c
    tail = bytes(data[i : i + n]) + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & M32
    b = (b + int.from_bytes(tail[4:8], "little")) & M32
    c = (c + int.from_bytes(tail[8:12], "little")) & M32
    for x, y, k in ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24)):
        v = [a, b, c]
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], k)) & M32
        a, b, c = v
    return c


def u(data: bytes, off: int, fmt: str = "<Q") -> int:
    return struct.unpack_from(fmt, data, off)[0]


def put(data: bytearray, off: int, value: int, fmt: str = "<Q") -> None:
    struct.pack_into(fmt, data, off, value)


def sb_version(data: bytes) -> int:
    return data[8]


def set_eof(data: bytearray, eof: int) -> None:
    """Raise (or lower) the superblock's end-of-file address, checksum kept valid."""
    version = sb_version(data)
    if version >= 2:
        put(data, 28, eof)
        put(data, 44, lookup3(bytes(data[:44])), "<I")
    else:
        put(data, 40 if version == 0 else 44, eof)


def sig_at(data: bytes, sig: bytes) -> list[int]:
    found, i = [], data.find(sig)
    while i >= 0:
        found.append(i)
        i = data.find(sig, i + 1)
    return found


def v1_messages(data: bytes, addr: int) -> list[tuple[int, int, int, int]]:
    """(type, size, flags, body offset) of a version 1 object header's messages, its
    continuation blocks' included."""
    assert data[addr] == 1, "not a version 1 object header"
    blocks, out = [(addr + 16, u(data, addr + 8, "<I"))], []
    while blocks:
        p, size = blocks.pop(0)
        end = p + size
        while p < end:
            mtype, msize, flags = struct.unpack_from("<HHB", data, p)
            out.append((mtype, msize, flags, p + 8))
            if mtype == 0x10:
                blocks.append((u(data, p + 8), u(data, p + 16)))
            p += 8 + msize
    return out


def v2_header(data: bytes, addr: int) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(start of messages, end of chunk 0, [(type, size, body offset)]) of an OHDR."""
    assert data[addr : addr + 4] == b"OHDR"
    flags, p = data[addr + 5], addr + 6
    p += 16 if flags & 0x20 else 0
    p += 4 if flags & 0x10 else 0
    width = 1 << (flags & 3)
    size = int.from_bytes(data[p : p + width], "little")
    p += width
    start, end, head = p, p + size, 4 + (2 if flags & 4 else 0)
    msgs = []
    while p + head <= end:
        mtype, msize = struct.unpack_from("<BH", data, p)
        msgs.append((mtype, msize, p + head))
        p += head + msize
    return start, end, msgs


def fix_v2_checksum(data: bytearray, addr: int) -> None:
    _, end, _ = v2_header(data, addr)
    put(data, end, lookup3(bytes(data[addr:end])), "<I")


def message(data: bytes, addr: int, mtype: int) -> tuple[int, int]:
    """(body offset, size) of the first message of a type in a v1 object header."""
    for t, size, _, body in v1_messages(data, addr):
        if t == mtype:
            return body, size
    raise AssertionError(f"no message {mtype} at {addr}")


def write_h5(path: Path, build, **kw) -> bytearray:
    with h5py.File(path, "w", **kw) as f:
        build(f)
    return bytearray(path.read_bytes())


def info(path: Path, name: str, what: str = "addr"):
    with h5py.File(path, "r") as f:
        obj = f[name]
        if what == "addr":
            return h5py.h5o.get_info(obj.id).addr
        if what == "offset":
            return obj.id.get_offset()
        return [obj.id.get_chunk_info(i) for i in range(obj.id.get_num_chunks())]


def payload_array(n: int) -> np.ndarray:
    return np.frombuffer((PAYLOAD * (n // len(PAYLOAD) + 1))[:n], dtype=np.uint8)


def _basic(f) -> None:
    f["x"] = np.arange(100.0)
    f.attrs["note"] = "run 42"
    f.create_dataset("c", data=np.arange(10_000), chunks=(1000,), compression="gzip")
    f.create_dataset("v", data=["alpha", "beta"], dtype=h5py.string_dtype())


def basic(d: Path, libver: str = "earliest", name: str = "basic.h5") -> bytearray:
    return write_h5(d / name, _basic, libver=libver)


# ---------------------------------------------------------------- the attacks (structure)
# Each returns the file's bytes; each must be rejected by the HDF5 validator.


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


def checksummed_length(data: bytes, start: int, limit: int = 4096) -> int:
    """Length of the checksummed part of a v2 structure at start (its lookup3 follows it)."""
    for n in range(8, limit):
        if lookup3(bytes(data[start : start + n])) == u(data, start + n, "<I"):
            return n
    raise AssertionError(f"no checksum found after {start}")


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

# ---------------------------------------------------------------- denial of service (timed)


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


def zlib_of_zeros(mebibytes: int) -> bytes:
    """A zlib stream of that many MiB of zeros, built without deflating them all: after a
    sync flush each further MiB compresses to the same bytes; Adler-32 of n zeros is
    (n mod 65521) << 16 | 1."""
    comp, block = zlib.compressobj(9), bytes(1 << 20)
    first = comp.compress(block) + comp.flush(zlib.Z_SYNC_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_SYNC_FLUSH)
    final_block = comp.flush()[:2]
    adler = ((mebibytes << 20) % 65521) << 16 | 1
    return first + again * (mebibytes - 1) + final_block + struct.pack(">I", adler)


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

# ---------------------------------------------------------------- controls (real h5py output)


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


# ---------------------------------------------------------------- running vet as a job runner does


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    require_tools("clamd")
    server = ClamdServer(tmp_path_factory.mktemp("clamd-h5")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shipped_batch(clamd, tmp_path_factory) -> Path:
    """policy/base.yaml + policy/batch.yaml of the code under test, clamd's socket the test's."""
    where = tmp_path_factory.mktemp("policy")
    for name in ("base.yaml", "batch.yaml"):
        text = (CODE / "policy" / name).read_text()
        if "/run/clamav/clamd.ctl" in text:
            text = text.replace("/run/clamav/clamd.ctl", clamd.socket)
        (where / name).write_text(text)
    assert clamd.socket in (where / "base.yaml").read_text()
    assert "hdf5" in (where / "batch.yaml").read_text()
    return where / "batch.yaml"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, out: Path, elapsed: float) -> None:
        self.rc, self.out, self.elapsed = proc.returncode, out, elapsed
        self.stderr = proc.stderr
        self.report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        self.entries = {e["path"]: e for e in self.report.get("entries", ())}

    def entry(self, name: str) -> dict:
        assert name in self.entries, f"{name} not in the report (rc {self.rc}): {self.stderr[-2000:]}"
        return self.entries[name]


# Runs the command given and prints the peak RSS of its process tree (the largest process).
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)


def vet(policy: Path, root: Path, files: dict[str, bytes], job: str, *, peak_rss: bool = False) -> Run:
    """Write the files into a fresh quarantine and run the CLI exactly as the job runner does
    (cwd outside any checkout: `python -m` would import a vmguard found there first)."""
    quarantine, out = root / "quarantine" / job, root / "public" / job
    quarantine.mkdir(parents=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (quarantine / name).write_bytes(data)
    env = dict(os.environ, PYTHONPATH=str(CODE))
    cmd = [sys.executable, "-m", "vmguard", "vet", str(quarantine), "--policy", str(policy),
           "--to", str(out), "--job", job, "--format", "json", "-q"]  # fmt: skip
    if peak_rss:
        cmd = [sys.executable, "-c", PEAK_RSS, *cmd]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=300, check=False)
    return Run(proc, out, time.monotonic() - start)


def build_all(table: dict, where: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    files, broken = {}, {}
    for name, make in table.items():
        d = where / name
        d.mkdir(parents=True)
        try:
            files[f"{name}.h5"] = make(d)
        except Exception as exc:  # a builder that fails is reported by its own test
            broken[name] = f"{type(exc).__name__}: {exc}"
    return files, broken


@pytest.fixture(scope="module")
def structure_run(shipped_batch, tmp_path_factory):
    where = tmp_path_factory.mktemp("structure")
    files, broken = build_all(STRUCTURE, where / "build")
    return vet(shipped_batch, where, files, "h5-structure"), broken


@pytest.fixture(scope="module")
def hostile_run(shipped_batch, tmp_path_factory):
    where = tmp_path_factory.mktemp("hostile")
    files, broken = build_all(HOSTILE, where / "build")
    return vet(shipped_batch, where, files, "h5-hostile"), broken


def _controls_run(shipped_batch, tmp_path_factory, files_of, job):
    where = tmp_path_factory.mktemp(job)
    (where / "build").mkdir()
    files = files_of(where / "build")
    return vet(shipped_batch, where, files, job), files


@pytest.fixture(scope="module")
def control_run(shipped_batch, tmp_path_factory):
    return _controls_run(shipped_batch, tmp_path_factory, control_files, "h5-controls")


@pytest.fixture(scope="module")
def edge_run(shipped_batch, tmp_path_factory):
    return _controls_run(shipped_batch, tmp_path_factory, edge_files, "h5-edges")


def assert_refused_by_hdf5(run: Run, name: str, broken: dict[str, str], also: set[str] = frozenset()) -> None:
    assert name not in broken, f"the attack could not be built: {broken[name]}"
    entry = run.entry(f"{name}.h5")
    assert entry["verdict"] == "rejected", f"{name} got out: {entry}"
    reasons = set(entry["reasons"])
    by_validator = "invalid-format" in reasons and entry["detail"].startswith("hdf5")
    assert by_validator or reasons & also, f"{name} rejected, but not by the HDF5 rules: {entry}"


# ---------------------------------------------------------------- tests

# Found open against the hdf5 branch (commit in the report): strict xfails naming the hole.
# HOLES: bytes a guest controls that get out unchecked (or a claim of the docs that fails);
# FALSE_REJECTIONS: the lab's legal h5py output refused. Keys: attack, file or test name.
_SLACK = "bytes inside a claimed structure that no reader reads are not checked: "
_NOT_ZERO = "reserved or unused bytes are not checked to be zero: "
HOLES: dict[str, str] = {
    "global_heap_padding": _NOT_ZERO + "a global heap object's padding to 8 bytes (up to 7 per string)",
    "global_heap_object_reserved": _NOT_ZERO + "a global heap object's 4 reserved bytes (4 per string)",
    "symbol_entry_scratch": _NOT_ZERO
    + "the 16-byte scratch pad of a symbol table entry of cache type 0 (per link)",
    "superblock_reserved": _NOT_ZERO + "the 4 reserved bytes of superblock 0's root symbol table entry",
    "oh_prefix_padding": _NOT_ZERO + "the 4 bytes after a v1 object header's prefix (per object)",
    "oh_message_reserved": _NOT_ZERO + "the 3 reserved bytes of a v1 message header (per message)",
    "oh_message_padding": _NOT_ZERO + "a v1 message's padding to 8 bytes (per message)",
    "dataspace_reserved": _NOT_ZERO + "a v1 dataspace message's 5 reserved bytes",
    "chunk_btree_final_key": _NOT_ZERO
    + "size and filter mask of a chunk B-tree node's last key (8 per node)",
    "btree_sibling": "a v1 B-tree node's sibling addresses are not checked (16 bytes per node)",
    "oh_reference_count": "a v1 object header's reference count is not checked against its links (4 per object)",
    "fixed_array_unused_element": _NOT_ZERO
    + "size and mask of an unwritten chunk's fixed-array slot (12 per chunk)",
    "extensible_array_unused_element": _NOT_ZERO
    + "size and mask of an unwritten chunk's extensible-array slot (12 per chunk)",
    "oh_message_slack": _SLACK + "a v1 message declared longer than its content (up to 64 KiB per message)",
    "oh_message_slack_latest": _SLACK
    + "a v2 message declared longer than its content (up to 64 KiB per message)",
    "attribute_slack": _SLACK + "attribute data beyond its dataspace x datatype size (up to 64 KiB)",
    "compact_slack": _SLACK + "compact data beyond its dataspace x datatype size (h5py refuses to read it)",
    "contiguous_slack": _SLACK + "a contiguous extent beyond its dataspace x datatype size (unbounded)",
    "huge_dims_contiguous": "dataspace x datatype size (2**62 x 8) is not checked against the contiguous extent (800)",
    "chunk_size_lie_long": _SLACK + "a gzip chunk's bytes after its deflate stream (up to 4 GiB per chunk)",
    "chunk_size_lie_unfiltered": _SLACK + "an unfiltered chunk declared longer than its chunk (up to 4 GiB)",
    "chunk_outside_extent": _SLACK + "a chunk whose coordinates lie beyond the dataset's maximum extent",
    "duplicate_layout": _SLACK + "a second layout message's extent (HDF5 reads the first; unbounded)",
    "test_one_mebibyte_hidden_under_a_second_layout_is_not_published": "1 MiB under a second layout "
    "message is published, exit 0 (duplicate messages of a type are not refused)",
    "chunk_referenced_twice": "two chunk B-tree entries naming the same chunk are not refused as an overlap",
    "huge_message_count": "a v1 object header's message count (65535 declared, 5 present) is not checked",
    "external_link": "an external link (to a file and path the guest names, opened by whoever reads the "
    "published file) is accepted; external storage and virtual datasets are refused",
}
FALSE_REJECTIONS: dict[str, str] = {
    "unwritten-earliest.h5": "a chunked dataset never written (chunk B-tree address undefined) is refused",
    "strings-log.h5": "variable-length data in a chunked (resizable) dataset is refused as not supported",
    "lab-latest.h5": "dense link storage (a fractal heap: a group of more than 8 links) is refused (documented)",
    "lab-v110.h5": "dense link storage (a fractal heap) is refused (documented)",
    "ordered-earliest.h5": "a group with track_order=True uses dense link storage: refused (documented)",
    "ordered-latest.h5": "dense link storage (a fractal heap) is refused (documented)",
    "soft-nowhere.h5": "a soft link's value in a v1 group's local heap is not claimed: every superblock-0 "
    "file with a soft link is refused",
    "test_control_real_h5py_output_is_published_byte_identical": "the control job has refused files "
    "(all-or-nothing)",
}


def _param(names, known):
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=known[n])) if n in known else n
        for n in names
    ]


def known(name: str, table: dict[str, str]):
    """A strict xfail for a single test listed in a table, else nothing."""
    if name in table:
        return pytest.mark.xfail(strict=True, reason=table[name])
    return lambda test: test


@pytest.mark.parametrize("name", _param(STRUCTURE, HOLES))
def test_structure_attack_is_refused_by_the_hdf5_rules(structure_run, name):
    run, broken = structure_run
    assert_refused_by_hdf5(run, name, broken, ALSO_ACCEPTED.get(name, set()))


@known("test_structure_attacks_publish_nothing", HOLES)
def test_structure_attacks_publish_nothing(structure_run):
    """All-or-nothing: the job's output is refused whole, exit 1, nothing in the public area."""
    run, _ = structure_run
    assert run.rc == 1, run.stderr[-2000:]
    assert run.report["status"] == "rejected" and not run.out.exists()


@pytest.mark.parametrize("name", _param(HOSTILE, HOLES))
def test_hostile_structure_is_refused_fast(hostile_run, name):
    run, broken = hostile_run
    assert_refused_by_hdf5(run, name, broken)


@known("test_hostile_structures_fail_fast", HOLES)
def test_hostile_structures_fail_fast(hostile_run):
    """Cycles and huge counts: all of them in one vet, well within the worker's 10 s stall
    limit (a worker killed for it would reject its file as type-unknown: not a rule)."""
    run, _ = hostile_run
    assert run.elapsed < 20, f"vet of the hostile files took {run.elapsed:.1f} s"
    assert run.rc == 1, run.stderr[-2000:]


@known("test_chunk_bomb_is_bounded", HOLES)
def test_chunk_bomb_is_bounded(shipped_batch, tmp_path):
    """A gzip chunk that inflates to 512 MiB where the chunk holds 8000 bytes: rejected (the
    chunk does not inflate to its size), or accepted as opaque data, but quickly either way;
    never a worker killed (type-unknown) or a vet that cannot run."""
    (tmp_path / "b").mkdir()
    run = vet(shipped_batch, tmp_path, {"bomb.h5": chunk_bomb(tmp_path / "b")}, "h5-bomb")
    entry = run.entry("bomb.h5")
    assert run.elapsed < 30, f"{run.elapsed:.1f} s"
    assert "type-unknown" not in entry["reasons"] and run.rc in (0, 1), entry


@known("test_attribute_data_is_left_to_the_scanners_and_they_see_it", HOLES)
def test_attribute_data_is_left_to_the_scanners_and_they_see_it(shipped_batch, tmp_path):
    """Data bytes (an attribute's value) are the format's own: the scanner must judge them."""

    def build(f) -> None:
        f["x"] = np.arange(10.0)
        f["x"].attrs["blob"] = np.frombuffer(b"....." + MARKER + b".....", dtype=np.uint8)

    files = {"attr.h5": bytes(write_h5(tmp_path / "attr.h5", build))}
    run = vet(shipped_batch, tmp_path, files, "h5-attr")
    entry = run.entry("attr.h5")
    assert entry["verdict"] == "rejected" and "scanner-flagged" in entry["reasons"], entry


@known("test_appended_payload_single_file_nothing_published", HOLES)
def test_appended_payload_single_file_nothing_published(shipped_batch, tmp_path):
    """The runner's view of one hostile file alone: exit 1, the public area untouched."""
    (tmp_path / "b").mkdir()
    run = vet(shipped_batch, tmp_path, {"out.h5": raised_eof(tmp_path / "b")}, "h5-one")
    assert run.rc == 1 and not run.out.exists(), (run.rc, run.report)
    assert run.entry("out.h5")["verdict"] == "rejected"


def _vlen_strings(f) -> None:
    f.create_dataset(
        "s", data=np.array([f"e{i}" for i in range(500_000)], dtype=object), dtype=h5py.string_dtype()
    )


def _zeros(f) -> None:
    f["x"] = np.zeros(20_000_000, dtype="u1")


def _peak_mb(shipped_batch, where: Path, build) -> tuple[float, int]:
    where.mkdir()
    data = bytes(write_h5(where / "src.h5", build))
    run = vet(shipped_batch, where, {"big.h5": data}, "h5-rss", peak_rss=True)
    assert run.entry("big.h5")["verdict"] == "accepted", run.entry("big.h5")
    return int(run.stderr.strip().splitlines()[-1]) / 1024, len(data)


@known("test_walk_memory_fits_its_limit_up_to_the_value_cap", HOLES)
def test_walk_memory_fits_its_limit_up_to_the_value_cap(shipped_batch, tmp_path):
    """Memory of the HDF5 walk stays within its confinement for every file it admits. Seen
    at 087d679: the walk worker has RLIMIT_DATA 512 MiB and refuses a dataset of more than
    4,000,000 variable-length values, and its memory grows with each value it checks (262 MB
    anonymous for 3 million). So each value may cost at most 512 MiB / 4 M = 128 bytes, or a
    legal file under the cap dies on the limit instead of being judged. Measured here: half
    a million strings (20 MB) against a plain dataset of the same size (the control)."""
    control, _ = _peak_mb(shipped_batch, tmp_path / "plain", _zeros)
    peak, size = _peak_mb(shipped_batch, tmp_path / "vlen", _vlen_strings)
    assert control < 150, f"control: peak RSS {control:.0f} MB"
    assert peak < control + 500_000 * 128 / 2**20, (
        f"peak RSS {peak:.0f} MB for one {size >> 20} MiB file (plain: {control:.0f} MB)"
    )


@known("test_one_mebibyte_hidden_under_a_second_layout_is_not_published", HOLES)
def test_one_mebibyte_hidden_under_a_second_layout_is_not_published(shipped_batch, tmp_path):
    """The runner's view of the largest channel: 1 MiB that no HDF5 reader ever returns (a
    second layout message's extent), alone in a job: must be exit 1, nothing published."""
    (tmp_path / "b").mkdir()
    secret = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(1 << 15))
    run = vet(shipped_batch, tmp_path, {"out.h5": duplicate_layout(tmp_path / "b", secret)}, "h5-big")
    published = run.out / "out.h5"
    got_out = published.exists() and secret in published.read_bytes()
    assert run.rc == 1 and not got_out, (run.rc, run.entry("out.h5"))


CONTROL_NAMES = [
    "unwritten-earliest.h5",
    "strings-log.h5",
    "simple-latest.h5",
    "unwritten-latest.h5",
    "lab-earliest.h5", "lab-latest.h5", "lab-v110.h5", "swmr.h5",
    "ordered-earliest.h5", "ordered-latest.h5", "aligned.h5", "basic.h5", "large.h5.gz",
]  # fmt: skip
EDGE_NAMES = ["soft-nowhere.h5", "hardlink-cycle.h5", "huge-sparse.h5", "deep-groups.h5"]


@pytest.mark.parametrize("name", _param(CONTROL_NAMES, FALSE_REJECTIONS))
def test_control_real_h5py_output_is_accepted(control_run, name):
    run, files = control_run
    entry = run.entry(name)
    assert entry["verdict"] == "accepted", entry
    assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()


@known("test_control_real_h5py_output_is_published_byte_identical", FALSE_REJECTIONS)
def test_control_real_h5py_output_is_published_byte_identical(control_run):
    run, files = control_run
    assert run.rc == 0, (run.report.get("rejected"), run.stderr[-2000:])
    published = {p.name: p.read_bytes() for p in run.out.iterdir()}
    assert published == files


@pytest.mark.parametrize("name", _param(EDGE_NAMES, FALSE_REJECTIONS))
def test_edge_legal_hdf5_is_accepted_quickly(edge_run, name):
    run, files = edge_run
    entry = run.entry(name)
    assert entry["verdict"] == "accepted", entry
    assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
    assert run.elapsed < 20, f"{run.elapsed:.1f} s"
