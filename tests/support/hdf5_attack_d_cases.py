"""Fourth HDF5 attack: payloads in fields the first three attacks did not reach
(issue #13, session 31).

Each builder writes an ordinary file with h5py and patches bytes that libhdf5 reads
past or never reads, per the HDF5 file format specification (the validator's code was
not read): a link name and a soft link's value after their NUL (a version 2 link
message stores their length; libhdf5 uses them as C strings), the address of a
contiguous dataset with no elements (libhdf5 writes it undefined and never reads it),
the numbers of global heap objects (libhdf5 numbers them 1, 2, ... in the order it
places them) and their order, the order of an object header's messages and how its free space is cut into null
messages, a contiguous layout message's version (3 or 4) a dataspace message's (1 or 2) and a fill value message's (2 or 3), and the group
B-tree K values of a version 0 superblock (h5py writes 4 and 16).
"""

from __future__ import annotations

import io
import struct

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import PAYLOAD, addr_of, find, h5file, header, resum
from tests.support.hdf5_attack_d_bytes import data_offset, gcol_objects, patch_root, permutation, rank

DATASPACE, FILL, LAYOUT = 0x01, 0x05, 0x08
HALVES = (PAYLOAD[:2], PAYLOAD[2:])  # where one field holds 16 bits: PW in one, ND in another


def link_name_after_nul(size: int = 3) -> bytearray:
    """A compact link message (libver='latest') naming the dataset 'a\\0PWND': readers
    list it as 'a' and open it by that name. With 2 MiB of data the file is walked in the
    walk's own process (files over 1 MiB), not in the worker."""
    def build(f) -> None:
        f.create_dataset("aXPWND", data=np.arange(size))
        f.create_dataset("b", data=np.arange(2))
    buf = h5file(build, libver="latest")
    patch_root(buf, buf.index(b"aXPWND") + 1, b"\0")
    return buf


def softlink_after_nul() -> bytearray:
    """A compact soft link whose stored value is '/d\\0PWND': it resolves to /d, and
    H5Lget_val returns '/d'."""
    def build(f) -> None:
        f.create_dataset("d", data=np.arange(3))
        f["s"] = h5py.SoftLink("/dXPWND")
    buf = h5file(build, libver="latest")
    patch_root(buf, buf.index(b"/dXPWND") + 2, b"\0")
    return buf


def _empty_with_address(make_empty) -> bytearray:
    """Two datasets of no elements whose layout addresses (undefined as libhdf5 writes
    them) are 0x5750 and 0x444e: PW and ND, inside the file (a 64 KiB dataset makes it
    larger than both), so no extent leaves the file."""
    def build(f) -> None:
        f.create_dataset("bulk", data=np.arange(8192.0))
        make_empty(f, "e1")
        make_empty(f, "e2")
    buf = h5file(build)
    for name, half in zip(("/e1", "/e2"), HALVES, strict=True):
        hdr, msg = find(buf, name, LAYOUT)
        assert buf[msg.body:msg.body + 10] == b"\x03\x01" + b"\xff" * 8  # v3 contiguous, undefined
        struct.pack_into("<Q", buf, msg.body + 2, int.from_bytes(half, "little"))
        resum(buf, hdr)
    return buf


def empty_extent_address() -> bytearray:
    return _empty_with_address(lambda f, n: f.create_dataset(n, shape=(0,), dtype="f8"))


def null_dataspace_address() -> bytearray:
    return _empty_with_address(lambda f, n: f.create_dataset(n, data=h5py.Empty("f8")))


def empty_addresses(data: bytes) -> bytes:
    """The two layout addresses, found through the links (libhdf5 refuses to open the
    datasets themselves)."""
    out = b""
    with h5py.File(io.BytesIO(data), "r") as f:
        where = [f.id.links.get_info(name.encode()).u for name in ("e1", "e2")]
    for addr in where:
        msg = next(m for m in header(data, addr).msgs if m.type == LAYOUT)
        out += struct.unpack_from("<Q", data, msg.body + 2)[0].to_bytes(2, "little")
    return out


def gcol_object_index() -> bytearray:
    """Two variable-length strings whose global heap objects are numbered 0x5750 and
    0x444e (PW, ND) instead of 1 and 2, their heap IDs renumbered to match: libhdf5 finds
    an object by its number, whatever it is."""
    buf = h5file(lambda f: f.create_dataset("s", data=["ab", "cd"], dtype=h5py.string_dtype()))
    new = {k + 1: int.from_bytes(half, "little") for k, half in enumerate(HALVES)}
    for obj in gcol_objects(buf, buf.index(b"GCOL")):
        if obj.index in new:
            struct.pack_into("<H", buf, obj.at, new[obj.index])
    at = data_offset(buf, "/s")
    for k in range(2):  # each element: length (4), collection address (8), object index (4)
        old = struct.unpack_from("<I", buf, at + 16 * k + 12)[0]
        struct.pack_into("<I", buf, at + 16 * k + 12, new[old])
    return buf


def gcol_object_order() -> bytearray:
    """16 variable-length strings whose global heap objects (numbered 1..16 as libhdf5
    numbers them) lie in the collection in the order of PAYLOAD's permutation (libhdf5
    places them in number order): readers find each by its number, log2(16!) = 44 bits."""
    values = [f"s{i:02d}" for i in range(16)]
    buf = h5file(lambda f: f.create_dataset("s", data=values, dtype=h5py.string_dtype()))
    objs = [o for o in gcol_objects(buf, buf.index(b"GCOL")) if o.index]
    assert [o.index for o in objs] == list(range(1, 17)) and len({o.size for o in objs}) == 1
    start, width = objs[0].at, objs[1].at - objs[0].at
    blocks = [bytes(buf[o.at:o.at + width]) for o in objs]
    order = permutation(16, int.from_bytes(PAYLOAD, "big"))
    buf[start:start + 16 * width] = b"".join(blocks[k] for k in order)
    return buf


def gcol_order(data: bytes) -> bytes:
    objs = [o for o in gcol_objects(data, data.index(b"GCOL")) if o.index]
    return rank([o.index - 1 for o in objs]).to_bytes(4, "big")


def gcol_indices(data: bytes) -> bytes:
    objs = gcol_objects(data, data.index(b"GCOL"))
    return b"".join(o.index.to_bytes(2, "little") for o in objs if o.index)


def _reorder(buf: bytearray, path: str, order: list[int]) -> None:
    """Rewrite the messages of a single-chunk object header in the given order (each
    message's header and body moved whole), checksums recomputed."""
    hdr = header(buf, addr_of(buf, path))
    msgs = hdr.msgs
    start, end = msgs[0].head, msgs[-1].body + msgs[-1].size
    assert all(b.head == a.body + a.size for a, b in zip(msgs, msgs[1:], strict=False))
    blocks = [bytes(buf[m.head:m.body + m.size]) for m in msgs]
    buf[start:end] = b"".join(blocks[k] for k in order)
    resum(buf, hdr)


def message_order(libver: str) -> bytearray:
    """Five datasets whose header messages (dataspace, datatype, fill value, layout, null:
    libhdf5 writes them in that order) are in the orders of PAYLOAD's five digits in
    base 5! = 120: log2(120) = 6.9 bits per header."""
    names = [f"/d{k}" for k in range(5)]
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(4, dtype="i4")) for n in names],
                 libver=libver)
    value = int.from_bytes(PAYLOAD, "big")
    for name in names:
        value, digit = divmod(value, 120)
        assert [m.type for m in header(buf, addr_of(buf, name)).msgs] == [1, 3, 5, 8, 0]
        _reorder(buf, name, permutation(5, digit))
    return buf


def orders(data: bytes) -> bytes:
    value = 0
    for k in reversed(range(5)):
        types = [m.type for m in header(data, addr_of(data, f"/d{k}")).msgs]
        value = value * 120 + rank([[1, 3, 5, 8, 0].index(t) for t in types])
    return value.to_bytes(4, "big")


NULL_BODIES = {"/d0": (PAYLOAD[0], PAYLOAD[1]), "/d1": (PAYLOAD[2], PAYLOAD[3])}


def null_split() -> bytearray:
    """Two datasets (libver='latest') whose header's free space, one null message as
    libhdf5 writes it, is cut into three null messages of zeros: the first two of 80 and
    87 bytes (P, W), then 78 and 68 (N, D), the third the rest."""
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(4, dtype="i4")) for n in NULL_BODIES],
                 libver="latest")
    for name, bodies in NULL_BODIES.items():
        hdr = header(buf, addr_of(buf, name))
        nil = hdr.msgs[-1]
        assert nil.type == 0 and hdr.version == 2 and nil.body - nil.head == 4
        rest = nil.size - sum(bodies) - 8
        pos = nil.head
        for body in (*bodies, rest):
            struct.pack_into("<BHB", buf, pos, 0, body, 0)
            buf[pos + 4:pos + 4 + body] = bytes(body)
            pos += 4 + body
        resum(buf, hdr)
    return buf


def null_bodies(data: bytes) -> bytes:
    out = b""
    for name in NULL_BODIES:
        out += bytes(m.size for m in header(data, addr_of(data, name)).msgs if m.type == 0)[:2]
    return out


def layout_versions() -> bytearray:
    """32 contiguous datasets whose layout message is version 3, as libhdf5 writes it for
    contiguous storage under every libver, or version 4 (the same fields for contiguous
    storage; libhdf5 writes 4 only for chunk indexes new in 1.10): one bit of PAYLOAD each."""
    names = [f"/c{k:02d}" for k in range(32)]
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(4, dtype="i4")) for n in names],
                 libver="latest")
    bits = int.from_bytes(PAYLOAD, "big")
    for k, name in enumerate(names):
        hdr, msg = find(buf, name, LAYOUT)
        assert buf[msg.body:msg.body + 2] == b"\x03\x01"
        buf[msg.body] = 4 if bits >> (31 - k) & 1 else 3
        resum(buf, hdr)
    return buf


def _dataspace_v2(old: bytes) -> bytes:
    assert old[:4] == b"\x01\x01\x01\x00" and len(old) == 24  # v1, rank 1, max dims
    return b"\x02\x01\x01\x01" + old[8:24]  # v2: version, rank, flags, simple


def _fill_v3(old: bytes) -> bytes:
    assert old == b"\x02\x02\x02\x01\x00\x00\x00\x00"  # v2: late, if set, defined, default
    return b"\x03\x0a"  # v3: the same allocation and fill times, the default value


def _v1_header_versions(mtype: int, convert) -> bytearray:
    """32 datasets of version 1 headers (libver='earliest') whose message of type mtype is
    the version libhdf5 writes there, or the same content in the next version (padded to
    8 with zeros, as a v1 header pads every message): one bit of PAYLOAD each."""
    names = [f"/c{k:02d}" for k in range(32)]
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(4, dtype="i4")) for n in names])
    bits = int.from_bytes(PAYLOAD, "big")
    for k, name in enumerate(names):
        hdr, msg = find(buf, name, mtype)
        new = convert(bytes(buf[msg.body:msg.body + msg.size]))
        if bits >> (31 - k) & 1:
            buf[msg.body:msg.body + msg.size] = new.ljust(msg.size, b"\0")
            resum(buf, hdr)
    return buf


def _version_bits(data: bytes, mtype: int, one: int) -> bytes:
    bits = 0
    for k in range(32):
        _, msg = find(bytearray(data), f"/c{k:02d}", mtype)
        bits = bits << 1 | (data[msg.body] == one)
    return bits.to_bytes(4, "big")


# The version 0 superblock's group leaf and internal node K (offsets 16, 18), libhdf5's
# 4 and 16 as h5py always writes them, set to 1..4 and 1..16: 6 bits of PAYLOAD[0].
K_BITS = PAYLOAD[0] & 0x3F
K_VALUES = ((K_BITS & 0x3) + 1, (K_BITS >> 2) + 1)


def superblock0_group_k() -> bytearray:
    buf = h5file(lambda f: [f.create_dataset(n, data=np.arange(3)) for n in ("a", "b")])
    assert struct.unpack_from("<HH", buf, 16) == (4, 16)
    struct.pack_into("<HH", buf, 16, *K_VALUES)
    return buf


def group_k(data: bytes) -> tuple[int, int]:
    return struct.unpack_from("<HH", data, 16)


ATTACKS = {
    "link-name-after-nul-latest.h5": link_name_after_nul,
    "link-name-after-nul-large.h5": lambda: link_name_after_nul(1 << 18),
    "softlink-after-nul-latest.h5": softlink_after_nul,
    "empty-extent-address.h5": empty_extent_address,
    "null-dataspace-address.h5": null_dataspace_address,
    "gcol-object-index.h5": gcol_object_index,
    "gcol-object-order.h5": gcol_object_order,
    "superblock0-group-k.h5": superblock0_group_k,
    "null-split-latest.h5": null_split,
    "layout-version-contiguous.h5": layout_versions,
    "dataspace-version-v1-header.h5": lambda: _v1_header_versions(DATASPACE, _dataspace_v2),
    "fill-value-version-v1-header.h5": lambda: _v1_header_versions(FILL, _fill_v3),
    "message-order-earliest.h5": lambda: message_order("earliest"),
    "message-order-latest.h5": lambda: message_order("latest"),
}
# Cases whose payload no single run of bytes holds: where to read it back.
SPREAD = {
    "empty-extent-address.h5": lambda data: empty_addresses(data) == PAYLOAD,
    "null-dataspace-address.h5": lambda data: empty_addresses(data) == PAYLOAD,
    "gcol-object-index.h5": lambda data: gcol_indices(data) == PAYLOAD,
    "gcol-object-order.h5": lambda data: gcol_order(data) == PAYLOAD,
    "superblock0-group-k.h5": lambda data: group_k(data) == K_VALUES != (4, 16),
    "null-split-latest.h5": lambda data: null_bodies(data) == PAYLOAD,
    "layout-version-contiguous.h5": lambda data: _version_bits(data, LAYOUT, 4) == PAYLOAD,
    "dataspace-version-v1-header.h5": lambda data: _version_bits(data, DATASPACE, 2) == PAYLOAD,
    "fill-value-version-v1-header.h5": lambda data: _version_bits(data, FILL, 3) == PAYLOAD,
    "message-order-earliest.h5": lambda data: orders(data) == PAYLOAD,
    "message-order-latest.h5": lambda data: orders(data) == PAYLOAD,
}
# libhdf5 opens these files but refuses one object in them (the rest reads): a dataset
# of no elements with a defined address is 'invalid dataset size, likely file corruption'.
UNOPENED = {"empty-extent-address.h5": ("/e1", "/e2"), "null-dataspace-address.h5": ("/e1", "/e2")}


def carried(name: str, data: bytes) -> bool:
    return SPREAD[name](data) if name in SPREAD else PAYLOAD in data


def attacks() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in ATTACKS.items()}


def opens(data: bytes, path: str) -> bool:
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            f[path]
        return True
    except (KeyError, OSError):
        return False
