"""Crafted HDF5 files for the second independent attack on the HDF5 validator (issue #13).

Written from the format specification and the claim in docs/quarantine.md only (the
validator's code and its own tests were not read). Each builder writes a real file with
h5py, then patches bytes a reader never returns (or controls: leaves it untouched) and,
where the format checksums the structure, recomputes libhdf5's lookup3 so that h5py still
reads the file. `controls()` and `attacks()` return {name: bytes}.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
from h5py import h5d, h5o, h5p, h5s, h5t

PAYLOAD = b"PWND"
MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & MASK; a ^= _rot(c, 4); c = (c + b) & MASK  # noqa: E702
    b = (b - a) & MASK; b ^= _rot(a, 6); a = (a + c) & MASK  # noqa: E702
    c = (c - b) & MASK; c ^= _rot(b, 8); b = (b + a) & MASK  # noqa: E702
    a = (a - c) & MASK; a ^= _rot(c, 16); c = (c + b) & MASK  # noqa: E702
    b = (b - a) & MASK; b ^= _rot(a, 19); a = (a + c) & MASK  # noqa: E702
    c = (c - b) & MASK; c ^= _rot(b, 4); b = (b + a) & MASK  # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b; c = (c - _rot(b, 14)) & MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & MASK  # noqa: E702
    return c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' hashlittle, as H5_checksum_lookup3 computes it."""
    a = b = c = (0xDEADBEEF + len(data) + initval) & MASK
    pos, n = 0, len(data)
    while n > 12:
        x, y, z = struct.unpack_from("<III", data, pos)
        a, b, c = _mix((a + x) & MASK, (b + y) & MASK, (c + z) & MASK)
        pos, n = pos + 12, n - 12
    if n == 0:
        return c
    tail = data[pos:] + bytes(12 - n)
    x, y, z = struct.unpack("<III", tail)
    return _final((a + x) & MASK, (b + y) & MASK, (c + z) & MASK)


def _fletcher32(data: bytes) -> int:
    """H5_checksum_fletcher32: big-endian 16-bit words, odd length padded."""
    if len(data) % 2:
        data = data + b"\0"
    s1 = s2 = 0
    for (w,) in struct.iter_unpack(">H", data):
        s1 = (s1 + w) % 65535
        s2 = (s2 + s1) % 65535
    return (s2 << 16) | s1


# ------------------------------------------------------------------ writing helpers


def _h5(path: Path, build, **kw) -> bytes:
    with h5py.File(path, "w", **kw) as f:
        build(f)
    return path.read_bytes()


def _craft(path: Path, build, locate, apply, **kw) -> bytes:
    """Write with h5py, `locate(f)` offsets while it is open, then `apply(buf, where)`."""
    with h5py.File(path, "w", **kw) as f:
        build(f)
        f.flush()
        where = locate(f)
    buf = bytearray(path.read_bytes())
    apply(buf, where)
    return bytes(buf)


def _contig(name: str):
    return lambda f: f[name].id.get_offset()


def _chunk(name: str, index: int):
    return lambda f: f[name].id.get_chunk_info(index)


def _oh(name: str):
    return lambda f: h5o.get_info(f[name].id).addr


def _ohdr_fix(buf: bytearray, at: int) -> None:
    """Recompute the checksum of the v2 object header chunk 0 at `at`."""
    flags = buf[at + 5]
    pos = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    size = int.from_bytes(buf[pos : pos + width], "little")
    end = pos + width + size
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[at:end])))


def _ohdr_messages(buf: bytes, at: int):
    """(type, data offset, size) of the messages of a v2 header's chunk 0."""
    flags = buf[at + 5]
    pos = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    size = int.from_bytes(buf[pos : pos + width], "little")
    pos += width
    end = pos + size
    head = 6 if flags & 0x04 else 4
    while pos + head <= end:
        mtype, msize = buf[pos], int.from_bytes(buf[pos + 1 : pos + 3], "little")
        yield mtype, pos + head, msize
        pos += head + msize


def _v1_messages(buf: bytes, at: int):
    """(type, data offset, size) of the messages of a v1 header's first block."""
    count = int.from_bytes(buf[at + 2 : at + 4], "little")
    size = int.from_bytes(buf[at + 8 : at + 12], "little")
    pos, end = at + 16, at + 16 + size
    for _ in range(count):
        if pos + 8 > end:
            return
        mtype, msize = struct.unpack_from("<HH", buf, pos)
        yield mtype, pos + 8, msize
        pos += 8 + msize


# ------------------------------------------------------------------ controls


def _objrefs(f):
    d = f.create_dataset("data", data=np.arange(10))
    f.create_dataset("objrefs", data=np.array([f.ref, d.ref], dtype=h5py.ref_dtype))
    d.attrs["self"] = d.ref


def _regionrefs(f):
    d = f.create_dataset("data", data=np.arange(10))
    f.create_dataset("regionrefs", data=np.array([d.regionref[2:5]], dtype=h5py.regionref_dtype))


def controls(where: Path) -> dict[str, bytes]:
    """Ordinary h5py output: each must be published byte-identical."""
    rng = np.random.default_rng(3)
    out: dict[str, bytes] = {}
    table = np.zeros(50, dtype=[("run", "<i4"), ("e", "<f8"), ("tag", "S5")])
    table["run"] = np.arange(50)
    table["e"] = rng.normal(size=50)
    table["tag"] = b"ok"
    aligned = np.zeros(20, dtype=np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True))
    aligned["a"], aligned["b"], aligned["c"] = 1, 2.5, -3

    def tables(f):
        f["packed"] = table
        f["aligned"] = aligned
        f.create_dataset("chunked", data=table, chunks=(8,), maxshape=(None,))
        f.attrs["row"] = aligned[:1]

    out["ctl-compound.h5"] = _h5(where / "c1.h5", tables)
    out["ctl-compound-latest.h5"] = _h5(where / "c2.h5", tables, libver="latest")

    def resizable(f):
        d = f.create_dataset("r", shape=(5, 3), maxshape=(None, 3), chunks=(4, 2), dtype="<i4")
        d[:] = 7
        d.resize((11, 3))
        d[5:] = 9
        g = f.create_dataset("z", shape=(3, 5), maxshape=(3, None), chunks=(2, 4), dtype="<f4",
                             compression="gzip", shuffle=True, fletcher32=True, fillvalue=-1.5)
        g[:, :2] = 1.0
        h = f.create_dataset("fix", shape=(7, 5), chunks=(3, 2), dtype="<i2", fillvalue=42)
        h[:4] = 5
        f.create_dataset("empty", shape=(9,), chunks=(4,), dtype="<i8", fillvalue=3)

    for lib in ("earliest", "latest"):
        out[f"ctl-chunked-{lib}.h5"] = _h5(where / f"r-{lib}.h5", resizable, libver=lib)

    def ordered(f):
        g = f.create_group("t", track_order=True)
        for i in range(5):
            g[f"x{4 - i}"] = np.arange(i + 1)
            g.attrs[f"a{4 - i}"] = i
        g2 = f.create_group("big", track_order=True)
        for i in range(12):
            g2.create_group(f"g{i:02d}")
            g2.attrs[f"b{i:02d}"] = np.arange(i + 1)

    out["ctl-track-order.h5"] = _h5(where / "o1.h5", ordered)
    out["ctl-track-order-latest.h5"] = _h5(where / "o2.h5", ordered, libver="latest")

    def strings(f):
        f["fixed"] = np.array([b"ab", b"cdef", b""], dtype="S8")
        f["vlen"] = np.array(["x", "yy", ""], dtype=h5py.string_dtype())
        f.attrs["s"] = "a string attribute"

    out["ctl-strings.h5"] = _h5(where / "s1.h5", strings)
    out["ctl-objrefs.h5"] = _h5(where / "s3.h5", _objrefs)
    out["ctl-objrefs-latest.h5"] = _h5(where / "s4.h5", _objrefs, libver="latest")
    out["ctl-regionrefs.h5"] = _h5(where / "s5.h5", _regionrefs)
    out["ctl-attrs-added-later-latest.h5"] = _h5(where / "s2.h5", _attrs_later, libver="latest")
    return out


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
    out["cmp-vlen-member.h5"] = _h5(where / "a8.h5", lambda f: f.create_dataset(
        "d", data=np.array([(1, "PWND")], dtype=[("a", "i1"), ("s", h5py.string_dtype())])))
    def array_of_vlen(f):
        d = f.create_dataset("d", shape=(1,), dtype=np.dtype((h5py.vlen_dtype("<i4"), (2,))))
        word = np.frombuffer(PAYLOAD, dtype="<i4")
        rows = np.empty((1, 2), dtype=object)
        rows[0, 0] = rows[0, 1] = word
        d[...] = rows

    out["cmp-array-of-vlen.h5"] = _h5(where / "a9.h5", array_of_vlen)


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


# ------------------------------------------------------------------ attacks: structure no reader returns


def _nil(buf: bytearray, at: int, msgs, fix=None) -> None:
    for mtype, pos, size in msgs(bytes(buf), at):
        if mtype == 0 and size >= 4:
            buf[pos : pos + 4] = PAYLOAD
            if fix:
                fix(buf, at)
            return
    raise AssertionError("no null message")


def _gcol_free(buf: bytearray, _) -> None:
    at = bytes(buf).index(b"GCOL")
    size = int.from_bytes(buf[at + 8 : at + 16], "little")
    pos = at + 16
    while pos + 16 <= at + size:
        index, osize = struct.unpack_from("<H6xQ", buf, pos)
        if index == 0:
            buf[pos + 16 : pos + 20] = PAYLOAD
            return
        pos += 16 + (osize + 7) // 8 * 8
    raise AssertionError("no free space in the collection")


def _heap_free(buf: bytearray, _) -> None:
    at = bytes(buf).index(b"HEAP")
    free, data = struct.unpack_from("<QQ", buf, at + 16)
    size = int.from_bytes(buf[data + free + 8 : data + free + 16], "little")
    assert size >= 20, size
    buf[data + free + 16 : data + free + 20] = PAYLOAD


def _tree_unused(buf: bytearray, _) -> None:
    at = bytes(buf).index(b"TREE")
    used = int.from_bytes(buf[at + 6 : at + 8], "little")
    pos = at + 24 + 8 + used * 16 + 8  # past the last key: an unused child slot
    assert buf[pos : pos + 8] == bytes(8)
    buf[pos : pos + 4] = PAYLOAD


def _snod_unused(buf: bytearray, _) -> None:
    at = bytes(buf).index(b"SNOD")
    used = int.from_bytes(buf[at + 6 : at + 8], "little")
    pos = at + 8 + used * 40 + 8  # an unused entry's object header address
    assert buf[pos : pos + 8] == bytes(8)
    buf[pos : pos + 4] = PAYLOAD


FRHP_END, EAHD_END, BTHD_END, FSHD_END = 142, 68, 34, 78  # where each header's checksum lies


def _field(sig: bytes, offset: int, end: int, nth: int = 0):
    """Write PAYLOAD at `offset` of the nth structure `sig`, recompute its checksum."""
    def apply(buf: bytearray, _) -> None:
        at = -1
        for _ in range(nth + 1):
            at = bytes(buf).index(sig, at + 1)
        buf[at + offset : at + offset + 4] = PAYLOAD
        struct.pack_into("<I", buf, at + end, lookup3(bytes(buf[at : at + end])))
    return apply


def _dense(f):
    g = f.create_group("g", track_order=True)
    for i in range(12):
        g.create_group(f"n{i:02d}")


def _structure(where: Path, out: dict[str, bytes]) -> None:
    build = lambda f: f.create_dataset("d", data=np.arange(4))  # noqa: E731
    out["nil-message-v1.h5"] = _craft(
        where / "n1.h5", build, _oh("d"), lambda buf, at: _nil(buf, at, _v1_messages))
    out["nil-message-v2.h5"] = _craft(
        where / "n2.h5", lambda f: (build(f), f["d"].attrs.create("x", 1), f["d"].attrs.__delitem__("x")),
        _oh("d"), lambda buf, at: _nil(buf, at, _ohdr_messages, _ohdr_fix), libver="latest")
    out["gcol-free-space.h5"] = _craft(where / "g1.h5", lambda f: f.create_dataset(
        "v", data=np.array(["a", "b"], dtype=h5py.string_dtype())), lambda f: None, _gcol_free)
    out["local-heap-free-block.h5"] = _craft(
        where / "h1.h5", lambda f: f.create_group("g"), lambda f: None, _heap_free)
    out["tree-unused-slot.h5"] = _craft(
        where / "t1.h5", lambda f: f.create_group("g"), lambda f: None, _tree_unused)
    out["snod-unused-entry.h5"] = _craft(
        where / "t2.h5", lambda f: f.create_group("g"), lambda f: None, _snod_unused)
    # FRHP fields (the low half of an 8-byte field, or the high half: +4)
    for name, offset in (("next-huge-id", 14), ("huge-btree-address", 22), ("free-space", 34),
                         ("fs-manager-address", 42), ("managed-space", 50),
                         ("allocated-space", 58), ("iterator", 66), ("managed-count", 74),
                         ("huge-size", 82), ("huge-count", 90), ("tiny-size", 98),
                         ("tiny-count", 106)):
        out[f"frhp-{name}.h5"] = _craft(where / f"f-{name}.h5", _dense, lambda f: None,
                                        _field(b"FRHP", offset, FRHP_END), libver="latest")
    for name, offset in (("total-space", 10), ("total-sections", 18), ("serial-sections", 26),
                         ("ghost-sections", 34), ("largest-section", 50),
                         ("list-used", 66), ("list-allocated", 74)):
        out[f"fshd-{name}.h5"] = _craft(where / f"fs-{name}.h5", _dense, lambda f: None,
                                        _field(b"FSHD", offset, FSHD_END), libver="latest")
    for nth in (0, 1):  # the name index and the creation-order index
        out[f"bthd-total-records-{nth}.h5"] = _craft(
            where / f"bt{nth}.h5", _dense, lambda f: None,
            _field(b"BTHD", 30, BTHD_END, nth), libver="latest")


def _more(where: Path, out: dict[str, bytes]) -> None:
    def vlen(f):
        f["v"] = np.array(["abXPWND", "c"], dtype=h5py.string_dtype())

    def embedded_nul(buf: bytearray, _) -> None:
        at = bytes(buf).index(b"abXPWND")
        buf[at + 2] = 0  # h5py returns b"ab": the 4 bytes after the NUL are never read

    out["vlen-str-after-nul.h5"] = _craft(where / "v1.h5", vlen, lambda f: None, embedded_nul)
    out["vlen-str-after-nul-latest.h5"] = _craft(
        where / "v2.h5", vlen, lambda f: None, embedded_nul, libver="latest")

    def name_pad(buf: bytearray, _) -> None:
        at = bytes(buf).index(b"zq\0")
        assert buf[at + 3 : at + 8] == bytes(5)
        buf[at + 3 : at + 7] = PAYLOAD

    out["attr-name-padding-v1.h5"] = _craft(
        where / "v3.h5", lambda f: f.attrs.create("zq", 5), lambda f: None, name_pad)
    ea = _edge_build((5,), (None,), (4,))
    stats = (("nsuper", 12), ("supersize", 20), ("ndata", 28), ("datasize", 36),
             ("maxindex", 44), ("nelements", 52))

    def all_stats(buf: bytearray, _) -> None:
        for _name, offset in stats:
            _field(b"EAHD", offset + 4, EAHD_END)(buf, None)

    out["eahd-all-stats.h5"] = _craft(where / "ea-all.h5", ea, lambda f: None, all_stats,
                                      libver="latest")
    for name, offset in stats:
        out[f"eahd-{name}.h5"] = _craft(
            where / f"ea-{name}.h5", ea, lambda f: None,
            _field(b"EAHD", offset + 4, EAHD_END), libver="latest")


def attacks(where: Path) -> dict[str, bytes]:
    """Crafted files, each carrying PAYLOAD (>= 4 bytes) a reader does not return."""
    out: dict[str, bytes] = {}
    parts = (_compound, _bits, _edges, _structure, _more, _ignored, _continued, _names, _api)
    for part in parts:
        part(where, out)
    return out


# ------------------------------------------------------------------ attacks: bits a reader ignores


def _checksum_end(buf: bytes, at: int) -> int:
    """Where the lookup3 checksum of the structure at `at` lies (found, not computed)."""
    for end in range(at + 8, min(len(buf) - 3, at + 65536)):
        if lookup3(buf[at:end]) == int.from_bytes(buf[end : end + 4], "little"):
            return end
    raise AssertionError("no checksum found")


def _mask(sig: bytes, first: int):
    """Write PAYLOAD as the filter mask of the first chunk entry of structure `sig`.

    PAYLOAD read as a little-endian mask is 0x444E5750: bits 0-3 clear, so no filter of
    the pipeline is marked skipped; libhdf5 ignores the bits of filters that do not exist.
    """
    def apply(buf: bytearray, _) -> None:
        at = bytes(buf).index(sig)
        while sig == b"TREE" and buf[at + 4] != 1:  # a chunk tree, not a group's
            at = bytes(buf).index(sig, at + 1)
        end = _checksum_end(bytes(buf), at) if sig != b"TREE" else None
        buf[at + first : at + first + 4] = PAYLOAD
        if end is not None:
            struct.pack_into("<I", buf, end, lookup3(bytes(buf[at:end])))
    return apply


def _gcol_refcounts(buf: bytearray, _) -> None:
    """Write PAYLOAD into the reference counts of the first two global heap objects."""
    at = bytes(buf).index(b"GCOL")
    pos = at + 16
    for half in (PAYLOAD[:2], PAYLOAD[2:]):
        buf[pos + 2 : pos + 4] = half
        size = int.from_bytes(buf[pos + 8 : pos + 16], "little")
        pos += 16 + (size + 7) // 8 * 8


def _superblock0(offset: int):
    def apply(buf: bytearray, _) -> None:
        buf[offset : offset + 4] = PAYLOAD
    return apply


def _link_info_order(buf: bytearray, at: int) -> None:
    """The high half of a tracked group's link info "maximum creation index"."""
    for mtype, pos, _ in _ohdr_messages(bytes(buf), at):
        if mtype == 2 and buf[pos + 1] & 1:
            buf[pos + 6 : pos + 10] = PAYLOAD
            _ohdr_fix(buf, at)
            return
    raise AssertionError("no link info message tracking creation order")


def _bitfield(buf: bytearray, at: tuple[int, int]) -> None:
    """A 4-byte bitfield of precision 24; PAYLOAD spread over the unused top bytes."""
    header, data = at
    for mtype, pos, _ in _v1_messages(bytes(buf), header):
        if mtype == 3 and buf[pos] & 0x0F == 0:
            buf[pos] = (buf[pos] & 0xF0) | 4
            struct.pack_into("<HH", buf, pos + 8, 0, 24)
            break
    for i in range(8):
        buf[data + 4 * i + 3] = PAYLOAD[i % 4]


def _ignored(where: Path, out: dict[str, bytes]) -> None:
    gz = lambda **kw: lambda f: f.create_dataset(  # noqa: E731
        "d", data=np.arange(8, dtype="<i4"), chunks=(4,), compression="gzip", **kw)
    out["mask-v1btree.h5"] = _craft(where / "m1.h5", gz(), lambda f: None,
                                    _mask(b"TREE", 24 + 4))
    out["mask-fixedarray.h5"] = _craft(where / "m2.h5", gz(), lambda f: None,
                                       _mask(b"FADB", 14 + 16), libver="latest")
    out["mask-extensiblearray.h5"] = _craft(where / "m3.h5", gz(maxshape=(None,)),
                                            lambda f: None, _mask(b"EAIB", 14 + 16),
                                            libver="latest")
    out["gcol-refcounts.h5"] = _craft(where / "m4.h5", lambda f: f.create_dataset(
        "v", data=np.array(["a", "b"], dtype=h5py.string_dtype())), lambda f: None,
        _gcol_refcounts)
    # superblock 0: 32 free-space info address, 48 driver information block address
    out["sb0-freespace-address.h5"] = _craft(where / "m5.h5", lambda f: f.create_group("g"),
                                             lambda f: None, _superblock0(32))
    out["sb0-driver-address.h5"] = _craft(where / "m6.h5", lambda f: f.create_group("g"),
                                          lambda f: None, _superblock0(48))
    out["linkinfo-max-creation-index.h5"] = _craft(
        where / "m7.h5", lambda f: f.create_group("g", track_order=True).create_group("x"),
        _oh("g"), _link_info_order, libver="latest")
    out["bitfield-precision24.h5"] = _craft(
        where / "m8.h5", lambda f: f.create_dataset("d", data=np.arange(8, dtype="<u4")),
        lambda f: (_oh("d")(f), _contig("d")(f)), _bitfield)


# ------------------------------------------------------------------ attacks: more edges, continuation


def _attrs_later(f):
    """Attributes added after the dataset: libhdf5 continues its header in an OCHK block."""
    d = f.create_dataset("d", data=np.arange(4))
    for i in range(8):
        d.attrs[f"attr{i}"] = np.arange(i + 20)


def _ochk_nil(buf: bytearray, _) -> None:
    """Turn the continuation block's last attribute into a null message carrying PAYLOAD."""
    at = bytes(buf).index(b"OCHK")
    end = _checksum_end(bytes(buf), at)
    pos, last = at + 4, None
    while pos + 4 <= end:
        mtype, size = buf[pos], int.from_bytes(buf[pos + 1 : pos + 3], "little")
        last = (pos, size) if mtype == 0x0C else last
        pos += 4 + size
    assert last is not None, "no attribute in the continuation block"
    pos, size = last
    buf[pos] = 0
    buf[pos + 4 : pos + 4 + size] = PAYLOAD + bytes(size - 4)
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[at:end])))


def _vlen_past(buf: bytearray, info) -> None:
    """Element 5 of a (5,) vlen string dataset in (4,) chunks: past the extent."""
    buf[info.byte_offset + 16 : info.byte_offset + 20] = PAYLOAD


def _shuffled_past(buf: bytearray, info) -> None:
    """Chunk 1 of a (9,) <i4 dataset in (8,) chunks, shuffled and stored (deflate 0).

    Shuffled, byte plane 0 holds byte 0 of elements 8..15: positions 1..7 lie past the
    extent. Level 0 keeps the zlib stream's length, so no index entry changes.
    """
    start, size = info.byte_offset, info.size
    body = bytearray(zlib.decompress(bytes(buf[start : start + size])))
    body[1:5] = PAYLOAD
    new = zlib.compress(bytes(body), 0)
    assert len(new) == size
    buf[start : start + size] = new


def _dangling_ref(buf: bytearray, where: tuple[int, int]) -> None:
    """An object reference to the root group made to point at PAYLOAD (no object)."""
    root, data = where
    assert buf[data : data + 8] == struct.pack("<Q", root)
    buf[data : data + 8] = PAYLOAD + bytes(4)


def _continued(where: Path, out: dict[str, bytes]) -> None:
    out["objref-dangling.h5"] = _craft(
        where / "k4.h5", _objrefs, lambda f: (h5o.get_info(f.id).addr, _contig("objrefs")(f)),
        _dangling_ref)
    out["ochk-null-message.h5"] = _craft(where / "k1.h5", _attrs_later, lambda f: None,
                                         _ochk_nil, libver="latest")
    for lib in ("earliest", "latest"):
        out[f"edge-vlen-past-extent-{lib}.h5"] = _craft(
            where / f"k2-{lib}.h5", lambda f: f.create_dataset(
                "v", data=np.array(list("abcde"), dtype=object), chunks=(4,),
                dtype=h5py.string_dtype()),
            _chunk("v", 1), _vlen_past, libver=lib)
        out[f"edge-shuffle-deflate0-{lib}.h5"] = _craft(
            where / f"k3-{lib}.h5", lambda f: f.create_dataset(
                "d", data=np.arange(9, dtype="<i4"), chunks=(8,), shuffle=True,
                compression="gzip", compression_opts=0),
            _chunk("d", 1), _shuffled_past, libver=lib)
    for name, offset in (("starting-block-size", 116), ("max-direct-block-size", 124)):
        out[f"frhp-{name}.h5"] = _craft(where / f"k-{name}.h5", _dense, lambda f: None,
                                        _field(b"FRHP", offset, FRHP_END), libver="latest")


# ------------------------------------------------------------------ attacks: name padding, old messages


def _after_name(name: bytes, nul_and_pad: int):
    """Write PAYLOAD after `name`'s NUL, in the padding that rounds it to 8 bytes."""
    def apply(buf: bytearray, _) -> None:
        at = bytes(buf).index(name + b"\0")
        start = at + len(name) + 1
        assert buf[start : start + nul_and_pad] == bytes(nul_and_pad), buf[start : start + 8]
        buf[start : start + 4] = PAYLOAD
    return apply


def _nil_as(mtype: int, body: bytes):
    """Split a v1 header's null message: message `mtype` holding `body` (its size rounded
    to 8, zero-padded), then a null message for the rest; the header's count + 1."""
    def apply(buf: bytearray, at: int) -> None:
        need = (len(body) + 7) // 8 * 8
        for kind, pos, size in _v1_messages(bytes(buf), at):
            if kind == 0 and size >= need + 8:
                struct.pack_into("<HH", buf, pos - 8, mtype, need)
                buf[pos : pos + need] = body + bytes(need - len(body))
                struct.pack_into("<HHB3x", buf, pos + need, 0, size - need - 8, 0)
                buf[pos + need + 8 : pos + size] = bytes(size - need - 8)
                count = int.from_bytes(buf[at + 2 : at + 4], "little")
                buf[at + 2 : at + 4] = (count + 1).to_bytes(2, "little")
                return
        raise AssertionError("no null message large enough")
    return apply


def _names(where: Path, out: dict[str, bytes]) -> None:
    rows = np.zeros(3, dtype=[("rnx", "<i4"), ("e", "<f8")])
    out["compound-member-name-padding.h5"] = _craft(
        where / "p1.h5", lambda f: f.create_dataset("d", data=rows), lambda f: None,
        _after_name(b"rnx", 4))
    out["enum-member-name-padding.h5"] = _craft(
        where / "p2.h5", lambda f: f.create_dataset(
            "d", data=np.arange(3, dtype="u1"),
            dtype=h5py.enum_dtype({"RDX": 0, "GREEN": 1, "BLUE": 2}, basetype="u1")),
        lambda f: None, _after_name(b"RDX", 4))
    out["local-heap-name-padding.h5"] = _craft(
        where / "p3.h5", lambda f: (f.create_group("abc"), f.create_group("zz")), lambda f: None,
        _after_name(b"abc", 4))
    build = lambda f: f.create_dataset("d", data=np.arange(4))  # noqa: E731
    out["comment-after-nul.h5"] = _craft(where / "p4.h5", build, _oh("d"),
                                         _nil_as(0x0D, b"x\0" + PAYLOAD))
    out["old-fill-value-message.h5"] = _craft(where / "p5.h5", build, _oh("d"),
                                              _nil_as(0x04, struct.pack("<I", 8) + PAYLOAD * 2))


def _phase_change(f):
    """Plain h5py API: attribute phase change (max compact 0x5750, min dense 0x444E).

    libhdf5 stores the pair in the v2 object header's prefix as b"PWND"; a reader never
    uses it (it only decides where a writer puts the next attribute).
    """
    gcpl = h5p.create(h5p.GROUP_CREATE)
    gcpl.set_attr_phase_change(0x5750, 0x444E)
    h5py.h5g.create(f.id, b"g", gcpl=gcpl)
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_attr_phase_change(0x5750, 0x444E)
    dset = h5d.create(f.id, b"d", h5t.STD_I32LE, h5s.create_simple((4,)), dcpl=dcpl)
    dset.write(h5s.ALL, h5s.ALL, np.arange(4, dtype="<i4"))


def _api(where: Path, out: dict[str, bytes]) -> None:
    # plain h5py: the file space info message of the superblock extension keeps the
    # free-space threshold (8 bytes; a writer's tuning) the caller asked for
    threshold = int.from_bytes(PAYLOAD, "little")
    out["fs-threshold-latest.h5"] = _h5(
        where / "q2.h5", lambda f: f.create_dataset("d", data=np.arange(4)), libver="latest",
        fs_strategy="fsm", fs_persist=False, fs_threshold=threshold)
    # superblock 0's root group symbol table entry: 56 link name offset, 76 reserved
    for name, offset in (("root-link-name-offset", 56), ("root-entry-reserved", 76)):
        out[f"sb0-{name}.h5"] = _craft(where / f"q-{name}.h5", lambda f: f.create_group("g"),
                                       lambda f: None, _superblock0(offset))
    out["attr-phase-change-latest.h5"] = _h5(where / "q1.h5", _phase_change, libver="latest")
