"""The attacks on dense link storage (test_attack_independent_dense.py): h5py writes each
file (hdf5_dense_bases.py), struct patches it, every checksum is recomputed (lookup3) so
that only the walk's exactness rules can catch it. LINKS: payloads in the fractal heap,
the version 2 B-tree and the free-space manager of a dense group, and the heap's fields."""

from __future__ import annotations

from pathlib import Path

from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import put, set_eof, sig_at, u
from tests.support.hdf5_dense_bases import PAYLOAD, base, dense_external_link

# --- helpers over a file's one dense group -------------------------------------------------


def _heap(data: bytes, which: int = 0) -> hd.Heap:
    return hd.heap(data, sig_at(data, b"FRHP")[which])


def _tree(data: bytes, which: int = 0) -> hd.Tree:
    return hd.tree(data, sig_at(data, b"BTHD")[which])


def _write_in_heap(data: bytearray, h: hd.Heap, heap_offset: int, raw: bytes) -> None:
    at = hd.file_offset(data, h, heap_offset)
    data[at : at + len(raw)] = raw
    hd.fix_dblock(data, h, hd.block_of(data, h, heap_offset))


def _carve(data: bytearray, h: hd.Heap, section: int, by: int) -> int:
    """Take `by` bytes from the start of a free section (one record in its set), every
    count fixed; returns their heap offset."""
    fs = hd.free_space(data, h.fs_addr)
    size_at, size, off = hd.sections(data, h)[section]
    data[size_at : size_at + 3] = (size - by).to_bytes(3, "little")
    data[size_at + 3 : size_at + 3 + h.offset_bytes] = (off + by).to_bytes(h.offset_bytes, "little")
    hd.fix_after(data, fs.list_addr, fs.list_used - 4)
    hd.set_free_space(data, fs, total_space=fs.total_space - by)
    hd.set_heap(data, h.addr, free_man=h.free_man - by)
    return off


# --- dense links: payload in the heap, the B-tree, the free-space manager ----------------------


def fhdb_free_space(d: Path) -> bytes:
    """The root direct block's free space (after the last link message) holds the payload."""
    data = base(d, "links20-latest")
    h = _heap(data)
    _, _, off = hd.sections(data, h)[0]
    _write_in_heap(data, h, off, PAYLOAD)
    return bytes(data)


def large_fhdb_free_space(d: Path) -> bytes:
    """The same payload in a heap's free space of a file over 1 MiB (the sandboxed walk)."""
    data = base(d, "large-mixed-latest")
    h = _heap(data)
    _, _, off = hd.sections(data, h)[0]
    _write_in_heap(data, h, off, PAYLOAD)
    return bytes(data)


def fhdb_block_offset(d: Path) -> bytes:
    """A direct block's 'block offset' (its place in the heap: 0 for the root) = 4 payload bytes."""
    data = base(d, "links20-latest")
    h = _heap(data)
    block = hd.direct_blocks(data, h)[0]
    data[block.addr + 13 : block.addr + 17] = PAYLOAD[:4]
    hd.fix_dblock(data, h, block)
    return bytes(data)


def fhdb_heap_address(d: Path) -> bytes:
    """A direct block's back pointer to its heap header names another address."""
    data = base(d, "links20-latest")
    h = _heap(data)
    block = hd.direct_blocks(data, h)[0]
    put(data, block.addr + 5, int.from_bytes(PAYLOAD[:6], "little"))
    hd.fix_dblock(data, h, block)
    return bytes(data)


def btlf_padding(d: Path) -> bytes:
    """The B-tree leaf's unused room after its records and checksum (a 512-byte node)."""
    data = base(d, "links20-latest")
    t = _tree(data)
    end = t.root + 6 + t.n_root * t.rec_size + 4
    assert not any(data[end : end + len(PAYLOAD)])
    data[end : end + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def record_hash_mismatch(d: Path) -> bytes:
    """The first record's name hash set to 4 payload bytes (still the smallest: order kept)."""
    data = base(d, "links20-latest")
    t = _tree(data)
    first = hd.root_leaf_records(data, t)[0]
    assert u(data, first, "<I") > 0x00010203
    data[first : first + 4] = b"\x03\x02\x01\x00"
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def record_ids_permuted(d: Path) -> bytes:
    """Two records swap their heap IDs: every link still named once, each hash wrong
    (a permutation of n records carries log2(n!) bits)."""
    data = base(d, "links20-latest")
    t = _tree(data)
    a, b = hd.root_leaf_records(data, t)[:2]
    ida, idb = bytes(data[a + 4 : a + 11]), bytes(data[b + 4 : b + 11])
    data[a + 4 : a + 11], data[b + 4 : b + 11] = idb, ida
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def records_out_of_order(d: Path) -> bytes:
    """The leaf's first two records swapped whole (each still names its own message)."""
    data = base(d, "links20-latest")
    t = _tree(data)
    a, b = hd.root_leaf_records(data, t)[:2]
    ra, rb = bytes(data[a : a + t.rec_size]), bytes(data[b : b + t.rec_size])
    data[a : a + t.rec_size], data[b : b + t.rec_size] = rb, ra
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def record_duplicated(d: Path) -> bytes:
    """The last record written twice (the tree's counts say 21): one heap object, two records."""
    data = base(d, "links20-latest")
    t = _tree(data)
    last = hd.root_leaf_records(data, t)[-1]
    data[last + t.rec_size : last + 2 * t.rec_size] = data[last : last + t.rec_size]
    hd.fix_leaf(data, t, t.root, t.n_root + 1)
    hd.set_tree(data, t, n_root=t.n_root + 1, total=t.total + 1)
    return bytes(data)


def _record_for(data: bytes, h: hd.Heap, t: hd.Tree, name: bytes) -> int:
    for rec in hd.root_leaf_records(data, t):
        _, off, length = hd.heap_id(h, data[rec + 4 : rec + 4 + h.id_len])
        if name in data[hd.file_offset(data, h, off) : hd.file_offset(data, h, off) + length]:
            return rec
    raise AssertionError(name)


def object_referenced_twice(d: Path) -> bytes:
    """d019's record names d018's link message; d019's message (now no record's) holds payload."""
    data = base(d, "links20-latest")
    h, t = _heap(data), _tree(data)
    r18, r19 = _record_for(data, h, t, b"d018"), _record_for(data, h, t, b"d019")
    _, off19, len19 = hd.heap_id(h, data[r19 + 4 : r19 + 11])
    data[r19 + 4 : r19 + 11] = data[r18 + 4 : r18 + 11]
    hd.fix_leaf(data, t, t.root, t.n_root)
    _write_in_heap(data, h, off19, PAYLOAD[:len19])
    return bytes(data)


def _link_message(name: bytes, target: int) -> bytes:
    return bytes([1, 0, len(name)]) + name + target.to_bytes(8, "little")


def object_unreferenced(d: Path) -> bytes:
    """A link message (its name the payload) carved from the free space, with every count
    fixed (heap: free space, object count; free-space manager and its section), named by
    no record."""
    data = base(d, "links20-latest")
    h = _heap(data)
    target = sig_at(data, b"OHDR")[1]  # a real object header (d000's): the message is well formed
    msg = _link_message(PAYLOAD, target)
    off = _carve(data, h, 0, len(msg))
    h = _heap(data)
    hd.set_heap(data, h.addr, n_man=h.n_man + 1)
    _write_in_heap(data, _heap(data), off, msg)
    return bytes(data)


def object_trailing_bytes(d: Path) -> bytes:
    """The link message next to the free space gets a heap ID 82 bytes longer than the
    message: the payload after it, inside the object (free-space accounting fixed)."""
    data = base(d, "links20-latest")
    h, t = _heap(data), _tree(data)
    _, _, free_off = hd.sections(data, h)[0]
    for rec in hd.root_leaf_records(data, t):
        kind, off, length = hd.heap_id(h, data[rec + 4 : rec + 11])
        if off + length == free_off:
            break
    else:
        raise AssertionError("no object before the free space")
    _carve(data, h, 0, len(PAYLOAD))
    h = _heap(data)
    data[rec + 4 : rec + 11] = hd.managed_id(h, off, length + len(PAYLOAD))
    hd.fix_leaf(data, t, t.root, t.n_root)
    _write_in_heap(data, h, free_off, PAYLOAD)
    return bytes(data)


def huge_id_unknown(d: Path) -> bytes:
    """A record's heap ID of type 'huge' (the heap has no huge objects): 6 payload bytes;
    the message it named then holds payload too."""
    data = base(d, "links20-latest")
    h, t = _heap(data), _tree(data)
    rec = _record_for(data, h, t, b"d019")
    _, off, length = hd.heap_id(h, data[rec + 4 : rec + 11])
    data[rec + 4 : rec + 11] = b"\x10" + PAYLOAD[:6]
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def tiny_id_trailing(d: Path) -> bytes:
    """A record's heap ID of type 'tiny' declaring 1 byte, 5 payload bytes after it."""
    data = base(d, "links20-latest")
    h, t = _heap(data), _tree(data)
    rec = _record_for(data, h, t, b"d019")
    data[rec + 4 : rec + 11] = b"\x20\x01" + PAYLOAD[:5]
    hd.fix_leaf(data, t, t.root, t.n_root)
    return bytes(data)


def _heap_field(field: str, value: int, name: str = "links20-latest"):
    def attack(d: Path) -> bytes:
        data = base(d, name)
        hd.set_heap(data, _heap(data).addr, **{field: value})
        return bytes(data)

    attack.__doc__ = f"The fractal heap header's '{field}' = payload (checksum recomputed)."
    return attack


P8 = int.from_bytes(PAYLOAD[:8], "little")
P4 = int.from_bytes(PAYLOAD[:4], "little")


def fsse_slack(d: Path) -> bytes:
    """The section list moved to the end of the file, allocated 82 bytes larger than used:
    the payload in the slack (manager header names the new list; old place zeroed)."""
    data = base(d, "links20-latest")
    h = _heap(data)
    fs = hd.free_space(data, h.fs_addr)
    old = bytes(data[fs.list_addr : fs.list_addr + fs.list_alloc])
    data[fs.list_addr : fs.list_addr + fs.list_alloc] = bytes(fs.list_alloc)
    new = len(data)
    data += old + PAYLOAD
    set_eof(data, len(data))
    hd.set_free_space(data, fs, list_addr=new, list_alloc=fs.list_alloc + len(PAYLOAD))
    return bytes(data)


def fsse_section_over_objects(d: Path) -> bytes:
    """The free section moved onto live link messages (start of the block's objects)."""
    data = base(d, "links20-latest")
    h = _heap(data)
    fs = hd.free_space(data, h.fs_addr)
    size_at, _, _ = hd.sections(data, h)[0]
    data[size_at + 3 : size_at + 3 + h.offset_bytes] = h.dblock_prefix.to_bytes(h.offset_bytes, "little")
    hd.fix_after(data, fs.list_addr, fs.list_used - 4)
    return bytes(data)


def _fs_field(field: str, value: int):
    def attack(d: Path) -> bytes:
        data = base(d, "links20-latest")
        fs = hd.free_space(data, _heap(data).fs_addr)
        hd.set_free_space(data, fs, **{field: value})
        return bytes(data)

    attack.__doc__ = f"The free-space manager's '{field}' = payload (checksum recomputed)."
    return attack


def tuning_fields(d: Path) -> bytes:
    """The fields HDF5 uses only when it writes, set to other valid values: largest managed
    object 2748 (of 4096), starting rows 3, split 77 %, merge 33 %, shrink 61 %, expand
    143 %: a few payload bits per heap (documented as not recomputed)."""
    data = base(d, "links20-latest")
    h = _heap(data)
    put(data, h.addr + 10, 2748, "<I")
    hd.set_heap(data, h.addr, start_rows=3)
    hd.set_tree(data, _tree(data), split=77, merge=33)
    fs = hd.free_space(data, h.fs_addr)
    put(data, fs.addr + 40, 61, "<H")
    put(data, fs.addr + 42, 143, "<H")
    hd.fix_after(data, fs.addr, hd.FSHD_LEN)
    return bytes(data)


def bthd_split_zero(d: Path) -> bytes:
    """The B-tree header's split and merge percentages out of range (0 and 200)."""
    data = base(d, "links20-latest")
    hd.set_tree(data, _tree(data), split=0, merge=200)
    return bytes(data)


def btree_total_lies(d: Path) -> bytes:
    """The B-tree header's total record count: 8 payload bytes."""
    data = base(d, "links20-latest")
    hd.set_tree(data, _tree(data), total=P8)
    return bytes(data)


def link_creation_order_untracked(d: Path) -> bytes:
    """The link message next to the free space rewritten in place with a creation order
    field (flag 0x04: 8 payload bytes) in a group that tracks no creation order; its heap
    ID 8 bytes longer, those 8 bytes taken from the free space (all counts fixed)."""
    data = base(d, "links20-latest")
    h, t = _heap(data), _tree(data)
    _, _, free_off = hd.sections(data, h)[0]
    for rec in hd.root_leaf_records(data, t):
        _, off, length = hd.heap_id(h, data[rec + 4 : rec + 11])
        if off + length == free_off:
            break
    else:
        raise AssertionError("no object before the free space")
    at = hd.file_offset(data, h, off)
    msg = bytes(data[at : at + length])
    assert msg[:2] == b"\x01\x00"
    _carve(data, h, 0, 8)
    h = _heap(data)
    data[rec + 4 : rec + 11] = hd.managed_id(h, off, length + 8)
    hd.fix_leaf(data, t, t.root, t.n_root)
    _write_in_heap(data, h, off, b"\x01\x04" + PAYLOAD[:8] + msg[2:])
    return bytes(data)


def fhdb_unlisted_free_payload(d: Path) -> bytes:
    """A direct block's free tail dropped from the section list (all counts fixed, the list
    shortened), the payload's first 11 bytes there: free space no section names."""
    data = base(d, "links500-latest")
    h = _heap(data)
    fs = hd.free_space(data, h.fs_addr)
    secs = hd.sections(data, h)
    size_at, size, off = secs[0]
    count_at = size_at - 1
    assert data[count_at] > 1 and secs[1][0] == size_at
    data[count_at] -= 1
    rec = size_at + 3  # the set's first record: dropped
    rec_len = h.offset_bytes + 1
    end = fs.list_addr + fs.list_used - 4
    data[rec:end] = bytes(data[rec + rec_len : end]) + bytes(rec_len)
    used = fs.list_used - rec_len
    data[fs.list_addr + used : fs.list_addr + fs.list_alloc] = bytes(fs.list_alloc - used)
    hd.fix_after(data, fs.list_addr, used - 4)
    hd.set_free_space(data, fs, sections=fs.sections - 1, serialized=fs.sections - 1,
                      total_space=fs.total_space - size, list_used=used, list_alloc=used)  # fmt: skip
    hd.set_heap(data, h.addr, free_man=h.free_man - size)
    _write_in_heap(data, _heap(data), off, PAYLOAD[:size])
    return bytes(data)


LINKS = {
    f.__name__: f
    for f in (
        fhdb_free_space, large_fhdb_free_space, fhdb_block_offset, fhdb_heap_address, btlf_padding, record_hash_mismatch,
        record_ids_permuted, records_out_of_order, record_duplicated, object_referenced_twice, object_unreferenced,
        object_trailing_bytes, huge_id_unknown, tiny_id_trailing, fsse_slack,
        fsse_section_over_objects, tuning_fields, bthd_split_zero, btree_total_lies,
        link_creation_order_untracked, fhdb_unlisted_free_payload, dense_external_link,
    )
}  # fmt: skip
LINKS.update(
    {
        "frhp_next_huge_id": _heap_field("next_huge", P8),
        "frhp_tiny_size": _heap_field("tiny_size", P8),
        "frhp_iterator": _heap_field("iterator", P8),
        "frhp_huge_size": _heap_field("huge_size", P8),
        "frhp_n_managed": _heap_field("n_man", P8),
        "fshd_total_space": _fs_field("total_space", P8),
        "fshd_ghost_sections": _fs_field("ghosts", P8),
    }
)
