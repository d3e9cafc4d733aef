"""Hostile files and ordinary workflows for the independent attack p on ROOT (session 39):
the file's dates must agree (`root_dates`), made from real uproot 5.7 output (attack n's
clocked jobs, tests/support/attack_nroot_files.py) with chosen bytes in its dates and UUIDs.

- consistent forgery: every datime of a one-job file (keys, list copies, fDatimeC,
  fDatimeM) replaced by one chosen 4 bytes ('K3Y!', 2013-12-25 21:36:33);
- the tolerances at and past their edges: fDatimeC 2 s / 3 s off the TFile key; the
  FreeSegments key 59 s / 61 s after the top list's; the top list's key 3 s after the
  making (uproot-made); the top directory's UUID time 9 s / 11 s after the file's, its
  node or clock sequence changed;
- the writer bit turned: the top directory's UUID set to the file's (so "ROOT made it"),
  then the top list's key anywhere from the making to a chosen fDatimeM (2058), the
  FreeSegments key beside it: the list key's 31 bits are no documented price;
- ordinary workflows: jobs days apart (a histogram written on day 3 and deleted on day 5,
  nothing else written since), one long job whose clock turns minutes while it writes, a
  ROOT-made file (uproot 2.9.0's test data, ROOT 5/6) updated by uproot 5.7 on a host
  today and days later.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import struct
import types
from pathlib import Path

import uproot

from tests.support import attack_nroot_files as files
from tests.support import attack_nroot_forge as nforge
from tests.support import attack_nroot_rio as rio

DAY = 86400.0
CORPUS = Path.home() / ".cache" / "vmguard-tests" / "root-cxx" / "uproot-2.9.0"
K3Y = b"K3Y!"  # 2013-12-25 21:36:33 as a TDatime


def _stamp(t: _dt.datetime) -> bytes:
    return struct.pack(">I", rio.datime(t.year, t.month, t.day, t.hour, t.minute, t.second))


def _add(stamp: bytes, sec: int) -> bytes:
    v = struct.unpack(">I", stamp)[0]
    t = _dt.datetime(1995 + (v >> 26), v >> 22 & 15, v >> 17 & 31, v >> 12 & 31,
                     v >> 6 & 63, v & 63) + _dt.timedelta(seconds=sec)
    return _stamp(t)


def _dir(d: bytes) -> int:
    """The top directory's fields (after its key, TNamed and version): fDatimeC here."""
    return 100 + struct.unpack(">i", d[28:32])[0] + 2


def _places(d: bytes) -> dict[str, int]:
    t = _dir(d)
    assert struct.unpack(">h", d[t - 2:t])[0] < 1000  # small seeks
    seek_keys = struct.unpack(">i", d[t + 24:t + 28])[0]
    seek_free = struct.unpack(">i", d[16:20])[0]
    return {"tfile_key": 110, "ctime": t, "mtime": t + 4, "dir_uuid": t + 30,
            "file_uuid": 47, "list_key": seek_keys + 10, "free_key": seek_free + 10}


def _uuid_time(u: bytes) -> int:
    lo, mid, hi = struct.unpack(">IHH", u[:8])
    return (hi & 0x0FFF) << 48 | mid << 32 | lo


def _with_uuid_time(u: bytes, t: int) -> bytes:
    hi = struct.unpack(">H", u[6:8])[0] & 0xF000 | t >> 48 & 0x0FFF
    return struct.pack(">IHH", t & 0xFFFFFFFF, t >> 32 & 0xFFFF, hi) + u[8:]


HIDE = b"EXFIL:s3cr3t-k3y"  # 16 chosen bytes
ONE_JOB = [files.both(*[files.hist(f"h{i}") for i in range(4)], files.text("cfg", "x=1"))]


def dates(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "onejob.root", None, ONE_JOB)
    p = _places(d)
    t0 = d[p["ctime"]:p["ctime"] + 4]
    assert d[p["tfile_key"]:p["tfile_key"] + 4] == t0 == d[p["list_key"]:p["list_key"] + 4]
    out: dict[str, bytes] = {}
    n = d.count(t0)
    assert n >= 8, n
    out["all-dates-k3y"] = d.replace(t0, K3Y)
    out["ctime-2s"] = rio.put(d, p["ctime"], _add(t0, 2))
    out["ctime-3s"] = rio.put(d, p["ctime"], _add(t0, 3))
    f0 = d[p["free_key"]:p["free_key"] + 4]
    out["free-key-59s"] = rio.put(d, p["free_key"], _add(f0, 59))
    out["free-key-61s"] = rio.put(d, p["free_key"], _add(f0, 61))
    out["free-key-before-59s"] = rio.put(d, p["free_key"], _add(f0, -59))
    out["list-key-3s"] = rio.put(d, p["list_key"], _add(t0, 3))
    u = d[p["dir_uuid"]:p["dir_uuid"] + 16]
    fu = d[p["file_uuid"]:p["file_uuid"] + 16]
    assert u != fu and u[8:] == fu[8:], (u.hex(), fu.hex())
    ft = _uuid_time(fu)
    out["uuid-9s"] = rio.put(d, p["dir_uuid"], _with_uuid_time(u, ft + 90_000_000))
    out["uuid-11s"] = rio.put(d, p["dir_uuid"], _with_uuid_time(u, ft + 110_000_000))
    out["uuid-before-9s"] = rio.put(d, p["dir_uuid"], _with_uuid_time(u, ft - 90_000_000))
    out["uuid-node"] = rio.put(d, p["dir_uuid"] + 15, bytes([u[15] ^ 0x5A]))
    out["uuid-clockseq"] = rio.put(d, p["dir_uuid"] + 9, bytes([u[9] ^ 0x5A]))
    # the writer bit: the top directory's UUID the file's says ROOT made the file
    rooted = rio.put(d, p["dir_uuid"], fu)
    out["rootmade"] = rooted
    late = _stamp(_dt.datetime(2058, 12, 31, 23, 59, 59))
    spread = rio.put(rooted, p["mtime"], late)
    chosen = _stamp(_dt.datetime(2041, 3, 14, 15, 9, 26))  # any second of 1995-2058
    spread = rio.put(spread, p["list_key"], chosen)
    spread = rio.put(spread, p["free_key"], _add(chosen, 30))
    out["rootmade-spread"] = spread
    out["rootmade-mtime-2058"] = rio.put(rooted, p["mtime"], late)
    # uproot-made, the list key and FreeSegments' at a chosen fDatimeM ("or of the last write")
    at_m = rio.put(d, p["mtime"], chosen)
    out["list-key-at-mtime"] = rio.put(rio.put(at_m, p["list_key"], chosen), p["free_key"],
                                       _add(chosen, 30))
    # the UUIDs' other bits: version nibble 3, variant 110, TUUID class versions, the
    # 12 zero bytes after the directory's UUID, the header's zeros before fBEGIN
    out["uuid-version3"] = rio.put(d, p["dir_uuid"] + 6, bytes([u[6] & 0x0F | 0x30]))
    out["uuid-variant"] = rio.put(d, p["dir_uuid"] + 8, bytes([u[8] & 0x1F | 0xC0]))
    out["uuid-classver-dir"] = rio.put(d, p["dir_uuid"] - 2, b"K3")
    out["uuid-classver-file"] = rio.put(d, 45, b"K3")
    out["dir-pad-text"] = rio.put(d, p["dir_uuid"] + 16, HIDE[:12])
    out["header-pad-text"] = rio.put(d, 80, HIDE)
    # the file's UUID time chosen (6 bytes), the directory's 1 s after it
    fu2 = b"K3Y!s3" + fu[6:]
    out["file-uuid-chosen"] = rio.put(rio.put(d, 47, fu2), p["dir_uuid"],
                                      _with_uuid_time(u, _uuid_time(fu2) + 10_000_000))
    return {"ctl-p-base-onejob.root": d}, {f"root-p-{k}.root": v for k, v in out.items()}


# ---- more: slack behind the list, the clock window's edges, a deletion file --------------
TREE_JOB = [files.both(*[files.hist(f"h{i}") for i in range(2)], files.tree("t"))]
DATED = [files.both(*[files.hist(f"h{i}") for i in range(4)], files.hist("run1/g")),
         files.delete("h2")]


def _list_keys(d: bytes) -> list[tuple[int, int]]:
    s, e, _ = nforge.top_keys(d)
    out, q = [], s
    while q < e:
        n = struct.unpack(">h", d[q + 14:q + 16])[0]
        out.append((q, n))
        q += n
    return out


def more(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    out: dict[str, bytes] = {}
    tr = files.jobs(made / "treejob.root", None, TREE_JOB)
    _, e, stop = nforge.top_keys(tr)
    assert tr[e:stop] == bytes(stop - e)
    q, n = _list_keys(tr)[1]
    key = tr[q:q + n]
    # one run (a whole key of the list), then tails of the key it ends on: "a tail of the
    # key the run ends on ... each of its bytes still paid for as a loose one"
    out["run-tails-8x3"] = rio.put(tr, e, key + key[-8:] * 3)
    out["run-tails-20x3"] = rio.put(tr, e, key + key[-20:] * 3)
    out["run-tails-8x5"] = rio.put(tr, e, key + key[-8:] * 5)
    one = files.jobs(made / "onejob2.root", None, ONE_JOB)
    p = _places(one)
    _, e1, _ = nforge.top_keys(one)
    rooted = rio.put(one, p["dir_uuid"], one[47:63])
    # the writer bit turned: does a "ROOT-made" file keep uproot's zeros behind its list?
    out["rootmade-slack-text"] = rio.put(rooted, e1 + 8, HIDE)
    d = files.jobs(made / "dated.root", None, DATED, [20.0])
    p = _places(d)
    t0 = d[p["ctime"]:p["ctime"] + 4]
    out["mtime-before-26h04"] = rio.put(d, p["mtime"], _add(t0, -(26 * 3600 + 240)))
    out["mtime-before-26h06"] = rio.put(d, p["mtime"], _add(t0, -(26 * 3600 + 360)))
    (live,) = [k for k in rio.own_keys(d, "TH1D", "h1") if rio.seek_key(d, k) == k.pos]
    (copy,) = [q for q, _ in _list_keys(d) if d[q + 18:q + 22] == d[live.pos + 18:live.pos + 22]]
    for tag, sec in (("26h04", 26 * 3600 + 240), ("26h06", 26 * 3600 + 360)):
        st = _add(t0, -sec)
        out[f"live-key-before-{tag}"] = rio.put(rio.put(d, live.pos + 10, st), copy + 10, st)
    # every date of the deletion file moved together to 'K3Y!' (its deletion 20 s on)
    t20 = _add(t0, 20)
    moved = d.replace(t0, K3Y)
    out["del-all-dates-k3y"] = moved.replace(t20, _add(K3Y, 20)) if t20 in d else moved
    bases = {"ctl-p-base-treejob.root": tr, "ctl-p-base-onejob2.root": one,
             "ctl-p-base-dated.root": d}
    return bases, {f"root-p-{k}.root": v for k, v in out.items()}


# ---- ordinary workflows ----------------------------------------------------------------
WORKFLOWS = {
    # written on day 3, deleted on day 5, nothing written since
    "days-write-then-del": ([files.both(files.hist("a"), files.hist("b")),
                             files.hist("c"), files.delete("c")], [3 * DAY, 2 * DAY]),
    # a week-long analysis: day 0 made, day 2 added, day 7 one replaced
    "days-replace": ([files.both(files.hist("a"), files.hist("b")), files.hist("c"),
                      files.both(files.delete("b"), files.hist("b", 30))], [2 * DAY, 5 * DAY]),
    # a tree deleted a day later, a histogram written 2 days later
    "days-tree-del": ([files.both(files.tree("t"), files.hist("h")), files.delete("t"),
                       files.hist("g")], [DAY, 2 * DAY]),
    # a subdirectory's histogram written on day 2 and deleted on day 4
    "days-subdir-del": ([files.hist("top"), files.hist("run1/h"), files.delete("run1/h")],
                        [2 * DAY, 2 * DAY]),
}


@contextlib.contextmanager
def movable(start: _dt.datetime):
    """uproot's modules see a host clock the caller moves on during one job (a long job:
    a big write, a slow disk, minutes between its objects)."""
    box = [start]

    class _Now(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ARG003
            return box[0]

    shim = types.SimpleNamespace(datetime=_Now, timezone=_dt.timezone,
                                 timedelta=_dt.timedelta)
    saved = [m.datetime for m in files._MODULES]
    try:
        for m in files._MODULES:
            m.datetime = shim
        yield box
    finally:
        for m, s in zip(files._MODULES, saved, strict=True):
            m.datetime = s


def _long_job(path: Path, step: float, with_tree: bool, codec=None) -> bytes:
    """One uproot.recreate job whose objects are written `step` seconds apart."""
    with movable(files.T0) as box, uproot.recreate(path, compression=codec) as f:
        for i in range(3):
            files.hist(f"h{i}")(f)
            box[0] += _dt.timedelta(seconds=step)
        if with_tree:
            files.tree("t")(f)
            box[0] += _dt.timedelta(seconds=step)
            files.extend("t", 100, 2)(f)
            box[0] += _dt.timedelta(seconds=step)
            files.delete("h1")(f)
            box[0] += _dt.timedelta(seconds=step)
    return path.read_bytes()


CORPUS_FILES = ["simple.root", "histograms.root", "nesteddirs.root"]


def _root_updated(made: Path, src: str, later: float) -> bytes:
    """A ROOT-made file updated by uproot 5.7 today (a histogram added) and `later`
    seconds on (it deleted)."""
    p = made / f"cxx-{src}"
    p.write_bytes((CORPUS / src).read_bytes())
    with files.clock(files.T0), uproot.update(p) as f:
        files.hist("added")(f)
    if later:
        with files.clock(files.T0 + _dt.timedelta(seconds=later)), uproot.update(p) as f:
            files.delete("added")(f)
    return p.read_bytes()


def cxx_spread() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """ROOT's own simple.root (published as is): fDatimeM set to 2058 and the top list's
    key to a chosen second between the making and it, the FreeSegments key 30 s on."""
    d = (CORPUS / "simple.root").read_bytes()
    p = _places(d)
    chosen = _stamp(_dt.datetime(2041, 3, 14, 15, 9, 26))
    late = _stamp(_dt.datetime(2058, 12, 31, 23, 59, 59))
    f = rio.put(rio.put(d, p["mtime"], late), p["list_key"], chosen)
    f = rio.put(f, p["free_key"], _add(chosen, 30))
    return {}, {"root-p-cxx-spread.root": f,
                "root-p-cxx-mtime-2058.root": rio.put(d, p["mtime"], late)}


def controls(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    out = {f"ctl-p-{w}.root": files.jobs(made / f"{w}.root", None, steps, gaps)
           for w, (steps, gaps) in WORKFLOWS.items()}
    for c in ("zlib", "lzma"):
        steps, gaps = WORKFLOWS["days-write-then-del"]
        out[f"ctl-p-days-write-then-del-{c}.root"] = files.jobs(
            made / f"wd-{c}.root", files.CODECS[c], steps, gaps)
    out["ctl-p-long-job-hists.root"] = _long_job(made / "long1.root", 600.0, False)
    out["ctl-p-long-job-tree-del.root"] = _long_job(made / "long2.root", 600.0, True)
    out["ctl-p-long-job-tree-del-3s.root"] = _long_job(made / "long3.root", 3.0, True)
    out["ctl-p-long-job-tree-del-zlib.root"] = _long_job(
        made / "long4.root", 600.0, True, files.CODECS["zlib"])
    steps, _ = WORKFLOWS["days-tree-del"]
    out["ctl-p-tree-del-1s.root"] = files.jobs(made / "td1.root", None, steps)
    if CORPUS.is_dir():
        out["ctl-p-cxx-simple.root"] = (CORPUS / "simple.root").read_bytes()
        for src in CORPUS_FILES:
            stem = src.removesuffix(".root")
            out[f"ctl-p-cxx-{stem}-added.root"] = _root_updated(made, src, 0)
            out[f"ctl-p-cxx-{stem}-days-del.root"] = _root_updated(made, src, 3 * DAY)
    return out


def hostile(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    made.mkdir(parents=True, exist_ok=True)
    bases, out = dates(made)
    b2, o2 = more(made)
    b3, o3 = cxx_spread() if CORPUS.is_dir() else ({}, {})
    return bases | b2 | b3, out | o2 | o3


NAMES = sorted([f"root-p-{k}.root" for k in (
    "all-dates-k3y", "ctime-2s", "ctime-3s", "free-key-59s", "free-key-61s",
    "free-key-before-59s", "list-key-3s", "uuid-9s", "uuid-11s", "uuid-before-9s",
    "uuid-node", "uuid-clockseq", "rootmade", "rootmade-spread", "rootmade-mtime-2058",
    "run-tails-8x3", "run-tails-20x3", "run-tails-8x5", "rootmade-slack-text",
    "mtime-before-26h04", "mtime-before-26h06", "live-key-before-26h04",
    "live-key-before-26h06", "del-all-dates-k3y", "list-key-at-mtime", "uuid-version3",
    "uuid-variant", "uuid-classver-dir", "uuid-classver-file", "dir-pad-text",
    "header-pad-text", "file-uuid-chosen")] + (
    ["root-p-cxx-mtime-2058.root", "root-p-cxx-spread.root"] if CORPUS.is_dir() else []))
BASE_NAMES = ["ctl-p-base-onejob.root", "ctl-p-base-treejob.root", "ctl-p-base-onejob2.root",
              "ctl-p-base-dated.root"]
BASE_OF = dict.fromkeys(NAMES, "ctl-p-base-onejob.root") | {
    n: "ctl-p-base-treejob.root" for n in NAMES if "tails" in n} | {
    "root-p-rootmade-slack-text.root": "ctl-p-base-onejob2.root"} | {
    n: "ctl-p-base-dated.root" for n in NAMES if "before-26" in n or "del-all" in n} | {
    n: "ctl-p-cxx-simple.root" for n in NAMES if "-cxx-" in n}
CONTROL_NAMES = sorted(
    [f"ctl-p-{w}.root" for w in WORKFLOWS]
    + [f"ctl-p-days-write-then-del-{c}.root" for c in ("zlib", "lzma")]
    + [f"ctl-p-long-job-{k}.root" for k in ("hists", "tree-del", "tree-del-3s",
                                            "tree-del-zlib")]
    + ["ctl-p-tree-del-1s.root"]
    + (["ctl-p-cxx-simple.root"]
       + [f"ctl-p-cxx-{s.removesuffix('.root')}-{k}.root" for s in CORPUS_FILES
          for k in ("added", "days-del")] if CORPUS.is_dir() else []))
