"""Reading and patching HDF5's dense storage for the attack tests, from the format
specification alone: fractal heaps (FRHP, FHDB, FHIB), version 2 B-trees (BTHD, BTIN,
BTLF), free-space managers (FSHD, FSSE), link/attribute info messages, global heap
references in chunks. Offsets and checksums only: no validation logic of vmguard's."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import h5py

from tests.support.hdf5_bytes import lookup3, put, u, v2_header

UNDEF = 0xFFFFFFFFFFFFFFFF
FRHP_LEN = 142  # the header's checksummed part without I/O filters
BTHD_LEN = 34
FSHD_LEN = 78


def fix_after(data: bytearray, start: int, length: int) -> None:
    """The lookup3 checksum that follows `length` bytes of a structure at start."""
    put(data, start + length, lookup3(bytes(data[start : start + length])), "<I")


@dataclass(frozen=True)
class Heap:
    addr: int
    id_len: int
    flags: int
    free_man: int
    fs_addr: int
    man_space: int
    alloc_man: int
    iterator: int
    n_man: int
    width: int
    start_block: int
    max_dblock: int
    max_heap_bits: int
    root: int
    cur_rows: int

    @property
    def offset_bytes(self) -> int:
        return (self.max_heap_bits + 7) // 8

    @property
    def dblock_prefix(self) -> int:
        """Signature, version, heap address, block offset and (flag 2) checksum."""
        return 5 + 8 + self.offset_bytes + (4 if self.flags & 2 else 0)

    @property
    def length_bytes(self) -> int:
        return self.id_len - 1 - self.offset_bytes


HEAP_FIELDS = {  # name: (offset from the signature, struct format)
    "next_huge": (14, "<Q"),
    "huge_tree": (22, "<Q"),
    "free_man": (30, "<Q"),
    "fs_addr": (38, "<Q"),
    "man_space": (46, "<Q"),
    "alloc_man": (54, "<Q"),
    "iterator": (62, "<Q"),
    "n_man": (70, "<Q"),
    "huge_size": (78, "<Q"),
    "n_huge": (86, "<Q"),
    "tiny_size": (94, "<Q"),
    "n_tiny": (102, "<Q"),
    "width": (110, "<H"),
    "start_block": (112, "<Q"),
    "max_dblock": (120, "<Q"),
    "max_heap_bits": (128, "<H"),
    "start_rows": (130, "<H"),
    "root": (132, "<Q"),
    "cur_rows": (140, "<H"),
}


def heap(data: bytes, addr: int) -> Heap:
    assert data[addr : addr + 4] == b"FRHP", f"no fractal heap at {addr}"
    f = {k: u(data, addr + off, fmt) for k, (off, fmt) in HEAP_FIELDS.items()}
    return Heap(
        addr=addr, id_len=u(data, addr + 5, "<H"), flags=data[addr + 9], free_man=f["free_man"],
        fs_addr=f["fs_addr"], man_space=f["man_space"], alloc_man=f["alloc_man"],
        iterator=f["iterator"], n_man=f["n_man"], width=f["width"], start_block=f["start_block"],
        max_dblock=f["max_dblock"], max_heap_bits=f["max_heap_bits"], root=f["root"],
        cur_rows=f["cur_rows"],
    )  # fmt: skip


def set_heap(data: bytearray, addr: int, **fields: int) -> None:
    """Set header fields by name and recompute the header's checksum."""
    for name, value in fields.items():
        off, fmt = HEAP_FIELDS[name]
        put(data, addr + off, value, fmt)
    fix_after(data, addr, FRHP_LEN)


def row_size(h: Heap, row: int) -> int:
    return h.start_block * (1 if row < 2 else 1 << (row - 1))


@dataclass(frozen=True)
class Block:
    addr: int
    size: int
    heap_offset: int
    entry: int | None  # where an indirect block names it (None: the heap's root)


def iblock_entries(h: Heap) -> list[tuple[int, int, int]]:
    """(offset in the root indirect block, block size, heap offset) of its direct entries."""
    out, pos, heap_off = [], 5 + 8 + h.offset_bytes, 0
    for row in range(h.cur_rows):
        for _ in range(h.width):
            out.append((pos, row_size(h, row), heap_off))
            pos, heap_off = pos + 8, heap_off + row_size(h, row)
    return out


def iblock_length(h: Heap) -> int:
    """Checksummed length of the root indirect block (direct rows only: small heaps)."""
    return 5 + 8 + h.offset_bytes + 8 * h.width * h.cur_rows


def direct_blocks(data: bytes, h: Heap) -> list[Block]:
    if h.cur_rows == 0:
        return [Block(h.root, h.start_block, 0, None)]
    assert data[h.root : h.root + 4] == b"FHIB"
    blocks = []
    for pos, size, heap_off in iblock_entries(h):
        addr = u(data, h.root + pos)
        if addr != UNDEF:
            blocks.append(Block(addr, size, heap_off, h.root + pos))
    return blocks


def fix_dblock(data: bytearray, h: Heap, block: Block) -> None:
    """A direct block's checksum: lookup3 of the whole block with its checksum field zero."""
    if not h.flags & 2:
        return
    at = block.addr + 5 + 8 + h.offset_bytes
    put(data, at, 0, "<I")
    put(data, at, lookup3(bytes(data[block.addr : block.addr + block.size])), "<I")


def fix_iblock(data: bytearray, h: Heap) -> None:
    fix_after(data, h.root, iblock_length(h))


def block_of(data: bytes, h: Heap, heap_offset: int) -> Block:
    for b in direct_blocks(data, h):
        if b.heap_offset <= heap_offset < b.heap_offset + b.size:
            return b
    raise AssertionError(f"heap offset {heap_offset} in no block")


def heap_id(h: Heap, raw: bytes) -> tuple[int, int, int]:
    """(type: 0 managed 1 huge 2 tiny, offset, length) of a managed heap ID."""
    ob = h.offset_bytes
    off = int.from_bytes(raw[1 : 1 + ob], "little")
    length = int.from_bytes(raw[1 + ob : 1 + ob + h.length_bytes], "little")
    return (raw[0] >> 4) & 3, off, length


def managed_id(h: Heap, off: int, length: int) -> bytes:
    raw = bytes([0]) + off.to_bytes(h.offset_bytes, "little") + length.to_bytes(h.length_bytes, "little")
    return raw + bytes(h.id_len - len(raw))


def file_offset(data: bytes, h: Heap, heap_offset: int) -> int:
    b = block_of(data, h, heap_offset)
    return b.addr + heap_offset - b.heap_offset


# --- version 2 B-trees ---------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    addr: int
    type: int
    node_size: int
    rec_size: int
    depth: int
    root: int
    n_root: int
    total: int


def tree(data: bytes, addr: int) -> Tree:
    assert data[addr : addr + 4] == b"BTHD", f"no v2 B-tree header at {addr}"
    _, typ, node, rec, depth, _, _, root, n_root, total = struct.unpack_from("<BBIHHBBQHQ", data, addr + 4)
    return Tree(addr, typ, node, rec, depth, root, n_root, total)


def set_tree(data: bytearray, t: Tree, **fields: int) -> None:
    offsets = {"node_size": (6, "<I"), "depth": (12, "<H"), "split": (14, "<B"), "merge": (15, "<B"),
               "root": (16, "<Q"), "n_root": (24, "<H"), "total": (26, "<Q")}  # fmt: skip
    for name, value in fields.items():
        off, fmt = offsets[name]
        put(data, t.addr + off, value, fmt)
    fix_after(data, t.addr, BTHD_LEN)


def leaf_records(t: Tree, leaf: int, count: int) -> list[int]:
    """Offsets of a leaf's records."""
    return [leaf + 6 + i * t.rec_size for i in range(count)]


def fix_leaf(data: bytearray, t: Tree, leaf: int, count: int) -> None:
    fix_after(data, leaf, 6 + count * t.rec_size)


def root_leaf_records(data: bytes, t: Tree) -> list[int]:
    assert t.depth == 0 and data[t.root : t.root + 4] == b"BTLF"
    return leaf_records(t, t.root, t.n_root)


# --- free-space manager ----------------------------------------------------------------


@dataclass(frozen=True)
class FreeSpace:
    addr: int
    total_space: int
    sections: int
    list_addr: int
    list_used: int
    list_alloc: int


def free_space(data: bytes, addr: int) -> FreeSpace:
    assert data[addr : addr + 4] == b"FSHD", f"no free-space manager at {addr}"
    return FreeSpace(addr, u(data, addr + 6), u(data, addr + 14), u(data, addr + 54),
                     u(data, addr + 62), u(data, addr + 70))  # fmt: skip


def set_free_space(data: bytearray, fs: FreeSpace, **fields: int) -> None:
    offsets = {"total_space": 6, "sections": 14, "serialized": 22, "ghosts": 30, "list_addr": 54,
               "list_used": 62, "list_alloc": 70}  # fmt: skip
    for name, value in fields.items():
        put(data, fs.addr + offsets[name], value)
    fix_after(data, fs.addr, FSHD_LEN)


# --- object headers --------------------------------------------------------------------


def messages(data: bytes, addr: int, mtype: int) -> list[tuple[int, int]]:
    """(body offset, size) of a v2 object header's messages of a type (chunk 0 only)."""
    _, _, msgs = v2_header(data, addr)
    return [(body, size) for t, size, body in msgs if t == mtype]


def info_message(data: bytes, ohdr: int, mtype: int) -> tuple[int, int, int | None]:
    """(fractal heap, name index, creation order index or None) of a link info (2) or
    attribute info (0x15) message."""
    ((body, _),) = messages(data, ohdr, mtype)
    flags, p = data[body + 1], body + 2
    p += (8 if mtype == 2 else 2) if flags & 1 else 0
    order = u(data, p + 16) if flags & 2 else None
    return u(data, p), u(data, p + 8), order


def object_addr(path, name: str) -> int:
    with h5py.File(path, "r") as f:
        return h5py.h5o.get_info(f[name].id).addr


# --- chunks and variable-length references -------------------------------------------------


def chunks(path, name: str) -> list:
    with h5py.File(path, "r") as f:
        d = f[name].id
        return [d.get_chunk_info(i) for i in range(d.get_num_chunks())]


def v1_chunk_key(data: bytes, chunk_addr: int, rank: int) -> int:
    """Offset of the v1 B-tree key (size, filter mask, offsets) in front of the child
    pointer naming chunk_addr (a leaf of a chunk TREE)."""
    key = 4 + 4 + 8 * (rank + 1)
    for p in range(len(data) - 8):
        if u(data, p) == chunk_addr and p >= key and data.rfind(b"TREE", 0, p) >= 0:
            tree_at = data.rfind(b"TREE", 0, p)
            if data[tree_at + 4] == 1 and (p - tree_at - 24) % (key + 8) == key:
                return p - key
    raise AssertionError(f"no chunk B-tree entry names {chunk_addr}")


def replace_chunk(data: bytearray, chunk, raw: bytes, rank: int = 1, level: int = 6) -> bytearray:
    """Deflate raw as the chunk's new bytes: in place if it fits (the rest zeros), else
    appended at the end of the file (the old bytes zeroed); its B-tree key updated."""
    new = zlib.compress(raw, level)
    key = v1_chunk_key(data, chunk.byte_offset, rank)
    addr = chunk.byte_offset
    data[addr : addr + chunk.size] = bytes(chunk.size)
    if len(new) > chunk.size:
        addr = len(data)
        data += new
        set_eof_any(data)
    data[addr : addr + len(new)] = new
    put(data, key, len(new), "<I")
    put(data, key + 8 + 8 * (rank + 1), addr)
    return data


def set_eof_any(data: bytearray) -> None:
    from tests.support.hdf5_bytes import set_eof

    set_eof(data, len(data))


def inflate(data: bytes, chunk) -> bytes:
    return zlib.decompress(bytes(data[chunk.byte_offset : chunk.byte_offset + chunk.size]))


def vlen_refs(raw: bytes) -> list[tuple[int, int, int]]:
    """(length, collection address, object index) of each 16-byte element of a chunk."""
    return [struct.unpack_from("<IQI", raw, i) for i in range(0, len(raw), 16)]


def gcol_objects(data: bytes, col: int) -> dict[int, tuple[int, int]]:
    """Object index -> (offset of its 16-byte header, size) in a global heap collection;
    index 0 is the free space."""
    assert data[col : col + 4] == b"GCOL"
    end, p, out = col + u(data, col + 8), col + 16, {}
    while p + 16 <= end:
        index, size = u(data, p, "<H"), u(data, p + 8)
        out[index] = (p, size)
        if index == 0:
            break
        p += 16 + (size + 7) // 8 * 8
    return out


def replace_chunk_ea(data: bytearray, chunk, raw: bytes, all_chunks: list, level: int = 6) -> bytearray:
    """The same for a chunk indexed by an extensible array's index block (libver='latest':
    elements address, size, filter mask; the block's checksum recomputed)."""
    from tests.support.hdf5_bytes import checksummed_length, sig_at

    block = sig_at(data, b"EAIB")[0]
    length = checksummed_length(data, block)
    where = {c.byte_offset: bytes(data[block:block + length]).find(c.byte_offset.to_bytes(8, "little"))
             for c in all_chunks}  # fmt: skip
    first, second = sorted(where.values())[:2]
    width = second - first - 12
    new = zlib.compress(raw, level)
    at = block + where[chunk.byte_offset]
    addr = chunk.byte_offset
    data[addr : addr + chunk.size] = bytes(chunk.size)
    if len(new) > chunk.size:
        addr = len(data)
        data += new
        set_eof_any(data)
    data[addr : addr + len(new)] = new
    put(data, at, addr)
    data[at + 8 : at + 8 + width] = len(new).to_bytes(width, "little")
    fix_after(data, block, length)
    return data


def sections(data: bytes, h: Heap) -> list[tuple[int, int, int]]:
    """(file offset of the record's size field, size, heap offset) of every free section:
    sets of count, size (3 bytes: sections up to 64 KiB), then per record its offset
    (the heap's offset bytes) and type (1 byte)."""
    fs = free_space(data, h.fs_addr)
    count_width = fs.sections.bit_length() // 8 + 1
    p, end, out = fs.list_addr + 13, fs.list_addr + fs.list_used - 4, []
    while p < end:
        count = int.from_bytes(data[p : p + count_width], "little")
        size_at = p + count_width
        size = int.from_bytes(data[size_at : size_at + 3], "little")
        p = size_at + 3
        for _ in range(count):
            out.append((size_at, size, int.from_bytes(data[p : p + h.offset_bytes], "little")))
            p += h.offset_bytes + 1
    return out
