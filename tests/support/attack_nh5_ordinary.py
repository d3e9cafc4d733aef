"""Ordinary multi-session h5py workflows for attack nh5 (session 38): files reopened with
'a' over sessions, datasets and attributes added, rewritten (same and other sizes,
attrs.modify), big attributes (64 KiB and more: dense storage's huge objects), chunked
tables appended, flushes inside a session; default libver and 'latest', tracked or not.
All real h5py 3.16 / HDF5 2.0 output, no byte edited."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

from tests.support.attack_nh5_tools import Step, sessions


def _kw(libver: str | None, track: bool) -> dict:
    kw: dict = {"libver": libver} if libver else {}
    if track:
        kw["track_order"] = True
    return kw


def _multi(count: int, body: Callable[[h5py.File, int], None], lib, track) -> bytes:
    def step(s: int) -> Step:
        return lambda f: body(f, s)
    return sessions([step(s) for s in range(count)], **_kw(lib, track))


def ds_per_session(f: h5py.File, s: int) -> None:
    """A dataset and a float attribute on the root each session."""
    f.create_dataset(f"run{s:02d}", data=np.arange(50.0) * s)
    f.attrs[f"t{s}"] = 1.5 * s


def rewrite_same(f: h5py.File, s: int) -> None:
    """The same attributes rewritten each session with new values of the same shape."""
    f.attrs["version"] = np.float64(s)
    f.attrs["counts"] = np.arange(6, dtype=np.int32) + s
    if s == 0:
        f.create_dataset("d", data=np.zeros(10))


def rewrite_grow(f: h5py.File, s: int) -> None:
    """An attribute rewritten longer each session (a running list)."""
    f.attrs["history"] = np.arange(3 + 5 * s, dtype=np.float64)
    f.attrs[f"s{s}"] = s


def rewrite_shrink(f: h5py.File, s: int) -> None:
    """An attribute rewritten shorter each session (a list of pending runs)."""
    f.attrs["pending"] = np.arange(10 - 3 * s, dtype=np.int64)


def modify(f: h5py.File, s: int) -> None:
    """attrs.modify: in place where shape and type match."""
    if s == 0:
        for i in range(10):
            f.attrs[f"a{i}"] = np.float64(i)
    f.attrs.modify(f"a{s % 10}", np.float64(100 + s))


def big_attrs(f: h5py.File, s: int) -> None:
    """A 80 KB float attribute a session on a group (dense storage's huge objects under
    'latest'/tracked), and a small one."""
    g = f.require_group("calib")
    g.attrs[f"map{s}"] = np.sin(np.arange(10000) * 0.001 * (s + 1))
    g.attrs[f"gain{s}"] = np.float32(1.0 + s / 10)


def mixed_big(f: h5py.File, s: int) -> None:
    """Small attributes, then one of 70 KB every third session."""
    for i in range(3):
        f.attrs[f"m{s}_{i}"] = np.int64(s * 10 + i)
    if s % 3 == 2:
        f.attrs[f"big{s}"] = np.ones(9000) * s


def mixed_rand(f: h5py.File, s: int) -> None:
    """Three int64 scalars a session, and a 72 KB calibration map of random values every
    third session (too large for a header message: a huge object of dense storage)."""
    for i in range(3):
        f.attrs[f"m{s}_{i}"] = np.int64(s * 10 + i)
    if s % 3 == 2:
        f.attrs[f"map{s}"] = np.random.default_rng(s).normal(size=9000)


def table(f: h5py.File, s: int) -> None:
    """A chunked table appended each session, plus an attribute on it."""
    if s == 0:
        f.create_dataset("tab", shape=(0, 3), maxshape=(None, 3), chunks=(64, 3), dtype="f8")
    t = f["tab"]
    n = t.shape[0]
    t.resize(n + 40, axis=0)
    t[n:] = np.arange(120.0).reshape(40, 3) + s
    t.attrs[f"appended{s}"] = n + 40


def flushes(f: h5py.File, s: int) -> None:
    """Several datasets in a session, a flush after each."""
    g = f.require_group(f"sess{s}")
    for i in range(4):
        g.create_dataset(f"x{i}", data=np.arange(20 + i, dtype=np.int16))
        g.attrs[f"n{i}"] = i
        f.flush()


def strings(f: h5py.File, s: int) -> None:
    """Variable-length string attributes added each session to a dataset."""
    if s == 0:
        f.create_dataset("events", data=np.arange(100, dtype=np.int32))
    f["events"].attrs[f"note{s}"] = f"session {s} calibrated by run {1000 + s}"


def nested(f: h5py.File, s: int) -> None:
    """A new subgroup a session with a few datasets and a soft link to it."""
    g = f.create_group(f"a/b{s}")
    for i in range(3):
        g.create_dataset(f"v{i}", data=np.full(8, s + i, dtype=np.float32))
    f[f"latest{s}"] = h5py.SoftLink(f"/a/b{s}")


def attrs_many(f: h5py.File, s: int) -> None:
    """Five float attributes a session on one dataset."""
    if s == 0:
        f.create_dataset("data", data=np.arange(300.0))
    for i in range(5):
        f["data"].attrs[f"c{s}_{i}"] = np.cos(np.arange(i + 2) + s)


WORKFLOWS = {
    "ds": (ds_per_session, 6), "rewsame": (rewrite_same, 4), "rewgrow": (rewrite_grow, 5),
    "rewshrink": (rewrite_shrink, 3),
    "modify": (modify, 5), "bigattrs": (big_attrs, 4), "mixedbig": (mixed_big, 9),
    "mixedrand": (mixed_rand, 9),
    "table": (table, 5), "flush": (flushes, 3), "strings": (strings, 6),
    "nested": (nested, 4), "attrs5": (attrs_many, 5),
}


def controls() -> dict[str, bytes]:
    out = {}
    for key, (body, count) in WORKFLOWS.items():
        for lib in (None, "latest"):
            for track in (False, True):
                tag = f"{'t' if track else 'u'}-{lib or 'def'}"
                try:
                    out[f"ctl-nh5-{key}{count}-{tag}.h5"] = _multi(count, body, lib, track)
                except OSError:  # 64 KiB attributes need dense storage (latest, tracked)
                    continue
    return out


def refit(lib: str | None, track: bool, n: int, count: int, big: bool) -> bytes:
    """attack l h5's dense refit, varied: /spec given (a 72 KB 'response' attribute,)
    a units string and a gain; then in each of count sessions n small float attributes
    x0.. set again with new values (the job re-runs its fit: h5py deletes and recreates
    each; dense storage's heap reverts to its first block)."""
    def first(f: h5py.File) -> None:
        d = f.create_dataset("spec", data=np.arange(100.0), track_order=track or None)
        if big:
            d.attrs["response"] = np.sqrt(np.arange(9000.0))
        d.attrs["units"] = "counts"
        d.attrs["gain"] = 1.0

    def fit(s: int) -> Step:
        def run(f: h5py.File) -> None:
            for i in range(n):
                f["spec"].attrs[f"x{i}"] = np.arange(3.0) * i + s
        return run
    return sessions([first] + [fit(s) for s in range(count)], **_kw(lib, track))


REFITS = {f"ctl-nh5-refit-{n}x{c}{'-big' if big else ''}-{tag}.h5": (lib, track, n, c, big)
          for lib, tag in ((None, "u-def"), ("latest", "u-latest"))
          for n, c, big in ((12, 2, True), (12, 3, True), (20, 3, True), (12, 3, False),
                            (10, 4, False))
          for track in (False,) if lib or not big}
# Tracked refits are refused by a documented rule (creation orders 0..n-1).
REFITS_TRACKED = {"ctl-nh5-refit-12x3-t-latest.h5": ("latest", True, 12, 3, False)}


def refits() -> dict[str, bytes]:
    return {name: refit(*args) for name, args in {**REFITS, **REFITS_TRACKED}.items()}


def _noop(f: h5py.File) -> None:
    """A session that opens the file with 'a' and changes nothing."""


def _read(f: h5py.File) -> None:
    for name in f["data"].attrs:
        f["data"].attrs[name]
    f["data"][()]


def _raw(f: h5py.File) -> None:
    f["data"][:10] = np.arange(10.0) * 7


def later_sessions() -> dict[str, bytes]:
    """attrs5 (/data given 5 float attributes a session, 5 sessions), then sessions that
    change no metadata: opened with 'a' and closed, reading everything, rewriting raw
    values; or an idle session between the 3rd and the 4th (libhdf5 closes the heap's
    free-space manager each time: are its lists written again?)."""
    steps: list[Step] = [lambda f, s=s: attrs_many(f, s) for s in range(5)]
    plans = {"noop": steps + [_noop], "read": steps + [_read], "raw": steps + [_raw],
             "noop2": steps + [_noop, _noop], "mid-noop": steps[:3] + [_noop] + steps[3:]}
    out = {}
    for lib in (None, "latest"):
        for track in (False, True):
            tag = f"{'t' if track else 'u'}-{lib or 'def'}"
            for key, plan in plans.items():
                out[f"ctl-nh5-attrs5-{key}-{tag}.h5"] = sessions(plan, **_kw(lib, track))
    return out


def grow(n0: int, step: int, per: int, count: int, lib: str | None, track: bool,
         on_ds: bool) -> bytes:
    """per float array attributes a session on a dataset /d (or a group /calib), the
    k-th of n0 + step * k doubles: a calibration refined each session, its arrays
    longer each time (dense storage's heap skips blocks too small for them)."""
    def run(s: int) -> Step:
        def body(f: h5py.File) -> None:
            if on_ds and "d" not in f:
                f.create_dataset("d", data=np.arange(10.0))
            obj = f["d"] if on_ds else f.require_group("calib")
            for i in range(per):
                k = s * per + i
                obj.attrs[f"pass{s}_{i}"] = np.cos(np.arange(n0 + step * k) * 0.1 + s)
        return body
    return sessions([run(s) for s in range(count)], **_kw(lib, track))


GROWS = {f"ctl-nh5-grow-{n0}-{st}-{per}x{c}-{'d' if ds else 'g'}-{'t' if t else 'u'}-latest.h5":
         (n0, st, per, c, "latest", t, ds)
         for n0, st, per, c in ((1, 25, 3, 6), (3, 7, 1, 10), (50, 60, 2, 6), (5, 120, 1, 6))
         for t in (False, True) for ds in (True, False)}


def grows() -> dict[str, bytes]:
    return {name: grow(*args) for name, args in GROWS.items()}
