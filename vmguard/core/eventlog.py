"""vmguard's own append-only, hash-chained event log (one JSON object per line).

Every apply, firewall change, vet decision and audit run is appended here. Each line
carries the SHA-256 of the previous line, so `vmguard log verify` detects an edited,
removed or reordered line. Appends take an exclusive lock (<log>.lock) so concurrent writers chain.
Nothing follows the last line to vouch for it, so each append also records the line
count and the last line's hash in <log>.head: a removed or edited tail is detected too.

Rotation (logrotate's move + create, the shipped snippet) keeps the chain: the head
stays beside the live file, so the first event of a new, empty file chains to the last
event of the file that was moved away; `verify` (vmguard.core.logchain) follows the
chain across the rotated files. Each event is also sent to syslog (journald reads the
same socket), a copy for the site's log collection; the file stays the record.

The CLI (and each hook entry: libvirt's, the batch system's) makes one EventLog per run
from its settings and environment, and passes it down: every function that logs takes
`events`; nothing reads a process-wide log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vmguard.core.atomicfile import remove_leftovers, write_all, write_atomic
from vmguard.core.errors import LogError, os_reason
from vmguard.core.logchain import GENESIS, Break, digest, head_path, lock_path, read_head, verify_chain
from vmguard.core.regular import open_regular

DEFAULT_PATH = "/var/log/vmguard/events.jsonl"
SYSLOG_SOCKET = "/dev/log"  # journald's and rsyslog's local socket
_SYSLOG_PRI = 3 * 8 + 5  # facility daemon, severity notice
_SYSLOG_MAX = 8192
_SAID = logging.getLogger("vmguard.events")  # on stderr with -v


def default_path() -> Path:
    """$VMGUARD_LOG, else /var/log/vmguard (root) or ~/.local/state/vmguard."""
    if env := os.environ.get("VMGUARD_LOG"):
        return Path(env)
    if os.geteuid() == 0:
        return Path(DEFAULT_PATH)
    return Path.home() / ".local/state/vmguard/events.jsonl"


def _last_line(fh: BinaryIO) -> bytes | None:
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return None
    step = min(size, 65536)
    fh.seek(size - step)
    tail = fh.read(step).rstrip(b"\n")
    return tail.rsplit(b"\n", 1)[-1]


def _write_head(path: Path, count: int, line: bytes) -> None:
    write_atomic(head_path(path), f"{count} {digest(line)}\n".encode(), 0o640)


def _append(fh: BinaryIO, path: Path, count: int, line: bytes) -> None:
    """The line and its head record, or neither: a write that fails (a full log disk,
    EIO) is cut off again, so no torn line and no line the head does not vouch for is
    left for the next append to chain to. Unbuffered: nothing is left to flush later."""
    fd = fh.fileno()
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        write_all(fd, line)
        os.fsync(fd)
        _write_head(path, count, line)
    except OSError as err:
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError as cut:
            raise LogError(
                f"cannot append to log {path}: {os_reason(err)}; and cutting the part written failed "
                f"({os_reason(cut)}): its last line may be torn, `vmguard log verify` says"
            ) from err
        raise


def _check_whole(fh: BinaryIO, path: Path) -> None:
    """Refuse to chain to a torn last line (a crash or another writer): what it was is
    unknown, and an event appended to it would be unreadable."""
    size = fh.seek(0, os.SEEK_END)
    if size and (fh.seek(size - 1), fh.read(1))[1] != b"\n":
        raise LogError(
            f"log {path} ends in a torn line (no newline after byte {size}): an append that did not "
            "finish; run `vmguard log verify`, keep a copy, and cut the torn part off (truncate -s)"
        )


@dataclass(frozen=True)
class Chained:
    """Where the next line goes on: its `prev`, and the live file's count after it."""

    prev: str
    count: int


def _next(path: Path, fh: BinaryIO) -> Chained:
    last, head = _last_line(fh), read_head(path)
    if last is None:  # new, or just rotated: go on from the moved file's last event
        return Chained(head[1] if head else GENESIS, 1)
    if head is None or head[1] != digest(last):  # no head yet, or a writer died before
        fh.seek(0)  # writing it: count what is there (once)
        return Chained(digest(last), sum(1 for _ in fh) + 1)
    return Chained(digest(last), head[0] + 1)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[BinaryIO]:
    """The live file, opened while holding the lock beside it (0600: no other user can
    take it and stall root's appenders). A file of its own because logrotate moves the
    live file: writers locking the file itself could hold locks on the moved and the new
    file at once, both chaining to the same head. A lock file removed while we waited is
    taken again. Nothing is opened through a symlink or as a FIFO or device."""
    while True:
        fd = open_regular(lock_path(path), os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(lock_path(path), fd):
                with os.fdopen(_open_live(path), "r+b") as fh:
                    yield fh
                return
        finally:
            os.close(fd)  # releases the lock


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _open_live(path: Path) -> int:
    """The live file: a regular file of one name (a hard link planted as the log would
    take the events into the file it names)."""
    fd = open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    if os.fstat(fd).st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EMLINK, "the log has another name (a hard link): refusing to append", str(path))
    return fd


def _make_folder(folder: Path) -> None:
    """The log's folder and its missing parents, 0750 whatever the umask: a folder others
    may write lets them plant files beside the log or append unchained events."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(each, 0o750)  # the umask can only take more away


@dataclass(frozen=True)
class EventLog:
    """One event log: the file, and the syslog socket that gets a copy (None: none)."""

    path: Path
    syslog: str | None = SYSLOG_SOCKET

    @classmethod
    def from_environment(cls) -> EventLog:
        return cls(default_path())

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        """Append one event of `kind` (apply, firewall, vet, audit, ...) and return it."""
        try:
            _make_folder(self.path.parent)
            with _locked(self.path) as fh:
                remove_leftovers(head_path(self.path))  # a killed appender's, at most
                _check_whole(fh, self.path)
                chained = _next(self.path, fh)
                event = {
                    "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "kind": kind,
                    "prev": chained.prev,
                    "data": data,
                }
                line = json.dumps(event, sort_keys=True, default=str).encode() + b"\n"
                _append(fh, self.path, chained.count, line)
        except OSError as err:
            raise LogError(f"cannot append to log {self.path}: {os_reason(err)}") from err
        if self.syslog:
            _to_syslog(self.syslog, line)
        _SAID.info("logged %s %s", kind, json.dumps(data, sort_keys=True, default=str))
        return event


def _to_syslog(address: str, line: bytes) -> None:
    """A copy of the event for syslog/journald. Best effort: the file is the record, and
    a host without a syslog socket must still be able to log."""
    event = json.loads(line)
    text = f"{event['kind']} {json.dumps(event['data'], sort_keys=True, default=str)} hash={digest(line)}"
    message = f"<{_SYSLOG_PRI}>vmguard[{os.getpid()}]: {text}".encode()
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.send(message[:_SYSLOG_MAX])


def verify(path: Path) -> list[Break]:
    """Every place the chain breaks, across rotated files (vmguard.core.logchain)."""
    return list(verify_chain(path).breaks)
