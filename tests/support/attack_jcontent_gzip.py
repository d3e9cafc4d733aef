"""gzip files for test_attack_independent_jcontent.py: empty members as Python's gzip,
GNU gzip and pigz write them (published) and the empty members no writer writes, or
stamped out of order (refused), and gzips whose inner name a server types as a page.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import time
import zlib
from pathlib import Path

from tests.support.attack_jcontent_files import IMG, LOOSE_JSON

LINE = b"2024-12-05 10:00:00,001 INFO run 42 event 17 done\n"


def member(data: bytes, mtime: int, *, raw: bytes | None = None, fname: bytes = b"", xfl: int = 2) -> bytes:
    """One gzip member as Python's gzip writes it (OS 255), deflate `raw` if given."""
    header = b"\x1f\x8b\x08" + bytes([8 if fname else 0]) + struct.pack("<I", mtime) + bytes([xfl, 255])
    if raw is None:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = deflate.compress(data) + deflate.flush()
    name = fname + b"\0" if fname else b""
    return header + name + raw + struct.pack("<II", zlib.crc32(data), len(data))


def _partial_flush_nothing() -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return deflate.flush(zlib.Z_PARTIAL_FLUSH) + deflate.flush()


def gzip_refused() -> dict[str, bytes]:
    """Empty members beside others that are not what a quiet session writes."""
    now = int(time.time()) - 3600
    first = member(LINE, now)
    return {
        "gz-empty-two-stored.log.gz": first + member(b"", now + 5, raw=bytes.fromhex("000000ffff000000ffff0300")),
        "gz-empty-partial-flush.log.gz": first + member(b"", now + 5, raw=_partial_flush_nothing()),
        "gz-empty-back-in-time.log.gz": first + member(b"", now - 5),
        "gz-empty-future.log.gz": first + member(b"", now + 10 * 86400),
        "gz-empty-mtime-zero-after.log.gz": first + member(b"", 0),
        "gz-empty-own-name.log.gz": first + member(b"", now + 5, fname=b"gz-empty-own-name.log"),
        "gz-10001-members.log.gz": first + b"".join(member(b"", now + i) for i in range(10000)),
        "index.html.en.gz": gzip.compress(IMG),
        "run.json.br.gz": gzip.compress(LOOSE_JSON),
    } | {name: data for name, (data, _) in NEAR_INFLATED.items()}


def _filler(size: int) -> bytes:
    return (LINE * (size // len(LINE) + 1))[:size]


# name -> (bytes, the byte of the inflated stream (gunzip's output) the refusal names)
NEAR_INFLATED = {
    "near-inflated.log.gz": (gzip.compress(_filler(5000) + b"\x1b[0m\n", mtime=0), 5000),
    "near-second-member.log.gz": (
        gzip.compress(_filler(100), mtime=0) + gzip.compress(_filler(3000) + b"<script>\n", mtime=0),
        3100,
    ),
}


def inflated_edges() -> dict[str, bytes]:
    """A tag across inflate's output pieces (64 KiB, 1 MiB) and across two members:
    refused (gunzip's output is one text)."""
    files = {}
    for base in (1 << 16, 1 << 20):
        for d in (-12, -3, 0):
            inner = _filler(base + d) + b"<object data=x.html>\n" + _filler(200)
            files[f"gzedge-{base}{d:+d}.log.gz"] = gzip.compress(inner, mtime=0)
    head = gzip.compress(_filler(1000) + b"<object ", mtime=0)
    files["gz-tag-across-members.log.gz"] = head + gzip.compress(b"data=x.html>\n", mtime=0)
    files["gz-script-across-members.log.gz"] = gzip.compress(b"run <scr", mtime=0) + gzip.compress(b"ipt>\n", mtime=0)
    return files


def gzip_holes() -> dict[str, bytes]:
    """gunzip's names that Debian's Apache types by the earlier extension (see PAGE_HOLES)."""
    return {"index.html.tr.gz": gzip.compress(IMG), "run.json.rtx.gz": gzip.compress(LOOSE_JSON)}


def _sessions(path: Path, sessions: list[bytes], mode: str = "ab") -> bytes:
    """gzip.open(path, mode) once a session: a member each, empty if nothing was logged."""
    for chunk in sessions:
        with gzip.open(path, mode) as out:
            if chunk:
                out.write(chunk if mode == "ab" else chunk.decode())
            out.flush()
    return path.read_bytes()


def _pandas_sessions(work: Path) -> dict[str, bytes]:
    """pandas appending a frame a session (to_csv mode='a', compression gzip): a session
    whose frame is empty writes an empty member, as Python's gzip does."""
    import numpy as np
    import pandas as pd

    path = work / "ctl-pd-append.csv.gz"
    frame = pd.DataFrame({"run": [1, 2], "energy": [0.5, 0.75], "det": ["ecal", "µ-ch"]})
    for i, part in enumerate((frame, frame.iloc[0:0], frame)):
        part.to_csv(path, mode="a", header=i == 0, index=False, compression="gzip")
    text = work / "ctl-np-savetxt.txt.gz"
    np.savetxt(text, np.array([[1.0, 2e-300], [3.5, np.nan]]), header="a b")
    return {path.name: path.read_bytes(), text.name: text.read_bytes()}


def gzip_controls(work: Path) -> dict[str, bytes]:
    """Real writers. Each file is written under the name it is published as (FNAME)."""
    work.mkdir(parents=True, exist_ok=True)
    now = int(time.time()) - 3600
    files = {
        "ctl-py-quiet-middle.log.gz": _sessions(work / "ctl-py-quiet-middle.log.gz", [LINE, b"", LINE]),
        "ctl-py-all-quiet.log.gz": _sessions(work / "ctl-py-all-quiet.log.gz", [b"", b"", b""], "at"),
        "ctl-py-quiet-text.log.gz": _sessions(work / "ctl-py-quiet-text.log.gz", [LINE, b""], "at"),
        "ctl-gz-empty-level1.log.gz": member(LINE, now) + member(b"", now + 5, xfl=4),
        "ctl-gz-empty-level0.log.gz": member(LINE, now)
        + member(b"", now + 5, raw=zlib.compress(b"", 0)[2:-4], xfl=0),
        "ctl-gz-empty-same-second.log.gz": member(LINE, now) + member(b"", now),
    }
    files |= _pandas_sessions(work)
    src, empty = work / "job.log", work / "empty.log"
    src.write_bytes(LINE * 50)
    empty.write_bytes(b"")
    for tool in (["gzip", "-n", "-c"], ["pigz", "-n", "-c"]):
        data = subprocess.run([*tool, str(src)], capture_output=True, check=True).stdout
        nothing = subprocess.run([*tool, str(empty)], capture_output=True, check=True).stdout
        files[f"ctl-{tool[0]}-n-cat-then-empty.log.gz"] = data + nothing
        files[f"ctl-{tool[0]}-n-empty-then-cat.log.gz"] = nothing + data
        files[f"ctl-{tool[0]}-n-empty.log.gz"] = nothing
    return files
