"""Hostile files for the independent attack n on ROOT (session 38), each made from real
uproot output (tests/support/attack_nroot_files.py, its clocked jobs) with chosen bytes:

- blocks (ROOT row: "every block but the last inflating to 16 MiB - 1 bytes as ROOT
  (kMAXZIPBUF) and uproot cut a payload", `split_as_written`): a payload of exactly
  16 MiB - 1 bytes (a basket of 16777215 uint8 entries) or of 17.2 MB (a TH1D) re-encoded
  so an empty block follows its last (the record's length kept: the deflate stream ends in
  a stored block, the zstd frame in a raw one, both legal encoders' choices). ROOT's
  TKey::ReadObj stops once it has fObjlen bytes: it never reads the extra block; no
  writer writes one;
- key copies behind a live keys list ("a record's own key with an earlier datime, every
  other field the same ... log2 of the seconds between the file's making and the live
  key's write a copy ... a key dated before the file is no key of the chain"): ten copies
  of deleted histograms' keys with datimes later than the records', before the file, or
  dates no clock gives (hour 31, day 0) that lie between the two as numbers;
- older keys lists ("an older list's datime and cycle are the live key's ...; beside
  those one list per directory dated before the live one ... no key of the file is dated
  before the file's top directory key"): a subdirectory's list planted in a deleted
  histogram's free record, dated earlier (once), twice, later, before the file, or at a
  date no clock gives between the file's making and the live list;
- an RNTuple deleted and not made again, its anchor's head written over by a string
  (`anchor_over`): the stretch left reaches into the key's class, name and title, each
  chosen.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.support import attack_nroot_files as files
from tests.support import attack_nroot_rio as rio

H = [f"h{i:02d}" for i in range(1, 13)]
# h00 at T0 (Nov 30 23:59:50) makes the file; h01-h12 30 s later (Dec 1 00:00:20);
# a third job deletes h12 ... h03, last first: their keys stay behind the list, whole.
BEHIND = [files.hist("h00"), files.both(*[files.hist(h) for h in H]),
          files.delete(*reversed(H[2:]))]
BEHIND_GAPS = [30.0, 40.0]
G = [f"g{i:03d}" for i in range(40)]
# h0 at T0; a day later run1 and 40 histograms in it; then h0 deleted (its record free).
SUBDIR = [files.hist("h0"), files.both(*[files.hist(f"run1/{g}") for g in G]),
          files.delete("h0")]
SUBDIR_GAPS = [files.DAY, 5.0]


def _dt(*a: int) -> bytes:
    return struct.pack(">I", rio.datime(*a))


def top_keys(d: bytes) -> tuple[int, int, int]:
    """The top keys list: where its keys start, where the live keys end, its end."""
    nbytes_name = struct.unpack(">i", d[28:32])[0]
    seek_keys = struct.unpack(">i", d[100 + nbytes_name + 26:100 + nbytes_name + 30])[0]
    k = rio.key_at(d, seek_keys)
    p = seek_keys + k.keylen
    q = p + 4
    for _ in range(struct.unpack(">i", d[p:p + 4])[0]):
        q += struct.unpack(">h", d[q + 14:q + 16])[0]
    return p + 4, q, seek_keys + k.nbytes


def behind(made: Path) -> tuple[bytes, dict[str, bytes]]:
    d = files.jobs(made / "behind.root", None, BEHIND, BEHIND_GAPS)
    _, end, stop = top_keys(d)
    copies, q = [], end
    while q < stop and d[q:q + 4] != bytes(4):
        k = rio.key_at(d, q)
        assert k.cls == "TH1D" and k.datime == rio.datime(2026, 12, 1, 0, 0, 20), k
        copies.append(q)
        q += k.keylen
    assert len(copies) == 10, copies

    def dated(stamps: list[bytes]) -> bytes:
        out = d
        for q, s in zip(copies, stamps, strict=True):
            out = rio.put(out, q + 10, s)
        return out

    out = {
        "later-than-record": dated([_dt(2026, 12, 1, 0, 0, 21)] * 10),
        "before-file": dated([_dt(2026, 11, 30, 23, 59, 49)] * 10),
        "hour-31": dated([_dt(2026, 11, 30, 31, 59, 50 + i) for i in range(10)]),
        "day-0": dated([_dt(2026, 12, 0, i, 0, 0) for i in range(10)]),
        # documented: an earlier second each, between the file's making and the record
        "earlier-seconds": dated([_dt(2026, 11, 30, 23, 59, 50 + i) for i in range(10)]),
    }
    return d, {f"root-n-copies-{k}.root": v for k, v in out.items()}


# h0 at T0; a day later g000-g059 (uproot moves the top list as it grows: an older list
# of the first keys stays in free space); a day after that g000-g011 deleted and written
# again unchanged (each in its old place): the older list's copies of their keys keep
# the earlier date, as the docs' "a record's own key with an earlier datime" says.
G60 = [f"g{i:03d}" for i in range(60)]
REWRITTEN = [files.hist("h0"), files.both(*[files.hist(g) for g in G60]),
             files.both(*[files.both(files.delete(g), files.hist(g)) for g in G60[:12]])]


def rewritten(made: Path) -> tuple[bytes, dict[str, bytes]]:
    d = files.jobs(made / "rewritten.root", None, REWRITTEN, [files.DAY, files.DAY])
    day2 = rio.datime(2026, 12, 1, 23, 59, 50)
    old = [k.pos for g in G60[:12] for k in rio.own_keys(d, "TH1D", g)
           if k.datime == day2]
    assert len(old) == 5, old

    def dated(stamp: int) -> bytes:
        out = d
        for p in old:
            out = rio.put(out, p + 10, struct.pack(">I", stamp))
        return out

    out = {
        "hour-31": dated(rio.datime(2026, 12, 1, 31, 63, 63)),
        "earlier-noon": dated(rio.datime(2026, 12, 2, 12, 0, 0)),
        "later": dated(rio.datime(2026, 12, 2, 23, 59, 51)),
        "before-file": dated(rio.datime(2026, 11, 30, 23, 59, 49)),
    }
    return d, {f"root-n-rewritten-copies-{k}.root": v for k, v in out.items()}


def _free_record(d: bytes, cls: str, name: str) -> rio.Key:
    for k in rio.own_keys(d, cls, name):
        if rio.seek_key(d, k) == k.pos:
            return k
    raise AssertionError(name)


def _subdir_list(d: bytes) -> rio.Key:
    """run1's live keys list: the record of its directory key naming its own position
    with a list payload (a count, then keys)."""
    ks = [k for k in rio.own_keys(d, "TDirectory", "run1")
          if rio.seek_key(d, k) == k.pos and k.objlen > 60]
    return ks[-1]


def _older_list(d: bytes, live: rio.Key, at: int, n: int, stamp: bytes) -> bytes:
    """The live list's key and its first n keys, as an older, shorter version of it would
    stand at `at`: its lengths and position its own, its datime `stamp`."""
    body = d[live.pos + live.keylen + 4:live.pos + live.nbytes]
    q = 0
    for _ in range(n):
        q += struct.unpack(">h", body[q + 14:q + 16])[0]
    payload = struct.pack(">i", n) + body[:q]
    key = bytearray(d[live.pos:live.pos + live.keylen])
    struct.pack_into(">iiI", key, 0, live.keylen + len(payload), 0, 0)
    key[4:6] = d[live.pos + 4:live.pos + 6]
    struct.pack_into(">i", key, 6, len(payload))
    key[10:14] = stamp
    struct.pack_into(">i", key, 18, at)
    return bytes(key) + payload


def _list_keys(d: bytes, live: rio.Key) -> list[bytes]:
    body = d[live.pos + live.keylen:live.pos + live.nbytes]
    q, out = 4, []
    for _ in range(struct.unpack(">i", body[:4])[0]):
        n = struct.unpack(">h", body[q + 14:q + 16])[0]
        out.append(body[q:q + n])
        q += n
    return out


def _two_close(d: bytes, live: rio.Key, at: int, room: int) -> bytes:
    out = rio.put(d, at, bytes(room))
    first = _older_list(out, live, at, 6, live.datime.to_bytes(4, "big"))
    second = _older_list(out, live, at + len(first), 7, live.datime.to_bytes(4, "big"))
    assert len(first) + len(second) <= room
    return rio.put(rio.put(out, at, first), at + len(first), second)


def subdir(made: Path) -> tuple[bytes, dict[str, bytes]]:
    d = files.jobs(made / "subdir.root", None, SUBDIR, SUBDIR_GAPS)
    live = _subdir_list(d)
    assert live.datime == rio.datime(2026, 12, 1, 23, 59, 50), hex(live.datime)
    free = _free_record(d, "TH1D", "h0")
    room = free.nbytes

    def planted(stamps: list[bytes], n: int = 6) -> bytes:
        out = rio.put(d, free.pos, bytes(room))
        at = free.pos
        for s in stamps:
            lst = _older_list(out, live, at, n, s)
            assert at + len(lst) <= free.pos + room, (len(lst), room)
            out = rio.put(out, at, lst)
            at += len(lst)
        return out

    keys = _list_keys(d, live)
    fit = room // max(len(k) for k in keys)
    order = [(i * 7 + 3) % len(keys) for i in range(fit)]  # distinct: 7 is prime to 40
    out_chains = {
        # documented: "what a chain still chooses is the order of distinct keys"
        "chain-distinct-order": b"".join(keys[i] for i in order),
        "chain-repeats": b"".join(keys[(i * i + 5) % 6] for i in range(fit)),
        "chain-one-key": keys[3] * fit,
    }

    def chained(chain: bytes) -> bytes:
        return rio.put(rio.put(d, free.pos, bytes(room)), free.pos, chain)

    out = {
        **{k: chained(v) for k, v in out_chains.items()},
        # documented: one list per directory dated before the live one
        "earlier-once": planted([_dt(2026, 12, 1, 12, 0, 0)]),
        "live-datime": planted([live.datime.to_bytes(4, "big")]),
        "earlier-twice": planted([_dt(2026, 12, 1, 12, 0, 0), _dt(2026, 12, 1, 13, 0, 0)],
                                 n=3),
        "later": planted([_dt(2026, 12, 1, 23, 59, 51)]),
        # two older lists as uproot dates them, 6 keys then 7: not 1.5 times larger
        "live-datime-two-close": _two_close(d, live, free.pos, room),
        "before-file": planted([_dt(2026, 11, 30, 23, 59, 49)]),
        "hour-31": planted([_dt(2026, 11, 30, 31, 63, 63)]),
    }
    return d, {f"root-n-older-list-{k}.root": v for k, v in out.items()}


def _sizes(c: int, u: int) -> bytes:
    return c.to_bytes(3, "little") + u.to_bytes(3, "little")


EMPTY_ZL = b"ZL\x08" + _sizes(8, 0) + zlib.compress(b"", 1)


def _zl_with_empty(block: bytes, empties: int) -> bytes:
    """A ZL block re-encoded 17 bytes shorter a empty block, then the empty ZL blocks:
    the same length."""
    assert block[:3] == b"ZL\x08"
    content = zlib.decompress(block[9:])
    stream = rio.zlib_exact(content, len(block) - 9 - empties * len(EMPTY_ZL))
    assert zlib.decompress(stream) == content
    return b"ZL\x08" + _sizes(len(stream), len(content)) + stream + EMPTY_ZL * empties


EMPTY_ZS = b"ZS\x01" + _sizes(9, 0) + bytes.fromhex("28b52ffd2000010000")  # libzstd's


def _zs_with_empty(block: bytes) -> bytes:
    """A ZS block re-encoded 18 bytes shorter, then libzstd's frame of nothing."""
    import cramjam

    assert block[:3] == b"ZS\x01"
    content = bytes(cramjam.zstd.decompress(block[9:]))
    frame = rio.zstd_exact(content, len(block) - 9 - len(EMPTY_ZS))
    assert bytes(cramjam.zstd.decompress(frame)) == content
    return b"ZS\x01" + _sizes(len(frame), len(content)) + frame + EMPTY_ZS


def _blocks(payload: bytes) -> list[bytes]:
    out, p = [], 0
    while p < len(payload):
        n = int.from_bytes(payload[p + 3:p + 6], "little") + 9
        out.append(payload[p:p + n])
        p += n
    return out


def empty_block(d: bytes, cls: str, name: str, empties: int = 1) -> bytes:
    k = _free_record(d, cls, name)
    payload = d[k.pos + k.keylen:k.pos + k.nbytes]
    blocks = _blocks(payload)
    if blocks[-1][:2] == b"ZS":
        new = b"".join(blocks[:-1]) + _zs_with_empty(blocks[-1])
    else:
        new = b"".join(blocks[:-1]) + _zl_with_empty(blocks[-1], empties)
    assert len(new) == len(payload)
    return rio.put(d, k.pos + k.keylen, new)


def blocks(made: Path) -> tuple[bytes, dict[str, bytes]]:
    made.mkdir(parents=True, exist_ok=True)
    exact = files.jobs(made / "exact.root", files.CODECS["zlib"],
                       [files.big_basket("t", (1 << 24) - 1)])
    exact_zs = files.jobs(made / "exactzs.root", files.CODECS["zstd"],
                          [files.big_basket("t", (1 << 24) - 1)])
    big = files.jobs(made / "bighist.root", files.CODECS["zlib"], [files.big_hist("h")])
    small = files.jobs(made / "small.root", files.CODECS["zlib"], [files.hist("h", 2000)])
    out = {
        "basket-16mib-1-then-empty": empty_block(exact, "TBasket", "c"),
        "basket-16mib-1-then-two-empty": empty_block(exact, "TBasket", "c", 2),
        "basket-16mib-1-zstd-then-empty": empty_block(exact_zs, "TBasket", "c"),
        "hist-two-blocks-then-empty": empty_block(big, "TH1D", "h"),
        "hist-one-block-then-empty": empty_block(small, "TH1D", "h"),
    }
    return exact, {f"root-n-block-{k}.root": v for k, v in out.items()}


def hostile(made: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The hostile files, and the uproot files they were made from (controls)."""
    made.mkdir(parents=True, exist_ok=True)
    da, a = behind(made)
    db, b = subdir(made)
    dc, c = blocks(made)
    dd, _, _, e = anchor_over(made / "nt")
    df, f = rewritten(made)
    bases = {"ctl-n-base-behind.root": da, "ctl-n-base-subdir.root": db,
             "ctl-n-base-rewritten.root": df,
             "ctl-n-base-exact-basket.root": dc, ANCHOR_CONTROL: dd}
    return a | b | c | e | f, bases


NAMES = sorted(
    [f"root-n-copies-{k}.root" for k in
     ("later-than-record", "before-file", "hour-31", "day-0", "earlier-seconds")]
    + [f"root-n-older-list-{k}.root" for k in
       ("earlier-once", "live-datime", "earlier-twice", "later", "before-file", "hour-31",
      "chain-distinct-order", "chain-repeats", "chain-one-key", "live-datime-two-close")]
    + [f"root-n-block-{k}.root" for k in
       ("basket-16mib-1-then-empty", "basket-16mib-1-then-two-empty",
        "basket-16mib-1-zstd-then-empty",
        "hist-two-blocks-then-empty",
        "hist-one-block-then-empty")]
    + [f"root-n-rewritten-copies-{k}.root" for k in
       ("hour-31", "earlier-noon", "later", "before-file")])
BASE_NAMES = sorted(["ctl-n-base-behind.root", "ctl-n-base-subdir.root",
                     "ctl-n-base-rewritten.root",
                     "ctl-n-base-exact-basket.root", "ctl-n-nt-long-name-del-strings-over-anchor.root"])


# An RNTuple deleted and not made again whose anchor a later record was written over
# ("reaching back at most into its key's strings (the class, the header's name as name
# and title) and fSeekPdir"): a 57-character name, so one small string written over the
# anchor's head leaves the anchor's payload, title, name and part of fSeekPdir behind it.
NT_NAME = "events_" + "x" * 50


def _nt_steps(n: int) -> list:
    return [files.both(files.nt(NT_NAME), files.hist("h0")), files.delete(NT_NAME),
            files.both(*[files.text(f"s{i:02d}", "v") for i in range(n)])]


def anchor_over(made: Path) -> tuple[bytes, int, int, dict[str, bytes]]:
    """uproot's file with the anchor's head written over, where its anchor was, where the
    stretch starts, and the stretch forged."""
    made.mkdir(parents=True, exist_ok=True)
    before = files.jobs(made / "nt.root", None, _nt_steps(0)[:2])
    (anchor,) = [k for k in rio.own_keys(before, "ROOT::RNTuple", NT_NAME)
                 if rio.seek_key(before, k) == k.pos]
    end = anchor.pos + anchor.nbytes
    for n in range(8, 40):
        d = files.jobs(made / "nt.root", None, _nt_steps(n))
        over = [k for i in range(n) for k in rio.own_keys(d, "TObjString", f"s{i:02d}")
                if rio.seek_key(d, k) == k.pos and k.pos < end and k.pos + k.nbytes > anchor.pos]
        if over:
            start = max(k.pos + k.nbytes for k in over)
            break
    else:
        raise AssertionError("no string over the anchor")
    assert d[start:end] == before[start:end], "the stretch is not the anchor's tail"
    title_at = end - anchor.objlen - len(NT_NAME)
    name_at = title_at - 1 - len(NT_NAME)
    assert start < name_at, (start, name_at)
    chosen = b"PAYLOAD-" + b"y" * (len(NT_NAME) - 8)
    out = {
        "title-chosen": rio.put(d, title_at, chosen),
        "name-chosen": rio.put(d, name_at, chosen),
        "both-chosen": rio.put(rio.put(d, title_at, chosen), name_at, chosen),
        "class-chosen": rio.put(d, name_at - 1, b"X"),  # ROOT::RNTuplX
    }
    return d, start, end, {f"root-n-anchor-{k}.root": v for k, v in out.items()}


ANCHOR_NAMES = sorted(f"root-n-anchor-{k}.root"
                      for k in ("title-chosen", "name-chosen", "both-chosen", "class-chosen"))
ANCHOR_CONTROL = "ctl-n-nt-long-name-del-strings-over-anchor.root"
