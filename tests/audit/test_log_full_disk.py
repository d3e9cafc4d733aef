"""The event log on a disk that fills up: an append is whole or not there at all.

A real 64 KiB tmpfs as the log's disk, filled to every size around an event's length:
each append either succeeds (the line and its head) or raises LogError and leaves the
log, its head and the directory byte for byte as they were; once space is back the next
append chains and `verify` finds nothing. A log that already ends in a torn line (a
crash, another writer) is refused, never chained to."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.require import require_root, require_tools
from vmguard.core import eventlog as log
from vmguard.core.errors import LogError
from vmguard.core.logchain import head_path


@pytest.fixture
def log_disk(tmp_path):
    require_root()
    require_tools("mount")
    disk = tmp_path / "logfs"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def state(disk: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(disk.iterdir()) if p.name != "fill"}


def fill(disk: Path, leave: int) -> None:
    """Fill the disk, then give back `leave` bytes (tmpfs counts whole pages)."""
    fd = os.open(disk / "fill", os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, bytes(4096))
    os.close(fd)
    os.truncate(disk / "fill", max(0, os.path.getsize(disk / "fill") - leave))


@pytest.mark.parametrize("leave", [0, 4096, 8192])
@pytest.mark.parametrize("size", [100, 3000, 5000, 9000])
def test_an_append_on_a_full_disk_is_whole_or_not_there(log_disk, leave, size):
    events = log.EventLog(log_disk / "events.jsonl", syslog=None)
    events.append("vet", job="s0")
    fill(log_disk, leave)
    before = state(log_disk)
    try:
        events.append("vet", job="s1", detail="x" * size)
    except LogError:
        assert state(log_disk) == before  # nothing torn, no head moved, no .tmp left
    else:
        assert state(log_disk)["events.jsonl"].count(b"\n") == 2
    (log_disk / "fill").unlink()
    events.append("vet", job="s2")
    assert log.verify(log_disk / "events.jsonl") == []
    assert sorted(state(log_disk)) == ["events.jsonl", "events.jsonl.head", "events.jsonl.lock"]


def test_the_head_failing_takes_the_line_back(log_disk):
    """Room for the line, none for the head's new file: the line is cut off again."""
    events = log.EventLog(log_disk / "events.jsonl", syslog=None)
    events.append("vet", job="s0")
    line_room = 4096 - os.path.getsize(log_disk / "events.jsonl") % 4096
    fill(log_disk, 0)
    before = state(log_disk)
    with pytest.raises(LogError):
        events.append("vet", job="s1", detail="y" * (line_room - 400))
    assert state(log_disk) == before


def test_a_torn_last_line_is_refused_not_chained_to(tmp_path):
    path = tmp_path / "events.jsonl"
    events = log.EventLog(path, syslog=None)
    events.append("vet", job="s0")
    with open(path, "ab") as fh:
        fh.write(b'{"data": {"job": "torn')
    before = path.read_bytes(), head_path(path).read_bytes()
    with pytest.raises(LogError, match="torn line"):
        events.append("vet", job="s1")
    assert (path.read_bytes(), head_path(path).read_bytes()) == before
