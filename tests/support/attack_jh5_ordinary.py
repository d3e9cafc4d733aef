"""Ordinary h5py output over sessions for attack j (session 35): groups given links and
attributes a few at a time in 3 to 20 sessions (tracked or not, short or long names,
both libvers), a physicist's runs (a group a session, two datasets, attributes on the
group and one new root attribute a session), and deletions and renames (documented as
refused, naming h5repack)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import h5py
import numpy as np

from tests.support.attack_fbinary_hdf5 import sessions


@dataclass(frozen=True)
class Shape:
    """/g given `links` groups and `attrs` attributes in each of `count` sessions."""

    count: int
    links: int
    attrs: int
    track: bool
    libver: str | None
    long: bool

    @property
    def name(self) -> str:
        lib = self.libver or "def"
        return (f"ctl-j-s{self.count}-l{self.links}-a{self.attrs}-{'t' if self.track else 'u'}"
                f"-{lib}-{'long' if self.long else 'short'}.h5")

    def step(self, s: int) -> Callable[[h5py.File], None]:
        pad = "x" * 20 if self.long else ""

        def run(f: h5py.File) -> None:
            g = f["g"] if "g" in f else f.create_group("g", track_order=self.track or None)
            for i in range(self.links):
                g.create_group(f"link_{s}_{i}_{pad}")
            for i in range(self.attrs):
                name = f"attr_{s}_{i}" + "y" * len(pad)
                g.attrs[name] = f"value {s} {i} " * 5 if self.long else np.arange(i + 3)
        return run

    def bytes(self) -> bytes:
        kw = {"libver": self.libver} if self.libver else {}
        return sessions([self.step(s) for s in range(self.count)], **kw)


def _runs(count: int, libver: str | None, track: bool) -> bytes:
    def step(s: int) -> Callable[[h5py.File], None]:
        def run(f: h5py.File) -> None:
            g = f.create_group(f"run_{s:03d}", track_order=track or None)
            g.create_dataset("energy", data=np.linspace(0, 1, 50) * s)
            g.create_dataset("counts", data=np.arange(20) + s)
            g.attrs["temperature"] = 4.2 + s
            g.attrs["operator"] = "alice"
            f.attrs[f"last_run_{s}"] = s
        return run
    kw: dict = {"libver": libver} if libver else {}
    path_kw = {**kw, "track_order": True} if track else kw
    return sessions([step(s) for s in range(count)], **path_kw)


REFUSED_SHAPES = (
    Shape(3, 5, 0, True, None, True), Shape(5, 3, 3, False, "latest", True),
    Shape(3, 7, 4, False, "latest", False), Shape(3, 7, 4, True, None, True),
    Shape(5, 2, 2, True, "latest", False), Shape(5, 2, 2, True, None, True),
)
PASSING_SHAPES = (
    Shape(4, 2, 2, True, "latest", False), Shape(5, 0, 5, True, None, False),
    Shape(10, 0, 5, True, "latest", True), Shape(10, 5, 0, False, "latest", True),
)
RUNS = {f"ctl-j-runs-{n}-{lv or 'def'}-{'t' if t else 'u'}.h5": (n, lv, t)
        for n, lv, t in ((10, None, True), (8, "latest", True), (20, None, False),
                         (20, "latest", False))}


def detectors(groups: int, count: int, libver: str | None, links: int = 5,
              attrs: int = 5) -> bytes:
    """groups /detJ (track_order) each given `links` small datasets and `attrs` float
    attributes a session: several dense groups written side by side."""
    def step(s: int) -> Callable[[h5py.File], None]:
        def run(f: h5py.File) -> None:
            for j in range(groups):
                name = f"det{j}"
                g = f[name] if name in f else f.create_group(name, track_order=True)
                for i in range(links):
                    g.create_dataset(f"ch_{s}_{i}", data=np.arange(8) + i)
                for i in range(attrs):
                    g.attrs[f"gain_{s}_{i}"] = 1.0 + i
        return run
    return sessions([step(s) for s in range(count)], **({"libver": libver} if libver else {}))


DETECTORS = {"ctl-j-det-2g-2s-latest.h5": (2, 2, "latest"),
             "ctl-j-det-3g-2s-def.h5": (3, 2, None),
             "ctl-j-det-8g-2s-latest-attrs.h5": (8, 2, "latest", 0, 5),
             "ctl-j-det-8g-2s-latest-links.h5": (8, 2, "latest", 5, 0),
             "ctl-j-det-1g-2s-latest.h5": (1, 2, "latest")}
# vetted alone (its walk outlasts the worker's 10 s of CPU: whatever shares its worker
# over 64 KiB is refused with it, as documented)
SLOW = {"ctl-j-det-6g-2s-latest-slow.h5": (6, 2, "latest")}


def controls() -> dict[str, bytes]:
    out = {s.name: s.bytes() for s in REFUSED_SHAPES + PASSING_SHAPES}
    out.update({name: _runs(*args) for name, args in RUNS.items()})
    out.update({name: detectors(*args) for name, args in DETECTORS.items()})
    return out


def slow() -> dict[str, bytes]:
    return {name: detectors(*args) for name, args in SLOW.items()}


CONTROL_NAMES = sorted([s.name for s in REFUSED_SHAPES + PASSING_SHAPES] + list(RUNS)
                       + list(DETECTORS))


# ---------------------------------------------------------------- documented refusals


def _twelve(f: h5py.File) -> None:
    g = f.create_group("g")
    for i in range(12):
        g.create_group(f"l{i}")
        g.attrs[f"a{i}"] = i


def _deleted(f: h5py.File) -> None:
    del f["g"]["l3"]


def _renamed(f: h5py.File) -> None:
    f["g"].move("l3", "m3")


def _attr_deleted(f: h5py.File) -> None:
    del f["g"].attrs["a3"]


def documented() -> dict[str, bytes]:
    """docs: a link deleted, moved or renamed, an attribute deleted: refused, h5repack."""
    return {f"doc-j-{name}.h5": sessions([_twelve, step], libver="latest")
            for name, step in (("deleted", _deleted), ("renamed", _renamed),
                               ("attr-deleted", _attr_deleted))}


DOCUMENTED_NAMES = sorted(f"doc-j-{n}.h5" for n in ("deleted", "renamed", "attr-deleted"))
