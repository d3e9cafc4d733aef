"""Crafted HDF5 files for the second independent attack on the HDF5 validator (issue #13).

Written from the format specification and the claim in docs/quarantine.md only (the
validator's code and its own tests were not read). Each builder writes a real file with
h5py, then patches bytes a reader never returns (or controls: leaves it untouched) and,
where the format checksums the structure, recomputes libhdf5's lookup3 so that h5py still
reads the file. `controls()` and `attacks()` return {name: bytes}; the cases live in
hdf5_attack_b_data.py and hdf5_attack_b_fields.py, the byte helpers in hdf5_attack_b_bytes.py.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
from h5py import h5o

from tests.support.hdf5_attack_b_bytes import (
    BTHD_END,
    EAHD_END,
    FRHP_END,
    FSHD_END,
    PAYLOAD,
    _checksum_end,
    _chunk,
    _contig,
    _craft,
    _field,
    _h5,
    _oh,
    _ohdr_fix,
    _ohdr_messages,
    _v1_messages,
    lookup3,
)
from tests.support.hdf5_attack_b_data import _bits, _compound, _edge_build, _edges, vlen_members
from tests.support.hdf5_attack_b_fields import _api, _ignored, _names

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
    vlen_members(where, out)
    return out


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
