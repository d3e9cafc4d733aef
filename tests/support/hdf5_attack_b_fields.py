"""Crafted HDF5 files whose payload lies in fields a reader ignores: filter masks, heap
reference counts, superblock addresses, creation-order counters, name padding, deprecated
messages, and writer tuning that plain h5py stores (the second independent attack,
issue #13; the list: tests/support/hdf5_attack_b.py).
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t

from tests.support.hdf5_attack_b_bytes import (
    PAYLOAD,
    _checksum_end,
    _contig,
    _craft,
    _h5,
    _oh,
    _ohdr_fix,
    _ohdr_messages,
    _superblock0,
    _v1_messages,
    lookup3,
)

# ------------------------------------------------------------------ attacks: bits a reader ignores


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
