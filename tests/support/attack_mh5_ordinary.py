"""Ordinary multi-session h5py workflows for attack m h5 (session 37): attributes that
grow over sessions (one or a few a session, on a dataset, a group and the root), links
and attributes added together, under the default libver and 'latest', tracked or not.
A physicist's run log writes these; docs/quarantine.md (heldblocks.py, skipped.py) says
the blocks and section lists such files leave are recomputed and admitted."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions

Step = Callable[[h5py.File], None]


def _kw(libver: str | None, track: bool) -> dict:
    kw: dict = {"libver": libver} if libver else {}
    if track:
        kw["track_order"] = True
    return kw


def run_log(count: int, per: int, libver: str | None, track: bool) -> bytes:
    """A dataset written once, then per scalar/short attributes of the run added to it
    each session (start time string, a float, a small int array)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            if s == 0:
                f.create_dataset("data", data=np.arange(200.0), track_order=track or None)
            d = f["data"]
            for i in range(per):
                if i % 3 == 0:
                    d.attrs[f"start_{s}_{i}"] = f"2026-12-05T13:{s:02d}:{i:02d}"
                elif i % 3 == 1:
                    d.attrs[f"temp_{s}_{i}"] = 21.5 + 0.1 * s
                else:
                    d.attrs[f"chan_{s}_{i}"] = np.arange(4, dtype=np.int32) + s
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver, track))


def growing(count: int, n0: int, grow: int, libver: str | None, track: bool) -> bytes:
    """A group given one float array attribute a session, each longer than the last."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = f.require_group("calib")
            g.attrs[f"pass{s}"] = np.cos(np.arange(n0 + grow * s) * 0.1 + s)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver, track))


def links_attrs(count: int, libver: str | None, track: bool) -> bytes:
    """Each session: a dataset in /runs and a summary attribute on /runs (links and
    attributes of one group growing together)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = f.require_group("runs")
            g.create_dataset(f"run{s:03d}", data=np.random.default_rng(s).normal(size=64))
            g.attrs[f"n_events_{s:03d}"] = np.int64(1000 + 17 * s)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver, track))


def root_attrs(count: int, per: int, libver: str | None, track: bool) -> bytes:
    """Root attributes only: per a session (a version string, a float)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            for i in range(per):
                f.attrs[f"meta_{s}_{i}"] = (f"v1.{s}.{i}" if i % 2 else np.float64(s + i / 10))
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver, track))


_SHAPES: dict[str, Callable[[], bytes]] = {}
for _lib in (None, "latest"):
    for _t in (False, True):
        _tag = f"{'t' if _t else 'u'}-{_lib or 'def'}"
        _SHAPES[f"ctl-m-runlog12x1-{_tag}.h5"] = (lambda t=_t, lib=_lib: run_log(12, 1, lib, t))
        _SHAPES[f"ctl-m-grow10-{_tag}.h5"] = (lambda t=_t, lib=_lib: growing(10, 3, 7, lib, t))
        _SHAPES[f"ctl-m-linksattrs10-{_tag}.h5"] = (lambda t=_t, lib=_lib: links_attrs(10, lib, t))


def controls() -> dict[str, bytes]:
    return {name: make() for name, make in _SHAPES.items()}
