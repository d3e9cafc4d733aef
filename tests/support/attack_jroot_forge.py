"""Hostile ROOT files for the independent attack j (session 35): forged orphan baskets
behind a live uproot tree (the session-35 admission of what `del` leaves behind a tree
made again), orphans patched in their pinned key fields, forged FreeSegments tails after
fEND, and RNTuple envelopes no anchor reaches. Each patch leaves a file uproot opens.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import uproot
import xxhash

from tests.support.attack_dcontent_root import _header, _key_at, _lengths, _put
from tests.support.attack_fbinary_root import PAYLOAD
from tests.support.attack_jroot_files import XY, _tree, again

END_ENTRY = 2000000000


def _basket(d: bytes, branch: bytes, nth: int = 0) -> int:
    """Key position of the nth basket (file order) of branch in tree t."""
    at, found = d.find(b"\x07TBasket" + bytes([len(branch)]) + branch + b"\x01t"), []
    while at >= 0:
        found += [k for k in (at - 26, at - 34) if _key_at(d, k)]
        at = d.find(b"\x07TBasket" + bytes([len(branch)]) + branch + b"\x01t", at + 1)
    return found[nth]


def _big(d: bytes, key: int) -> bool:
    return struct.unpack(">h", d[key + 4 : key + 6])[0] > 1000


def _moved_to(record: bytes, at: int, big: bool) -> bytes:
    """The record with its fSeekKey naming its new position."""
    return _put(record, 18, struct.pack(">q" if big else ">i", at))


def _append(d: bytes, records: list[bytes]) -> bytes:
    """Records appended at fEND: fEND in the header and the FreeSegments' last entry
    (fEND, 2000000000) moved past them."""
    old = _header(d)["end"]
    assert old == len(d)
    out = d
    for r in records:
        out += _moved_to(r, len(out), _big(r, 0))
    last = struct.pack(">hii", 1, old, END_ENTRY)
    h = _header(d)
    where = d.find(last, h["seek_free"], h["seek_free"] + h["nbytes_free"])
    assert where > 0
    out = _put(out, where, struct.pack(">hii", 1, len(out), END_ENTRY))
    return _put(out, 12, struct.pack(">i", len(out)))


def _copy(d: bytes, key: int, payload: bool = True) -> bytes:
    nbytes, keylen = _lengths(d, key)
    rec = d[key : key + nbytes]
    if payload:
        rec = rec[:keylen] + (PAYLOAD * nbytes)[: nbytes - keylen]
    return rec


def one_job(made: Path) -> bytes:
    """An uncompressed tree t(x, y) of 3 baskets a branch, one job, nothing deleted."""
    path = made / "one-job.root"
    with uproot.recreate(path, compression=None) as f:
        _tree(f, "t", XY, 3)
    return path.read_bytes()


def forged_orphans(made: Path, branches: tuple[bytes, ...], copies: int = 1) -> bytes:
    d = one_job(made)
    return _append(d, [_copy(d, _basket(d, b)) for b in branches for _ in range(copies)])


def _subdir(made: Path) -> bytes:
    """An uncompressed tree d/t(x, y), one job: its baskets' parent is d (uproot's)."""
    path = made / "subdir.root"
    with uproot.recreate(path, compression=None) as f:
        _tree(f, "d/t", XY, 3)
    return path.read_bytes()


def subdir_orphans(made: Path, parent: str) -> bytes:
    """Orphans of x and y forged behind d/t, their parent d (uproot's) or the top directory
    (ROOT's for a live basket; the docs pin an orphan's to its tree's directory)."""
    d = _subdir(made)
    recs = [_copy(d, _basket(d, b)) for b in (b"x", b"y")]
    if parent == "top":
        top = _header(d)["begin"]
        recs = [_put(r, 26, struct.pack(">q", top)) for r in recs]
    return _append(d, recs)


def _again(made: Path) -> tuple[bytes, int]:
    """again() uncompressed, and its first orphan: job 1's first basket of x."""
    d = again(made / "again.root", None)
    return d, _basket(d, b"x", 0)


def _title_at(d: bytes, key: int) -> int:
    """Offset of the basket key's title string (after class and name)."""
    p = key + (34 if _big(d, key) else 26)
    p += 1 + d[p]
    return p + 1 + d[p]


def orphan_patched(made: Path, field: str) -> bytes:
    d, key = _again(made)
    nbytes, keylen = _lengths(d, key)
    parent = key + (26 if _big(d, key) else 22)
    title = _title_at(d, key)
    patches: dict[str, tuple[int, bytes]] = {
        "cycle-1": (key + 16, struct.pack(">h", 1)),
        "datime-later": (key + 10, struct.pack(">I", 0xFFFFFFF0)),
        "datime-1995": (key + 10, struct.pack(">I", 0x00210000)),
        "parent-0": (parent, bytes(8 if _big(d, key) else 4)),
        "title-u": (title + 1, b"u"),
        "name-q": (title - 1, b"q"),
        "buffer-size": (title + 2 + 2, PAYLOAD),
        "payload": (key + keylen, (PAYLOAD * nbytes)[: nbytes - keylen]),
    }
    return _put(d, *patches[field])


# ---------------------------------------------------------------- fEND tails


def _tail(made: Path, entries: list[tuple[int, int, int]]) -> bytes:
    """one_job()'s file (its FreeSegments record ends at fEND; nothing was ever deleted in
    it, and its free list never shrank) with older entries after fEND, then (1, length, 2e9)."""
    d = one_job(made)
    tail = b"".join(struct.pack(">hii", *e) for e in entries)
    total = len(d) + len(tail) + 10
    return d + tail + struct.pack(">hii", 1, total, END_ENTRY)


def tails(made: Path) -> dict[str, bytes]:
    """Segments chosen as payload (positions before the FreeSegments record)."""
    d = one_job(made)
    sf = _header(d)["seek_free"]
    a, b, c, e = (int.from_bytes(PAYLOAD[:2], "big") % (sf // 5) + k * (sf // 5) for k in range(4))
    ordered = [(1, a, a + 7), (1, b, b + 9), (1, c, c + 3)]
    return {
        "tail-3-segments": _tail(made, ordered),
        "tail-4-segments": _tail(made, [*ordered, (1, e, e + 5)]),
        "tail-unordered": _tail(made, [ordered[2], ordered[0], ordered[1]]),
        "tail-version-7": _tail(made, [(7, a, a + 7)]),
        "tail-past-record": _tail(made, [(1, sf + 3, sf + 9)]),
        "tail-reversed": _tail(made, [(1, a + 7, a), (1, b + 9, b)]),
        "tail-zeros": _tail(made, [(0, 0, 0)] * 3),
        "tail-inside-basket": _tail(made, [(1, _basket(d, b"x") + 100, _basket(d, b"x") + 131)]),
    }


# ---------------------------------------------------------------- RNTuple envelopes


def _rntuple_file(made: Path) -> bytes:
    path = made / "rnt.root"
    with uproot.recreate(path, compression=None) as f:
        f["n"] = {"x": np.arange(100), "y": np.linspace(0, 1, 100)}
    return path.read_bytes()


def _envelopes(d: bytes) -> tuple[int, int]:
    """(header blob key, footer blob key) of the live RNTuple n, from its anchor."""
    at = d.find(b"\rROOT::RNTuple\x01n")
    while not _key_at(d, at - 26):
        at = d.find(b"\rROOT::RNTuple\x01n", at + 1)
    _, keylen = _lengths(d, at - 26)
    a = at - 26 + keylen + 6
    seek_h, _, _, seek_f = struct.unpack(">QQQQ", d[a + 8 : a + 40])
    return _key_before_blob(d, seek_h), _key_before_blob(d, seek_f)


def _key_before_blob(d: bytes, payload_at: int) -> int:
    return next(k for k in range(payload_at - 80, payload_at) if _key_at(d, k)
                and k + _lengths(d, k)[1] == payload_at)


def _resum(env: bytes) -> bytes:
    """An envelope with its trailing XXH3-64 (little-endian) recomputed."""
    return env[:-8] + xxhash.xxh3_64_intdigest(env[:-8]).to_bytes(8, "little")


def _forged_pair(d: bytes, head: int, foot: int, old: bytes, new: bytes) -> list[bytes]:
    """Copies of the header and footer blobs, the header's bytes old replaced by new (same
    length), its checksum, the footer's header checksum (after the feature flags) and the
    footer's own checksum recomputed."""
    h, f = _copy(d, head, False), _copy(d, foot, False)
    hk, fk = _lengths(d, head)[1], _lengths(d, foot)[1]
    assert old in h[hk:] and len(old) == len(new)
    env = _resum(h[hk:].replace(old, new, 1))
    fenv = _put(f[fk:], 16, env[-8:])  # the header's own checksum
    return [h[:hk] + env, f[:fk] + _resum(fenv)]


def rntuple_orphans(made: Path, which: str) -> bytes:
    d = _rntuple_file(made)
    head, foot = _envelopes(d)
    if which == "pair-payload":
        return _append(d, _forged_pair(d, head, foot, b"Uproot", PAYLOAD + b"!!"))
    if which == "pair-other-name":
        return _append(d, _forged_pair(d, head, foot, b"\x01\x00\x00\x00n", b"\x01\x00\x00\x00m"))
    recs: dict[str, list[bytes]] = {
        "pair": [_copy(d, head, False), _copy(d, foot, False)],
        "header-alone": [_copy(d, head, False)],
        "footer-alone": [_copy(d, foot, False)],
        "two-headers": [_copy(d, head, False), _copy(d, head, False), _copy(d, foot, False)],
    }
    return _append(d, recs[which])


def pair_behind_other_class(made: Path, which: str) -> bytes:
    """Objects of one class forged behind a live object of the other under the same name:
    RNTuple n's header and footer blobs behind a TTree n, or t's baskets (x, y) behind an
    RNTuple t."""
    rnt, tree = _rntuple_file(made), one_job(made)
    path = made / "other.root"
    with uproot.recreate(path, compression=None) as f:
        if which == "rntuple-behind-tree":
            _tree(f, "n", XY, 2)
        else:
            f["t"] = {"x": np.arange(100.0), "y": np.arange(100, dtype=np.int32)}
    d = path.read_bytes()
    if which == "rntuple-behind-tree":
        head, foot = _envelopes(rnt)
        return _append(d, [_copy(rnt, head, False), _copy(rnt, foot, False)])
    return _append(d, [_copy(tree, _basket(tree, b)) for b in (b"x", b"y")])


MAKERS: dict[str, Callable[[Path], bytes]] = {
    "forged-orphans-every-branch": lambda m: forged_orphans(m, (b"x", b"y")),
    "forged-orphans-one-branch": lambda m: forged_orphans(m, (b"x",)),
    "forged-orphans-200": lambda m: forged_orphans(m, (b"x", b"y"), 100),
    **{f"orphan-{f}": (lambda m, f=f: orphan_patched(m, f)) for f in (
        "cycle-1", "datime-later", "datime-1995", "parent-0", "title-u", "name-q",
        "buffer-size", "payload")},
    **{f"rntuple-orphan-{w}": (lambda m, w=w: rntuple_orphans(m, w)) for w in (
        "pair", "header-alone", "footer-alone", "two-headers", "pair-payload",
        "pair-other-name")},
    "rntuple-behind-tree": lambda m: pair_behind_other_class(m, "rntuple-behind-tree"),
    "baskets-behind-rntuple": lambda m: pair_behind_other_class(m, "baskets-behind-rntuple"),
    "subdir-orphans-parent-dir": lambda m: subdir_orphans(m, "dir"),
    "subdir-orphans-parent-top": lambda m: subdir_orphans(m, "top"),
}
TAILS = ("tail-3-segments", "tail-4-segments", "tail-unordered", "tail-version-7",
         "tail-past-record", "tail-reversed", "tail-zeros", "tail-inside-basket")
HOSTILE_NAMES = sorted(f"root-j-{n}.root" for n in (*MAKERS, *TAILS))


def hostile(made: Path) -> dict[str, bytes]:
    out = {}
    for name, fn in MAKERS.items():
        where = made / name
        where.mkdir(parents=True, exist_ok=True)
        out[f"root-j-{name}.root"] = fn(where)
    (made / "tails").mkdir(parents=True, exist_ok=True)
    out.update({f"root-j-{n}.root": b for n, b in tails(made / "tails").items()})
    return out
