"""Ordinary multi-session h5py workflows for attack l (session 37): what a physicist's
job does to a results file over 2-12 sessions (reopened with 'a'): attributes added,
rewritten (same shape, other shape, other type), modified in place, deleted; run
counters bumped; datasets appended to (resizable) and added; libver default and
'latest'; track_order. Each must be published byte-identical (or its refusal be one the
docs name)."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions

Step = Callable[[h5py.File], None]


def _kw(libver: str | None) -> dict:
    return {"libver": libver} if libver else {}


def counter(count: int, libver: str | None, track: bool = False) -> bytes:
    """A run file: /events appended to each session, its 'nevents' and 'last_run'
    attributes rewritten (scalar int, same type), a float 'lumi' summed."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            if "events" not in f:
                f.create_dataset("events", shape=(0,), maxshape=(None,), dtype="f8",
                                 chunks=(256,), track_order=track or None)
            d = f["events"]
            d.resize((d.shape[0] + 100,))
            d[-100:] = np.linspace(s, s + 1, 100)
            d.attrs["nevents"] = d.shape[0]
            d.attrs["last_run"] = 1000 + s
            d.attrs["lumi"] = 0.5 * (s + 1)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def rewrite_array(count: int, libver: str | None, grow: bool) -> bytes:
    """/calib's 'coeffs' float array rewritten each session (same shape, or one longer)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            d = f["calib"] if "calib" in f else f.create_dataset("calib", data=np.zeros(8))
            n = 6 + (s if grow else 0)
            d.attrs["coeffs"] = np.cos(np.arange(n) + s)
            d.attrs["version"] = s
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def modify(count: int, libver: str | None) -> bytes:
    """attrs.modify (in place, same type and shape) of a float and an int each session."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            if s == 0:
                f.attrs["temperature"] = 293.15
                f.attrs["status"] = np.int32(0)
                f.create_dataset("x", data=np.arange(50.0))
            f.attrs.modify("temperature", 293.15 + s * 0.1)
            f.attrs.modify("status", np.int32(s))
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def delete_attr(count: int, libver: str | None) -> bytes:
    """Each session deletes last session's 'tmp' float array attribute and writes a new
    one (a scratch value), beside a kept attribute."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            g = f.require_group("g")
            if "tmp" in g.attrs:
                del g.attrs["tmp"]
            g.attrs["tmp"] = np.full(5, float(s))
            g.attrs[f"keep{s}"] = s
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def datasets_attrs(count: int, libver: str | None, track: bool) -> bytes:
    """Each session: a new dataset with 3 attributes (float, int, string), and a float
    and a string attribute added to the root."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            d = f.create_dataset(f"run{s:03d}", data=np.arange(30.0) * s, track_order=track)
            d.attrs["energy"] = 13.6 * (s + 1)
            d.attrs["nhits"] = np.int64(17 * s)
            d.attrs["detector"] = f"module-{s}"
            f.attrs[f"t{s}"] = 0.25 * s
            f.attrs[f"note{s}"] = "ok"
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver), track_order=track or None)


def string_rewrite(count: int, libver: str | None) -> bytes:
    """A fixed-length bytes 'status' attribute (np.bytes_) rewritten each session."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            f.attrs["status"] = np.bytes_(f"step{s:02d}")
            if "d" not in f:
                f.create_dataset("d", data=np.ones(10))
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def controls() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for lv, tag in ((None, "def"), ("latest", "latest")):
        out[f"ctl-l-counter4-{tag}.h5"] = counter(4, lv)
        out[f"ctl-l-counter12-{tag}.h5"] = counter(12, lv)
        out[f"ctl-l-rewrite3-same-{tag}.h5"] = rewrite_array(3, lv, grow=False)
        out[f"ctl-l-rewrite5-grow-{tag}.h5"] = rewrite_array(5, lv, grow=True)
        out[f"ctl-l-modify6-{tag}.h5"] = modify(6, lv)
        out[f"ctl-l-delattr4-{tag}.h5"] = delete_attr(4, lv)
        out[f"ctl-l-runs6-{tag}.h5"] = datasets_attrs(6, lv, track=False)
        out[f"ctl-l-runs6-tracked-{tag}.h5"] = datasets_attrs(6, lv, track=True)
        out[f"ctl-l-status5-{tag}.h5"] = string_rewrite(5, lv)
    out["ctl-l-counter6-tracked-latest.h5"] = counter(6, "latest", track=True)
    out["ctl-l-tracked-runs3x3-latest.h5"] = runs_tracked(3, 3, "latest")
    out["ctl-l-tracked-runs12x1-def.h5"] = runs_tracked(12, 1, None)
    out["ctl-l-dense-refit-latest.h5"] = dense_rewrite("latest", False)
    return out


def displaced_then_modified(libver: str | None, n: int, added: int) -> bytes:
    """Session 1: /d given a float array attribute 'temp' of n doubles; session 2: 'added'
    more attributes (the header outgrows its block: libhdf5 displaces a message, a null
    after the continuation keeps its tail); session 3: attrs.modify('temp') in place."""
    def first(f: h5py.File) -> None:
        d = f.create_dataset("d", data=np.arange(10.0))
        d.attrs["temp"] = np.linspace(280, 290, n)

    def second(f: h5py.File) -> None:
        for i in range(added):
            f["d"].attrs[f"extra{i}"] = np.arange(12.0) * (i + 1)

    def third(f: h5py.File) -> None:
        f["d"].attrs.modify("temp", np.linspace(300, 310, n))
    return sessions([first, second, third], **_kw(libver))


def displaced_controls() -> dict[str, bytes]:
    out = {}
    for lv, tag in ((None, "def"), ("latest", "latest")):
        for n, added in ((4, 3), (12, 3), (30, 6)):
            out[f"ctl-l-displaced-modify-{n}-{added}-{tag}.h5"] = displaced_then_modified(
                lv, n, added)
    return out


def big_then_small(count: int, libver: str | None, track: bool) -> bytes:
    """Session 1: /spectrum given its 72 KB 'response' attribute (9000 doubles: dense
    attribute storage at once) and a units string; later sessions add 3 small float
    attributes and rewrite nothing."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            if s == 0:
                d = f.create_dataset("spectrum", data=np.arange(100.0), track_order=track)
                d.attrs["response"] = np.sqrt(np.arange(9000.0))
                d.attrs["units"] = "counts"
            for i in range(3):
                f["spectrum"].attrs[f"fit{s}_{i}"] = np.linspace(0, 1, 5) * (s + i)
        return run
    return sessions([step(s) for s in range(count)], **_kw(libver))


def big_controls() -> dict[str, bytes]:
    return {f"ctl-l-bigattr{c}-{tag}.h5": big_then_small(c, lv, t)
            for c in (1, 3) for lv, t, tag in (("latest", False, "latest"),
                                                (None, True, "def-tracked"),
                                                ("latest", True, "latest-tracked"))}


def runs_tracked(count: int, per: int, libver: str | None) -> bytes:
    """File and datasets tracking creation order; each session: per datasets of 20
    doubles with a float, a string and a float attribute, and a float and a string root
    attribute (add-only)."""
    def step(s: int) -> Step:
        def run(f: h5py.File) -> None:
            for j in range(per):
                d = f.create_dataset(f"r{s}_{j}", data=np.arange(20.0) * s + j, track_order=True)
                d.attrs["p0"] = 1.5 * s
                d.attrs["p1"] = f"det{j}"
                d.attrs["p2"] = 3.25 * j
            f.attrs[f"t{s}"] = 0.5 * s
            f.attrs[f"n{s}"] = f"run {s}"
        return run
    return sessions([step(s) for s in range(count)], track_order=True, **_kw(libver))


def dense_rewrite(libver: str | None, track: bool) -> bytes:
    """Session 1: /spec given a 72 KB 'response' attribute (dense storage at once), a
    units string and a float gain; sessions 2 and 3 each set 12 small float array
    attributes x0..x11 (the same values: the job re-runs its fit step)."""
    def first(f: h5py.File) -> None:
        d = f.create_dataset("spec", data=np.arange(100.0), track_order=track)
        d.attrs["response"] = np.sqrt(np.arange(9000.0))
        d.attrs["units"] = "counts"
        d.attrs["gain"] = 1.0

    def fit(f: h5py.File) -> None:
        for i in range(12):
            f["spec"].attrs[f"x{i}"] = np.arange(3.0) * i
    return sessions([first, fit, fit], **_kw(libver))
