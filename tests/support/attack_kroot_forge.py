"""Hostile ROOT files for the independent attack k (session 36): FreeSegments entries
forged where the session-36 rule admits the remains of a record that shrank in place:
after fEND (own-end entries: more than 64, 18-byte ones, other fields, zeros after) and in
free space inside the file (an older FreeSegments record uproot never wrote, with segments
behind it), all in a file where only one object was deleted and the free list never
shrank. Each patch leaves a file uproot opens.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.support.attack_dcontent_root import _header, _key_at, _lengths, _put
from tests.support.attack_fbinary_root import PAYLOAD
from tests.support.attack_kroot_files import delete, hists, jobs

END = 2000000000


def base(made: Path) -> bytes:
    """Two histograms, one deleted in a second job (published as it is): its free list is
    the deleted record and the zeros behind it, one segment, then (1, fEND, 2e9)."""
    made.mkdir(parents=True, exist_ok=True)
    d = jobs(made / "base.root", None, [hists("a", "b"), delete("b")])
    assert _header(d)["end"] == len(d)
    return d


def _first_segment(d: bytes) -> tuple[int, int]:
    """The live FreeSegments record's first entry (begin, last byte)."""
    h = _header(d)
    at = h["seek_free"] + _lengths(d, h["seek_free"])[1]
    return struct.unpack(">ii", d[at + 2 : at + 10])


def _entry(a: int, b: int, version: int = 1) -> bytes:
    return struct.pack(">hqq" if version > 1000 else ">hii", version, a, b)


def own_ends(start: int, n: int, size: int = 10, third: int = END, version: int = 1) -> bytes:
    """n end entries laid from start, each naming its own end: (1, its end, 2e9)."""
    return b"".join(_entry(start + size * (k + 1), third, version) for k in range(n))


def tails(made: Path) -> dict[str, bytes]:
    d = base(made)
    n = len(d)
    big = own_ends(n, 3, 18, version=1001)
    return {
        "tail-64-own-ends": d + own_ends(n, 64),
        "tail-65-own-ends": d + own_ends(n, 65),
        "tail-18-byte-own-ends": d + big,
        "tail-mixed-10-18": d + own_ends(n, 1) + own_ends(n + 10, 2, 18, version=1001),
        "tail-third-field": d + own_ends(n, 2, third=END + 1),
        "tail-version-2": d + own_ends(n, 2, version=2),
        "tail-own-ends-then-zeros": d + own_ends(n, 2) + bytes(10),
        "tail-all-name-fend": d + _entry(n, END) * 3,
        "tail-one-segment": d + _entry(*_first_segment(d)) + own_ends(n + 10, 1),
    }


# ------------------------------------------------------- inside the file: an older record


def _records(d: bytes) -> list[int]:
    """Positions of the live and whole records (keys naming their own position)."""
    return [p for p in range(_header(d)["begin"], len(d) - 30) if _key_at(d, p)
            and _lengths(d, p)[0] > 0]


def _old_fs(d: bytes, at: int, entries: bytes) -> bytes:
    """A copy of the live FreeSegments key moved to at, its payload the entries given."""
    h = _header(d)
    keylen = _lengths(d, h["seek_free"])[1]
    key = d[h["seek_free"] : h["seek_free"] + keylen]
    nbytes = keylen + len(entries)
    key = _put(key, 0, struct.pack(">i", nbytes))
    key = _put(key, 6, struct.pack(">i", len(entries)))
    return _put(key, 18, struct.pack(">i", at)) + entries


def _payload_positions(lo: int, hi: int, count: int) -> list[int]:
    """count ordered positions in [lo, hi) chosen by the payload's bytes (the carried bits)."""
    raw = (PAYLOAD * count * 2)[: count * 2]
    picks = sorted({lo + int.from_bytes(raw[2 * k : 2 * k + 2], "big") % (hi - lo) + k * 7
                    for k in range(count)})
    return picks[:count]


def older_record(made: Path, which: str) -> bytes:
    """An older FreeSegments record forged in the zero stretch behind the deleted record
    (989..1333 of base(): the free list's one segment covers it), then slots behind it."""
    d = base(made / which)
    h = _header(d)
    recs = _records(d)
    zero = next(p for p in range(h["begin"], len(d)) if d[p : p + 64] == bytes(64))
    last = _entry(h["seek_free"], END)  # the end entry an older record would hold
    if which == "free-positions":
        pos = _payload_positions(h["begin"], h["seek_free"], 16)
        entries = b"".join(_entry(pos[k], pos[k + 1] - 1) for k in range(0, 16, 2)) + last
        rec, behind = _old_fs(d, zero, entries), b""
    else:
        rec = _old_fs(d, zero, _entry(_first_segment(d)[0], zero - 1) + last)
        segs = {"4-segments-behind": [
                    (recs[k], recs[k + 1] - 1) for k in range(4)],
                "5-segments-behind": [(recs[k], recs[k + 1] - 1) for k in range(5)],
                "segment-mid-record-behind": [(recs[1] + 7, recs[2] - 1)]}[which]
        behind = b"".join(_entry(a, b) for a, b in segs) + _entry(zero + len(rec) + 10 * (len(segs) + 1), END)
    blob = rec + behind
    assert d[zero : zero + len(blob)] == bytes(len(blob))
    return _put(d, zero, blob)


def two_older_records(made: Path) -> bytes:
    """Two forged older records in the same zero stretch, 4 segments behind each."""
    d = base(made / "two")
    h = _header(d)
    recs = _records(d)
    zero = next(p for p in range(h["begin"], len(d)) if d[p : p + 64] == bytes(64))
    out, at = d, zero
    for shift in (0, 1):
        rec = _old_fs(d, at, _entry(_first_segment(d)[0], zero - 1) + _entry(h["seek_free"], END))
        segs = b"".join(_entry(recs[k + shift], recs[k + shift + 1] - 1) for k in range(4))
        blob = rec + segs + _entry(at + len(rec) + 50, END)
        out = _put(out, at, blob)
        at += len(blob)
    return out


def own_ends_in_free_space(made: Path, count: int) -> bytes:
    """Own-end entries (1, their end, 2e9), which the docs admit alone where the file grew
    past them, laid in the zero stretch of free space at positions the payload chooses."""
    d = base(made / f"free-own-{count}")
    h = _header(d)
    zero = next(p for p in range(h["begin"], len(d)) if d[p : p + 64] == bytes(64))
    out = d
    for k, p in enumerate(_payload_positions(zero, zero + 30, count)):
        at = p + 20 * k  # apart: each entry alone
        assert d[at : at + 10] == bytes(10)
        out = _put(out, at, _entry(at + 10, END))
    return out


def lone_entries(made: Path, count: int) -> bytes:
    """The free segment shortened by 10 x count bytes and own-end entries laid there, unlisted
    (the docs admit alone the 10 bytes of an entry 'the file later grew past'): here before
    the keys list, where no FreeSegments record ever ended."""
    d = base(made / f"lone-{count}")
    h = _header(d)
    at = h["seek_free"] + _lengths(d, h["seek_free"])[1]
    a, b = _first_segment(d)
    out = _put(d, at + 2, struct.pack(">ii", a, b - 10 * count))
    for j in range(count):
        p = b + 1 - 10 * (count - j)
        out = _put(out, p, _entry(p + 10, END))
    return out


INSIDE = ("free-positions", "4-segments-behind", "5-segments-behind",
          "segment-mid-record-behind")


def hostile(made: Path) -> dict[str, bytes]:
    out = {f"root-k-{n}.root": b for n, b in tails(made / "tails").items()}
    for which in INSIDE:
        out[f"root-k-older-{which}.root"] = older_record(made, which)
    out["root-k-two-older-records.root"] = two_older_records(made)
    for count in (1, 8):
        out[f"root-k-free-own-ends-{count}.root"] = own_ends_in_free_space(made, count)
    for count in (1, 2):
        out[f"root-k-lone-unlisted-{count}.root"] = lone_entries(made, count)
    return out


HOSTILE_NAMES = sorted(
    [f"root-k-{n}.root" for n in (
        "tail-64-own-ends", "tail-65-own-ends", "tail-18-byte-own-ends", "tail-mixed-10-18",
        "tail-third-field", "tail-version-2", "tail-own-ends-then-zeros",
        "tail-all-name-fend", "tail-one-segment", "two-older-records", "free-own-ends-1",
        "free-own-ends-8", "lone-unlisted-1",
        "lone-unlisted-2")]
    + [f"root-k-older-{w}.root" for w in INSIDE])
