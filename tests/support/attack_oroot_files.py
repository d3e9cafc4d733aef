"""Ordinary uproot 5.7 output for the independent attack o on ROOT (session 39): jobs of
one physicist's workflow run on hosts whose clocks differ (uproot dates keys and
directories with the host's local `datetime.now`, set here through its own modules'
clock as attack n's `files.clock` does: a host 5 h west, 9 h east, 12 h west (UTC-12)
and 14 h east (UTC+14) of the one that made the file, 30 s behind, a daylight-saving
fall-back hour), `uproot.recreate` then `uproot.update` jobs that write, extend and
delete histograms, TTrees, RNTuples and subdirectories, in every codec. Nothing is
edited after uproot wrote it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import uproot

from tests.support import attack_nroot_files as f

H = 3600.0
CODECS = f.CODECS
# Each workflow: its steps and the offsets (seconds) of each later job's host clock
# from the file's maker's T0 (not gaps: the hosts' clocks, each job a few minutes on).
WORKFLOWS: dict[str, tuple[list, list[float]]] = {
    # hists written on one host, deleted on one 5 h west, rewritten on one 9 h east
    "tz-hists": ([f.both(f.hist("a"), f.hist("b"), f.hist("c")),
                  f.both(f.delete("b"), f.hist("d", 30)), f.hist("b", 7),
                  f.delete("a")], [-5 * H + 60, 9 * H + 120, -30.0 + 180]),
    # a tree extended on hosts west and east, a histogram beside it deleted
    "tz-tree-extend": ([f.tree("t"), f.extend("t", 150, 2),
                        f.both(f.extend("t", 120, 3), f.hist("h")), f.delete("h")],
                       [-8 * H + 60, 5.5 * H + 120, -H + 180]),
    # an RNTuple and a subdirectory's histogram; the histogram deleted at UTC+14,
    # another written in a nested subdirectory; the RNTuple deleted at UTC-12 and
    # written again
    "tz-nt-subdir": ([f.both(f.nt("events"), f.hist("run1/h")),
                      f.both(f.delete("run1/h"), f.hist("run1/sub/g", 12)),
                      f.delete("events"), f.nt("events", 200, 3)],
                     [14 * H + 60, -12 * H + 120, 180.0]),
    # a tree deleted, made again on another host and extended on a third
    "tz-tree-again": ([f.both(f.tree("t"), f.hist("h")), f.delete("t"),
                       f.tree("t", 300, 4), f.extend("t", 100, 5)],
                      [-6 * H + 60, 3 * H + 120, -2 * H + 180]),
    # a daylight-saving fall-back: the second job's clock reads an hour earlier
    "dst-fallback": ([f.both(f.hist("a"), f.text("cfg", "x=1")),
                      f.both(f.delete("cfg"), f.text("cfg", "x=2"), f.hist("b")),
                      f.delete("a")], [-H + 600, -H + 660]),
    # jagged RNTuple extended, strings and a 2D histogram deleted, on three hosts
    "tz-jagged-mixed": ([f.both(f.jagged("run1/j", 1), f.hist2d("m"), f.text("s", "abc")),
                         f.jagged("run1/j", 2, more=True), f.delete("m", "s"),
                         f.hist3d("m3")], [7 * H + 60, -4 * H + 120, 60.0 * 5]),
    # a tree moved by 11 extends on a host 30 s behind; its neighbour deleted later
    "skew-tree-moved": ([f.both(f.hist("a"), f.hist("b")), f.tree_moved("t", 3),
                         f.delete("a"), f.extend("t", 80, 9)],
                        [-30.0 + 60, 2 * H, -3 * H]),
    # a subdirectory's objects all deleted on one host, written again on another
    "tz-subdir-empty-again": ([f.both(f.hist("d/a"), f.hist("d/b"), f.hist("top")),
                               f.delete("d/a", "d/b"), f.both(f.hist("d/a", 40), f.tree("d/t"))],
                              [-10 * H + 60, 11 * H + 120]),
}


def jobs(path: Path, codec, steps: list, offsets: list[float]) -> bytes:
    """steps[0] in uproot.recreate at f.T0, each later step in its own uproot.update job
    on a host whose clock reads T0 + offsets[i]."""
    with f.clock(f.T0), uproot.recreate(path, compression=codec) as out:
        steps[0](out)
    for step, off in zip(steps[1:], offsets, strict=True):
        with f.clock(f.T0 + _dt.timedelta(seconds=off)), uproot.update(path) as out:
            step(out)
    return path.read_bytes()


def _all() -> dict[str, tuple[list, list[float], object]]:
    return {f"ctl-o-{w}-{c}.root": (steps, offs, codec)
            for w, (steps, offs) in WORKFLOWS.items() for c, codec in CODECS.items()}


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {name: jobs(made / name, codec, steps, offs)
            for name, (steps, offs, codec) in _all().items()}


CONTROL_NAMES = sorted(_all())
