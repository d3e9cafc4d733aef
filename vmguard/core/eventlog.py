"""vmguard's own append-only, hash-chained event log (one JSON object per line).

Every apply, firewall change, vet decision and audit run is appended here. Each line
carries the SHA-256 of the previous line, so `vmguard log verify` detects an edited,
removed or reordered line. Appends take an exclusive lock so concurrent writers chain.
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
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vmguard.core.errors import LogError
from vmguard.core.logchain import GENESIS, Break, digest, head_path, read_head, verify_chain

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
    tmp = head_path(path).with_suffix(".tmp")
    tmp.write_text(f"{count} {digest(line)}\n")
    os.replace(tmp, head_path(path))


@dataclass(frozen=True)
class Chained:
    """Where the next line goes on: its `prev`, and the live file's count after it."""

    prev: str
    count: int


def _next(path: Path, fh: BinaryIO) -> Chained:
    last, head = _last_line(fh), read_head(path)
    if last is None:  # new, or just rotated: go on from the moved file's last event
        return Chained(head[1] if head else GENESIS, 1)
    if head is None:  # first append with a head: count what is there (once)
        fh.seek(0)
        return Chained(digest(last), sum(1 for _ in fh) + 1)
    return Chained(digest(last), head[0] + 1)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[BinaryIO]:
    """The live file, locked; reopened if it was rotated away while we waited."""
    while True:
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fh
                return


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path) as fh:
                chained = _next(self.path, fh)
                event = {
                    "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "kind": kind,
                    "prev": chained.prev,
                    "data": data,
                }
                line = json.dumps(event, sort_keys=True, default=str).encode() + b"\n"
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
                _write_head(self.path, chained.count, line)
        except OSError as err:
            raise LogError(f"cannot append to log {self.path}: {err.strerror}") from err
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
    return verify_chain(path)
