"""Small ROOT-file byte helpers for the independent attack m on ROOT (session 37): walk
the records of a small-layout file, ROOT's L4 and ZS compressed blocks built by hand
(literal-only LZ4, raw-block zstd: an encoder's legal choices), and the runner that vets
one quarantine through the CLI.
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

import xxhash

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-mroot}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""


@dataclass(frozen=True)
class Rec:
    pos: int
    nbytes: int
    keylen: int
    objlen: int
    cls: str
    name: str
    pdir_at: int  # where fSeekPdir starts inside the key (from pos)


def records(d: bytes) -> list[Rec]:
    """Every record from fBEGIN to fEND (small layout; a negated length is free space)."""
    fbegin, fend = struct.unpack(">ii", d[8:16])
    out, p = [], fbegin
    while p < fend:
        nb, _, objlen, _, kl, _ = struct.unpack(">ihiIhh", d[p:p + 18])
        if nb <= 0:
            out.append(Rec(p, -nb, 0, 0, "", "", 0))
            p += max(-nb, 4)
            continue
        q = p + 26
        strs = []
        for _ in range(3):
            strs.append(d[q + 1:q + 1 + d[q]].decode("latin1"))
            q += 1 + d[q]
        out.append(Rec(p, nb, kl, objlen, strs[0], strs[1], 22))
        p += nb
    return out


def at(d: bytes, p: int) -> Rec:
    """The small-layout record whose key starts at p."""
    nb, _, objlen, _, kl, _ = struct.unpack(">ihiIhh", d[p:p + 18])
    q, strs = p + 26, []
    for _ in range(3):
        strs.append(d[q + 1:q + 1 + d[q]].decode("latin1"))
        q += 1 + d[q]
    return Rec(p, nb, kl, objlen, strs[0], strs[1], 22)


def all_named(d: bytes, name: str, cls: str) -> list[Rec]:
    """Every key of that class and name naming its own position (live or in free space:
    uproot writes no negated lengths, so free space is found by its keys)."""
    pat = bytes([len(cls)]) + cls.encode() + bytes([len(name)]) + name.encode()
    out, i = [], d.find(pat)
    while i >= 0:
        p = i - 26
        if p > 0 and struct.unpack(">i", d[p + 18:p + 22])[0] == p:
            out.append(at(d, p))
        i = d.find(pat, i + 1)
    return out


def named(d: bytes, name: str, cls: str = "TH1D") -> Rec:
    """The LAST record of that name (a deleted one stays whole before a later copy)."""
    return all_named(d, name, cls)[-1]


def put(d: bytes, at: int, b: bytes) -> bytes:
    return d[:at] + b + d[at + len(b):]


def _lz4_literals(content: bytes) -> bytes:
    """One LZ4 sequence of literals only: a legal block any decoder inflates."""
    n = len(content)
    if n < 15:
        return bytes([n << 4]) + content
    rest, ext = n - 15, bytearray()
    while rest >= 255:
        ext.append(255)
        rest -= 255
    ext.append(rest)
    return bytes([0xF0]) + bytes(ext) + content


def _sizes(c: int, u: int) -> bytes:
    return c.to_bytes(3, "little") + u.to_bytes(3, "little")


def l4(content: bytes, method: int = 1, tail: bytes = b"") -> bytes:
    """ROOT's LZ4 block: 'L4', method, sizes, the XXH64 (big-endian) of the LZ4 block."""
    block = _lz4_literals(content) + tail
    check = xxhash.xxh64(block).digest()
    return b"L4" + bytes([method]) + _sizes(len(block) + 8, len(content)) + check + block


def zl(content: bytes) -> bytes:
    """ROOT's zlib block: 'ZL', method 8, sizes, a level-1 zlib stream (as the file's)."""
    stream = zlib.compress(content, 1)
    return b"ZL\x08" + _sizes(len(stream), len(content)) + stream


def zstd_frame(content: bytes, checksum: bool = False, dict_id: bytes = b"") -> bytes:
    """A zstd frame of raw blocks, single segment, content size in the fewest bytes."""
    n = len(content)
    if n < 256:
        flag, fcs = 0, bytes([n])
    elif n < 65536 + 256:
        flag, fcs = 1, (n - 256).to_bytes(2, "little")
    else:
        flag, fcs = 2, n.to_bytes(4, "little")
    did = {0: 0, 1: 1, 2: 2, 4: 3}[len(dict_id)]
    fhd = (flag << 6) | 0x20 | (0x04 if checksum else 0) | did
    out = b"\x28\xb5\x2f\xfd" + bytes([fhd]) + dict_id + fcs
    chunks = [content[i:i + 131072] for i in range(0, n, 131072)] or [b""]
    for k, ch in enumerate(chunks):
        last = 1 if k == len(chunks) - 1 else 0
        out += (last | (len(ch) << 3)).to_bytes(3, "little") + ch
    if checksum:
        out += xxhash.xxh64(content).intdigest().to_bytes(8, "little")[:4]
    return out


def zs(frame: bytes, usize: int, method: int = 1) -> bytes:
    """ROOT's zstd block around a frame (or anything posing as one)."""
    return b"ZS" + bytes([method]) + _sizes(len(frame), usize) + frame


def zs_of(content: bytes, method: int = 1, **kw) -> bytes:
    return zs(zstd_frame(content, **kw), len(content), method)


def vet(q: Path, base: Path) -> tuple[dict[str, dict], Path, int]:
    """One CLI run over the quarantine q with the batch policy's allow_types."""
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return entries, out, proc.returncode
