"""Crafted HDF5 files whose payload lies in data no reader returns: compound padding,
unused integer bits, bytes after a string's NUL, elements past an edge chunk's extent
(the second independent attack, issue #13; the list: tests/support/hdf5_attack_b.py).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t

from tests.support.hdf5_attack_b_bytes import (
    PAYLOAD,
    _chunk,
    _contig,
    _craft,
    _fletcher32,
    _h5,
    _oh,
    _ohdr_fix,
    _ohdr_messages,
    _v1_messages,
)

# ------------------------------------------------------------------ attacks: data no reader returns

GAP = np.dtype({"names": ["a", "b"], "formats": ["u1", "<i8"], "offsets": [0, 8], "itemsize": 16})
TAIL = np.dtype({"names": ["a"], "formats": ["<i4"], "offsets": [0], "itemsize": 8})
MARK = 0x1122334455667788


def _gap_rows(n: int = 4) -> np.ndarray:
    rows = np.zeros(n, dtype=GAP)
    rows["a"], rows["b"] = 1, MARK
    return rows


def _fill_gaps(buf: bytearray, start: int, count: int, stride: int, gap: range) -> None:
    for i in range(count):
        base = start + i * stride
        for j, k in enumerate(gap):
            buf[base + k] = PAYLOAD[(i * len(gap) + j) % 4]


def _compound(where: Path, out: dict[str, bytes]) -> None:
    out["cmp-gap-contiguous.h5"] = _craft(
        where / "a1.h5", lambda f: f.create_dataset("d", data=_gap_rows()), _contig("d"),
        lambda buf, at: _fill_gaps(buf, at, 4, 16, range(1, 8)))
    out["cmp-tail-contiguous.h5"] = _craft(
        where / "a2.h5", lambda f: f.create_dataset("d", data=np.ones(4, dtype=TAIL)),
        _contig("d"), lambda buf, at: _fill_gaps(buf, at, 4, 8, range(4, 8)))
    out["cmp-gap-chunked.h5"] = _craft(
        where / "a3.h5", lambda f: f.create_dataset("d", data=_gap_rows(), chunks=(4,)),
        _chunk("d", 0), lambda buf, info: _fill_gaps(buf, info.byte_offset, 4, 16, range(1, 8)))
    aligned = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
    out["cmp-gap-numpy-aligned.h5"] = _craft(
        where / "a4.h5", lambda f: f.create_dataset("d", data=np.ones(4, dtype=aligned)),
        _contig("d"), lambda buf, at: _fill_gaps(buf, at, 4, 16, range(1, 8)))

    def in_attr(buf: bytearray, _):
        at = bytes(buf).index(struct.pack("<q", MARK))
        _fill_gaps(buf, at - 8, 2, 16, range(1, 8))

    out["cmp-gap-attribute.h5"] = _craft(
        where / "a5.h5", lambda f: f.attrs.create("r", _gap_rows(2)), lambda f: None, in_attr)
    out["cmp-gap-attribute-latest.h5"] = _craft(
        where / "a6.h5", lambda f: f.attrs.create("r", _gap_rows(2)), _oh("/"),
        lambda buf, at: (in_attr(buf, at), _ohdr_fix(buf, at)), libver="latest")

    def compact(f):
        dcpl = h5p.create(h5p.DATASET_CREATE)
        dcpl.set_layout(h5d.COMPACT)
        dset = h5d.create(f.id, b"d", h5t.py_create(GAP), h5s.create_simple((2,)), dcpl=dcpl)
        dset.write(h5s.ALL, h5s.ALL, _gap_rows(2))

    out["cmp-gap-compact.h5"] = _craft(where / "a7.h5", compact, lambda f: None, in_attr)


def vlen_members(where: Path, out: dict[str, bytes]) -> None:
    """Plain h5py files whose vlen members hold PAYLOAD as data a reader returns: controls."""
    out["ctl-vlen-member.h5"] = _h5(where / "a8.h5", lambda f: f.create_dataset(
        "d", data=np.array([(1, "PWND")], dtype=[("a", "i1"), ("s", h5py.string_dtype())])))

    def array_of_vlen(f):
        d = f.create_dataset("d", shape=(1,), dtype=np.dtype((h5py.vlen_dtype("<i4"), (2,))))
        word = np.frombuffer(PAYLOAD, dtype="<i4")
        rows = np.empty((1, 2), dtype=object)
        rows[0, 0] = rows[0, 1] = word
        d[...] = rows

    out["ctl-array-of-vlen.h5"] = _h5(where / "a9.h5", array_of_vlen)


def _precision(buf: bytearray, at: int, msgs) -> None:
    """Make the first 4-byte unsigned integer datatype 24 bits of precision."""
    for mtype, pos, _ in msgs(bytes(buf), at):
        if mtype == 3 and buf[pos] & 0x0F == 0 and buf[pos + 4 : pos + 8] == b"\4\0\0\0":
            struct.pack_into("<HH", buf, pos + 8, 0, 24)
            return
    raise AssertionError("no integer datatype message")


def _bits(where: Path, out: dict[str, bytes]) -> None:
    def top_bytes(buf: bytearray, at: tuple[int, int], msgs, fix=None):
        header, data = at
        _precision(buf, header, msgs)
        for i in range(8):
            buf[data + 4 * i + 3] = PAYLOAD[i % 4]
        if fix:
            fix(buf, header)

    both = lambda f: (_oh("d")(f), _contig("d")(f))  # noqa: E731
    build = lambda f: f.create_dataset("d", data=np.arange(8, dtype="<u4"))  # noqa: E731
    out["int-precision24-v1.h5"] = _craft(
        where / "b1.h5", build, both, lambda buf, at: top_bytes(buf, at, _v1_messages))
    out["int-precision24-v2.h5"] = _craft(
        where / "b2.h5", build, both,
        lambda buf, at: top_bytes(buf, at, _ohdr_messages, _ohdr_fix), libver="latest")

    def nullterm(f):
        st = h5t.C_S1.copy()
        st.set_size(8)
        st.set_strpad(h5t.STR_NULLTERM)
        d = h5d.create(f.id, b"s", st, h5s.create_simple((2,)))
        d.write(h5s.ALL, h5s.ALL, np.array([b"ab", b"c"], dtype="S8"))

    def after_nul(buf: bytearray, at: int):
        buf[at + 3 : at + 7] = PAYLOAD
        buf[at + 10 : at + 15] = PAYLOAD + b"!"

    out["str-nullterm-after-nul.h5"] = _craft(where / "b3.h5", nullterm, _contig("s"), after_nul)


# ------------------------------------------------------------------ attacks: edge chunks


def _edge_build(shape, maxshape, chunks, **kw):
    def build(f):
        d = f.create_dataset("d", shape=shape, maxshape=maxshape, chunks=chunks, dtype="<i4", **kw)
        d[...] = 1000 + np.arange(d.size, dtype="<i4").reshape(shape)
    return build


def _never(f):
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_chunk((4,))
    dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
    d = h5d.create(f.id, b"d", h5t.STD_I32LE, h5s.create_simple((5,)), dcpl=dcpl)
    d.write(h5s.ALL, h5s.ALL, np.ones(5, dtype="<i4"))


def _past_1d(buf: bytearray, info) -> None:
    """Chunk 1 of a (5,) dataset in (4,) chunks: elements 5..7 lie past the extent."""
    buf[info.byte_offset + 4 : info.byte_offset + 16] = PAYLOAD * 3


def _past_2d(buf: bytearray, _) -> None:
    """Chunk (1, 1) of a (3, 5) dataset in (2, 4) chunks: row 3 lies past the extent.

    Found by its content (element (2, 4) = 1014, then zeros): libhdf5 2.0's chunk info
    misplaces the chunks of an extensible array indexed on the second dimension.
    """
    at = bytes(buf).index(struct.pack("<i", 1014) + bytes(28))
    buf[at + 16 : at + 32] = PAYLOAD * 4


def _deflated(buf: bytearray, info, fletcher: bool) -> None:
    """Inflate the chunk, write past the extent, deflate at level 0 (same size)."""
    start, size = info.byte_offset, info.size
    body = zlib.decompress(bytes(buf[start : start + size - (4 if fletcher else 0)]))
    body = body[:4] + PAYLOAD * 3
    new = zlib.compress(body, 0)
    if fletcher:
        new += struct.pack("<I", _fletcher32(new))
    assert len(new) == size, (len(new), size)
    buf[start : start + size] = new


def _fletcher_only(buf: bytearray, info) -> None:
    start = info.byte_offset
    buf[start + 4 : start + 16] = PAYLOAD * 3
    struct.pack_into("<I", buf, start + 16, _fletcher32(bytes(buf[start : start + 16])))


def _edges(where: Path, out: dict[str, bytes]) -> None:
    one = ((5,), None, (4,))
    cases = {
        "v1btree": (one, {}, {}),
        "v1btree-resizable": (((5,), (None,), (4,)), {}, {}),
        "fixedarray": (one, {}, {"libver": "latest"}),
        "extensiblearray": (((5,), (None,), (4,)), {}, {"libver": "latest"}),
        "fill7-v1btree": (one, {"fillvalue": 7}, {}),
        "fill7-extensiblearray": (((5,), (None,), (4,)), {"fillvalue": 7}, {"libver": "latest"}),
    }
    for name, ((shape, maxshape, chunks), dkw, fkw) in cases.items():
        out[f"edge-{name}.h5"] = _craft(
            where / f"e-{name}.h5", _edge_build(shape, maxshape, chunks, **dkw),
            _chunk("d", 1), _past_1d, **fkw)
    for lib in ("earliest", "latest"):
        out[f"edge-2d-unlimited-second-{lib}.h5"] = _craft(
            where / f"e2-{lib}.h5", _edge_build((3, 5), (3, None), (2, 4)),
            lambda f: None, _past_2d, libver=lib)
        out[f"edge-filltime-never-{lib}.h5"] = _craft(
            where / f"en-{lib}.h5", _never, _chunk("d", 1), _past_1d, libver=lib)
        out[f"edge-deflate0-{lib}.h5"] = _craft(
            where / f"ed-{lib}.h5", _edge_build(*one, compression="gzip", compression_opts=0),
            _chunk("d", 1), lambda buf, info: _deflated(buf, info, False), libver=lib)
        out[f"edge-deflate0-fletcher-{lib}.h5"] = _craft(
            where / f"edf-{lib}.h5",
            _edge_build(*one, compression="gzip", compression_opts=0, fletcher32=True),
            _chunk("d", 1), lambda buf, info: _deflated(buf, info, True), libver=lib)
        out[f"edge-fletcher-only-{lib}.h5"] = _craft(
            where / f"ef-{lib}.h5", _edge_build(*one, fletcher32=True),
            _chunk("d", 1), _fletcher_only, libver=lib)
    out["edge-v2btree-two-unlimited.h5"] = _craft(
        where / "e-v2.h5", _edge_build((3, 5), (None, None), (2, 4)),
        lambda f: None, _past_2d, libver="latest")
