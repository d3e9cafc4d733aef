"""An event log that cannot be appended to says why: the reason is the OS's words, never
None (io's UnsupportedOperation, which seeking a FIFO raised before the log was opened
as a regular file only, carries no errno, so no strerror: errors.os_reason words any
OSError). Real files: a FIFO at the log's path, and a directory."""

from __future__ import annotations

import errno
import io
import os

import pytest

from vmguard.core import eventlog as log
from vmguard.core.errors import LogError, os_reason


def _append_fails(path) -> str:
    with pytest.raises(LogError) as caught:
        log.EventLog(path, syslog=None).append("vet", job="r", status="accepted")
    return str(caught.value)


def test_a_fifo_as_the_log_names_its_reason(tmp_path):
    os.mkfifo(tmp_path / "events.jsonl")
    said = _append_fails(tmp_path / "events.jsonl")
    assert said.startswith(f"cannot append to log {tmp_path / 'events.jsonl'}: "), said
    assert said.endswith(": not a regular file"), said  # refused at its open (core.regular)


def test_control_a_directory_as_the_log_names_the_os_reason(tmp_path):
    (tmp_path / "events.jsonl").mkdir()
    said = _append_fails(tmp_path / "events.jsonl")
    assert said.endswith(f": {os.strerror(errno.EISDIR)}"), said


@pytest.mark.parametrize(
    ("err", "said"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), os.strerror(errno.ENOSPC)),
        (io.UnsupportedOperation("File or stream is not seekable."), "File or stream is not seekable"),
        (OSError(), "OSError"),
    ],
)
def test_os_reason_is_never_none(err, said):
    assert os_reason(err) == said
