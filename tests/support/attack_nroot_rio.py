"""Small ROOT-file byte helpers for the independent attack n on ROOT (session 38): keys
and datimes of a small-layout file, a zlib stream of exact length, and the runner that
vets one quarantine through the CLI with the shipped batch policy's allow_types.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-nroot}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""


@dataclass(frozen=True)
class Key:
    pos: int
    nbytes: int
    keylen: int
    objlen: int
    datime: int
    cycle: int
    large: bool
    cls: str
    name: str
    title: str


def key_at(d: bytes, p: int) -> Key:
    """The key whose bytes start at p (version 4 small seeks, 1004 large)."""
    nb, ver, objlen, datime, kl, cycle = struct.unpack(">ihiIhh", d[p:p + 18])
    large = ver > 1000
    q, strs = p + 18 + (16 if large else 8), []
    for _ in range(3):
        strs.append(d[q + 1:q + 1 + d[q]].decode("latin1"))
        q += 1 + d[q]
    return Key(p, nb, kl, objlen, datime, cycle, large, *strs)


def seek_key(d: bytes, k: Key) -> int:
    """The key's fSeekKey (4 bytes, or 8 in a version 1004 key)."""
    return struct.unpack(">q" if k.large else ">i", d[k.pos + 18:k.pos + (26 if k.large else 22)])[0]


def own_keys(d: bytes, cls: str, name: str) -> list[Key]:
    """Every key of that class and name naming its own position (live, in free space or
    a copy in a keys list whose fSeekKey is the record's: callers tell them apart)."""
    pat = bytes([len(cls)]) + cls.encode() + bytes([len(name)]) + name.encode()
    out, i = [], d.find(pat)
    while i >= 0:
        for off in (26, 34):
            p = i - off
            if p >= 0 and struct.unpack(">h", d[p + 4:p + 6])[0] in (4, 1004):
                k = key_at(d, p)
                if k.cls == cls and k.name == name:
                    out.append(k)
        i = d.find(pat, i + 1)
    return out


def put(d: bytes, at: int, b: bytes) -> bytes:
    return d[:at] + b + d[at + len(b):]


def datime(year: int, month: int, day: int, hour: int, minute: int, sec: int) -> int:
    """ROOT's TDatime packing (what uproot and ROOT write in every key)."""
    return ((year - 1995) << 26 | month << 22 | day << 17 | hour << 12 | minute << 6
            | sec)


def zlib_exact(data: bytes, size: int) -> bytes:
    """One zlib stream of exactly `size` bytes inflating to data: deflate (the first level
    that leaves room) of all but the last m bytes, a sync flush, then the last m bytes as
    a final stored block (an encoder's legal choice: zlib itself stores what does not
    shrink)."""
    for level in range(1, 10):
        m = 0
        for _ in range(40):
            c = zlib.compressobj(level)
            head = c.compress(data[:len(data) - m]) + c.flush(zlib.Z_SYNC_FLUSH)
            total = len(head) + 5 + m + 4
            if total == size:
                return (head + b"\x01" + struct.pack("<HH", m, m ^ 0xFFFF)
                        + data[len(data) - m:] + struct.pack(">I", zlib.adler32(data)))
            m += size - total
            if not 0 <= m < 65536:
                break
    raise AssertionError("no exact size")


def _zstd_blocks(frame: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """Where a zstd frame's blocks start, and each block (its type, its whole bytes)."""
    fhd = frame[4]
    single = fhd >> 5 & 1
    fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    p = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
    start, out = p, []
    while True:
        h = int.from_bytes(frame[p:p + 3], "little")
        kind, size = h >> 1 & 3, h >> 3
        n = 3 + (1 if kind == 1 else size)
        out.append((kind, frame[p:p + n]))
        p += n
        if h & 1:
            assert p == len(frame), "a checksum or bytes after the last block"
            return start, out


def zstd_exact(data: bytes, size: int) -> bytes:
    """One zstd frame of exactly `size` bytes decoding to data (a large one, 4-byte
    content size, not single segment, as libzstd's level 1 writes 16 MiB): libzstd's
    frame of all but the last m bytes, its last block no longer last, then the last m
    bytes as a raw block, the content size the whole's (legal encoder choices; the first
    level that leaves room)."""
    import cramjam

    for level in range(1, 20):
        m = 0
        for _ in range(40):
            head = bytes(cramjam.zstd.compress(data[:len(data) - m], level=level))
            assert head[4] >> 6 == 2 and not head[4] >> 5 & 1 and not head[4] & 7, head[:6]
            total = len(head) + 3 + m
            if total == size:
                start, blocks = _zstd_blocks(head)
                _, last = blocks[-1]
                body = (head[start:len(head) - len(last)] + bytes([last[0] & 0xFE])
                        + last[1:])
                raw = (m << 3 | 1).to_bytes(3, "little") + data[len(data) - m:]
                return head[:6] + struct.pack("<I", len(data)) + body + raw
            m += size - total
            if not 0 <= m < 131072:
                break
    raise AssertionError("no exact size")


def vet(q: Path, base: Path) -> tuple[dict[str, dict], Path, int]:
    """One CLI run over the quarantine q with the batch policy's allow_types."""
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return entries, out, proc.returncode
