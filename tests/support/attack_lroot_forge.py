"""Hostile ROOT files for the independent attack l (session 37): what root_keylists
admits in free space (docs/quarantine.md, session 36: "a chain of copies of the file's
keys ... and tails of them ... an older list's own key and count"), forged where uproot
never wrote a keys list: in the place of a histogram deleted with `del` (whole keys
chosen and repeated, tails past their cap, older lists' keys with chosen datimes and
counts), behind the live list, and in the free space of files where nothing was deleted
(one job; a list that moved as it grew). The carried bits come from PAYLOAD; every patch
leaves a file uproot opens and reads.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from tests.support import attack_lroot_files as files

PAYLOAD = hashlib.sha256(b"attack-l-root").digest() * 64


def _put(d: bytes, at: int, b: bytes) -> bytes:
    return d[:at] + b + d[at + len(b):]


def _fill(d: bytes, at: int, length: int, chain: bytes) -> bytes:
    """The stretch [at, at + length) holds chain, then zeros."""
    assert len(chain) <= length, (len(chain), length)
    return _put(d, at, chain + bytes(length - len(chain)))


def key(d: bytes, p: int) -> dict:
    """The small-layout key at p (ROOT's TKey: lengths, datime, position, strings)."""
    nbytes, _, _, datime, keylen, _ = struct.unpack(">ihiIhh", d[p:p + 18])
    seek = struct.unpack(">i", d[p + 18:p + 22])[0]
    q, strs = p + 26, []
    for _ in range(3):
        strs.append(d[q + 1:q + 1 + d[q]].decode("latin1"))
        q += 1 + d[q]
    return {"nbytes": nbytes, "datime": datime, "keylen": keylen, "seek": seek,
            "cls": strs[0], "name": strs[1]}


def records(d: bytes) -> list[int]:
    """Positions of keys naming their own position (live records and whole deleted ones)."""
    begin = struct.unpack(">i", d[8:12])[0]
    return [p for p in range(begin, len(d) - 26) if d[p + 4:p + 6] == b"\x00\x04"
            and struct.unpack(">i", d[p + 18:p + 22])[0] == p]


def _named(d: bytes, name: str) -> int:
    return next(p for p in records(d) if key(d, p)["name"] == name)


def _own_key(d: bytes, p: int) -> bytes:
    return d[p:p + key(d, p)["keylen"]]


def _hist_keys(d: bytes, skip: int = -1) -> list[bytes]:
    return [_own_key(d, p) for p in records(d) if key(d, p)["cls"] == "TH1D" and p != skip]


def _live_list(d: bytes) -> tuple[int, int]:
    """(position of the top keys list, end of its live keys): fSeekKeys from the top
    directory (after its key, name and title: version, 2 datimes, 2 lengths, 3 seeks)."""
    top = struct.unpack(">i", d[8:12])[0]
    q = top + key(d, top)["keylen"]
    q += 1 + d[q]
    q += 1 + d[q]
    at = struct.unpack(">i", d[q + 26:q + 30])[0]
    p = at + key(d, at)["keylen"]
    count = struct.unpack(">i", d[p:p + 4])[0]
    p += 4
    for _ in range(count):
        p += key(d, p)["keylen"]
    return at, p


def _choices(count: int, salt: int = 0) -> list[int]:
    """count 16-bit values of the payload."""
    return [int.from_bytes(PAYLOAD[2 * (i + salt):2 * (i + salt) + 2], "big")
            for i in range(count)]


def _datimes(count: int, salt: int) -> list[int]:
    """count valid ROOT datimes in 1996-2015 chosen by the payload (about 29 bits each:
    year, month, day 1-28, hour, minute, second), all earlier than any key written now.
    ROOT packs (year - 1995) << 26 | month << 22 | day << 17 | hour << 12 | min << 6 | sec."""
    out = []
    for i in range(count):
        v = int.from_bytes(PAYLOAD[4 * (i + salt):4 * (i + salt) + 4], "big")
        fields = (1 + v % 20, 1 + v // 20 % 12, 1 + v // 240 % 28, v // 6720 % 24,
                  v // 161280 % 60, v // 9676800 % 60)
        out.append(sum(f << shift for f, shift in zip(fields, (26, 22, 17, 12, 6, 0),
                                                      strict=True)))
    return out


def _tails(keys: list[bytes], count: int, salt: int) -> bytes:
    """count tails key[s:], the key and s chosen by the payload (at least 9 bytes each)."""
    out = b""
    for v in _choices(count, salt):
        k = keys[v % len(keys)]
        out += k[1 + (v >> 8) % (len(k) - 9):]
    return out


def _chosen_keys(keys: list[bytes], room: int, salt: int = 0) -> bytes:
    out = b""
    for v in _choices(room // 30, salt):
        k = keys[v % len(keys)]
        if len(out) + len(k) > room:
            break
        out += k
    return out


def _older(d: bytes, at: int, datimes: list[int], count: int, body: bytes) -> bytes:
    """Older keys lists laid from at: each the live list's key with its lengths, datime
    and position its own, then its count and body."""
    live, _ = _live_list(d)
    kl = key(d, live)["keylen"]
    out = b""
    for dt in datimes:
        head = _put(d[live:live + kl], 0, struct.pack(">ih", kl + 4 + len(body), 4))
        head = _put(head, 6, struct.pack(">iI", 4 + len(body), dt))
        out += _put(head, 18, struct.pack(">i", at + len(out))) + struct.pack(">i", count) + body
    return out


def _cycles_chosen(d: bytes, at: int, count: int) -> bytes:
    """count older lists' keys (no keys after them), each cycle chosen by the payload."""
    lists = bytearray(_older(d, at, _datimes(count, 40), 0, b""))
    one = len(lists) // count
    for i, v in enumerate(_choices(count, 17)):
        lists[i * one + 16:i * one + 18] = struct.pack(">h", 2 + v % 32000)
    return bytes(lists)


def deleted(made: Path) -> dict[str, bytes]:
    """Forgeries in the place of the deleted `big` (files.deleted_base)."""
    d = files.deleted_base(made / "deleted.root")
    big = _named(d, "big")
    n = key(d, big)["nbytes"]
    keys = _hist_keys(d, skip=big)
    h00 = _own_key(d, _named(d, "h00"))
    live, end = _live_list(d)
    lk = d[live:live + key(d, live)["keylen"]]
    dt = key(d, live)["datime"]
    forged = bytearray(h00)
    forged[10:14] = b"PWND"  # a key's datime chosen
    si = struct.unpack(">i", d[37:41])[0]  # fSeekInfo
    sik = key(d, si)
    sip = d[si + sik["keylen"]:si + sik["nbytes"]]
    h10 = _named(d, "h10")
    h10b = d[h10:h10 + key(d, h10)["nbytes"]]
    h01 = _named(d, "h01")
    h01b = d[h01:h01 + key(d, h01)["nbytes"]]
    runs = b"".join(sip[v % (len(sip) - 24):][:24] for v in _choices(600, 11))
    at = lambda chain: _fill(d, big, n, chain)  # noqa: E731
    return {
        "chain-repeat": at(h00 * (n // len(h00))),
        "chain-chosen": at(_chosen_keys(keys, n)),
        "chain-short-10": at(b"".join(keys[v % len(keys)] for v in _choices(10))),
        "slack-repeat": _fill(d, end, live + key(d, live)["nbytes"] - end, h00 * 2),
        "tails-18": at(_tails(keys, 18, 3)),
        "tails-19": at(_tails(keys, 19, 3)),
        "tails-20": at(_tails(keys, 20, 3)),
        "tails-40": at(_tails(keys, 40, 3)),
        "tails-17-interleaved": at(b"".join(keys[i % len(keys)] + _tails(keys, 1, 3 + i)
                                            for i in range(17))),
        "older-datime-0": at(_older(d, big, [0], 3, b"".join(keys[:3]))),
        "older-count-0": at(_older(d, big, [dt], 0, b"".join(keys[:3]))),
        "older-datime-later": at(_older(d, big, [dt + (1 << 26)], 3, b"".join(keys[:3]))),
        "older-count-more": at(_older(d, big, [dt], 5, b"".join(keys[:3]))),
        "older-20-datimes": at(_older(d, big, _datimes(20, 0), 2,
                                      b"".join(keys[:2]))),
        "older-150-datimes": at(_older(d, big, _datimes(150, 60), 1,
                                       keys[0])),
        "older-20-cycles": at(_cycles_chosen(d, big, 20)),
        "older-head-cut-count-pwnd": at(lk[20:] + b"PWND" + b"".join(keys[:3])),
        "older-head-cut-count-3": at(lk[20:] + struct.pack(">i", 3) + b"".join(keys[:3])),
        "older-head-cut-pwnd-x50": at((lk[20:] + b"PWND" + keys[0]) * 50),
        "older-10-with-19-tails": at(_older(d, big, _datimes(10, 300), 0,
                                            _tails(keys, 19, 100))),
        "key-datime-forged-1": at(h00 + bytes(forged) + h00),
        "key-datime-forged-7": at((h00 + bytes(forged)) * 7 + h00),
        "runs-of-streamerinfo": at(runs[:n - 48]),
        "written-over-tail-zeros-before": _put(at(b""), big + n - 500, h10b[-500:]),
        "written-over-tail-mid": _put(at(b""), big + n - 1000, h10b[-500:]),
        "written-over-tail-two": _put(_put(at(b""), big + n - 500, h10b[-500:]),
                                      big + n - 1000, h01b[-500:]),
    }


def undeleted(made: Path) -> dict[str, bytes]:
    """Forgeries in files where nothing was deleted: the 186 zeros before a one-job file's
    keys list, an older list a grown file left whole."""
    one = files.one_job_base(made / "one.root")
    live, _ = _live_list(one)
    zero = live - 186
    assert one[zero:live] == bytes(186)
    keys = _hist_keys(one)
    out = {
        "one-job-older-4-datimes": _fill(one, zero, 186, _older(
            one, zero, _datimes(4, 5), 0, b"")),
        "one-job-chain-5": _fill(one, zero, 186, b"".join(keys[v % 5] for v in _choices(5, 9))),
        "one-job-tails-8": _fill(one, zero, 186, _tails(keys, 8, 40)),
    }
    grown = files.grown_base(made / "grown.root")
    live, _ = _live_list(grown)
    old = max(p for p in records(grown) if p != live and key(grown, p)["cls"] == "TFile"
              and key(grown, p)["nbytes"] > 300 and p < live)
    n = key(grown, old)["nbytes"]
    keys = _hist_keys(grown)
    out["grown-older-10-datimes"] = _fill(grown, old, n, _older(
        grown, old, _datimes(10, 13), 0, b""))
    out["grown-chain-chosen"] = _fill(grown, old, n, _chosen_keys(keys, n, 21))
    return out


def written_over(made: Path) -> dict[str, bytes]:
    """The rest of a deleted `a` behind the smaller `s` that took its place, `a` written
    again (files.WRITTEN_OVER, ZLIB(1)); and a one-job file's free zeros made the end of a
    live histogram, where nothing was deleted or written again."""
    d = files.jobs(made / "wo.root", files.CODECS["zlib"], files.WRITTEN_OVER)
    s = _named(d, "s")
    at = s + key(d, s)["nbytes"]
    n = min(p for p in records(d) if p > at) - at
    si = struct.unpack(">i", d[37:41])[0]
    a = _named(d, "a")
    a_end = a + key(d, a)["nbytes"]
    one = files.one_job_base(made / "one-tail.root")
    live, _ = _live_list(one)
    h03 = _named(one, "h03")
    return {
        "written-over-byte-flipped": _put(d, at + 100, bytes([d[at + 100] ^ 1])),
        "written-over-zeros-then-tail": _put(_fill(d, at, n, b""), at + 48,
                                             d[a_end - n + 48:a_end]),
        "written-over-streamerinfo-tail": _put(d, at, d[si + key(d, si)["nbytes"] - n:
                                                       si + key(d, si)["nbytes"]]),
        "one-job-tail-of-h03": _put(one, live - 186, one[h03 + key(one, h03)["nbytes"] - 186:
                                                         h03 + key(one, h03)["nbytes"]]),
    }


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    out = {**deleted(made), **undeleted(made), **written_over(made)}
    return {f"root-l-{name}.root": data for name, data in out.items()}


HOSTILE_NAMES = [f"root-l-{n}.root" for n in (
    "chain-repeat", "chain-chosen", "chain-short-10", "slack-repeat", "tails-18", "tails-19",
    "tails-20", "tails-40", "tails-17-interleaved", "older-datime-0", "older-count-0",
    "older-datime-later", "older-count-more", "older-20-datimes", "older-150-datimes",
    "older-20-cycles",
    "older-head-cut-count-pwnd", "older-head-cut-count-3", "older-head-cut-pwnd-x50",
    "older-10-with-19-tails", "key-datime-forged-1", "key-datime-forged-7",
    "runs-of-streamerinfo", "written-over-tail-zeros-before", "written-over-tail-mid",
    "written-over-tail-two", "one-job-older-4-datimes", "one-job-chain-5", "one-job-tails-8",
    "grown-older-10-datimes", "grown-chain-chosen", "written-over-byte-flipped",
    "written-over-zeros-then-tail", "written-over-streamerinfo-tail", "one-job-tail-of-h03")]
