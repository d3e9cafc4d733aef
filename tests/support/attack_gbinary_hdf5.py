"""HDF5 files for the independent binary attack g (session 34).

Ordinary h5py output written over several sessions (dense groups with track_order, many
links deleted and added, attributes replaced, resizable datasets shrunk off a chunk
boundary and grown again, variable-length strings overwritten), and hostile files: a
chunk B-tree's final key (docs: offsets on the chunk grid, no size or mask, at most one
chunk past the maximum dimensions) given the payload in its other fields.
"""

from __future__ import annotations

import struct

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import PAYLOAD, Step, sessions

# ---------------------------------------------------------------- ordinary output


def _group_add(k: int, track: bool) -> Step:
    """Session k of group /g: 20 datasets and 20 attributes added (none deleted: deleting
    from a track_order group is refused by design, its orders have gaps)."""
    def step(f: h5py.File) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=track)
        for i in range(20):
            g[f"d{k}_{i}"] = np.arange(i + 1)
            g.attrs[f"a{k}_{i}"] = i
    return step


def _append(dtype: str) -> Step:
    """A gzip-compressed table of 7 columns in chunks of 16 rows, 333 random rows appended
    a session (resize, then write the new rows): a logger's pattern."""
    def step(f: h5py.File) -> None:
        rng = np.random.default_rng(len(f["m"]) if "m" in f else 0)
        if "m" not in f:
            f.create_dataset("m", shape=(0, 7), maxshape=(None, 7), chunks=(16, 7), dtype=dtype,
                             compression="gzip")
        m = f["m"]
        n = m.shape[0]
        m.resize((n + 333, 7))
        m[n:] = (rng.random((333, 7)) * 1000).astype(dtype)
    return step


def _resize(n: int, filters: bool) -> Step:
    """/r (chunks of 10, unlimited) resized to n and filled: 100, then 95 (off a chunk
    boundary: no chunk pruned), then 150 (grown again)."""
    def step(f: h5py.File) -> None:
        if "r" not in f:
            kw = {"compression": "gzip", "shuffle": True, "fletcher32": True} if filters else {}
            f.create_dataset("r", shape=(0, 3), maxshape=(None, 3), chunks=(10, 3), dtype="f8", **kw)
        r = f["r"]
        r.resize((n, 3))
        r[:] = np.arange(3 * n, dtype="f8").reshape(n, 3)
    return step


def _strings(k: int) -> Step:
    """Variable-length strings of a dataset written, then overwritten longer in later
    sessions (an attribute's rewritten value is refused by design; a dataset's?)."""
    def step(f: h5py.File) -> None:
        if "s" not in f:
            f.create_dataset("s", data=[f"name {i}" for i in range(20)], dtype=h5py.string_dtype())
        f["s"][::2] = [f"renamed {k} " * (k + 1)] * 10
    return step


def _replace_dataset(k: int) -> Step:
    def step(f: h5py.File) -> None:
        if "x" in f:
            del f["x"]
        f["x"] = np.arange(50 * (k + 1), dtype="f4")
    return step


CONTROL_NAMES = [
    "ctl-g-h5-track-order-add.h5", "ctl-g-h5-track-order-add-latest.h5",
    "ctl-g-h5-group-add-latest.h5", "ctl-g-h5-append-gzip-5-sessions.h5",
    "ctl-g-h5-append-gzip-3-sessions.h5", "ctl-g-h5-append-gzip-i2-6-sessions-latest.h5",
    "ctl-g-h5-resize-off-boundary.h5", "ctl-g-h5-resize-off-boundary-filtered.h5",
    "ctl-g-h5-resize-off-boundary-latest.h5", "ctl-g-h5-vlen-overwritten.h5",
    "ctl-g-h5-vlen-overwritten-latest.h5", "ctl-g-h5-replace-dataset-same-session.h5",
]


def controls() -> dict[str, bytes]:
    track = [_group_add(k, True) for k in range(4)]
    plain = [_group_add(k, False) for k in range(4)]
    resize = [_resize(n, False) for n in (100, 95, 150)]
    resize_f = [_resize(n, True) for n in (100, 95, 150)]
    strings = [_strings(k) for k in range(3)]

    def replace(f: h5py.File) -> None:
        for k in range(3):
            _replace_dataset(k)(f)
    return {
        "ctl-g-h5-track-order-add.h5": sessions(track),
        "ctl-g-h5-track-order-add-latest.h5": sessions(track, libver="latest"),
        "ctl-g-h5-group-add-latest.h5": sessions(plain, libver="latest"),
        "ctl-g-h5-append-gzip-5-sessions.h5": sessions([_append("f4")] * 5),
        "ctl-g-h5-append-gzip-3-sessions.h5": sessions([_append("f4")] * 3),
        "ctl-g-h5-append-gzip-i2-6-sessions-latest.h5": sessions([_append("i2")] * 6, libver="latest"),
        "ctl-g-h5-resize-off-boundary.h5": sessions(resize),
        "ctl-g-h5-resize-off-boundary-filtered.h5": sessions(resize_f),
        "ctl-g-h5-resize-off-boundary-latest.h5": sessions(resize, libver="latest"),
        "ctl-g-h5-vlen-overwritten.h5": sessions(strings),
        "ctl-g-h5-vlen-overwritten-latest.h5": sessions(strings, libver="latest"),
        "ctl-g-h5-replace-dataset-same-session.h5": sessions([replace]),
    }


# ---------------------------------------------------------------- hostile: chunk B-tree final key


def _chunked(maxshape: int | None) -> bytes:
    """/c: 100 float64 in chunks of 10 (one leaf of 10 chunks), unlimited or bounded."""
    def step(f: h5py.File) -> None:
        f.create_dataset("c", data=np.arange(100.0), maxshape=(maxshape,), chunks=(10,))
    return sessions([step])


def _final_key(buf: bytes) -> int:
    """Where the final key of the chunk B-tree's one leaf starts (TREE, type 1, level 0:
    keys of 4 + 4 + 8 x (1 + 1) bytes, each followed by a child's address). libhdf5 1.14
    writes it as size 0, mask 0, the last chunk's offset (90) and the element size (8)."""
    at = buf.find(b"TREE")
    while buf[at + 4] != 1:
        at = buf.find(b"TREE", at + 1)
    used = struct.unpack_from("<H", buf, at + 6)[0]
    return at + 24 + used * (24 + 8)


def _patched(maxshape: int | None, field: str, value: bytes) -> bytes:
    buf = bytearray(_chunked(maxshape))
    key = _final_key(buf)
    assert struct.unpack_from("<IIQQ", buf, key) == (0, 0, 90, 8), struct.unpack_from("<IIQQ", buf, key)
    at = {"size": 0, "mask": 4, "offset": 8, "type-offset": 16}[field]
    buf[key + at : key + at + len(value)] = value
    return bytes(buf)


HOSTILE_NAMES = (
    "h5-g-final-key-size.h5", "h5-g-final-key-mask.h5", "h5-g-final-key-type-offset.h5",
    "h5-g-final-key-two-past-bounded.h5",
)
BITS_ONLY = {"h5-g-final-key-two-past-bounded.h5"}


def hostile() -> dict[str, bytes]:
    return {
        "h5-g-final-key-size.h5": _patched(None, "size", PAYLOAD),
        "h5-g-final-key-mask.h5": _patched(None, "mask", PAYLOAD),
        # the dimension of the element's bytes: libhdf5 writes 0 in a chunk's key, the
        # element size (8) in the final one
        "h5-g-final-key-type-offset.h5": _patched(None, "type-offset", PAYLOAD),
        # maxshape 100: one chunk past is 110, 120 is two
        "h5-g-final-key-two-past-bounded.h5": _patched(100, "offset", struct.pack("<Q", 120)),
    }
