"""Building blocks of attack m h5 (session 37) on docs/quarantine.md's freed-block rules
(heldblocks.py, oldblocks.py): a real multi-session file, a hole of zeros made inside it
by moving a dataset's raw data to the end of the file (a file vet admits), and v2
continuation blocks (OCHK, messages, gap, lookup3 checksum) forged from the bodies of the
header's dense attributes, taken from twin files that keep them compact (the same bytes:
an attribute message's body does not depend on where it is stored)."""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import Header, header, lookup3, resum, resum_superblock

ATTR = 12
EOF_AT = 28  # a version 2/3 superblock's end-of-file address


def hdr(buf: bytes, path: str) -> Header:
    with h5py.File(io.BytesIO(buf), "r") as f:
        return header(buf, h5py.h5o.get_info(f[path].id).addr)


def _cal(s: int, n0: int = 5, grow: int = 17) -> np.ndarray:
    return np.linspace(0, 1, n0 + grow * s)


def calib_run(count: int = 12, rows: int = 4000, n0: int = 5, grow: int = 17,
              log: bool = False) -> bytes:
    """A physicist's run: a dataset written in session 0, then one calibration attribute
    of 5 + 17 s doubles added to it each session (attack k h5's calib12 with more rows);
    past 8 they move to dense storage. With log, session 1 first writes a second small
    contiguous dataset, /log: its header is the first thing libhdf5 allocates then, right
    after /data's raw data."""
    def step(s: int):
        def go(f: h5py.File) -> None:
            if s == 0:
                f.create_dataset("data", data=np.arange(float(rows)))
            if s == 1 and log:
                f.create_dataset("log", data=np.arange(8.0))
            f["data"].attrs[f"cal{s}"] = _cal(s, n0, grow)
        return go
    return sessions([step(s) for s in range(count)], libver="latest")


def cal_bodies(count: int = 12, n0: int = 5, grow: int = 17) -> list[bytes]:
    """Each calibration attribute's message body, from twins that keep them compact."""
    out: list[bytes] = []
    for lo in range(0, count, 8):
        with tempfile.TemporaryDirectory(prefix="attackmh5-") as where:
            p = Path(where) / "f.h5"
            with h5py.File(p, "w", libver="latest") as f:
                d = f.create_dataset("data", data=np.arange(4.0))
                for s in range(lo, min(lo + 8, count)):
                    d.attrs[f"cal{s}"] = _cal(s, n0, grow)
            twin = p.read_bytes()
        out += [twin[m.body:m.body + m.size] for m in hdr(twin, "data").msgs if m.type == ATTR]
    return out


def block(inner: bytes, gap: bytes = b"") -> bytes:
    """A v2 continuation block: OCHK, the messages, the gap, the lookup3 checksum."""
    data = b"OCHK" + inner + gap
    return data + struct.pack("<I", lookup3(data))


def relocated(buf: bytes, path: str) -> tuple[bytes, int, int]:
    """The contiguous raw data of path copied to the end of the file and its layout
    message pointed there: the old place [start, end) is reached from no structure, a
    hole of zeros inside the file to put forged blocks in. Whatever follows the hole is
    left as it is: a base whose hole ends at a live structure (calib_run's log) is one
    vet admits; one whose hole ends at an old free-space section list is not (session 38:
    libhdf5 writes a whole old list right after what it allocated before, never after
    zeros)."""
    h = hdr(buf, path)
    lay = next(m for m in h.msgs if m.type == 8)
    ver, cls = buf[lay.body], buf[lay.body + 1]
    assert ver in (3, 4) and cls == 1, (ver, cls)
    addr, size = struct.unpack_from("<QQ", buf, lay.body + 2)
    out = bytearray(buf + buf[addr:addr + size])
    struct.pack_into("<Q", out, lay.body + 2, len(buf))
    out[addr:addr + size] = bytes(size)
    assert out[8] in (2, 3)
    struct.pack_into("<Q", out, EOF_AT, len(out))
    resum_superblock(out)
    resum(out, h)
    return bytes(out), addr, addr + size


def put_at(buf: bytes, where: int, data: bytes) -> bytes:
    out = bytearray(buf)
    out[where:where + len(data)] = data
    return bytes(out)


def hole_start(buf: bytes, lo: int) -> int:
    """The end of the last structure before the zeros that end at lo (a header's
    checksum: not zero)."""
    i = lo
    while buf[i - 1] == 0:
        i -= 1
    return i
