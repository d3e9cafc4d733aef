"""Files for the independent attack ph5 (issue #13, session 39): h5py workflows with
attrs.modify, growing headers, dense attributes, track_order, libver default and
'latest' (ordinary controls, real tool output), and forgeries of the stale messages a
freed header block keeps (an earlier attribute value: the h5n admission). Written from
the HDF5 file format specification and h5py, not from vmguard's validator."""

from __future__ import annotations

import re

import h5py
import numpy as np

from tests.support.attack_nh5_tools import sessions

CHOSEN = b"\x11\x22\x33\x44\x55\x66\x77\x40"  # a double, 8 chosen bytes


def _s0(f: h5py.File) -> None:
    f.create_dataset("d", data=np.arange(10.0))


def _s1(f: h5py.File) -> None:
    f.attrs["fixed"] = np.float64(1.2345)
    f.attrs["name8"] = np.bytes_(b"ABCDEFGH")
    f.attrs["pair"] = np.array([1.5, 2.5], dtype=np.float32)
    for i in range(3):
        f.attrs[f"a{i}"] = np.float64(i + 0.1)


def _s2(f: h5py.File) -> None:
    for i in range(3, 12):
        f.attrs[f"a{i}"] = np.float64(i + 0.1)


def stale_source() -> bytes:
    """'latest': a dataset, then 6 root attributes (a block after the dataset's header),
    then 9 more (dense storage: the block freed, its messages left in it)."""
    return sessions([_s0, _s1, _s2], libver="latest")


def _put(data: bytes, off: int, new: bytes) -> bytes:
    out = bytearray(data)
    out[off:off + len(new)] = new
    return bytes(out)


def _stale_value(data: bytes, name: bytes, value: bytes) -> int:
    """Where the freed block's stale message named `name` holds `value` (the first copy
    of the name is the stale one: dense storage's heap comes later in the file)."""
    start = data.index(name)
    heap = data.index(b"FRHP")
    assert start < heap
    return data.index(value, start)


def stale_values(src: bytes) -> dict[str, bytes]:
    """Chosen bytes in place of stale attribute values in the freed block."""
    a0 = _stale_value(src, b"a0\x00", np.float64(0.1).tobytes())
    a1 = _stale_value(src, b"a1\x00", np.float64(1.1).tobytes())
    name8 = _stale_value(src, b"name8\x00", b"ABCDEFGH")
    pair = _stale_value(src, b"pair\x00", np.array([1.5, 2.5], np.float32).tobytes())
    cks = src.index(b"\x00" * 32, a0) - 4  # the block's checksum ends its messages
    return {
        "ph5-stale-a0-value.h5": _put(src, a0, CHOSEN),
        "ph5-stale-a0-a1-values.h5": _put(_put(src, a0, CHOSEN), a1, CHOSEN),
        "ph5-stale-name8-string.h5": _put(src, name8, b"EVILDATA"),
        "ph5-stale-pair-array.h5": _put(src, pair, CHOSEN),
        "ph5-stale-a0-value-checksum.h5": _put(_put(src, a0, CHOSEN), cks, b"EVIL"),
    }


def _modify_steps(n_before: int, n_after: int, sess: int):
    def first(f: h5py.File) -> None:
        f.create_dataset("d", data=np.arange(10.0))
        for i in range(n_before):
            f.attrs[f"c{i}"] = np.float64(i + 0.5)
        f.attrs["fixed"] = np.float64(1.0)

    def later(s: int):
        def step(f: h5py.File) -> None:
            f.attrs.modify("fixed", np.float64(s + 1.0))
            for i in range(n_after):
                f.attrs[f"s{s}_{i}"] = np.float64(s * 100 + i)
        return step
    return [first] + [later(s) for s in range(1, sess)]


def controls() -> dict[str, bytes]:
    """Ordinary h5py multi-session workflows (no hand edits)."""
    out: dict[str, bytes] = {}
    for lib in ("def", "latest"):
        for track in (False, True):
            kw = {"track_order": track}
            if lib == "latest":
                kw["libver"] = "latest"
            t = "t" if track else "u"
            for label, (nb, na, ss) in {"grow": (2, 3, 4), "dense": (6, 4, 3),
                                        "modonly": (9, 0, 4)}.items():
                out[f"ctl-ph5-modify-{label}-{t}-{lib}.h5"] = sessions(
                    _modify_steps(nb, na, ss), **kw)
    return out


def occurrences(data: bytes, pat: bytes) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(pat), data)]
