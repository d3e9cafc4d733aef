"""The keys list's slack forged (docs/quarantine.md, session 37, root_versions.py: "behind
a live keys list ... the chain is the list's older versions, each where the history
implies one ended ... the segments' lengths are those of the directory's deleted records
whole in free space ..., each once, and each segment ends on that version's last key ...;
then zeros. A version shorter than the key deleted after it ... costs ... 2 or 3 ... of
the file's 24 loose bytes"): versions where nothing was deleted, a wrong last key, a
segment twice, a version past the history's. Found: all pass as runs of the live keys list
(whole keys and tails of 24 bytes or more are such runs, which the ROOT row admits after a
list's keys and prices per run), so the versions rule adds no bound there; shorter tails
spend the 24 loose bytes and are refused past them. Session 38 (rootslack): all refused
(what follows the versions is what the list's place held: root_versions.first_place,
fresh, copied; no live keys list's runs there).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uproot

from tests.support import attack_mroot_rio as rio
from tests.support.attack_mroot_codecs import PAYLOAD


@dataclass(frozen=True)
class Keys:
    start: int  # the first key of the list
    keys: tuple[bytes, ...]
    end: int  # where the live keys end
    stop: int  # where the record ends


def keys_list(d: bytes, sub: str = "") -> Keys:
    """A directory's keys list: the top one's at fSeekKeys in its TDirectory (small
    layout, after the file's name and title); a subdirectory's is the last record of
    its name and class (uproot writes the directory's record, then its list)."""
    if sub:
        r = rio.named(d, sub, "TDirectory")
    else:
        at = 100 + struct.unpack(">i", d[28:32])[0] + 26  # version, datimes, lengths, seeks
        r = rio.at(d, struct.unpack(">i", d[at:at + 4])[0])
    p = r.pos + r.keylen
    n = struct.unpack(">i", d[p:p + 4])[0]
    assert 0 <= n < 10000, n
    q, keys = p + 4, []
    for _ in range(n):
        kl = struct.unpack(">h", d[q + 14:q + 16])[0]
        keys.append(d[q:q + kl])
        q += kl
    return Keys(p + 4, tuple(keys), q, r.pos + r.nbytes)


def hists(path: Path, names: list[str], deleted: list[str]) -> bytes:
    """One job writes the histograms (a name may hold a directory), a second deletes."""
    rng = np.random.default_rng(3)
    with uproot.recreate(path) as f:
        for name in names:
            f[name] = np.histogram(rng.normal(size=100), bins=10)
    if deleted:
        with uproot.update(path) as f:
            for name in deleted:
                del f[name]
    return path.read_bytes()


def _behind(d: bytes, chain: bytes, sub: str = "") -> bytes:
    k = keys_list(d, sub)
    assert k.end + len(chain) <= k.stop, (len(chain), k.stop - k.end)
    assert d[k.end:k.end + len(chain)] == bytes(len(chain)) or chain[:1] != b"", "slack"
    return rio.put(d, k.end, chain)


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    names = ["h0", "h1", "h2", "h3", "h4"]
    one = hists(made / "one.root", names, [])
    dl = hists(made / "del.root", names, ["h1"])
    two = hists(made / "two.root", names, ["h1", "h3"])
    k1, kd, k2 = keys_list(one), keys_list(dl), keys_list(two)
    out = {
        # nothing deleted: no older version can stand behind the list
        "one-job-last-key-again": _behind(one, k1.keys[-1]),
        "one-job-first-key": _behind(one, k1.keys[0]),
        "one-job-tail-20": _behind(one, k1.keys[2][-20:]),
        "one-job-tail-30": _behind(one, k1.keys[2][-30:]),
        # h1 deleted: the version before ended on h4's key (the one rewritten in place)
        "del-wrong-last-key": _behind(dl, kd.keys[0]),
        "del-segment-twice": _behind(dl, d_rest(dl) * 2),
        "del-then-whole-key": _behind(dl, d_rest(dl) + kd.keys[1]),
        "two-del-three-segments": _behind(two, d_rest(two) + k2.keys[-1]),
    }
    out["one-job-chosen-bytes-60"] = _behind(one, PAYLOAD[:60])
    out["one-job-chain-chosen"] = _chosen(one)
    hundred = hists(made / "hundred.root", [f"h{i:02d}" for i in range(100)], [])
    out["one-job-100-chain-chosen"] = _chosen(hundred)
    kh = keys_list(hundred)
    three = hists(made / "three.root", [f"h{i:04d}" for i in range(300)], [])
    k3 = keys_list(three)
    out["one-job-300-chain-30"] = _behind(three, b"".join(
        k3.keys[int.from_bytes(PAYLOAD[2 * i:2 * i + 2], "big") % 300] for i in range(30)))
    out["one-job-100-tails-chosen"] = _behind(hundred, b"".join(
        kh.keys[PAYLOAD[i] % 100][-(20 + PAYLOAD[i + 40] % 10):] for i in range(30)))
    # a subdirectory's list (the sibling of the top one), nothing deleted anywhere, and
    # with a deletion in the top directory only
    subs = ["h0", "h1"] + [f"run1/g{i:02d}" for i in range(30)]
    out["subdir-one-job-chain-chosen"] = _chosen(hists(made / "sub.root", subs, []), "run1")
    out["subdir-other-dir-del-chain"] = _chosen(
        hists(made / "subdel.root", subs, ["h1"]), "run1")
    return {f"root-m-slack-{k}.root": v for k, v in out.items()}


def _chosen(d: bytes, sub: str = "") -> bytes:
    """As many whole keys as the slack holds, each chosen by the payload's bits."""
    k = keys_list(d, sub)
    chain, i = b"", 0
    while True:
        nxt = k.keys[PAYLOAD[i] % len(k.keys)]
        if len(chain) + len(nxt) > k.stop - k.end:
            return _behind(d, chain, sub)
        chain, i = chain + nxt, i + 1


def d_rest(d: bytes) -> bytes:
    """What uproot's own del left behind the live list (the older versions' ends)."""
    k = keys_list(d)
    rest = d[k.end:k.stop].rstrip(b"\0")
    assert rest, "uproot left nothing behind the list"
    return rest


CONTROLS = {"one.root": "ctl-m-slack-one-job.root", "del.root": "ctl-m-slack-del-1.root",
            "two.root": "ctl-m-slack-del-2.root", "hundred.root": "ctl-m-slack-one-job-100.root",
            "sub.root": "ctl-m-slack-subdir.root", "subdel.root": "ctl-m-slack-subdir-top-del.root"}


NAMES = sorted(f"root-m-slack-{k}.root" for k in (
    "one-job-last-key-again", "one-job-first-key", "one-job-tail-20", "one-job-tail-30",
    "del-wrong-last-key", "del-segment-twice", "del-then-whole-key",
    "two-del-three-segments", "one-job-chosen-bytes-60", "one-job-chain-chosen",
    "one-job-100-chain-chosen", "one-job-100-tails-chosen", "one-job-300-chain-30", "subdir-one-job-chain-chosen", "subdir-other-dir-del-chain"))
