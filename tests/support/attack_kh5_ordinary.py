"""Ordinary multi-session h5py workflows for attack k (session 36): attributes rewritten
each session (same and other sizes and types), links added over sessions, track_order,
libver='latest', float/int/string attributes of many sizes. A physicist writes these;
docs/quarantine.md says such nulls and freed blocks are what libhdf5 leaves."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions

Step = Callable[[h5py.File], None]


def _kw(libver: str | None) -> dict:
    return {"libver": libver} if libver else {}


def _group(f: h5py.File, track: bool) -> h5py.Group:
    return f["g"] if "g" in f else f.create_group("g", track_order=track or None)


def numbers(count: int, track: bool, libver: str | None) -> bytes:
    """Only numeric attributes, 5 new ones a session of 1 to 300 elements, no datasets."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = _group(f, track)
            for i, n in enumerate((1, 2, 9, 64, 300)):
                g.attrs[f"m{s}_{i}"] = np.linspace(s, s + 1, n)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def sizes(count: int, track: bool, libver: str | None) -> bytes:
    """Attributes of many types and sizes added a few a session, beside datasets."""
    kinds = (np.float64, np.int32, np.float32, np.int64, np.uint8)

    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = _group(f, track)
            for i, n in enumerate((1, 3, 17, 130)):
                dt = kinds[(s + i) % len(kinds)]
                g.attrs[f"p{s}_{i}"] = (np.arange(n) * 1.5 + s).astype(dt)
            g.attrs[f"note{s}"] = "x" * (5 + 40 * s)
            g.create_dataset(f"d{s}", data=np.arange(100.0) + s)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def links(count: int, per: int, track: bool, libver: str | None) -> bytes:
    """Links added over sessions: groups, datasets and soft links, one attribute each."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = _group(f, track)
            for i in range(per):
                d = g.create_dataset(f"scan_{s}_{i}", data=np.random.default_rng(s * 9 + i)
                                     .normal(size=50))
                d.attrs["exposure"] = 0.25 * (i + 1)
            g[f"latest_{s}"] = h5py.SoftLink(f"/g/scan_{s}_0")
            g.attrs[f"session_{s}"] = np.float64(s) / 7
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def datasets(count: int, per: int, libver: str | None) -> bytes:
    """Only datasets added to the root a few a session, each with two attributes."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            for i in range(per):
                d = f.create_dataset(f"e{s}_{i}", data=np.arange(30, dtype=np.int16) * s)
                d.attrs["units"] = "keV"
                d.attrs["gain"] = 1.0 + i
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def calib(count: int, n0: int, grow: int, libver: str | None) -> bytes:
    """One dataset written first, then a calibration attribute of n0 + grow x s doubles
    added to it in each session (a run's constants)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            if s == 0:
                f.create_dataset("data", data=np.arange(100.0))
            f["data"].attrs[f"cal{s}"] = np.linspace(0, 1, n0 + grow * s)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def big(count: int, n: int, track: bool, libver: str | None) -> bytes:
    """One array attribute of n doubles (4 or 12 KB, far under the 256 KiB bound in all)
    added to /g in each session."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            _group(f, track).attrs[f"big{s}"] = np.arange(n, dtype=np.float64) + s
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def mixed(count: int, track: bool, libver: str | None) -> bytes:
    """A subgroup, a float array and a short string attribute added to /g a session."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = _group(f, track)
            g.create_group(f"grp{s}")
            g.attrs[f"f{s}"] = np.random.default_rng(s).random(11 * (s + 1))
            g.attrs[f"t{s}"] = f"text {s}"
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def members(count: int, track: bool, libver: str | None, kind: str) -> bytes:
    """3 subgroups and 4 attributes (float arrays of 1-16 random doubles, or short
    strings) added to /g in each session."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = _group(f, track)
            for i in range(3):
                g.create_group(f"x_{s}_{i}")
            for i in range(4):
                g.attrs[f"a_{s}_{i}"] = (np.random.default_rng(s * 7 + i).random(1 + 5 * i)
                                         if kind == "flt" else f"s{s}" * (i + 1))
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


_SHAPES: dict[str, Callable[[], bytes]] = {}
for _lib in (None, "latest"):
    for _t in (False, True):
        _tag = f"{'t' if _t else 'u'}-{_lib or 'def'}"
        _SHAPES[f"ctl-k-numbers3-{_tag}.h5"] = (lambda t=_t, lib=_lib: numbers(3, t, lib))
        _SHAPES[f"ctl-k-sizes3-{_tag}.h5"] = (lambda t=_t, lib=_lib: sizes(3, t, lib))
        _SHAPES[f"ctl-k-links4-{_tag}.h5"] = (lambda t=_t, lib=_lib: links(4, 3, t, lib))
    _SHAPES[f"ctl-k-datasets5-{_lib or 'def'}.h5"] = (lambda lib=_lib: datasets(5, 3, lib))
    _SHAPES[f"ctl-k-links2x8-{_lib or 'def'}.h5"] = (lambda lib=_lib: links(2, 8, False, lib))

_SHAPES["ctl-k-calib9-50-latest.h5"] = lambda: calib(9, 50, 0, "latest")
_SHAPES["ctl-k-calib12-5x17-latest.h5"] = lambda: calib(12, 5, 17, "latest")
_SHAPES["ctl-k-calib9-50-def.h5"] = lambda: calib(9, 50, 0, None)
_SHAPES["ctl-k-big9-1500-u-latest.h5"] = lambda: big(9, 1500, False, "latest")
_SHAPES["ctl-k-big9-500-t-def.h5"] = lambda: big(9, 500, True, None)
_SHAPES["ctl-k-big9-1500-u-def.h5"] = lambda: big(9, 1500, False, None)
_SHAPES["ctl-k-mixed9-u-latest.h5"] = lambda: mixed(9, False, "latest")
_SHAPES["ctl-k-mixed9-u-def.h5"] = lambda: mixed(9, False, None)

_SHAPES["ctl-k-members4-u-latest-flt.h5"] = lambda: members(4, False, "latest", "flt")
_SHAPES["ctl-k-members4-t-def-str.h5"] = lambda: members(4, True, None, "str")
_SHAPES["ctl-k-members4-t-latest-str.h5"] = lambda: members(4, True, "latest", "str")

CONTROL_NAMES = sorted(_SHAPES)


def controls() -> dict[str, bytes]:
    return {name: make() for name, make in _SHAPES.items()}
