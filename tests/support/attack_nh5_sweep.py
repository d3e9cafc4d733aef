"""Random multi-session h5py workflows (attack nh5, session 38): a job reopens the file
with 'a' 2 to 6 times and each session does 1 to 8 ordinary steps: a float or string
root attribute, a float array attribute of 1-199 doubles or an int32 on /g, a dataset of
1-499 doubles in /g, a group with an attribute, a soft link, 50 rows appended to a
chunked table, attrs.modify of one root float (in place), a flush; default libver or
'latest', track_order or not (seeded: the same files each run). No attribute is
deleted or rewritten other than by attrs.modify in place, no link deleted."""

from __future__ import annotations

import random

import h5py
import numpy as np

from tests.support.attack_nh5_tools import sessions

OPS = ("attr_small", "attr_arr", "attr_str", "ds", "grp", "table", "modify", "flush",
       "attr_grp", "link")


def _table(f: h5py.File, rng: np.random.Generator) -> None:
    if "tab" not in f:
        f.create_dataset("tab", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
    d = f["tab"]
    n = d.shape[0]
    d.resize((n + 50,))
    d[n:] = rng.normal(size=50)


def _modify(f: h5py.File, s: int) -> None:
    if "fixed" in f.attrs:
        f.attrs.modify("fixed", float(s))
    else:
        f.attrs["fixed"] = float(s)


def op(f: h5py.File, name: str, rng: np.random.Generator, s: int, k: int) -> None:
    """One step of session s (k-th of it)."""
    if name == "attr_small":
        f.attrs[f"a{s}_{k}"] = float(rng.normal())
    elif name == "attr_arr":
        f.require_group("g").attrs[f"arr{s}_{k}"] = rng.normal(size=int(rng.integers(1, 200)))
    elif name == "attr_str":
        f.attrs[f"note{s}_{k}"] = f"session {s} step {k} " + "x" * int(rng.integers(0, 40))
    elif name == "ds":
        size = int(rng.integers(1, 500))
        f.require_group("g").create_dataset(f"d{s}_{k}", data=rng.normal(size=size))
    elif name == "grp":
        f.create_group(f"h{s}_{k}").attrs["made"] = s
    elif name == "table":
        _table(f, rng)
    elif name == "modify":
        _modify(f, s)
    elif name == "flush":
        f.flush()
    elif name == "attr_grp":
        f.require_group("g").attrs[f"p{s}_{k}"] = np.int32(k)
    elif name == "link":
        f[f"ln{s}_{k}"] = h5py.SoftLink("/g")


def plan(seed: int) -> tuple[str | None, bool, list[list[str]]]:
    r = random.Random(seed)  # noqa: S311 - a reproducible workflow, not a secret
    lib = r.choice([None, "latest"])
    track = r.random() < 0.4
    steps = [[r.choice(OPS) for _ in range(r.randint(1, 8))] for _ in range(r.randint(2, 6))]
    return lib, track, steps


def workflow(seed: int) -> bytes:
    return replay(seed, *plan(seed))


def replay(seed: int, lib: str | None, track: bool, steps: list[list[str]]) -> bytes:
    """The file of a plan (the values drawn from the seed's generator in order)."""
    rng = np.random.default_rng(seed)

    def session(s: int):
        def run(f: h5py.File) -> None:
            for k, name in enumerate(steps[s]):
                op(f, name, rng, s, k)
        return run
    kw: dict = {"libver": lib} if lib else {}
    if track:
        kw["track_order"] = True
    return sessions([session(s) for s in range(len(steps))], **kw)


SEEDS = tuple(range(0, 120, 6)) + (2, 5, 9, 47, 52, 57, 64, 76, 80, 106, 112, 123, 134, 149,
                                    205, 288)

# Refused sweep files cut down step by step while the refusal stayed the same (the
# values still drawn from the seed's generator in order).
MINIMAL = {
    # root attributes only: >8 (dense), one set again with attrs.modify in place
    "ctl-nh5-min9-modify-dense.h5": (9, "latest", False, [
        ["attr_str", "attr_small"], ["attr_small", "modify", "attr_str"],
        ["modify", "attr_str", "attr_str", "attr_small", "attr_str"]]),
    # /g: a dataset and an int32 attribute, then a float array attribute, a group and
    # another int32 attribute in a second session
    "ctl-nh5-min0-g-attrs.h5": (0, "latest", False, [
        [], ["ds", "attr_grp"], ["attr_arr", "grp", "attr_grp"]]),
    # session 1: an int32 on /g, a root string, a dataset in /g, a root string; session
    # 2: a chunked table of 50 rows and a root float
    "ctl-nh5-min205-strings-table.h5": (205, "latest", False, [
        ["attr_grp", "attr_str", "ds", "attr_str"], ["table", "attr_small"]]),
}


def controls() -> dict[str, bytes]:
    out = {f"ctl-nh5-sweep{seed}.h5": workflow(seed) for seed in sorted(set(SEEDS))}
    return out | {name: replay(*args) for name, args in MINIMAL.items()}
