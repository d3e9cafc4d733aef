"""Older copies of compressed metadata in LZ4 and zstd (docs/quarantine.md, ROOT row,
session 37: "after ROOT's negated length, the end of the live record's key from its
fSeekPdir on, cut anywhere, then blocks of one codec to the stretch's end (... `L4` or
`ZS` since session 37 ...), each its codec's stream exactly ... inflating to at most
twice the live payload's size and to runs of it ..., at most 24 other bytes all in its
first 96"), forged over the older StreamerInfo ROOT left written over at its start in
rootpy 1.0.1's test_csv.root ([490, 4279): -3789, a key tail, one ZL block). The copy
is of the live StreamerInfo's payload; every block is built by hand (literal-only LZ4,
raw zstd blocks: legal encoders' output) around chosen bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cramjam

from tests.support import attack_mroot_rio as rio

PAYLOAD = hashlib.sha256(b"attack-m-root").digest() * 64
Blocks = Callable[[bytes], bytes]


CSV = Path.home() / ".cache/vmguard-tests/root-cxx/rootpy-1.0.1/test_csv.root"


def csv_root() -> bytes | None:
    """ROOT's own file with an older StreamerInfo written over at its start: [490, 4279)
    is -3789, the live StreamerInfo key's tail from fSeekPdir, one ZL block. The cache
    the project's ROOT tests fill (rootpy 1.0.1's sdist); None where it is missing."""
    return CSV.read_bytes() if CSV.exists() else None


HOLE = rio.Rec(490, 3789, 0, 0, "", "", 0)
LIVE_AT = 17370


def live_payload(d: bytes, live: rio.Rec) -> bytes:
    return zlib.decompress(d[live.pos + live.keylen + 9:live.pos + live.nbytes])


def older_copy(d: bytes, hole: rio.Rec, live: rio.Rec, blocks: Blocks, runs: bytes) -> bytes:
    """hole's bytes: -length, a tail of live's key from fSeekPdir, blocks(prefix of runs)
    fitted to the stretch's end (content length and where the key is cut chosen to fit)."""
    suffix = d[live.pos + live.pdir_at:live.pos + live.keylen]
    room = hole.nbytes - 4
    for n in range(min(len(runs), room), 0, -1):
        b = blocks(runs[:n])
        cut = room - len(b)
        if 0 <= cut <= len(suffix):
            stretch = struct.pack(">i", -hole.nbytes) + suffix[len(suffix) - cut:] + b
            assert len(stretch) == hole.nbytes
            return rio.put(d, hole.pos, stretch)
    raise AssertionError("no fit")


def split(maker: Callable[[bytes, int], bytes], size: int) -> Blocks:
    """Blocks of `size` content bytes each; maker(chunk, k) builds the k-th."""
    def blocks(content: bytes) -> bytes:
        return b"".join(maker(content[i:i + size], k)
                        for k, i in enumerate(range(0, len(content), size)))
    return blocks


def chosen_split(maker: Callable[[bytes], bytes]) -> Blocks:
    """Blocks whose content lengths the payload chooses (24 + 0..63 bytes each): the
    content is still one run of the live payload, only where blocks end carries bits."""
    def blocks(content: bytes) -> bytes:
        out, i, k = [], 0, 0
        while i < len(content):
            n = 24 + PAYLOAD[k] % 64
            out.append(maker(content[i:i + n]))
            i, k = i + n, k + 1
        return b"".join(out)
    return blocks


def _loose(live: bytes, at: int, count: int = 24) -> bytes:
    return live[:at] + PAYLOAD[:count] + live[at + count:]


def _cases(d: bytes, codec: str) -> dict[str, bytes]:
    live = rio.at(d, LIVE_AT)
    runs = live_payload(d, live)
    one = rio.l4 if codec == "l4" else rio.zs_of  # the codecs session 37 added

    def cp(blocks: Blocks, content: bytes = runs) -> bytes:
        return older_copy(d, HOLE, live, blocks, content)

    def many(**kw) -> Blocks:
        return split(lambda c, k: one(c, **kw), 200)

    chosen = split(lambda c, k: one(c, method=PAYLOAD[k] | 0x10), 200)
    return {
        "one-block": cp(one),
        "many-blocks": cp(many()),
        "loose-24-first-96": cp(one, _loose(runs, 40)),
        "loose-24-at-end": cp(one, runs[:2000] + PAYLOAD[:24] + runs[2024:]),
        "loose-24-each-block": cp(split(lambda c, k: one(_loose(c, 8)), 200)),
        "method-chosen-each-block": cp(chosen),
        "short-runs-16": cp(one, b"".join(runs[i * 97 % 11000:][:16] for i in range(400))),
        "key-tail-chosen": rio.put(cp(one), HOLE.pos + 6, PAYLOAD[:30]),
        "block-lengths-chosen": cp(chosen_split(one)),
    }


def _zstd_cases(d: bytes) -> dict[str, bytes]:
    live = rio.at(d, LIVE_AT)
    runs = live_payload(d, live)

    def cp(blocks: Blocks) -> bytes:
        return older_copy(d, HOLE, live, blocks, runs)

    half = len(runs) // 2
    bomb = (runs[:3000] * 13)[:36000]  # runs of the payload, over twice its 17919 bytes
    big = bytes(cramjam.zstd.compress(bomb, level=19))
    return {
        "zstd-checksum": cp(lambda c: rio.zs_of(c, checksum=True)),
        "zstd-dict-id": cp(lambda c: rio.zs_of(c, dict_id=PAYLOAD[:4])),
        "zstd-skippable-first": cp(lambda c: rio.zs(
            b"\x50\x2a\x4d\x18" + struct.pack("<I", 256) + PAYLOAD[:256]
            + rio.zstd_frame(c), len(c))),
        "zstd-two-frames": cp(lambda c: rio.zs(
            rio.zstd_frame(c[:len(c) // 2]) + rio.zstd_frame(c[len(c) // 2:]), len(c))),
        "l4-then-zs-mixed": cp(lambda c: rio.l4(c[:half]) + rio.zs_of(c[half:])),
        "lz4-bytes-after-block": cp(lambda c: rio.l4(c, tail=b"\x00" + PAYLOAD[:8])),
        "zstd-bytes-after-frame": cp(lambda c: rio.zs(rio.zstd_frame(c) + PAYLOAD[:8], len(c))),
        "zstd-over-twice-the-payload": cp(lambda c: rio.zs(big, len(bomb)) + rio.zs_of(c)),
        "lz4-size-one-more": cp(lambda c: rio.l4(c)[:6] + (len(c) + 1).to_bytes(3, "little")
                                + rio.l4(c)[9:]),
    }


def hostile() -> dict[str, bytes]:
    d = csv_root()
    if d is None:
        return {}
    out = {f"l4-{k}": v for k, v in _cases(d, "l4").items()}
    live = rio.at(d, LIVE_AT)
    out["zl-block-lengths-chosen"] = older_copy(d, HOLE, live, chosen_split(rio.zl),
                                                live_payload(d, live))
    out |= {f"zs-{k}": v for k, v in _cases(d, "zs").items()} | _zstd_cases(d)
    return {f"root-m-older-{k}.root": v for k, v in out.items()}


_KINDS = ("one-block", "many-blocks", "loose-24-first-96", "loose-24-at-end",
          "loose-24-each-block", "method-chosen-each-block", "short-runs-16",
          "key-tail-chosen", "block-lengths-chosen")
_ZSTD = ("zstd-checksum", "zstd-dict-id", "zstd-skippable-first", "zstd-two-frames",
         "l4-then-zs-mixed", "lz4-bytes-after-block", "zstd-bytes-after-frame",
         "zstd-over-twice-the-payload", "lz4-size-one-more", "zl-block-lengths-chosen")
NAMES = sorted([f"root-m-older-{c}-{k}.root" for c in ("l4", "zs") for k in _KINDS]
               + [f"root-m-older-{k}.root" for k in _ZSTD])
