"""HDF5 files for the independent binary attack i (session 35).

Hostile: the session-34 rule for earlier versions of deflated chunks (`oldchunks.py`,
docs: "today's chunk cut to an earlier extent along one dimension, filtered again")
made to claim streams no history of the file wrote: a file written in ONE session (no
chunk ever moved), a dataset that cannot grow (no earlier extent), a cut along a
dimension that cannot grow, many copies of one chunk, each a choice of level and extent.
The streams go where unclaimed bytes are: after the last structure, the superblock's
end-of-file address raised to the new size (a version 0 superblock has no checksum).
Ordinary: h5py output appended over sessions in shapes the earlier rounds did not write.
"""

from __future__ import annotations

import io
import struct
import zlib

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import PAYLOAD, Step, sessions
from tests.support.hdf5_attack_c_bytes import resum_superblock

__all__ = ["PAYLOAD"]

EOF_FIELD = {0: 40, 2: 28, 3: 28}  # end-of-file address by superblock version (docs: = the size)


# ---------------------------------------------------------------- hostile: chunk streams no history wrote


def _table(maxshape: tuple[int | None, int] | None, shuffle: bool = False, **kw) -> bytes:
    """/m: 64 rows x 7 float32 in chunks of 16 rows, gzip 4, written once (one session)."""
    def step(f: h5py.File) -> None:
        data = (np.arange(64 * 7, dtype="f4").reshape(64, 7) * 1.5) % 97
        f.create_dataset("m", data=data, chunks=(16, 7), maxshape=maxshape,
                         compression="gzip", compression_opts=4, shuffle=shuffle)
    return sessions([step], **kw)


def _chunk(buf: bytes, index: int) -> np.ndarray:
    """Chunk index of /m as libhdf5 returns it (16 x 7 float32)."""
    with h5py.File(io.BytesIO(buf), "r") as f:
        return f["m"][16 * index : 16 * index + 16]


def _cut(chunk: np.ndarray, rows: int | None = None, cols: int | None = None) -> bytes:
    """The chunk with only its first rows (or columns) valid, the rest the fill value 0:
    what libhdf5 would have held in an earlier, smaller extent."""
    out = np.zeros_like(chunk)
    r = chunk.shape[0] if rows is None else rows
    c = chunk.shape[1] if cols is None else cols
    out[:r, :c] = chunk[:r, :c]
    return out.tobytes()


def _shuffled(raw: bytes, size: int = 4) -> bytes:
    return np.frombuffer(raw, np.uint8).reshape(-1, size).T.tobytes()


def _appended(buf: bytes, streams: list[bytes]) -> bytes:
    """streams placed after the file's last byte, the end-of-file address raised."""
    out = bytearray(buf) + b"".join(streams)
    struct.pack_into("<Q", out, EOF_FIELD[buf[8]], len(out))
    resum_superblock(out)  # versions 2-3 end with a lookup3 checksum
    return bytes(out)


def _one_session_copies(maxshape, *, cols: bool = False, count: int = 1, shuffle: bool = False,
                        **kw) -> bytes:
    """count streams of chunk 0 cut to earlier extents (rows, or columns with cols),
    deflated at levels the attacker picks: every pair (extent, level) is ~7 bits."""
    base = _table(maxshape, shuffle, **kw)
    chunk = _chunk(base, 0)
    streams = []
    for k in range(count):
        extent, level = 1 + k % (6 if cols else 15), k // (6 if cols else 15) % 10
        raw = _cut(chunk, cols=extent) if cols else _cut(chunk, rows=extent)
        streams.append(zlib.compress(_shuffled(raw) if shuffle else raw, level))
    return _appended(base, streams)


def _stream_then_payload() -> bytes:
    """Not a hit unless the rule is loose: an earlier stream, then the payload after it."""
    base = _table((None, 7))
    return _appended(base, [zlib.compress(_cut(_chunk(base, 1), rows=9), 6), PAYLOAD * 4])


def _copy_twice() -> bytes:
    """The same earlier stream twice: a history moves a chunk's version once."""
    base = _table((None, 7))
    stream = zlib.compress(_cut(_chunk(base, 3), rows=5), 4)
    return _appended(base, [stream, stream])


HOSTILE_NAMES = (
    "h5-i-oldchunk-one-session.h5", "h5-i-oldchunk-not-resizable.h5",
    "h5-i-oldchunk-fixed-dimension.h5", "h5-i-oldchunk-150-copies.h5",
    "h5-i-oldchunk-same-copy-twice.h5", "h5-i-oldchunk-one-session-shuffled.h5",
    "h5-i-oldchunk-then-payload.h5", "h5-i-oldchunk-message.h5",
    "h5-i-oldchunk-150-copies-latest.h5",
)
# every byte but the last case's payload is a function of the published values: bits only
BITS_ONLY = set(HOSTILE_NAMES) - {"h5-i-oldchunk-then-payload.h5"}


def hostile() -> dict[str, bytes]:
    return {
        "h5-i-oldchunk-one-session.h5": _one_session_copies((None, 7)),
        "h5-i-oldchunk-not-resizable.h5": _one_session_copies(None),
        "h5-i-oldchunk-fixed-dimension.h5": _one_session_copies((None, 7), cols=True),
        "h5-i-oldchunk-150-copies.h5": _one_session_copies((None, 7), count=150),
        "h5-i-oldchunk-same-copy-twice.h5": _copy_twice(),
        "h5-i-oldchunk-one-session-shuffled.h5": _one_session_copies((None, 7), shuffle=True),
        "h5-i-oldchunk-then-payload.h5": _stream_then_payload(),
        "h5-i-oldchunk-message.h5": smuggled(),
        # libver latest: an extensible array chunk index, a version 3 superblock's checksum
        "h5-i-oldchunk-150-copies-latest.h5": _one_session_copies((None, 7), count=150,
                                                                  libver="latest"),
    }


# ---------------------------------------------------------------- ordinary output


def _grow2d(k: int) -> Step:
    """/img grows along both dimensions each session (maxshape (None, None), default
    libver: a v1 B-tree chunk index), gzip: its corner edge chunk is cut in two dims."""
    def step(f: h5py.File) -> None:
        if "img" not in f:
            f.create_dataset("img", shape=(0, 0), maxshape=(None, None), chunks=(16, 16),
                             dtype="f4", compression="gzip")
        d = f["img"]
        n = 10 * (k + 1)
        d.resize((n, n))
        d[:, :] = np.add.outer(np.arange(n), np.arange(n)).astype("f4") % 13
    return step


def _stack(k: int) -> Step:
    """/frames: 64x64 uint16 frames in chunks of 4 frames, 3 frames a session, gzip+shuffle."""
    def step(f: h5py.File) -> None:
        if "frames" not in f:
            f.create_dataset("frames", shape=(0, 64, 64), maxshape=(None, 64, 64),
                             chunks=(4, 64, 64), dtype="u2", compression="gzip", shuffle=True)
        d = f["frames"]
        n = d.shape[0]
        d.resize((n + 3, 64, 64))
        d[n:] = (np.arange(3 * 64 * 64).reshape(3, 64, 64) * (k + 1)) % 4000
    return step


EVENT = np.dtype([("t", "f8"), ("ch", "i2"), ("adc", "u4")])


def _events(k: int) -> Step:
    """A compound (packed) event table, 50 rows a session, gzip+shuffle+fletcher32."""
    def step(f: h5py.File) -> None:
        if "ev" not in f:
            f.create_dataset("ev", shape=(0,), maxshape=(None,), chunks=(64,), dtype=EVENT,
                             compression="gzip", shuffle=True, fletcher32=True)
        d = f["ev"]
        n = d.shape[0]
        rows = np.zeros(50, EVENT)
        rows["t"], rows["ch"], rows["adc"] = np.arange(n, n + 50) * 0.5, k, np.arange(50) * 7
        d.resize((n + 50,))
        d[n:] = rows
    return step


def _columns(k: int) -> Step:
    """A table grown along its second dimension: one column a session (a parameter scan)."""
    def step(f: h5py.File) -> None:
        if "scan" not in f:
            f.create_dataset("scan", shape=(100, 0), maxshape=(100, None), chunks=(100, 4),
                             dtype="f8", compression="gzip", compression_opts=6)
        d = f["scan"]
        d.resize((100, k + 1))
        d[:, k] = np.linspace(0, k, 100)
    return step


def _fill_table(k: int) -> Step:
    """A gzip table with a fill value (-1) appended in sessions."""
    def step(f: h5py.File) -> None:
        if "q" not in f:
            f.create_dataset("q", shape=(0, 3), maxshape=(None, 3), chunks=(32, 3), dtype="i4",
                             compression="gzip", fillvalue=-1)
        d = f["q"]
        n = d.shape[0]
        d.resize((n + 21, 3))
        d[n:] = np.arange(63).reshape(21, 3) + k
    return step


def _attrs_rewritten(k: int) -> Step:
    """Numeric run metadata rewritten every session (same names, same shapes), and one
    dataset added (libver latest)."""
    def step(f: h5py.File) -> None:
        f.attrs["run"] = k
        f.attrs["temps"] = np.arange(4.0) + k
        f[f"d{k}"] = np.arange(10 + k)
    return step


def _small_append(_k: int) -> Step:
    """5 values a session into chunks of 100 (gzip, shuffle, fletcher32): 12 sessions nest
    11 older versions of one chunk."""
    def step(f: h5py.File) -> None:
        if "a" not in f:
            f.create_dataset("a", shape=(0,), maxshape=(None,), chunks=(100,), dtype="f8",
                             compression="gzip", shuffle=True, fletcher32=True)
        d = f["a"]
        n = d.shape[0]
        d.resize((n + 5,))
        d[n:] = np.arange(n, n + 5) * 0.25
    return step


def _runs(k: int) -> Step:
    """A job adding one gzip dataset a run and rewriting the run counter (an int)."""
    def step(f: h5py.File) -> None:
        f.create_dataset(f"r{k}", data=np.arange(100 * (k + 1)), compression="gzip")
        f.attrs["n"] = k
    return step


def _group_tree(k: int) -> Step:
    """Datasets and attributes spread over 3 groups, one of each a session."""
    def step(f: h5py.File) -> None:
        g = f.require_group(f"run{k % 3}")
        g.create_dataset(f"x{k}", data=np.arange(20) * k, compression="gzip", shuffle=True)
        g.attrs[f"t{k}"] = float(k)
    return step


def _typed_append(dtype, make, **kw) -> list[Step]:
    """4 sessions of 17 rows appended to /v (chunks of 40, gzip and what kw adds)."""
    def session(k: int) -> Step:
        def step(f: h5py.File) -> None:
            if "v" not in f:
                f.create_dataset("v", shape=(0,), maxshape=(None,), chunks=(40,), dtype=dtype,
                                 compression="gzip", **kw)
            d = f["v"]
            n = d.shape[0]
            d.resize((n + 17,))
            d[n:] = make(n, k)
        return step
    return [session(k) for k in range(4)]


def _link_and_attr(k: int) -> Step:
    """One dataset and one attribute added to /g (track_order) a session: a run log."""
    def step(f: h5py.File) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=True)
        g[f"d{k}"] = np.arange(3)
        g.attrs[f"a{k}"] = float(k)
    return step


def _tracked_root(k: int) -> Step:
    def step(f: h5py.File) -> None:
        f[f"d{k}"] = np.arange(k + 3)
        f.attrs[f"a{k}"] = k
        f.create_group(f"g{k}")
    return step


def _typed() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    enum = h5py.enum_dtype({"A": 0, "B": 1, "C": 2}, basetype="i1")
    return {
        "ctl-i-h5-random-bytes-gzip9.h5": sessions(_typed_append(
            "u1", lambda n, k: rng.integers(0, 256, 17), compression_opts=9, shuffle=True,
            fletcher32=True)),
        "ctl-i-h5-fixed-strings.h5": sessions(_typed_append(
            "S12", lambda n, k: [b"ev%d" % i for i in range(n, n + 17)])),
        "ctl-i-h5-bool.h5": sessions(_typed_append("?", lambda n, k: np.arange(17) % 3 == 0)),
        "ctl-i-h5-complex.h5": sessions(_typed_append(
            "c16", lambda n, k: np.arange(17) * (1 + 2j), shuffle=True)),
        "ctl-i-h5-enum.h5": sessions(_typed_append(enum, lambda n, k: np.arange(17) % 3)),
        "ctl-i-h5-vlen-str-latest.h5": sessions(_typed_append(
            h5py.string_dtype(), lambda n, k: ["x" * (i % 7) for i in range(17)]), libver="latest"),
        "ctl-i-h5-tracked-root.h5": sessions([_tracked_root(k) for k in range(5)], track_order=True),
        "ctl-i-h5-tracked-root-latest.h5": sessions([_tracked_root(k) for k in range(5)],
                                                    track_order=True, libver="latest"),
        "ctl-i-h5-tracked-log-12-latest.h5": sessions([_link_and_attr(k) for k in range(12)],
                                                      libver="latest"),
        "ctl-i-h5-tracked-log-12.h5": sessions([_link_and_attr(k) for k in range(12)]),
    }


TYPED_NAMES = [
    "ctl-i-h5-random-bytes-gzip9.h5", "ctl-i-h5-fixed-strings.h5", "ctl-i-h5-bool.h5",
    "ctl-i-h5-complex.h5", "ctl-i-h5-enum.h5", "ctl-i-h5-vlen-str-latest.h5",
    "ctl-i-h5-tracked-root.h5", "ctl-i-h5-tracked-root-latest.h5",
    "ctl-i-h5-tracked-log-12-latest.h5", "ctl-i-h5-tracked-log-12.h5",
]
CONTROL_NAMES = TYPED_NAMES + [
    "ctl-i-h5-grow-2d.h5", "ctl-i-h5-frames-stack.h5", "ctl-i-h5-frames-stack-latest.h5",
    "ctl-i-h5-events-compound.h5", "ctl-i-h5-events-compound-latest.h5", "ctl-i-h5-scan-columns.h5",
    "ctl-i-h5-fill-table.h5", "ctl-i-h5-attrs-rewritten-latest.h5", "ctl-i-h5-attrs-rewritten.h5",
    "ctl-i-h5-one-session-table.h5", "ctl-i-h5-small-append-12.h5",
    "ctl-i-h5-small-append-12-latest.h5", "ctl-i-h5-20-runs.h5", "ctl-i-h5-20-runs-latest.h5",
    "ctl-i-h5-group-tree.h5", "ctl-i-h5-group-tree-latest.h5",
]


def controls() -> dict[str, bytes]:
    return {**_typed(),
        "ctl-i-h5-grow-2d.h5": sessions([_grow2d(k) for k in range(4)]),
        "ctl-i-h5-frames-stack.h5": sessions([_stack(k) for k in range(5)]),
        "ctl-i-h5-frames-stack-latest.h5": sessions([_stack(k) for k in range(5)], libver="latest"),
        "ctl-i-h5-events-compound.h5": sessions([_events(k) for k in range(5)]),
        "ctl-i-h5-events-compound-latest.h5": sessions([_events(k) for k in range(5)], libver="latest"),
        "ctl-i-h5-scan-columns.h5": sessions([_columns(k) for k in range(6)]),
        "ctl-i-h5-fill-table.h5": sessions([_fill_table(k) for k in range(4)]),
        "ctl-i-h5-attrs-rewritten-latest.h5": sessions([_attrs_rewritten(k) for k in range(6)],
                                                        libver="latest"),
        "ctl-i-h5-attrs-rewritten.h5": sessions([_attrs_rewritten(k) for k in range(6)]),
        "ctl-i-h5-one-session-table.h5": _table((None, 7)),
        "ctl-i-h5-small-append-12.h5": sessions([_small_append(k) for k in range(12)]),
        "ctl-i-h5-small-append-12-latest.h5": sessions([_small_append(k) for k in range(12)],
                                                        libver="latest"),
        "ctl-i-h5-20-runs.h5": sessions([_runs(k) for k in range(20)]),
        "ctl-i-h5-20-runs-latest.h5": sessions([_runs(k) for k in range(20)], libver="latest"),
        "ctl-i-h5-group-tree.h5": sessions([_group_tree(k) for k in range(9)]),
        "ctl-i-h5-group-tree-latest.h5": sessions([_group_tree(k) for k in range(9)], libver="latest"),
    }


# ---------------------------------------------------------------- the channel, end to end


def _alphabet(base: bytes) -> list[bytes]:
    """256 distinct earlier-version streams of /m's chunks: (chunk, rows, level) in order."""
    chunks = [_chunk(base, i) for i in range(4)]
    out = [zlib.compress(_cut(chunks[c], rows=r), lvl)
           for c in range(4) for r in range(1, 16) for lvl in range(1, 10)]
    assert len(set(out)) >= 256
    return list(dict.fromkeys(out))[:256]


MESSAGE = b"PWND: any bytes, one stream each, none in the file"


def smuggled() -> bytes:
    """MESSAGE, one byte a stream, after a one-session table (end-of-file raised)."""
    base = _table((None, 7))
    table = _alphabet(base)
    return _appended(base, [table[b] for b in MESSAGE])


def recovered(buf: bytes) -> bytes:
    """What a receiver reads back from the published file: each stream after the last
    structure mapped back to its byte (the receiver rebuilds the alphabet from the data)."""
    with h5py.File(io.BytesIO(buf), "r") as f:
        end = max(f["m"].id.get_chunk_info(i).byte_offset + f["m"].id.get_chunk_info(i).size
                  for i in range(4))
    index = {s: i for i, s in enumerate(_alphabet(buf))}
    out, rest = bytearray(), buf[end:]
    while rest:
        d = zlib.decompressobj()
        d.decompress(rest)
        used = len(rest) - len(d.unused_data)
        out.append(index[rest[:used]])
        rest = rest[used:]
    return bytes(out)
