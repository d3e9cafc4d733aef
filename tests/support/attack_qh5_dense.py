"""Attack q h5's dense-storage cases (session 40): a link name twice in a group's fractal
heap (its direct block's and the name index's checksums recomputed, the index's records
re-sorted by hash as libhdf5 keeps them), and an attribute message left in a header whose
attributes are dense (which libhdf5 never reads)."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_qh5_cases import PAYLOAD
from tests.support.hdf5_bytes import checksummed_length, fix_v2_checksum, lookup3, v2_header

_BLOCK = 512  # the fractal heap's starting block for links (h5py's default)


def _rehash_name_index(data: bytearray, old: int, new: int) -> None:
    """The type 5 v2 B-tree (link name index) with the record of hash old given hash new,
    its records in hash order, its leaf's checksum recomputed (one leaf: 10 links)."""
    at = data.find(b"BTHD")
    while at >= 0:
        size = struct.unpack_from("<H", data, at + 10)[0]
        root, count = struct.unpack_from("<QH", data, at + 16)
        if data[at + 5] == 5:
            n = checksummed_length(bytes(data), root)
            body = slice(root + 6, root + 6 + count * size)
            recs = [bytes(data[body][i * size : (i + 1) * size]) for i in range(count)]
            recs = [new.to_bytes(4, "little") + r[4:] if r[:4] == old.to_bytes(4, "little") else r
                    for r in recs]  # fmt: skip
            data[body] = b"".join(sorted(recs, key=lambda r: int.from_bytes(r[:4], "little")))
            data[root + n : root + n + 4] = lookup3(bytes(data[root : root + n])).to_bytes(4, "little")
        at = data.find(b"BTHD", at + 1)


def dup_dense_link(made: Path, track: bool) -> bytes:
    """libver='latest', 10 links (dense): payload 'calib', honest 'calic' renamed 'calib'
    in the heap; the name index finds the honest one first."""
    made.mkdir(parents=True, exist_ok=True)
    path = made / f"dup-dense-link{'-tracked' if track else ''}.h5"
    with h5py.File(path, "w", libver="latest") as f:
        g = f.create_group("g", track_order=track)
        g["calib"] = np.frombuffer(PAYLOAD, "u1")
        g["calic"] = np.array([1.0, 2.0])
        for i in range(8):
            g[f"l{i:02d}"] = [i]
    data = bytearray(path.read_bytes())
    at = data.find(b"calic")
    assert data.count(b"calic") == 1
    data[at : at + 5] = b"calib"
    block = data.rfind(b"FHDB", 0, at)
    image = bytearray(data[block : block + _BLOCK])
    image[17:21] = bytes(4)  # signature, version, heap address, 4-byte offset: then the sum
    data[block + 17 : block + 21] = lookup3(bytes(image)).to_bytes(4, "little")
    _rehash_name_index(data, lookup3(b"calic"), lookup3(b"calib"))
    return bytes(data)


def compact_beside_dense(made: Path) -> bytes:
    """/d's 10 attributes are dense; the null message they left becomes an attribute
    message 'units' of 16 chosen bytes and a null (libhdf5 reads only dense storage)."""
    made.mkdir(parents=True, exist_ok=True)
    dense, one = made / "cbd-dense.h5", made / "cbd-one.h5"
    with h5py.File(dense, "w", libver="latest") as f:
        d = f.create_dataset("d", data=np.arange(3))
        for i in range(10):
            d.attrs[f"a{i:02d}"] = float(i)
        addr = h5py.h5o.get_info(d.id).addr
    with h5py.File(one, "w", libver="latest") as f:
        d = f.create_dataset("d", data=np.arange(3))
        d.attrs["units"] = np.frombuffer(PAYLOAD, "<f8")
        src_addr = h5py.h5o.get_info(d.id).addr
    data, src = bytearray(dense.read_bytes()), one.read_bytes()
    (_, size, body) = next(m for m in v2_header(src, src_addr)[2] if m[0] == 0x0C)
    (_, room, at) = next(m for m in v2_header(data, addr)[2] if m[0] == 0)
    rest = room - size - 4
    data[at - 4 : at + room] = src[body - 4 : body + size] + struct.pack("<BHB", 0, rest, 0) + bytes(rest)
    fix_v2_checksum(data, addr)
    return bytes(data)


def hostile(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(holes, refused as claimed)."""
    holes = {
        "dup-dense-link.h5": dup_dense_link(made, False),
        "dup-dense-link-tracked.h5": dup_dense_link(made, True),
    }
    return holes, {"compact-beside-dense.h5": compact_beside_dense(made)}
