"""Attack rh5's forged HDF5 files that need a version 2 header's checksum redone or a symbol
table node rewritten: an attribute in the header of an object whose attributes are dense, and
an old-style group's entries out of name order, an old fill value message unlike the new."""

from __future__ import annotations

import struct

import h5py
import numpy as np

from tests.support.attack_rh5_files import _h5
from tests.support.hdf5_attack_c_bytes import find, resum


def _attr_body(name: bytes, value: int) -> bytes:
    """An attribute message, version 3 as libhdf5 writes it: a scalar 1-byte integer."""
    dtype = bytes([0x10, 0, 0, 0]) + struct.pack("<IHH", 1, 0, 8)
    space = bytes([2, 0, 0, 0])  # version 2, rank 0, no flags, scalar
    nm = name + b"\x00"
    sizes = struct.pack("<HHH", len(nm), len(dtype), len(space))
    return bytes([3, 0]) + sizes + b"\x00" + nm + dtype + space + bytes([value])


def header_and_dense(name: bytes) -> bytes:
    """/g with 12 dense attributes and a comment message retyped as an attribute `name`
    (h5py, which reads only the dense ones once dense storage exists, never shows it)."""
    body = _attr_body(name, 66)

    def build(f):
        g = f.create_group("g")
        for i in range(12):
            g.attrs[f"a{i:02d}"] = np.int8(i)
        h5py.h5o.set_comment(g.id, b"x" * (len(body) - 1))
    buf = bytearray(_h5(build, libver="latest"))
    hdr, msg = find(buf, "g", 0x0D)
    buf[msg.head] = 0x0C  # a version 2 header's message type is one byte
    buf[msg.body:msg.body + msg.size] = body
    resum(buf, hdr)
    return bytes(buf)


def entries_swapped() -> bytes:
    """The root's first two symbol table entries swapped: h5py lists beta, alpha, gamma and
    `'beta' in f` is False (libhdf5 binary-searches the node)."""
    def build(f):
        for n in ("alpha", "beta", "gamma"):
            f[n] = np.arange(2)
    buf = bytearray(_h5(build))
    at = buf.find(b"SNOD")
    first, second = at + 8, at + 48  # entries of 40 bytes after the node's 8-byte head
    a, b = bytes(buf[first:first + 40]), bytes(buf[second:second + 40])
    buf[first:first + 40], buf[second:second + 40] = b, a
    return bytes(buf)


def old_fill_differs() -> bytes:
    """libhdf5 writes a fill value twice (the old message, type 4, and the new, type 5) and
    reads only the new: the old one's 64 bytes made the guest's."""
    def build(f):
        f.create_dataset("d", shape=(4,), dtype="S64", fillvalue=b"")
    buf = bytearray(_h5(build))
    _hdr, msg = find(bytes(buf), "d", 4)
    buf[msg.body + 4:msg.body + 68] = b"PAYLOAD-" * 8  # after the value's 4-byte size
    return bytes(buf)


def dense_compound_attr() -> bytes:
    """OSC 52 in a compound attribute kept in dense storage (13 attributes, libver latest)."""
    def build(f):
        g = f.create_group("g")
        for i in range(12):
            g.attrs[f"a{i:02d}"] = np.int8(i)
        g.attrs["note"] = np.array([(b"\x1b]52;c;cHduZWQ=\x07", 1)],
                                   dtype=[("s", "S16"), ("i", "i4")])
    return _h5(build, libver="latest")


def latin1_comment() -> bytes:
    """An object comment that is Latin-1 (FF), so its 9B is CSI."""
    def build(f):
        h5py.h5o.set_comment(f.create_group("g").id, b"\xff\x9b2J")
    return _h5(build)


def forged() -> dict[str, bytes]:
    return {
        "mix/header-and-dense-dup.h5": header_and_dense(b"a03"),
        "mix/header-and-dense-new.h5": header_and_dense(b"zz9"),
        "order/entries-swapped.h5": entries_swapped(),
        "mix/old-fill-differs.h5": old_fill_differs(),
        "str/dense-compound-attr.h5": dense_compound_attr(),
        "str/latin1-comment.h5": latin1_comment(),
    }
