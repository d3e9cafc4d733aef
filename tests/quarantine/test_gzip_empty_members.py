"""Empty gzip members beside others (issue #13, attack i's class 2): Python's
gzip.open(path, "ab"), once a session, writes a member that inflates to nothing when the
session logs nothing. Published: what it writes ('ab' and 'at', level 9 and 0, a flush
first, the quiet session first, between or last). Refused: an empty member carrying
anything else (FEXTRA, FCOMMENT, a name the other members lack, deflate of nothing zlib
does not write, an MTIME earlier than the member before it or in the future)."""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict

LINE = b"2026-12-05 07:00:00,001 INFO run 42 event 17 done\n"
NOW = int(time.time())


def _sessions(
    path: Path, sessions: list[bytes], mode: str = "ab", level: int = 9, flush: bool = False
) -> bytes:
    """gzip.open(path, mode) once a session, as a job's logger appends: empty if it logged nothing."""
    for chunk in sessions:
        with gzip.open(path, mode, compresslevel=level) as out:
            if flush:
                out.flush()
            if chunk:
                out.write(chunk if "b" in mode else chunk.decode())
    return path.read_bytes()


def _empty(deflate: bytes = b"\x03\x00", flg: int = 0, fields: bytes = b"", mtime: int = NOW) -> bytes:
    head = b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", mtime) + b"\x00\xff"
    return head + fields + deflate + struct.pack("<II", 0, 0)


def _partial_flush() -> bytes:
    """zlib's deflate of nothing after a Z_PARTIAL_FLUSH, which no gzip writer asks for."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.flush(zlib.Z_PARTIAL_FLUSH) + z.flush()


def _unnamed(data: bytes, mtime: int = NOW) -> bytes:
    return gzip.compress(data, mtime=mtime)


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    work = tmp_path_factory.mktemp("writers")
    real = {
        "quiet-between.log.gz": ([LINE, b"", LINE], {}),
        "quiet-first.log.gz": ([b"", LINE], {}),
        "quiet-last.log.gz": ([LINE, LINE, b""], {}),
        "quiet-text.log.gz": ([LINE, b"", b"", LINE], {"mode": "at"}),
        "quiet-level0.log.gz": ([LINE, b"", LINE], {"level": 0}),
        "quiet-flushed.log.gz": ([LINE, b"", LINE], {"flush": True}),
    }
    files = {f"ctl/{n}": _sessions(work / n, s, **kw) for n, (s, kw) in real.items()}
    logged = {f"ctl/{n}": b"".join(s) for n, (s, _) in real.items()} | {
        "ctl/unnamed-between.log.gz": LINE * 2
    }
    hostile = {
        "fextra": _empty(flg=0x04, fields=b"\x04\x00PAYL"),
        "fcomment": _empty(flg=0x10, fields=b"PAYLOAD\0"),
        "named": _empty(flg=0x08, fields=b"bad.log\0"),  # the other members have no name
        "partial-flush": _empty(deflate=_partial_flush()),  # an empty fixed block first: 02 0c 00
        "stored-then-stored": _empty(deflate=b"\x00\x00\x00\xff\xff" * 2 + b"\x01\x00\x00\xff\xff"),
        "two-sync-blocks": _empty(deflate=b"\x00\x00\x00\xff\xff" * 2 + b"\x03\x00"),
        "mtime-back": _empty(mtime=NOW - 3600),
        "mtime-future": _empty(mtime=NOW + 10 * 86400),
    }
    files |= {
        f"bad/{n}.log.gz": _unnamed(LINE) + empty + _unnamed(LINE, NOW + 1) for n, empty in hostile.items()
    }
    files["ctl/unnamed-between.log.gz"] = _unnamed(LINE) + _empty() + _unnamed(LINE, NOW + 1)
    rules = shipped("batch.yaml", allow_types=("text", "gzip"))
    entries, _ = vet_files(tmp_path_factory.mktemp("empty-members"), files, rules)
    return files, entries, logged


def test_what_pythons_gzip_appends_per_session_is_published(vetted):
    files, entries, logged = vetted
    for name in (n for n in files if n.startswith("ctl/")):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert gzip.decompress(files[name]) == logged[name], name


def test_the_writers_empty_members_are_what_the_rule_names(vetted):
    """The controls do hold empty members (so the test above can fail), each one of
    zlib's deflates of nothing."""
    files, _, _ = vetted
    assert files["ctl/quiet-between.log.gz"].count(b"\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00") == 1
    assert b"\x00\x00\x00\xff\xff\x03\x00" + bytes(8) in files["ctl/quiet-text.log.gz"]
    assert b"\x01\x00\x00\xff\xff" + bytes(8) in files["ctl/quiet-level0.log.gz"]


@pytest.mark.parametrize(
    ("case", "rule"),
    [("fextra", "sets FEXTRA"), ("fcomment", "sets FCOMMENT"), ("named", "names the file"),
     ("partial-flush", "not what zlib writes"),
     ("two-sync-blocks", "not what zlib writes"), ("stored-then-stored", "not what zlib writes"), ("mtime-back", "not earlier than the member before"),
     ("mtime-future", "the vet's clock and a day")],
)  # fmt: skip
def test_an_empty_member_carrying_anything_else_is_refused(vetted, case, rule):
    _, entries, _ = vetted
    entry = entries[f"bad/{case}.log.gz"]
    assert entry.reasons == (Reason.INVALID_FORMAT,), entry
    assert rule in entry.detail, entry.detail
