"""Filters other than deflate/shuffle/fletcher32 (h5py's own output) and hostile shapes of
dense storage and chunked variable-length data (test_attack_independent_dense.py):
loops, shared subtrees, huge counts, a bomb; each must be refused fast."""

from __future__ import annotations

import struct
from functools import partial
from pathlib import Path

import h5py
import numpy as np

from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import message, put, set_eof, u, write_h5, zlib_of_zeros
from tests.support.hdf5_dense_bases import base
from tests.support.hdf5_dense_files import _heap, _tree
from tests.support.hdf5_vlen_files import _log

# --- filters other than deflate, shuffle, fletcher32: h5py's own output ---------------------


def _filtered(**kw):
    def build(d: Path) -> bytes:
        def make(f) -> None:
            f.create_dataset("x", data=np.arange(10_000, dtype="i4") % 977, chunks=(1000,), **kw)

        return bytes(write_h5(d / "f.h5", make))

    return build


def _lzf_strings(d: Path) -> bytes:
    def make(f) -> None:
        f.create_dataset("s", data=[f"line {i}" for i in range(100)], dtype=h5py.string_dtype(),
                         chunks=(20,), maxshape=(None,), compression="lzf")  # fmt: skip

    return bytes(write_h5(d / "f.h5", make))


def _nbit(d: Path) -> bytes:
    path = d / "f.h5"
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((1000,))
        dcpl.set_filter(h5py.h5z.FILTER_NBIT, 0, ())
        ftype = h5py.h5t.STD_I32LE.copy()
        space = h5py.h5s.create_simple((10_000,))
        ds = h5py.h5d.create(f.id, b"x", ftype, space, dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10_000, dtype="i4") % 977)
    return path.read_bytes()


def _unknown_filter(d: Path) -> bytes:
    """A gzip dataset whose pipeline names filter 32001 (blosc, not built in) instead of
    deflate: the chunks are opaque to every reader without that plugin."""
    path = d / "f.h5"
    data = write_h5(
        path, lambda f: f.create_dataset("x", data=np.arange(5000), chunks=(500,), compression="gzip")
    )
    body, _ = message(data, hd.object_addr(path, "x"), 0x0B)
    assert data[body] == 1 and u(data, body + 8, "<H") == 1
    put(data, body + 8, 32001, "<H")
    return bytes(data)


FILTERS = {
    "filter_lzf": _filtered(compression="lzf"),
    "filter_lzf_strings": _lzf_strings,
    "filter_scaleoffset": _filtered(scaleoffset=0),
    "filter_szip": _filtered(compression="szip"),
    "filter_nbit": _nbit,
    "filter_lzf_shuffle_fletcher32": _filtered(compression="lzf", shuffle=True, fletcher32=True),
    "filter_unknown_id": _unknown_filter,
}


# --- hostile shapes: must be refused fast, in bounded memory ------------------------------------


def _limit_enc(n: int) -> int:
    """HDF5's H5VM_limit_enc_size: bytes for a count up to n (floor(log2 n) / 8 + 1)."""
    return (n.bit_length() - 1) // 8 + 1


def btree_shared_subtrees(d: Path, depth: int = 16) -> bytes:
    """A v2 B-tree of depth 16 whose every internal node names the node below it twice
    (2**16 paths to one leaf; 40 levels: 2**40): a walk that does not notice a node
    reached twice never ends."""
    data = base(d, "links20-latest")
    t = _tree(data)
    record = bytes(data[t.root + 6 : t.root + 6 + t.rec_size])
    max_leaf = (t.node_size - 10) // t.rec_size
    nrec_size, cum = _limit_enc(max_leaf), [max_leaf]
    child, child_n = t.root, t.n_root
    for level in range(1, depth + 1):
        ptr = 8 + nrec_size + (_limit_enc(cum[level - 1]) if level > 1 else 0)
        node = bytearray(b"BTIN\x00" + bytes([t.type]) + record)
        for _ in range(2):
            node += child.to_bytes(8, "little") + child_n.to_bytes(nrec_size, "little")
            if level > 1:
                node += min(cum[level - 1], (1 << 63)).to_bytes(_limit_enc(cum[level - 1]), "little")
        node += hd.lookup3(bytes(node)).to_bytes(4, "little")
        assert len(node) <= t.node_size
        max_int = (t.node_size - 10 - ptr) // (t.rec_size + ptr)
        cum.append((max_int + 1) * cum[level - 1] + max_int)
        child, child_n = len(data), 1
        data += node + bytes(t.node_size - len(node))
    set_eof(data, len(data))
    total = t.n_root
    for _ in range(depth):
        total = 1 + 2 * total  # each node's record and its two children's (the same node)
    hd.set_tree(data, t, depth=depth, root=child, n_root=1, total=min(total, (1 << 64) - 1))
    return bytes(data)


def btree_leaf_loop(d: Path) -> bytes:
    """A v2 B-tree of depth 1 whose internal node's children are all the node itself."""
    data = base(d, "links500-latest")
    t = _tree(data)
    pos = t.root + 6 + t.n_root * t.rec_size
    for i in range(t.n_root + 1):
        put(data, pos + 9 * i, t.root)
    hd.fix_after(data, t.root, 6 + t.n_root * t.rec_size + 9 * (t.n_root + 1))
    return bytes(data)


def _tree_field(**fields):
    def attack(d: Path) -> bytes:
        data = base(d, "links20-latest")
        hd.set_tree(data, _tree(data), **fields)
        return bytes(data)

    return attack


def _heap_fields(**fields):
    def attack(d: Path) -> bytes:
        data = base(d, "links500-latest")
        hd.set_heap(data, _heap(data).addr, **fields)
        return bytes(data)

    return attack


def fsse_huge_count(d: Path) -> bytes:
    """The free-space manager claims 2**62 sections and a section list of 2**40 bytes."""
    data = base(d, "links20-latest")
    fs = hd.free_space(data, _heap(data).fs_addr)
    hd.set_free_space(data, fs, sections=1 << 62, serialized=1 << 62, list_used=1 << 40, list_alloc=1 << 40)
    return bytes(data)


def gcol_many_refs(d: Path) -> bytes:
    """Every element of every chunk names one heap object: the other 59 objects named by none."""
    data, chunks = _log(d)
    ref = hd.vlen_refs(hd.inflate(data, min(chunks, key=lambda c: c.chunk_offset)))[0]
    for chunk in sorted(chunks, key=lambda c: c.chunk_offset, reverse=True):
        n = len(hd.inflate(data, chunk)) // 16
        data = bytearray(hd.replace_chunk(data, chunk, struct.pack("<IQI", *ref) * n))
    return bytes(data)


def vlen_chunk_bomb(d: Path) -> bytes:
    """A chunk of 16 variable-length elements (256 bytes) replaced by a deflate stream of
    512 MiB of zeros."""
    data, chunks = _log(d)
    first = min(chunks, key=lambda c: c.chunk_offset)
    key = hd.v1_chunk_key(data, first.byte_offset, 1)
    bomb = zlib_of_zeros(512)
    data[first.byte_offset : first.byte_offset + first.size] = bytes(first.size)
    addr = len(data)
    data += bomb
    set_eof(data, len(data))
    put(data, key, len(bomb), "<I")
    put(data, key + 16 + 8, addr)
    return bytes(data)


HOSTILE = {
    "btree_shared_subtrees": btree_shared_subtrees,
    "btree_shared_subtrees_2": partial(btree_shared_subtrees, depth=2),
    "btree_shared_subtrees_40": partial(btree_shared_subtrees, depth=40),
    "btree_leaf_loop": btree_leaf_loop,
    "btree_depth_65535": _tree_field(depth=65535),
    "btree_node_size_4g": _tree_field(node_size=0xFFFFFFFF),
    "btree_root_records_65535": _tree_field(n_root=65535, total=65535),
    "heap_rows_65535": _heap_fields(cur_rows=65535),
    "heap_width_65535": _heap_fields(width=65535),
    "heap_block_2_63": _heap_fields(start_block=1 << 63, max_dblock=1 << 63),
    "heap_root_is_header": lambda d: bytes(_root_is_header(d)),
    "fsse_huge_count": fsse_huge_count,
    "gcol_many_refs": gcol_many_refs,
    "vlen_chunk_bomb": vlen_chunk_bomb,
}


def _root_is_header(d: Path) -> bytearray:
    """The heap's root block address = the heap header itself."""
    data = base(d, "links20-latest")
    h = _heap(data)
    hd.set_heap(data, h.addr, root=h.addr)
    return data
