"""Attacks on dense attribute storage, fractal heap indirect blocks, creation-order
indexes and huge heap objects (test_attack_independent_dense.py): h5py's files, patched,
every checksum recomputed. DENSE: these and the link attacks of hdf5_dense_files.py."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py

from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import fix_v2_checksum, put, set_eof, sig_at, u
from tests.support.hdf5_dense_files import (
    LINKS,
    P8,
    PAYLOAD,
    _carve,
    _heap,
    _record_for,
    _tree,
    _write_in_heap,
    base,
)

# --- many attributes: records of type 8 (heap ID 8, flags 1, creation order 4, hash 4) -------


def _attr_records(data: bytes) -> tuple[hd.Tree, list[tuple[int, int]]]:
    """The attribute name tree and its (leaf, record offset) pairs (a tree of depth 0 or 1)."""
    t = _tree(data)
    leaves = [t.root] if t.depth == 0 else [u(data, t.root + 6 + t.n_root * t.rec_size + i * 9)
                                              for i in range(t.n_root + 1)]  # fmt: skip
    out = []
    for leaf in leaves:
        n = 0
        while n * t.rec_size + 10 <= t.node_size:
            rec = leaf + 6 + n * t.rec_size
            if hd.lookup3(bytes(data[leaf:rec])) == u(data, rec, "<I") and n:
                break
            n += 1
        out += [(leaf, leaf + 6 + i * t.rec_size) for i in range(n)]
    return t, out


def _fix_attr_leaf(data: bytearray, t: hd.Tree, leaf: int, records: list) -> None:
    hd.fix_leaf(data, t, leaf, sum(1 for lf, _ in records if lf == leaf))


def attr_creation_order(d: Path) -> bytes:
    """Every attribute record's creation order (order not tracked) = 4 payload bytes."""
    data = base(d, "attrs30-latest")
    t, records = _attr_records(data)
    for i, (_, rec) in enumerate(records):
        data[rec + 9 : rec + 13] = PAYLOAD[4 * i % 80 : 4 * i % 80 + 4]
    for leaf in {lf for lf, _ in records}:
        _fix_attr_leaf(data, t, leaf, records)
    return bytes(data)


def attr_record_flags(d: Path) -> bytes:
    """An attribute record's message flags byte (the attribute is not shared) = 0x5A."""
    data = base(d, "attrs30-latest")
    t, records = _attr_records(data)
    leaf, rec = records[0]
    data[rec + 8] = 0x5A
    _fix_attr_leaf(data, t, leaf, records)
    return bytes(data)


def attr_hash_mismatch(d: Path) -> bytes:
    """An attribute record's name hash changed, sort order kept (the first record's, lowered)."""
    data = base(d, "attrs30-latest")
    t, records = _attr_records(data)
    leaf, rec = records[0]
    assert u(data, rec + 13, "<I") > 7
    put(data, rec + 13, 7, "<I")
    _fix_attr_leaf(data, t, leaf, records)
    return bytes(data)


def attr_heap_free_space(d: Path) -> bytes:
    """Payload in the free space of the attribute heap's second direct block (sections fixed
    nowhere: the space is still listed free)."""
    data = base(d, "attrs30-latest")
    h = _heap(data)
    block = max(hd.direct_blocks(data, h), key=lambda b: b.heap_offset)
    end = block.addr + block.size
    start = end - len(PAYLOAD) - 8
    assert not any(data[start:end])
    data[start : start + len(PAYLOAD)] = PAYLOAD
    hd.fix_dblock(data, h, block)
    return bytes(data)


# --- indirect blocks: rows pointing elsewhere ----------------------------------------------------


def _fhib_patch(name: str, entry: int, target):
    def attack(d: Path) -> bytes:
        data = base(d, name)
        h = _heap(data)
        pos = hd.iblock_entries(h)[entry][0]
        put(data, h.root + pos, target(data, h))
        hd.fix_iblock(data, h)
        return bytes(data)

    return attack


FHIB_ROWS = {  # an indirect block's direct block entry names: beyond the end of the file,
    # the indirect block itself, the heap header, the block another entry names (claimed twice)
    "fhib_row_outside": _fhib_patch("links500-latest", 0, lambda data, h: len(data) + 4096),
    "fhib_row_self": _fhib_patch("links500-latest", 1, lambda data, h: h.root),
    "fhib_row_header": _fhib_patch("links500-latest", 1, lambda data, h: h.addr),
    "fhib_row_twice": _fhib_patch("links500-latest", 1, lambda data, h: hd.direct_blocks(data, h)[0].addr),
}


def fhib_unused_entry(d: Path) -> bytes:
    """An indirect block entry past the heap's allocation names an appended direct block
    (valid prefix and checksum, heap offset right) whose free space holds the payload."""
    data = base(d, "attrs30-latest")
    h = _heap(data)
    entries = hd.iblock_entries(h)
    used = len(hd.direct_blocks(data, h))
    pos, size, heap_off = entries[used]
    assert u(data, h.root + pos) == hd.UNDEF
    block = bytearray(size)
    block[:4], block[4] = b"FHDB", 0
    put(block, 5, h.addr)
    block[13 : 13 + h.offset_bytes] = heap_off.to_bytes(h.offset_bytes, "little")
    block[h.dblock_prefix : h.dblock_prefix + len(PAYLOAD)] = PAYLOAD
    addr = len(data)
    data += block
    set_eof(data, len(data))
    put(data, h.root + pos, addr)
    hd.fix_iblock(data, h)
    hd.fix_dblock(data, h, hd.Block(addr, size, heap_off, h.root + pos))
    return bytes(data)


def fhib_block_offset(d: Path) -> bytes:
    """The root indirect block's block offset (0) = 4 payload bytes."""
    data = base(d, "links500-latest")
    h = _heap(data)
    data[h.root + 13 : h.root + 17] = PAYLOAD[:4]
    hd.fix_iblock(data, h)
    return bytes(data)


# --- creation-order tracking -------------------------------------------------------------


def tracked_order_index_disagrees(d: Path) -> bytes:
    """The creation-order index names link 1's message where link 0's should be: the two
    indexes of one group disagree (link 0 reached by name only)."""
    data = base(d, "tracked-earliest")
    t = next(hd.tree(data, a) for a in sig_at(data, b"BTHD") if data[a + 5] == 6)
    r0, r1 = hd.root_leaf_records(data, t)[:2]
    data[r0 + 8 : r0 + 15] = data[r1 + 8 : r1 + 15]
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def tracked_sparse_orders(d: Path) -> bytes:
    """The 12 links' creation orders 0..11 become k * 2**32 + 4 payload bytes (sorted as
    before), in the link messages, the creation-order index and the next creation order:
    all three consistent, 48 payload bytes in values a reader returns only as order."""
    data = base(d, "tracked-earliest")
    h = _heap(data)
    t = next(hd.tree(data, a) for a in sig_at(data, b"BTHD") if data[a + 5] == 6)
    order = 0
    for k, rec in enumerate(hd.root_leaf_records(data, t)):
        assert u(data, rec) == k
        order = (k << 32) | int.from_bytes(PAYLOAD[4 * k : 4 * k + 4], "little")
        put(data, rec, order)
        _, off, _ = hd.heap_id(h, data[rec + 8 : rec + 15])
        msg = hd.file_offset(data, h, off)
        flags = data[msg + 1]
        assert flags & 4
        _write_in_heap(data, h, off + 2 + (1 if flags & 8 else 0), order.to_bytes(8, "little"))
    hd.fix_leaf(data, t, t.root, t.n_root)
    with h5py.File(d / "tracked-earliest.h5", "r") as f:
        addr = h5py.h5o.get_info(f["g"].id).addr
    ((body, _),) = hd.messages(data, addr, 2)
    put(data, body + 2, order + 1)
    fix_v2_checksum(data, addr)
    return bytes(data)


def tracked_max_order(d: Path) -> bytes:
    """The link info message's maximum creation index (12 links: 12) = 8 payload bytes."""
    data = base(d, "tracked-earliest")
    with h5py.File(d / "tracked-earliest.h5", "r") as f:
        addr = h5py.h5o.get_info(f["g"].id).addr
    ((body, _),) = hd.messages(data, addr, 2)
    assert data[body + 1] & 1
    put(data, body + 2, P8 & ~(1 << 63))
    fix_v2_checksum(data, addr)
    return bytes(data)


def attr_object_trailing(d: Path) -> bytes:
    """The attribute message just before the second block's free space gets a heap ID 82
    bytes longer: the payload inside the object, after the message (accounting fixed)."""
    data = base(d, "attrs30-latest")
    h, (t, records) = _heap(data), _attr_records(data)
    _, _, free_off = hd.sections(data, h)[1]
    for leaf, rec in records:  # noqa: B007  (the pair found is used after the loop)
        _, off, length = hd.heap_id(h, data[rec : rec + h.id_len])
        if off + length == free_off:
            break
    else:
        raise AssertionError("no object before the free space")
    _carve(data, h, 1, len(PAYLOAD))
    h = _heap(data)
    data[rec : rec + h.id_len] = hd.managed_id(h, off, length + len(PAYLOAD))
    _fix_attr_leaf(data, t, leaf, records)
    _write_in_heap(data, h, free_off, PAYLOAD)
    return bytes(data)


def attr_object_unreferenced(d: Path) -> bytes:
    """An object carved from the attribute heap's free space (counts fixed), payload, no record."""
    data = base(d, "attrs30-latest")
    h = _heap(data)
    off = _carve(data, h, 1, len(PAYLOAD))
    h = _heap(data)
    hd.set_heap(data, h.addr, n_man=h.n_man + 1)
    _write_in_heap(data, _heap(data), off, PAYLOAD)
    return bytes(data)


def _huge(data: bytes) -> tuple[hd.Tree, int]:
    """The huge-object tree (records: address, length, ID) and its first record."""
    t = next(hd.tree(data, a) for a in sig_at(data, b"BTHD") if data[a + 5] == 1)
    return t, hd.root_leaf_records(data, t)[0]


def huge_object_trailing(d: Path) -> bytes:
    """A 160 KB attribute stored as a huge heap object (the file's last extent): its length
    82 bytes longer, the payload appended after the attribute message."""
    data = base(d, "big-attr-latest")
    t, rec = _huge(data)
    assert u(data, rec) + u(data, rec + 8) == len(data)
    data += PAYLOAD
    set_eof(data, len(data))
    put(data, rec + 8, u(data, rec + 8) + len(PAYLOAD))
    hd.fix_leaf(data, t, t.root, t.n_root)
    h = _heap(data)
    hd.set_heap(data, h.addr, huge_size=u(data, h.addr + 78) + len(PAYLOAD))
    return bytes(data)


def huge_object_unreferenced(d: Path) -> bytes:
    """A second huge object (the payload, appended) in the huge-object tree with its own ID
    and every count fixed, named by no attribute."""
    data = base(d, "big-attr-latest")
    t, rec = _huge(data)
    addr = len(data)
    data += PAYLOAD
    set_eof(data, len(data))
    h = _heap(data)
    new_id = u(data, rec + 16) + 1
    data[rec + t.rec_size : rec + 2 * t.rec_size] = (addr.to_bytes(8, "little") + len(PAYLOAD).to_bytes(8, "little")
                                                     + new_id.to_bytes(8, "little"))  # fmt: skip
    hd.fix_leaf(data, t, t.root, t.n_root + 1)
    hd.set_tree(data, t, n_root=t.n_root + 1, total=t.total + 1)
    hd.set_heap(data, h.addr, next_huge=new_id, n_huge=u(data, h.addr + 86) + 1,
                huge_size=u(data, h.addr + 78) + len(PAYLOAD))  # fmt: skip
    return bytes(data)


def attr_message_reserved_flags(d: Path) -> bytes:
    """An attribute message (version 3) in the heap: its flags' reserved bits set (0xF0)."""
    data = base(d, "attrs30-latest")
    h, (_, records) = _heap(data), _attr_records(data)
    _, off, _ = hd.heap_id(h, data[records[0][1] : records[0][1] + h.id_len])
    at = hd.file_offset(data, h, off)
    assert data[at] == 3 and data[at + 1] == 0
    _write_in_heap(data, h, off, b"\x03\xf0")
    return bytes(data)


# --- more on dense links and attributes ------------------------------------------------------


def _link_record(data: bytes, name: bytes) -> tuple[hd.Heap, hd.Tree, int, int, int]:
    """(heap, tree, record, heap offset, length) of a link of the root dense group."""
    h, t = _heap(data), _tree(data)
    rec = _record_for(data, h, t, name)
    _, off, length = hd.heap_id(h, data[rec + 4 : rec + 4 + h.id_len])
    return h, t, rec, off, length


def _relink(data: bytearray, t: hd.Tree, rec: int, h: hd.Heap, off: int, length: int) -> bytes:
    data[rec + 4 : rec + 4 + h.id_len] = hd.managed_id(h, off, length)
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def object_length_short(d: Path) -> bytes:
    """d010's heap ID declares 10 bytes where its link message takes 15 (its address cut)."""
    data = base(d, "links20-latest")
    h, t, rec, off, length = _link_record(data, b"d010")
    return _relink(data, t, rec, h, off, length - 5)


def object_in_block_header(d: Path) -> bytes:
    """d010's heap ID points into the direct block's own prefix (heap offset 2)."""
    data = base(d, "links20-latest")
    h, t, rec, _, length = _link_record(data, b"d010")
    return _relink(data, t, rec, h, 2, length)


def object_overlapping(d: Path) -> bytes:
    """d011's heap ID takes 8 more bytes: its object then overlaps the next link message."""
    data = base(d, "links20-latest")
    h, t, rec, off, length = _link_record(data, b"d011")
    return _relink(data, t, rec, h, off, length + 8)


def fsse_section_outside_heap(d: Path) -> bytes:
    """The free section's offset 1 MiB into a heap of 512 bytes."""
    data = base(d, "links20-latest")
    h = _heap(data)
    fs = hd.free_space(data, h.fs_addr)
    size_at, _, _ = hd.sections(data, h)[0]
    data[size_at + 3 : size_at + 3 + h.offset_bytes] = (1 << 20).to_bytes(h.offset_bytes, "little")
    hd.fix_after(data, fs.list_addr, fs.list_used - 4)
    return bytes(data)


def btin_padding(d: Path) -> bytes:
    """The internal B-tree node's unused room (after its checksum) holds the payload."""
    data = base(d, "links500-latest")
    t = _tree(data)
    end = t.root + 6 + t.n_root * t.rec_size + 9 * (t.n_root + 1) + 4
    assert not any(data[end : end + len(PAYLOAD)])
    data[end : end + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def _info_flags(name: str, path: str, mtype: int):
    def attack(d: Path) -> bytes:
        data = base(d, name)
        with h5py.File(d / f"{name}.h5", "r") as f:
            addr = h5py.h5o.get_info(f[path].id).addr
        ((body, _),) = hd.messages(data, addr, mtype)
        data[body + 1] |= 0xF0
        fix_v2_checksum(data, addr)
        return bytes(data)

    return attack


def dense_attr_vlen_twice(d: Path) -> bytes:
    """String attribute s01's value names s00's heap object (in the attribute heap, block
    checksum fixed); s01's own global heap object holds the payload, named by nothing."""
    data = base(d, "strattrs-latest")
    h, (_, records) = _heap(data), _attr_records(data)
    ends = {}
    for _, rec in records:
        _, off, length = hd.heap_id(h, data[rec : rec + h.id_len])
        msg = hd.file_offset(data, h, off)
        name = bytes(data[msg + 9 : msg + 12])
        ends[name] = (off + length - 16, bytes(data[msg + length - 16 : msg + length]))
    (_, ref0), (off1, ref1) = ends[b"s00"], ends[b"s01"]
    _write_in_heap(data, h, off1, ref0)
    n, col, idx = struct.unpack("<IQI", ref1)
    at, size = hd.gcol_objects(data, col)[idx]
    data[at + 16 : at + 16 + size] = PAYLOAD[:size]
    return bytes(data)


def _checksum_at(data: bytes, kind: str) -> int:
    """Where the lookup3 checksum of a structure of the 500-link group is."""
    h, t = _heap(data), _tree(data)
    fs = hd.free_space(data, h.fs_addr)
    leaf = u(data, t.root + 6 + t.n_root * t.rec_size)
    leaf_n = data[t.root + 6 + t.n_root * t.rec_size + 8]
    return {
        "FRHP": h.addr + hd.FRHP_LEN,
        "FHDB": hd.direct_blocks(data, h)[0].addr + 13 + h.offset_bytes,
        "FHIB": h.root + hd.iblock_length(h),
        "BTHD": t.addr + hd.BTHD_LEN,
        "BTIN": t.root + 6 + t.n_root * t.rec_size + 9 * (t.n_root + 1),
        "BTLF": leaf + 6 + leaf_n * t.rec_size,
        "FSHD": fs.addr + hd.FSHD_LEN,
        "FSSE": fs.list_addr + fs.list_used - 4,
    }[kind]


def _checksum_payload(kind: str):
    def attack(d: Path) -> bytes:
        data = base(d, "links500-latest")
        at = _checksum_at(data, kind)
        assert data[at : at + 4] != PAYLOAD[:4]
        data[at : at + 4] = PAYLOAD[:4]
        return bytes(data)

    attack.__doc__ = f"The lookup3 checksum of a {kind} replaced by 4 payload bytes (not recomputed)."
    return attack


CHECKSUMS = {
    f"checksum_{k.lower()}": _checksum_payload(k)
    for k in ("FRHP", "FHDB", "FHIB", "BTHD", "BTIN", "BTLF", "FSHD", "FSSE")
}


DENSE = {
    f.__name__: f
    for f in (
        attr_creation_order, attr_record_flags, attr_hash_mismatch, attr_heap_free_space,
        fhib_unused_entry, fhib_block_offset, tracked_order_index_disagrees, tracked_max_order,
        tracked_sparse_orders,
        attr_object_trailing, attr_object_unreferenced, huge_object_trailing,
        huge_object_unreferenced, attr_message_reserved_flags, object_length_short,
        object_in_block_header, object_overlapping, fsse_section_outside_heap, btin_padding,
        dense_attr_vlen_twice,
    )
}  # fmt: skip
DENSE.update(FHIB_ROWS)
DENSE.update(LINKS)
DENSE.update(CHECKSUMS)
DENSE["link_info_reserved_flags"] = _info_flags("links20-latest", "/", 2)
DENSE["attr_info_reserved_flags"] = _info_flags("attrs30-latest", "x", 0x15)
