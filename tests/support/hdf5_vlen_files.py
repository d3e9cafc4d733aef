"""Attacks on variable-length strings in chunked datasets (each element: length, global
heap collection address, object index; the chunks deflated) and on chunk padding past a
dataset's extent (test_attack_independent_dense.py). VLEN: each starts from a file h5py
wrote (hdf5_dense_bases.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import (
    checksummed_length,
    put,
    sig_at,
    u,
)
from tests.support.hdf5_dense_files import PAYLOAD, base


def _log(d: Path, name: str = "vlen-log-earliest"):
    data = base(d, name)
    return data, hd.chunks(d / f"{name}.h5", "log")


def _rewrite(data: bytearray, chunk, edit, chunks=None) -> bytes:
    """Inflate a chunk, edit it, deflate it back (v1 B-tree, or with `chunks` the
    extensible array of a libver='latest' file)."""
    raw = bytearray(hd.inflate(data, chunk))
    edit(raw)
    if chunks is None:
        return bytes(hd.replace_chunk(data, chunk, bytes(raw)))
    return bytes(hd.replace_chunk_ea(data, chunk, bytes(raw), chunks))


def _element(raw: bytearray, i: int, length: int, col: int, index: int) -> None:
    struct.pack_into("<IQI", raw, 16 * i, length, col, index)


def vlen_beyond_extent(d: Path, name: str = "vlen-log-earliest") -> bytes:
    """The last chunk's 4 elements past the dataset's extent (60 of 64) hold the payload."""
    data, chunks = _log(d, name)
    last = max(chunks, key=lambda c: c.chunk_offset)

    def edit(raw):
        assert not any(raw[12 * 16 :])
        raw[12 * 16 : 12 * 16 + 64] = PAYLOAD[:64]

    return _rewrite(data, last, edit, chunks if "latest" in name else None)


def vlen_beyond_extent_latest(d: Path) -> bytes:
    """The same in a libver='latest' file (extensible array chunk index)."""
    return vlen_beyond_extent(d, "vlen-log-latest")


def _shuffled(raw: bytes, size: int, undo: bool = False) -> bytes:
    """HDF5's shuffle filter (bytes of each element position grouped) or its inverse."""
    n = len(raw) // size
    a = np.frombuffer(raw, dtype=np.uint8)
    return (a.reshape(size, n).T if undo else a.reshape(n, size).T).tobytes()


def vlen_beyond_extent_big(d: Path) -> bytes:
    """Chunks of 8192 strings (deflated; shuffle in the pipeline), 20,000 of them: the last chunk's 4,576
    elements past the extent (73 KB, past the first 64 KiB inflated) hold the payload."""
    data = base(d, "vlen-big-chunks")
    last = max(hd.chunks(d / "vlen-big-chunks.h5", "log"), key=lambda c: c.chunk_offset)
    shuffled = not last.filter_mask & 1  # HDF5 skips the (optional) shuffle of these chunks
    raw = bytearray(_shuffled(hd.inflate(data, last), 16, undo=True) if shuffled else hd.inflate(data, last))
    start = (20_000 - 16_384) * 16
    assert len(raw) == 8192 * 16 and not any(raw[start:])
    raw[start:] = (PAYLOAD * (len(raw) // len(PAYLOAD) + 1))[: len(raw) - start]
    return bytes(hd.replace_chunk(data, last, _shuffled(bytes(raw), 16) if shuffled else bytes(raw)))


def _carve_objects(data: bytearray, col: int, pieces: list[bytes]) -> list[int]:
    """New objects holding pieces, carved from the collection's free space (indices after
    the last, reference counts as the first object's, free-space object shrunk)."""
    objects = hd.gcol_objects(data, col)
    free_at, free_size = objects[0]
    refcount = u(data, objects[1][0] + 2, "<H")
    index, at = max(objects) + 1, free_at
    for piece in pieces:
        put(data, at, index, "<H")
        put(data, at + 2, refcount, "<H")
        put(data, at + 8, len(piece))
        data[at + 16 : at + 16 + len(piece)] = piece
        at, index = at + 16 + (len(piece) + 7) // 8 * 8, index + 1
    used = at - free_at
    assert free_size >= used + 16
    put(data, at, 0, "<H")
    put(data, at + 8, free_size - used)
    return list(range(max(objects) + 1, index))


def vlen_beyond_extent_valid_refs(d: Path) -> bytes:
    """The last chunk's 4 elements past the extent name 4 new heap objects holding the
    payload (each object named by exactly one element; no reader reads those elements)."""
    data, chunks = _log(d)
    last = max(chunks, key=lambda c: c.chunk_offset)
    col = hd.vlen_refs(hd.inflate(data, last))[0][1]
    pieces = [PAYLOAD[i : i + 21] for i in range(0, 84, 21)]
    indices = _carve_objects(data, col, pieces)

    def edit(raw):
        assert not any(raw[12 * 16 :])
        for k, (piece, index) in enumerate(zip(pieces, indices, strict=True)):
            _element(raw, 12 + k, len(piece), col, index)

    return _rewrite(data, last, edit)


def _unwritten_value(d: Path, element: int, value: tuple[int, int, int]) -> bytes:
    """An element in the extent never written (zeros) of a libver='latest' log set to value."""
    data, chunks = _log(d, "vlen-sparse-latest")
    first = min(chunks, key=lambda c: c.chunk_offset)

    def edit(raw):
        assert not any(raw[16 * element : 16 * element + 16])
        _element(raw, element, *value)

    return _rewrite(data, first, edit, chunks)


def vlen_unwritten_undef_index(d: Path) -> bytes:
    """A never-written element: length 0, collection address undefined, index 4 payload bytes."""
    return _unwritten_value(d, 10, (0, hd.UNDEF, int.from_bytes(PAYLOAD[:4], "little")))


def vlen_unwritten_undef_length(d: Path) -> bytes:
    """A never-written element: length 4 payload bytes, collection address undefined, index 0."""
    return _unwritten_value(d, 11, (int.from_bytes(PAYLOAD[:4], "little"), hd.UNDEF, 0))


def vlen_null_with_junk(d: Path) -> bytes:
    """An element past the extent: length 0 (a null string) with address and index of payload."""
    data, chunks = _log(d)
    last = max(chunks, key=lambda c: c.chunk_offset)
    p = struct.unpack("<QI", PAYLOAD[:12])
    return _rewrite(data, last, lambda raw: _element(raw, 13, 0, *p))


def vlen_length_short(d: Path, name: str = "vlen-log-earliest") -> bytes:
    """Element 0's length 4 where its heap object holds 13 bytes ("step 0.0: ok"...): a
    reader sees "step", the rest of the object no reader returns."""
    data, chunks = _log(d, name)
    first = min(chunks, key=lambda c: c.chunk_offset)

    def edit(raw):
        n, col, idx = hd.vlen_refs(bytes(raw))[0]
        assert n > 4
        _element(raw, 0, 4, col, idx)

    return _rewrite(data, first, edit, chunks if "latest" in name else None)


def vlen_length_short_latest(d: Path) -> bytes:
    return vlen_length_short(d, "vlen-log-latest")


def _orphan_one(d: Path, target_of, name: str = "vlen-log-earliest") -> bytes:
    """Element 1 names another object (target_of(refs, data) -> (len, col, idx)); element
    1's own object (now no element's) is overwritten with payload."""
    data, chunks = _log(d, name)
    first = min(chunks, key=lambda c: c.chunk_offset)
    refs = hd.vlen_refs(hd.inflate(data, first))
    n1, col1, idx1 = refs[1]
    target = target_of(refs, data)
    edit = lambda raw: _element(raw, 1, *target)  # noqa: E731
    out = bytearray(_rewrite(data, first, edit, chunks if "latest" in name else None))
    at, size = hd.gcol_objects(out, col1)[idx1]
    out[at + 16 : at + 16 + size] = PAYLOAD[:size]
    return bytes(out)


def vlen_twice(d: Path) -> bytes:
    """Element 1 names element 0's heap object (one object, two elements); element 1's own
    object holds payload, named by nothing."""
    return _orphan_one(d, lambda refs, data: refs[0])


def vlen_twice_latest(d: Path) -> bytes:
    """The same in a libver='latest' file."""
    return _orphan_one(d, lambda refs, data: refs[0], "vlen-log-latest")


def vlen_other_collection(d: Path) -> bytes:
    """Among 20,000 strings in about a hundred collections: element 1 names the object of
    element 19,999 (another collection, another chunk); element 1's own object holds payload."""

    def target(refs, data):
        last = max(hd.chunks(d / "vlen-big-chunks.h5", "log"), key=lambda c: c.chunk_offset)
        other = hd.vlen_refs(hd.inflate(data, last))[20_000 - 16_384 - 1]
        assert other[1] != refs[1][1], "the same collection"
        return other

    return _orphan_one(d, target, "vlen-big-chunks")


def vlen_shared_with_attribute(d: Path) -> bytes:
    """Element 1 names the string attribute's heap object; element 1's own object holds payload."""

    def target(refs, data):
        col = refs[0][1]
        objects = hd.gcol_objects(data, col)
        idx = min(objects.keys() - {0} - {r[2] for r in refs if r[1] == col})
        return objects[idx][1], col, idx

    return _orphan_one(d, target)


def vlen_unwritten_slot_latest(d: Path) -> bytes:
    """A chunk never written (its extensible array slot's address undefined): the slot's
    size and filter mask fields carry 8 payload bytes (index block checksum recomputed)."""
    data = base(d, "vlen-sparse-latest")
    block = sig_at(data, b"EAIB")[0]
    length = checksummed_length(data, block)
    slot = data.index(b"\xff" * 8, block + 14 + 8)  # chunk 1: address, size, filter mask
    rest = slot - (block + 14) - 8  # the size and mask fields' width
    assert slot < block + length and not any(data[slot + 8 : slot + 8 + rest])
    data[slot + 8 : slot + 8 + min(rest, 8)] = PAYLOAD[: min(rest, 8)]
    hd.fix_after(data, block, length)
    return bytes(data)


def vlen_compound_padding(d: Path) -> bytes:
    """Rows of (int8, string) aligned: the 7 padding bytes of each of 16 rows of the first
    chunk carry payload (112 bytes no reader returns), the chunk deflated again."""
    data = base(d, "vlen-compound")
    chunks = hd.chunks(d / "vlen-compound.h5", "table")
    first = min(chunks, key=lambda c: c.chunk_offset)

    def edit(raw):
        assert len(raw) == 16 * 24 and not any(raw[1:8])
        for i in range(16):
            raw[24 * i + 1 : 24 * i + 8] = PAYLOAD[7 * i % 75 : 7 * i % 75 + 7]

    return _rewrite(data, first, edit)


def vlen_outside(d: Path) -> bytes:
    """Element 2's collection address beyond the end of the file."""
    data, chunks = _log(d)
    first = min(chunks, key=lambda c: c.chunk_offset)
    return _rewrite(data, first, lambda raw: _element(raw, 2, 8, len(data) + 65536, 1))


def vlen_mid_collection(d: Path) -> bytes:
    """Element 2's collection address 16 bytes into its collection (inside it, no signature)."""
    data, chunks = _log(d)
    first = min(chunks, key=lambda c: c.chunk_offset)
    n, col, idx = hd.vlen_refs(hd.inflate(data, first))[2]
    return _rewrite(data, first, lambda raw: _element(raw, 2, n, col + 16, idx))


def vlen_index_missing(d: Path) -> bytes:
    """Element 2 names object index 999 (no such object in the collection)."""
    data, chunks = _log(d)
    first = min(chunks, key=lambda c: c.chunk_offset)
    n, col, _ = hd.vlen_refs(hd.inflate(data, first))[2]
    return _rewrite(data, first, lambda raw: _element(raw, 2, n, col, 999))


def gcol_extra_object(d: Path, name: str = "vlen-log-earliest") -> bytes:
    """An object carved from the collection's free space (index unused, reference count 0,
    free-space object shrunk to match), holding payload, named by no element."""
    data = base(d, name)
    col = sig_at(data, b"GCOL")[0]
    objects = hd.gcol_objects(data, col)
    free_at, free_size = objects[0]
    need = 16 + (len(PAYLOAD) + 7) // 8 * 8
    assert free_size >= need + 16
    put(data, free_at, max(objects) + 1, "<H")
    put(data, free_at + 2, 0, "<H")
    put(data, free_at + 8, len(PAYLOAD))
    data[free_at + 16 : free_at + 16 + len(PAYLOAD)] = PAYLOAD
    put(data, free_at + need, 0, "<H")
    put(data, free_at + need + 8, free_size - need)
    return bytes(data)


def gcol_free_space(d: Path, name: str = "vlen-log-earliest") -> bytes:
    """The collection's free space (after the strings) holds payload."""
    data = base(d, name)
    free_at, free_size = hd.gcol_objects(data, sig_at(data, b"GCOL")[0])[0]
    assert free_size > 200 and not any(data[free_at + 64 : free_at + 64 + len(PAYLOAD)])
    data[free_at + 64 : free_at + 64 + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


def dense_attr_gcol_extra_object(d: Path) -> bytes:
    """The same extra object where the strings are 30 attributes in dense storage (their
    references inside fractal heap objects)."""
    return gcol_extra_object(d, "strattrs-latest")


def dense_attr_gcol_free_space(d: Path) -> bytes:
    return gcol_free_space(d, "strattrs-latest")


def numeric_edge_gzip(d: Path) -> bytes:
    """A gzip chunk of 64 int64 of a 100-element dataset: its 28 elements past the extent
    (fill values when HDF5 writes them) hold the payload."""
    data = base(d, "numeric-edge")
    chunk = max(hd.chunks(d / "numeric-edge.h5", "z"), key=lambda c: c.chunk_offset)

    def edit(raw):
        raw[36 * 8 : 36 * 8 + len(PAYLOAD)] = PAYLOAD

    return _rewrite(data, chunk, edit)


def numeric_edge_raw(d: Path) -> bytes:
    """The same, unfiltered: payload written straight into the edge chunk past the extent."""
    data = base(d, "numeric-edge")
    chunk = max(hd.chunks(d / "numeric-edge.h5", "r"), key=lambda c: c.chunk_offset)
    at = chunk.byte_offset + 36 * 8
    assert not any(data[at : at + len(PAYLOAD)])
    data[at : at + len(PAYLOAD)] = PAYLOAD
    return bytes(data)


VLEN = {
    f.__name__: f
    for f in (
        vlen_beyond_extent, vlen_null_with_junk, vlen_length_short, vlen_twice,
        vlen_beyond_extent_latest, vlen_length_short_latest, vlen_twice_latest,
        vlen_unwritten_slot_latest, vlen_compound_padding, vlen_beyond_extent_big,
        vlen_other_collection, vlen_beyond_extent_valid_refs, vlen_unwritten_undef_index,
        vlen_unwritten_undef_length,
        vlen_shared_with_attribute, vlen_outside, vlen_mid_collection, vlen_index_missing,
        gcol_extra_object, gcol_free_space, numeric_edge_gzip, numeric_edge_raw,
        dense_attr_gcol_extra_object, dense_attr_gcol_free_space,
    )
}  # fmt: skip
