"""Hostile files for the independent attack o on ROOT (session 39), each made from real
uproot 5.7 output (tests/support/attack_nroot_files.py's clocked jobs) with chosen bytes:

- slack behind the top keys list at its first place ("zeros where the directory shows
  no deletion and the file no writer ... else key material only: at most one run of a
  live keys list and the file's loose bytes"): chosen text in the zeros of a one-job
  file; one run of the live list there (no deletion, no writer); in a file with a TTree
  (a writer) one run (the docs' limit), two runs in a chosen order, a whole key copy
  of a live key with a chosen datime;
- past the versions behind the top list of a file that deleted two histograms (no
  writer): one run of the live list (27 bytes), two, three of 25, a whole key copy, 16
  and 48 chosen bytes;
- behind a subdirectory's list: one, two, three runs of 30 bytes of its list, three
  runs of the StreamerInfo (the docs allow runs of other live metadata there);
- datimes ("every datime a calendar date-time"): dates no calendar has that lie, as
  packed numbers, between the file's making and its last write (November 31, 23:59:60,
  23:60:00), in a deleted record's key whole in free space, a live key (its list copy
  with it), the top directory's and a subdirectory's creation/modification times, the
  StreamerInfo key; 4 chosen bytes that decode as a date in a directory's time;
- the clock window (26 h 5 min): a deleted record dated 26 h 4 min before the file
  (the docs' limit) and 26 h 6 min before; dated 2020 (2035) once the top directory's
  fDatimeC (fDatimeM), which is not recomputed, says 2013 (2040);
- blocks: an empty zlib block before a small histogram's one, or its payload cut into
  blocks of 1000 bytes and the rest (no writer cuts below 16 MiB - 1);
- a moved TTree's older key (an older list's copy before uproot moved the tree): dated
  at no date, after the live key, 13 years before the file, earlier (the docs' limit),
  cycle 2, 100 bytes shorter or longer; 192 (the docs' limit) or 320 chosen bytes in its
  old record's tail left free;
- a TTree deleted, made again and extended: the orphan baskets' keys dated at no date,
  after the live tree, earlier, or by 4 chosen bytes (2013).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.support import attack_nroot_files as files
from tests.support import attack_nroot_forge as nforge
from tests.support import attack_nroot_rio as rio

HIDE = b"EXFIL:s3cr3t-k3y"  # 16 chosen bytes a reader never shows


def _stamp(*a: int) -> bytes:
    return struct.pack(">I", rio.datime(*a))


def _dir_times(d: bytes) -> int:
    """Where the top directory's fDatimeC starts (fDatimeM 4 bytes on) in the header's
    TFile record: after its key and TNamed (fNbytesName) and the version (2 bytes)."""
    nbn = struct.unpack(">i", d[28:32])[0]
    return 100 + nbn + 2


# ---- slack behind the top list at its first place --------------------------------
ONE_JOB = [files.both(*[files.hist(f"h{i}") for i in range(5)])]
TREE_JOB = [files.both(*[files.hist(f"h{i}") for i in range(2)], files.tree("t"))]


def _live_keys(d: bytes) -> list[tuple[int, int]]:
    s, e, _ = nforge.top_keys(d)
    out, q = [], s
    while q < e:
        n = struct.unpack(">h", d[q + 14:q + 16])[0]
        out.append((q, n))
        q += n
    return out


def slack(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    one = files.jobs(made / "onejob.root", None, ONE_JOB)
    tr = files.jobs(made / "treejob.root", None, TREE_JOB)
    out = {}
    _, e, stop = nforge.top_keys(one)
    assert one[e:stop] == bytes(stop - e) and stop - e > 40
    out["slack-text-onejob"] = rio.put(one, e + 8, HIDE)
    (p0, n0), (p1, n1) = _live_keys(one)[:2]
    out["slack-one-run-onejob"] = rio.put(one, e, one[p1:p1 + n1])
    _, e, stop = nforge.top_keys(tr)
    assert tr[e:stop] == bytes(stop - e) and stop - e > 90, stop - e
    ks = _live_keys(tr)
    (pa, na), (pb, nb) = ks[1], ks[0]
    # one run: the 2nd key whole and part of the 3rd (a chosen start and length)
    out["slack-one-run-tree"] = rio.put(tr, e, tr[pa:pa + na + 20])
    # two runs, chosen order: the 2nd key then the 1st
    out["slack-two-runs-tree"] = rio.put(tr, e, tr[pa:pa + na] + tr[pb:pb + nb])
    # the 2nd key whole, its datime a second later than every key (a chosen datime)
    key = bytearray(tr[pb:pb + nb])
    key[10:14] = _stamp(2026, 11, 30, 23, 59, 51)
    out["slack-key-copy-later-tree"] = rio.put(tr, e, bytes(key))
    # the 2nd key whole, dated by 4 chosen bytes that decode as a date (2013-12-25)
    key[10:14] = b"K3Y!"
    out["slack-key-copy-k3y-tree"] = rio.put(tr, e, bytes(key))
    # whole keys repeated in a chosen order: 1st 2nd 1st
    k1, k2 = tr[pb:pb + nb], tr[pa:pa + na]
    assert len(k1) * 2 + len(k2) <= stop - e
    out["slack-keys-repeated-tree"] = rio.put(tr, e, k1 + k2 + k1)
    out["slack-loose-24-tree"] = rio.put(tr, e + 4, HIDE + b"12345678")
    bases = {"ctl-o-base-onejob.root": one, "ctl-o-base-treejob.root": tr}
    return bases, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- behind the top list at its first place, a deletion shown, no writer -------------
# h0-h4 at T0; 20 s later h4 and h2 deleted: behind the live list the versions (h3's key
# then h4's, whole), then zeros. Past the versions: "key material only: at most one run
# of a live keys list and the file's loose bytes ..., without a writer, no copy of a key
# the file holds (whole or a tail of one reaching into its datime)".
DEL = [files.both(*[files.hist(f"h{i}") for i in range(5)]), files.delete("h4", "h2")]


def behind_del(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "del.root", None, DEL, [20.0])
    _, e, stop = nforge.top_keys(d)
    ks = _live_keys(d)
    assert [rio.key_at(d, q).name for q in (e, e + 35)] == ["h3", "h4"]
    z = e + 70
    assert d[z:stop] == bytes(stop - z) and stop - z > 70
    (p0, n0), (p1, _) = ks[0], ks[1]
    out = {
        # one run of the live list, 27 bytes (more than the 24 loose ones): a key from
        # its fSeekKey on and the next key up to its datime (no datime copied)
        "del-one-run": rio.put(d, z + 4, d[p0 + 18:p0 + 45]),
        # two such runs, the 2nd key's then the 1st's
        "del-two-runs": rio.put(d, z, d[p1 + 18:p1 + 45] + d[p0 + 18:p0 + 45]),
        # three runs of 25 bytes in a chosen order
        "del-three-runs": rio.put(d, z, d[p1 + 18:p1 + 43] + d[p0 + 18:p0 + 43]
                                  + d[p0 + 20:p0 + 45]),
        "del-key-copy": rio.put(d, z, d[p0:p0 + n0]),
        "del-text-16": rio.put(d, z + 4, HIDE),
        "del-text-48": rio.put(d, z + 4, HIDE * 3),
    }
    return {"ctl-o-base-del.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- datimes ------------------------------------------------------------------------
# h0-h3 at T0 (Nov 30 23:59:50); 20 s later (Dec 1 00:00:10) h2 deleted: its record
# stays whole in free space; run1/g in a subdirectory.
DATED = [files.both(*[files.hist(f"h{i}") for i in range(4)], files.hist("run1/g")),
         files.delete("h2")]
DATED_GAPS = [20.0]
NOV31 = _stamp(2026, 11, 31, 0, 0, 5)  # no date: numerically between Nov 30 and Dec 1
SEC60 = _stamp(2026, 11, 30, 23, 59, 60)  # no date (23:59:60 is no TDatime second)
MIN60 = _stamp(2026, 11, 30, 23, 60, 0)
EARLY = _stamp(2013, 12, 25, 21, 36, 33)  # b"K3Y!"
MID = _stamp(2020, 6, 1, 12, 0, 0)
LATE = _stamp(2040, 1, 1, 0, 0, 0)
LATER = _stamp(2035, 6, 1, 12, 0, 0)


def _all_at(d: bytes, old: bytes, new: bytes, lo: int, hi: int) -> bytes:
    seg = d[lo:hi]
    assert old in seg
    return d[:lo] + seg.replace(old, new) + d[hi:]


def datimes(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "dated.root", None, DATED, DATED_GAPS)
    out = {}
    free = nforge._free_record(d, "TH1D", "h2")
    for tag, st in (("nov31", NOV31), ("sec60", SEC60), ("min60", MIN60)):
        out[f"free-key-{tag}"] = rio.put(d, free.pos + 10, st)
    # the clock window: 26 h 4 min before the file's making (documented) and 26 h 6 min
    out["free-key-window-26h04"] = rio.put(d, free.pos + 10, _stamp(2026, 11, 29, 21, 55, 50))
    out["free-key-window-26h06"] = rio.put(d, free.pos + 10, _stamp(2026, 11, 29, 21, 53, 50))
    # the window's ends are the top directory's times, which are "not recomputed": one
    # chosen fDatimeC 13 years back (or fDatimeM 14 years on) and the deleted record may
    # carry any second of the span (about 28.6 bits, not the 17.5 of a one-second file)
    t = _dir_times(d)
    out["ctime-2013-free-2020"] = rio.put(rio.put(d, t, EARLY), free.pos + 10, MID)
    out["mtime-2040-free-2035"] = rio.put(rio.put(d, t + 4, LATE), free.pos + 10, LATER)
    out["free-2020"] = rio.put(d, free.pos + 10, MID)
    # a live key and its keys list copy, both dated Nov 31
    (live,) = [k for k in rio.own_keys(d, "TH1D", "h1") if rio.seek_key(d, k) == k.pos]
    s, e, _ = nforge.top_keys(d)
    copy = [q for q, n in _live_keys(d) if d[q + 18:q + 22] == d[live.pos + 18:live.pos + 22]]
    assert len(copy) == 1
    out["live-key-nov31"] = rio.put(rio.put(d, live.pos + 10, NOV31), copy[0] + 10, NOV31)
    t = _dir_times(d)
    out["topdir-mtime-nov31"] = rio.put(d, t + 4, NOV31)
    out["topdir-ctime-ffff"] = rio.put(d, t, b"\xff\xff\xff\xff")
    out["topdir-ctime-chosen"] = rio.put(d, t, b"K3Y!")
    # run1's directory record (its own key, a TDirectory payload): its fDatimeC
    subs = [k for k in rio.own_keys(d, "TDirectory", "run1") if rio.seek_key(d, k) == k.pos]
    sub = min(subs, key=lambda k: k.objlen)
    out["subdir-ctime-chosen"] = rio.put(d, sub.pos + sub.keylen + 2, b"K3Y!")
    out["subdir-mtime-nov31"] = rio.put(d, sub.pos + sub.keylen + 6, NOV31)
    (si,) = [k for k in rio.own_keys(d, "TList", "StreamerInfo")
             if rio.seek_key(d, k) == k.pos]
    out["streamerinfo-key-nov31"] = rio.put(d, si.pos + 10, NOV31)
    return {"ctl-o-base-dated.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- a live TTree's key as an older list kept it before uproot moved the tree --------
# attack n's five jobs, nothing deleted (files.WORKFLOWS "five-jobs-no-del"): job 3 made
# t (11 extends, moved) and a TH3D that moved the top list (its older version whole in
# free space keeps t's key at t's place then); job 5 extended t: written anew at the end.
FIVE = files.WORKFLOWS["five-jobs-no-del"]


def moved(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "five.root", None, *FIVE)
    ks = rio.own_keys(d, "TTree", "t")
    (live,) = [k for k in ks if rio.seek_key(d, k) == k.pos and k.objlen > 4000]
    (old,) = [k for k in ks if rio.seek_key(d, k) not in (k.pos, live.pos)]
    at = rio.seek_key(d, old)
    assert old.datime == rio.datime(2026, 12, 1, 0, 59, 52)
    assert live.datime == rio.datime(2026, 12, 1, 0, 59, 55)
    end = at + old.nbytes
    assert d[end - 200:end - 100] == bytes(100), "the old record's tail: zeros there"
    out = {
        "moved-key-nov31": rio.put(d, old.pos + 10, _stamp(2026, 11, 31, 12, 0, 0)),
        "moved-key-later": rio.put(d, old.pos + 10, _stamp(2026, 12, 1, 0, 59, 56)),
        "moved-key-2013": rio.put(d, old.pos + 10, b"K3Y!"),
        # documented: any second from the file's making to the live key's write
        "moved-key-earlier": rio.put(d, old.pos + 10, _stamp(2026, 12, 1, 0, 30, 0)),
        # the file's making (the TFile key's datime and fDatimeC, neither recomputed)
        # set to 2013: the older key then dated 2014, 12 years before the tree was
        "moved-key-2014-made-2013": rio.put(rio.put(rio.put(
            d, _dir_times(d), EARLY), 110, EARLY), old.pos + 10, _stamp(2014, 3, 1, 0, 0, 0)),
        "moved-key-2014": rio.put(d, old.pos + 10, _stamp(2014, 3, 1, 0, 0, 0)),
        "moved-key-cycle-2": rio.put(d, old.pos + 16, struct.pack(">h", 2)),
        # its record 100 bytes shorter (no longer ends where the free stretch ends)
        "moved-key-shorter": rio.put(d, old.pos, struct.pack(
            ">ihi", old.nbytes - 100, 1004, old.objlen - 100)),
        "moved-key-longer": rio.put(d, old.pos, struct.pack(
            ">ihi", old.nbytes + 100, 1004, old.objlen + 100)),
        # chosen bytes in its record's tail left free (judged as remains of the live
        # tree): 192 (the docs' 48 + 48 a branch, t has 2) and 320
        "moved-tail-192": rio.put(d, end - 212, HIDE * 12),
        "moved-tail-320": rio.put(d, end - 340, HIDE * 20),
    }
    return {"ctl-o-base-five.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- a TTree deleted, made again and extended: the deleted tree's orphan baskets -----
# attack n's "tree-del-again": t and h at T0, t deleted 5 s later, made again with other
# entries 5 s after that and extended: the first t's baskets stay, orphans, dated T0
# ("their datime no later than the live tree's").
AGAIN = files.WORKFLOWS["tree-del-again"]
T0 = rio.datime(2026, 11, 30, 23, 59, 50)


def orphans(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "again.root", None, *AGAIN)
    olds = [k for b in ("x", "n") for k in rio.own_keys(d, "TBasket", b)
            if k.datime == T0 and rio.seek_key(d, k) == k.pos]
    assert len(olds) == 2, olds

    def dated(stamp: bytes) -> bytes:
        out = d
        for k in olds:
            out = rio.put(out, k.pos + 10, stamp)
        return out

    out = {
        "orphan-nov31": dated(_stamp(2026, 11, 31, 0, 0, 1)),
        "orphan-after-live": dated(_stamp(2026, 12, 1, 0, 0, 6)),
        "orphan-k3y": dated(b"K3Y!"),
        # documented: no later than the live tree's (an earlier second)
        "orphan-earlier": dated(_stamp(2026, 11, 30, 23, 0, 0)),
    }
    return {"ctl-o-base-again.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- blocks: an empty block before a record's one ("every block but the last inflating
# to 16 MiB - 1 bytes"; session 38 refused one after) -----------------------------------
def _live_record(d: bytes, cls: str, name: str) -> rio.Key:
    (k,) = [k for k in rio.own_keys(d, cls, name) if rio.seek_key(d, k) == k.pos]
    return k


def blocks(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "small.root", files.CODECS["zlib"], [files.hist("h", 2000)])
    k = _live_record(d, "TH1D", "h")
    payload = d[k.pos + k.keylen:k.pos + k.nbytes]
    assert payload[:3] == b"ZL\x08" and len(payload) == 9 + int.from_bytes(payload[3:6], "little")
    content = zlib.decompress(payload[9:])
    empty = nforge.EMPTY_ZL

    def one(room: int) -> bytes:
        stream = rio.zlib_exact(content, room)
        return b"ZL\x08" + nforge._sizes(len(stream), len(content)) + stream

    first = empty + one(len(payload) - 9 - len(empty))
    # the record in two blocks of chosen sizes (1000 bytes, then the rest): no writer
    # cuts a payload below 16 MiB - 1
    a, b = content[:1000], content[1000:]
    za = zlib.compress(a, 9)
    blk_a = b"ZL\x08" + nforge._sizes(len(za), len(a)) + za
    stream = rio.zlib_exact(b, len(payload) - len(blk_a) - 9)
    split = blk_a + b"ZL\x08" + nforge._sizes(len(stream), len(b)) + stream
    out = {}
    for tag, new in (("empty-first", first), ("split-1000", split)):
        assert len(new) == len(payload)
        out[f"block-{tag}"] = rio.put(d, k.pos + k.keylen, new)
    return {"ctl-o-base-small.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


# ---- behind a subdirectory's live list ("behind any other live list, runs of the live
# metadata but the keys lists', at most one run of a live keys list and the loose
# bytes"): run1 made with three histograms in job 1, a fourth added 20 s later; uproot
# leaves 128 bytes of zeros behind run1's list (nothing was free where it went).
SUB = [files.both(files.hist("top"), *[files.hist(f"run1/g{i}") for i in range(3)]),
       files.hist("run1/g3", 9)]


def behind_sub(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    d = files.jobs(made / "sub.root", None, SUB, [20.0])
    live = nforge._subdir_list(d)
    keys = nforge._list_keys(d, live)
    body = live.pos + live.keylen
    end = body + 4 + sum(len(k) for k in keys)
    stop = live.pos + live.nbytes
    assert d[end:stop] == bytes(stop - end) and stop - end >= 120
    q = [body + 4 + sum(len(k) for k in keys[:j]) for j in range(4)]
    (si,) = [k for k in rio.own_keys(d, "TList", "StreamerInfo")
             if rio.seek_key(d, k) == k.pos]
    sp = si.pos + si.keylen + 200
    out = {
        # 30-byte runs of run1's own list (a key's fSeekKey on, into the next key)
        "sub-one-run": rio.put(d, end + 8, d[q[1] + 18:q[1] + 48]),
        "sub-two-runs": rio.put(d, end + 8, d[q[2] + 18:q[2] + 48] + d[q[0] + 18:q[0] + 48]),
        "sub-three-runs": rio.put(d, end + 8, d[q[2] + 18:q[2] + 48] + d[q[0] + 18:q[0] + 48]
                                  + d[q[1] + 18:q[1] + 48]),
        # documented: runs of other live metadata (the StreamerInfo's), any number
        "sub-streamer-runs": rio.put(d, end + 8, d[sp + 90:sp + 120] + d[sp:sp + 30]
                                     + d[sp + 300:sp + 330]),
    }
    return {"ctl-o-base-sub.root": d}, {f"root-o-{k}.root": v for k, v in out.items()}


def hostile(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    made.mkdir(parents=True, exist_ok=True)
    bases, attacks = {}, {}
    for make in (slack, behind_del, behind_sub, datimes, moved, orphans, blocks):
        b, a = make(made)
        bases |= b
        attacks |= a
    assert sorted(attacks) == NAMES and sorted(bases) == BASE_NAMES
    return attacks, bases


_SLACK_ONE = ["text-onejob", "one-run-onejob"]
_SLACK_TREE = ["one-run-tree", "two-runs-tree", "key-copy-later-tree", "key-copy-k3y-tree",
               "keys-repeated-tree", "loose-24-tree"]
_DATED = ["ctime-2013-free-2020", "mtime-2040-free-2035", "free-2020", "free-key-nov31", "free-key-sec60", "free-key-min60", "free-key-window-26h04",
          "free-key-window-26h06", "live-key-nov31", "topdir-mtime-nov31",
          "topdir-ctime-ffff", "topdir-ctime-chosen", "subdir-ctime-chosen",
          "subdir-mtime-nov31", "streamerinfo-key-nov31"]
BASE_OF = ({f"root-o-slack-{k}.root": "ctl-o-base-onejob.root" for k in _SLACK_ONE}
           | {f"root-o-slack-{k}.root": "ctl-o-base-treejob.root" for k in _SLACK_TREE}
           | {f"root-o-{k}.root": "ctl-o-base-dated.root" for k in _DATED})
_MOVED = ["moved-key-2014", "moved-key-2014-made-2013", "moved-key-nov31", "moved-key-later", "moved-key-2013", "moved-key-earlier",
          "moved-key-cycle-2", "moved-key-shorter", "moved-key-longer", "moved-tail-192",
          "moved-tail-320"]
BASE_OF |= {f"root-o-{k}.root": "ctl-o-base-five.root" for k in _MOVED}
_DEL = ["del-one-run", "del-two-runs", "del-three-runs", "del-key-copy", "del-text-16", "del-text-48"]
BASE_OF |= {f"root-o-{k}.root": "ctl-o-base-del.root" for k in _DEL}
_AGAIN = ["orphan-nov31", "orphan-after-live", "orphan-k3y", "orphan-earlier"]
BASE_OF |= {f"root-o-{k}.root": "ctl-o-base-again.root" for k in _AGAIN}
BASE_OF |= {f"root-o-block-{k}.root": "ctl-o-base-small.root"
            for k in ("empty-first", "split-1000")}
BASE_OF |= {f"root-o-sub-{k}.root": "ctl-o-base-sub.root"
            for k in ("one-run", "two-runs", "three-runs", "streamer-runs")}
NAMES = sorted(BASE_OF)
BASE_NAMES = sorted(set(BASE_OF.values()))
# the forged datimes that are no date (each between the file's making and last write)
NO_DATE = {f"root-o-{k}.root": int.from_bytes(v, "big") for k, v in
           [("free-key-nov31", NOV31), ("free-key-sec60", SEC60), ("free-key-min60", MIN60),
            ("live-key-nov31", NOV31), ("topdir-mtime-nov31", NOV31),
            ("topdir-ctime-ffff", b"\xff" * 4), ("subdir-mtime-nov31", NOV31),
            ("streamerinfo-key-nov31", NOV31),
            ("moved-key-nov31", _stamp(2026, 11, 31, 12, 0, 0)),
            ("orphan-nov31", _stamp(2026, 11, 31, 0, 0, 1))]}
