"""vmguard's own append-only, hash-chained event log (one JSON object per line).

Every apply, firewall change, vet decision and audit run is appended here. Each line
carries the SHA-256 of the previous line, so `vmguard log verify` detects an edited,
removed or reordered line. Appends take an exclusive lock so concurrent writers chain.
Nothing follows the last line to vouch for it, so each append also records the line
count and the last line's hash in <log>.head: a removed or edited tail is detected too.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmguard.core.errors import LogError

GENESIS = "0" * 64
DEFAULT_PATH = "/var/log/vmguard/events.jsonl"


def default_path() -> Path:
    """$VMGUARD_LOG, else /var/log/vmguard (root) or ~/.local/state/vmguard."""
    if env := os.environ.get("VMGUARD_LOG"):
        return Path(env)
    if os.geteuid() == 0:
        return Path(DEFAULT_PATH)
    return Path.home() / ".local/state/vmguard/events.jsonl"


def _digest(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fh: Any) -> bytes | None:
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return None
    step = min(size, 65536)
    fh.seek(size - step)
    tail = fh.read(step).rstrip(b"\n")
    return tail.rsplit(b"\n", 1)[-1]


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _read_head(path: Path) -> tuple[int, str] | None:
    """(line count, last line's hash) as of the last append; None for an older log."""
    try:
        count, digest = head_path(path).read_text().split()
        return int(count), digest
    except (OSError, ValueError):
        return None


def _write_head(path: Path, fh: Any, line: bytes) -> None:
    head = _read_head(path)
    if head is None:  # first append with a head: count what is there (once)
        fh.seek(0)
        count = sum(1 for _ in fh)
    else:
        count = head[0] + 1
    tmp = head_path(path).with_suffix(".tmp")
    tmp.write_text(f"{count} {_digest(line)}\n")
    os.replace(tmp, head_path(path))


def append(kind: str, path: Path | None = None, **data: Any) -> dict[str, Any]:
    """Append one event of `kind` (apply, firewall, vet, audit, ...) and return it."""
    path = path or default_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            last = _last_line(fh)
            event = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "kind": kind,
                "prev": GENESIS if last is None else _digest(last),
                "data": data,
            }
            line = json.dumps(event, sort_keys=True, default=str).encode() + b"\n"
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            _write_head(path, fh, line)
    except OSError as err:
        raise LogError(f"cannot append to log {path}: {err.strerror}") from err
    return event


@dataclass(frozen=True)
class Break:
    """A place where the chain does not hold."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def verify(path: Path | None = None) -> list[Break]:
    """Every place the chain breaks; an empty list means the log is intact."""
    path = path or default_path()
    try:
        lines = path.read_bytes().splitlines()
    except OSError as err:
        raise LogError(f"cannot read log {path}: {err.strerror}") from err
    breaks: list[Break] = []
    prev = GENESIS
    for number, line in enumerate(lines, start=1):
        try:
            claimed = json.loads(line)["prev"]
        except (ValueError, KeyError, TypeError):
            breaks.append(Break(number, "not a vmguard log event"))
            claimed = None
        if claimed is not None and claimed != prev:
            breaks.append(Break(number, "previous-line hash does not match: edited, removed or reordered"))
        prev = _digest(line)
    return breaks + _tail_breaks(path, lines)


def _tail_breaks(path: Path, lines: list[bytes]) -> list[Break]:
    """The recorded head must still be there. More lines than recorded is fine: a writer
    may have died between its append and its head update."""
    head = _read_head(path)
    if head is None:
        return []
    count, digest = head
    if len(lines) < count:
        return [Break(len(lines) + 1, f"log ends early: {count - len(lines)} line(s) removed")]
    if _digest(lines[count - 1]) != digest:
        return [Break(count, "differs from the line recorded at append time: edited")]
    return []
