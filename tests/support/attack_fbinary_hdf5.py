"""HDF5 files for the independent binary attack f (session 33).

h5py 3.16 output written in one or more sessions (controls), and patches of the bounds
session 32 added: a freed continuation block (`oldblocks`), an extensible array's
high-water mark and unused slots, a local heap name's padding. Offsets come from the
HDF5 file format specification (checksums: lookup3, tests/support/hdf5_attack_c_bytes).
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import PAYLOAD, h5file, lookup3, readable

__all__ = ["PAYLOAD", "readable"]

Step = Callable[[h5py.File], None]


def sessions(steps: list[Step], **kw) -> bytes:
    """One file written by h5py in len(steps) sessions (the first creates it)."""
    with tempfile.TemporaryDirectory(prefix="attackfb-") as where:
        path = Path(where) / "f.h5"
        for i, step in enumerate(steps):
            with h5py.File(path, "w" if i == 0 else "a", **kw) as f:
                step(f)
        return path.read_bytes()


def _resum(buf: bytearray, start: int, end: int) -> None:
    """lookup3 of [start, end) written at end (a v2 structure's checksum)."""
    struct.pack_into("<I", buf, end, lookup3(bytes(buf[start:end])))


def _checksum_end(buf: bytes, start: int, limit: int = 4096) -> int:
    """Where the checksum of the structure at start is: the first k whose lookup3 fits."""
    for end in range(start + 8, min(start + limit, len(buf) - 4)):
        if struct.unpack_from("<I", buf, end)[0] == lookup3(bytes(buf[start:end])):
            return end
    raise AssertionError(f"no checksum after {start}")


# ---------------------------------------------------------------- freed continuation block


def _attrs(k: int, n: int) -> Step:
    """n root attributes (and, first, a dataset): 4, 4, then 3 more under 'latest' move
    them into dense storage and free the continuation block the second session made."""
    def step(f: h5py.File) -> None:
        for i in range(n):
            f.attrs[f"a{k}_{i}"] = np.arange(5 + k) + i
        if k == 0:
            f.create_dataset("d", data=np.arange(10))
    return step


def _dense_after_block() -> tuple[bytes, bytes]:
    """(the file after two sessions, the same file after the third): the second's last
    continuation block ends its file; the third frees it and a structure takes its start."""
    two = sessions([_attrs(0, 4), _attrs(1, 4)], libver="latest")
    return two, sessions([_attrs(0, 4), _attrs(1, 4), _attrs(2, 3)], libver="latest")


def _oldblock(patch: Callable[[bytearray, int, int], None]) -> bytes:
    """patch(buf, first, end): [first, end) the freed block's bytes no later structure took."""
    two, three = _dense_after_block()
    block, end = two.rfind(b"OCHK"), len(two)
    first = next(i for i in range(block, end) if two[i:end] == three[i:end])
    buf = bytearray(three)
    patch(buf, first, end)
    return bytes(buf)


def _remains_value(buf: bytearray, first: int, end: int) -> None:
    """PAYLOAD in the middle of the freed block's left-over attribute messages."""
    at = (first + end) // 2
    buf[at : at + 4] = PAYLOAD


def _remains_checksum(buf: bytearray, _first: int, end: int) -> None:
    """PAYLOAD as the freed block's checksum (its last 4 bytes)."""
    buf[end - 4 : end] = PAYLOAD


# ---------------------------------------------------------------- extensible array


def _resizable(f: h5py.File) -> None:
    d = f.create_dataset("d", shape=(25,), maxshape=(None,), chunks=(10,), dtype="i4")
    d[:] = np.arange(25)


def _ea(patch: Callable[[bytearray, int, int], None]) -> bytes:
    buf = h5file(_resizable, libver="latest")
    hd, ib = buf.find(b"EAHD"), buf.find(b"EAIB")
    patch(buf, hd, ib)
    return bytes(buf)


def _hwm_beyond(buf: bytearray, hd: int, _ib: int) -> None:
    """Max index set (last chunk set + 1) 9: past the 4 elements the index block holds
    (3 chunks written; docs: bounded by the elements allocated)."""
    struct.pack_into("<Q", buf, hd + 44, 9)
    _resum(buf, hd, hd + 68)


def _unused_slot(buf: bytearray, _hd: int, ib: int) -> None:
    """The index block's fourth element (no chunk: max index set is 3) holds PAYLOAD
    instead of the undefined address."""
    end = _checksum_end(bytes(buf), ib)
    slot = ib + 14 + 3 * 8  # signature, version, client id, header address: then elements
    buf[slot : slot + 8] = PAYLOAD * 2
    _resum(buf, ib, end)


# ---------------------------------------------------------------- local heap padding


def _short_names(f: h5py.File) -> None:
    for name in ("a", "bb", "ccc", "run1", "data_2"):
        f.create_group(name)


def _heap_padding() -> bytes:
    """Each short link name's padding holds PAYLOAD: as a stale free-block header's last
    bytes it would be an offset or size of about 2^40, the heap is 88 bytes."""
    buf = h5file(_short_names)
    heap = buf.find(b"HEAP")
    _, free, data = struct.unpack_from("<QQQ", buf, heap + 8)
    at = data + 8  # after the empty name at offset 0; names up to the free block
    while at < data + free:
        end = buf.index(0, at)
        room = (-(end + 1 - data)) % 8
        if room >= 5:
            buf[end + 1 : end + 5] = PAYLOAD
        at = end + 1 + room
    return bytes(buf)


HOSTILE_NAMES = (
    "h5-oldblock-remains-payload.h5", "h5-oldblock-remains-checksum.h5",
    "h5-ea-high-water-past-elements.h5", "h5-ea-unused-slot-payload.h5",
    "h5-heap-name-padding-payload.h5",
)


MALFORMED_NAMES = ("h5-signature-only.h5", "h5-truncated-in-superblock.h5")


def malformed() -> dict[str, bytes]:
    """Truncated HDF5 (a copy cut short): refused with an hdf5 reason, not a crash."""
    whole = h5file(_short_names)
    return {"h5-signature-only.h5": bytes(whole[:8]),
            "h5-truncated-in-superblock.h5": bytes(whole[:30])}


def hostile() -> dict[str, bytes]:
    return {
        "h5-oldblock-remains-payload.h5": _oldblock(_remains_value),
        "h5-oldblock-remains-checksum.h5": _oldblock(_remains_checksum),
        "h5-ea-high-water-past-elements.h5": _ea(_hwm_beyond),
        "h5-ea-unused-slot-payload.h5": _ea(_unused_slot),
        "h5-heap-name-padding-payload.h5": _heap_padding(),
    }


# ---------------------------------------------------------------- controls


def _grow(n: int) -> Step:
    def step(f: h5py.File) -> None:
        d = f.require_dataset("e", shape=(0,), maxshape=(None,), chunks=(10,), dtype="f8")
        d.resize((n,))
        d[:] = np.linspace(0, 1, n)
    return step


def _fletcher(f: h5py.File) -> None:
    if "t" not in f:
        f.create_dataset("t", shape=(0, 3), maxshape=(None, 3), chunks=(64, 3), dtype="f4",
                         fletcher32=True)
    t = f["t"]
    t.resize((t.shape[0] + 100, 3))
    t[-100:] = np.arange(300, dtype=np.float32).reshape(100, 3)


def _layouts(f: h5py.File) -> None:
    f.create_dataset("compact", data=np.arange(16, dtype="i2"),
                     dcpl=_compact_dcpl())
    f.create_dataset("contig", data=np.arange(1000.0))
    f.create_dataset("names", data=["alpha", "beta", "gamma"], dtype=h5py.string_dtype())
    f.attrs["title"] = "run 42"
    f.attrs["fixed"] = np.bytes_("detector A")
    f.attrs["list"] = ["x", "y"]


def _compact_dcpl():
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    return dcpl


def _members(k: int, links: bool = True, attrs: bool = False, track: bool = False,
             n: int = 12) -> Step:
    """n datasets and/or attributes in group /g a session (12: past 8, dense storage)."""
    def step(f: h5py.File) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=track)
        for i in range(n):
            if links:
                g.create_dataset(f"s{k}_{i}", data=np.arange(i + 1))
            if attrs:
                g.attrs[f"p{k}_{i}"] = float(i)
    return step


def _scales(f: h5py.File) -> None:
    """A dataset with dimension scales; later sessions add attributes to it."""
    if "x" not in f:
        f["t"] = np.linspace(0, 1, 50)
        f["x"] = np.arange(50.0) ** 2
        f["t"].make_scale("time")
        f["x"].dims[0].attach_scale(f["t"])
        return
    f["x"].attrs[f"note{len(f['x'].attrs)}"] = "calibrated"
    f["x"].attrs[f"gain{len(f['x'].attrs)}"] = 1.5


def _log(f: h5py.File) -> None:
    """A resizable log of variable-length strings, appended each session (no filter)."""
    if "log" not in f:
        f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(16,),
                         dtype=h5py.string_dtype())
    log = f["log"]
    n = log.shape[0]
    log.resize((n + 20,))
    log[n:] = [f"event {n + i}: ok" for i in range(20)]


def _series(f: h5py.File) -> None:
    f.create_dataset("s", data=np.arange(1000.0), maxshape=(None,), chunks=(100,))


def _shrink(n: int, name: str = "s") -> Step:
    def step(f: h5py.File) -> None:
        f[name].resize((n,))
    return step


def _image(f: h5py.File) -> None:
    f.create_dataset("m", data=np.arange(400.0).reshape(20, 20), maxshape=(None, None),
                     chunks=(5, 5))


def _image_crop(f: h5py.File) -> None:
    f["m"].resize((12, 13))


def _two_series(f: h5py.File) -> None:
    _series(f)
    f.create_dataset("b", data=np.arange(300.0), maxshape=(None,), chunks=(100,))


def _groups(k: int) -> Step:
    def step(f: h5py.File) -> None:
        for i in range(10):
            f.create_group(f"s{k}g{i}")
    return step


def controls() -> dict[str, bytes]:
    return {
        "ctl-h5-oldblock-dense-3-sessions.h5": _dense_after_block()[1],
        "ctl-h5-attrs-2-a-session-latest.h5": sessions([_attrs(k, 2) for k in range(4)],
                                                       libver="latest"),
        "ctl-h5-ea-shrink-then-grow.h5": sessions([_grow(120), _grow(30), _grow(50)],
                                                  libver="latest"),
        "ctl-h5-ea-resizable.h5": bytes(h5file(_resizable, libver="latest")),
        "ctl-h5-fletcher32-3-sessions.h5": sessions([_fletcher] * 3),
        "ctl-h5-layouts-strings.h5": sessions([_layouts]),
        "ctl-h5-short-names.h5": bytes(h5file(_short_names)),
        "ctl-h5-groups-3-sessions.h5": sessions([_groups(0), _groups(1), _groups(2)]),
        "ctl-h5-dense-links-reopened-latest.h5": sessions([_members(0), _members(1)],
                                                          libver="latest"),
        "ctl-h5-dense-links-reopened-tracked.h5": sessions([_members(0, track=True),
                                                            _members(1, track=True)]),
        "ctl-h5-dense-attrs-reopened-tracked.h5": sessions(
            [_members(0, False, True, True), _members(1, False, True, True)]),
        "ctl-h5-dense-links-one-session-latest.h5": sessions([_members(0)], libver="latest"),
        "ctl-h5-dense-links-attrs-reopened-latest.h5": sessions(
            [_members(0, True, True), _members(1, True, True)], libver="latest"),
        "ctl-h5-tracked-3-links-reopened.h5": sessions(
            [_members(0, track=True, n=3), _members(1, track=True, n=3)]),
        "ctl-h5-tracked-12-links-one-session.h5": sessions([_members(0, track=True)]),
        "ctl-h5-scales-attrs-3-sessions.h5": sessions([_scales] * 3),
        "ctl-h5-vlen-log-3-sessions.h5": sessions([_log] * 3),
        "ctl-h5-shrink-on-chunk-boundary.h5": sessions([lambda f: (_series(f), _shrink(700)(f))]),
        "ctl-h5-shrink-reopened-on-boundary.h5": sessions([_series, _shrink(700)]),
        "ctl-h5-shrink-reopened-mid-chunk.h5": sessions([_series, _shrink(750)]),
        "ctl-h5-shrink-image-reopened.h5": sessions([_image, _image_crop]),
        "ctl-h5-shrink-first-of-two.h5": sessions([_two_series, _shrink(450)]),
    }


CONTROL_NAMES = [
    "ctl-h5-oldblock-dense-3-sessions.h5", "ctl-h5-attrs-2-a-session-latest.h5",
    "ctl-h5-ea-shrink-then-grow.h5", "ctl-h5-ea-resizable.h5", "ctl-h5-fletcher32-3-sessions.h5",
    "ctl-h5-layouts-strings.h5", "ctl-h5-short-names.h5", "ctl-h5-groups-3-sessions.h5",
    "ctl-h5-dense-links-reopened-latest.h5", "ctl-h5-dense-links-reopened-tracked.h5",
    "ctl-h5-dense-attrs-reopened-tracked.h5", "ctl-h5-dense-links-one-session-latest.h5",
    "ctl-h5-dense-links-attrs-reopened-latest.h5", "ctl-h5-tracked-3-links-reopened.h5",
    "ctl-h5-tracked-12-links-one-session.h5", "ctl-h5-scales-attrs-3-sessions.h5",
    "ctl-h5-vlen-log-3-sessions.h5", "ctl-h5-shrink-on-chunk-boundary.h5",
    "ctl-h5-shrink-reopened-on-boundary.h5", "ctl-h5-shrink-reopened-mid-chunk.h5",
    "ctl-h5-shrink-image-reopened.h5", "ctl-h5-shrink-first-of-two.h5",
]
