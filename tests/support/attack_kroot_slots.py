"""Hostile ROOT files for the independent attack k (session 36): the slots behind a live
FreeSegments record inside the file. Base: attack_kroot_files.REFILL, plain uproot (every
object deleted, then new ones written: the record shrank in place and later records were
written after it; two end entries behind it, each naming the stretch's end). Each case
rewrites those 20 bytes within or just outside the stated pins.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.support.attack_dcontent_root import _header, _key_at, _lengths, _put
from tests.support.attack_fbinary_root import PAYLOAD
from tests.support.attack_kroot_files import REFILL, Step, both, delete, jobs, sized

END = 2000000000


def base(made: Path) -> bytes:
    made.mkdir(parents=True, exist_ok=True)
    return jobs(made / "refill.root", None, REFILL)


def _records(d: bytes) -> list[int]:
    return [p for p in range(_header(d)["begin"], len(d) - 30)
            if _key_at(d, p) and _lengths(d, p)[0] > 0]


def _behind(d: bytes) -> tuple[int, int]:
    """(first slot behind the live FreeSegments record, the next record's start)."""
    h = _header(d)
    at = h["seek_free"] + h["nbytes_free"]
    nxt = min(p for p in _records(d) if p >= at)
    return at, nxt


def _e(a: int, b: int, version: int = 1) -> bytes:
    return struct.pack(">hqq" if version > 1000 else ">hii", version, a, b)


def slots(made: Path) -> dict[str, bytes]:
    d = base(made)
    at, nxt = _behind(d)
    assert nxt - at == 20, (at, nxt)  # two slots, as uproot 5.7 leaves them
    recs = _records(d)
    early = [p for p in recs if p < at]
    later = [p for p in recs if p > at]
    free_a = int.from_bytes(PAYLOAD[:2], "big") % early[-1] + 3
    cases = {
        "slots-2-segments-at-records": _e(early[0], early[1] - 1) + _e(early[2], early[3] - 1),
        "slots-later-ends": _e(later[-1], END) + _e(_header(d)["end"], END),
        "slots-earlier-end": _e(early[1], END) + _e(nxt, END),
        "slots-segment-free-positions": _e(free_a, free_a + 40) + _e(nxt, END),
        "slots-zero-then-end": bytes(10) + _e(nxt, END),
        "slots-segment-inside-fs": _e(at - 8, at - 2) + _e(nxt, END),
        "slots-segment-reversed": _e(early[3] - 1, early[2]) + _e(nxt, END),
        "slots-segment-end-at-start": _e(early[0], early[1]) + _e(nxt, END),
        "slots-version-2": _e(nxt, END, 2) + _e(nxt, END),
        "slots-third-field": _e(nxt, END + 7) + _e(nxt, END),
        "slots-own-ends": _e(at + 10, END) + _e(at + 20, END),
        "slots-end-then-segment": _e(nxt, END) + _e(early[0], early[1] - 1),
        "slots-segment-then-end": _e(early[1], early[2] - 1) + _e(nxt, END),
        "slots-segment-free-then-end": _e(free_a, free_a + 40) + _e(nxt, END),
        "slots-segment-past-fend": _e(_header(d)["end"] + 10, _header(d)["end"] + 50)
        + _e(nxt, END),
    }
    out = {name: _put(d, at, body) for name, body in cases.items()}
    # own-end entries after fEND where the FreeSegments record does not end there
    out["tail-behind-inner-record"] = d + _e(len(d) + 10, END) + _e(len(d) + 20, END)
    return out


SLOT_CASES = ("slots-2-segments-at-records", "slots-later-ends", "slots-earlier-end",
              "slots-segment-free-positions", "slots-zero-then-end", "slots-segment-inside-fs",
              "slots-segment-reversed", "slots-segment-end-at-start", "slots-version-2",
              "slots-third-field", "slots-own-ends", "slots-end-then-segment",
              "slots-segment-past-fend", "slots-segment-then-end",
              "slots-segment-free-then-end", "tail-behind-inner-record")


# ------------------------------------------- an older FreeSegments record uproot freed

# Plain uproot: objects written and deleted over three jobs, the last with nothing left;
# uproot moved the FreeSegments record once and left its older copy whole in free space
# (three entries), one end entry behind it, then the live record.
OLDER: list[Step] = [both(sized(h1=50), delete("h1"), sized(h2=200)),
                     both(delete("h2"), sized(h3=200), delete("h3")),
                     both(sized(h4=10), delete("h4"))]


def _older_at(d: bytes) -> int:
    """The older FreeSegments record: a key in free space copying the live one's names."""
    h = _header(d)
    live = h["seek_free"]
    keylen = _lengths(d, live)[1]
    return max(p for p in _records(d) if p < live and _lengths(d, p)[1] == keylen
               and d[p + 26 : p + keylen] == d[live + 26 : live + keylen])


def older(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    d = jobs(made / "older.root", None, OLDER)
    at = _older_at(d)
    first = at + _lengths(d, at)[1]
    (_, a, b), (_, c, e), (_, last, _) = (struct.unpack(">hii", d[first + 10 * k : first + 10 * k + 10])
                                          for k in range(3))
    assert last == _header(d)["seek_free"] + 0 * a and _lengths(d, at)[0] == first - at + 30
    pay = [int.from_bytes(PAYLOAD[k : k + 2], "big") % 3000 for k in range(0, 4, 2)]
    ends = {
        "freed-free-positions": _e(200 + pay[0], 300 + pay[0]) + _e(4000 + pay[1], 5000),
        "freed-past-file": _e(a, b) + _e(len(d) + 100, len(d) + 200),
        "freed-unordered": _e(c, e) + _e(a, b),
        "freed-overlapping": _e(a, c + 5) + _e(c, e),
        "freed-version-2": _e(a, b, 2) + _e(c, e),
    }
    out = {f"{n}": _put(d, first, body) for n, body in ends.items()}
    out["freed-end-elsewhere"] = _put(d, first + 20, _e(last - 500, END))
    out["freed-end-third-field"] = _put(d, first + 20, _e(last, END + 1))
    slot = at + _lengths(d, at)[0]
    out["freed-slot-fend"] = _put(d, slot, _e(_header(d)["end"], END))
    out["freed-slot-zeros"] = _put(d, slot, bytes(10))
    return out


OLDER_CASES = ("freed-free-positions", "freed-past-file", "freed-unordered",
               "freed-overlapping", "freed-version-2", "freed-end-elsewhere",
               "freed-end-third-field", "freed-slot-fend", "freed-slot-zeros")
