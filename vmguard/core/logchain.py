"""`vmguard log verify`: the event log's hash chain, followed across rotated files.

The files are read oldest first: logrotate's numbered files (`events.jsonl.2.gz`,
`events.jsonl.1`) or dated ones (`events.jsonl-20261203`), then the live file. Each
file's first event must chain to the previous file's last one. The oldest file kept
may start anywhere (logrotate deletes what is older than `rotate N`), but the live
file alone must start from the beginning. The head beside the live file vouches for
the last event, also when the live file was just rotated and is still empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.errors import LogError
from vmguard.core.regular import open_regular, read_regular

GENESIS = "0" * 64


def digest(line: bytes) -> str:
    """The hash the next line carries as its `prev`."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def lock_path(path: Path) -> Path:
    """What appenders lock (0600, never moved by a rotation)."""
    return path.with_name(path.name + ".lock")


def read_head(path: Path) -> tuple[int, str] | None:
    """(lines in the live file, last event's hash) as of the last append; None for an
    older log (no head) or a head that is not a count and a hash. After a rotation the
    count is that of the moved file. A head that is not a regular file (a symlink, a FIFO,
    /dev/zero planted there) is an OSError, never followed or read on."""
    try:
        count, last = read_regular(head_path(path), 256).decode("ascii").split()
        return int(count), last
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return None


_NUMBERED = re.compile(r"\.(\d+)$")
_NOT_ROTATED = (".head", ".tmp", ".lock")


@dataclass(frozen=True)
class Break:
    """A place where the chain does not hold."""

    line: int
    reason: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}line {self.line}: {self.reason}"


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of the log at `path`, oldest first."""
    found = []
    for sibling in path.parent.glob(f"{glob_escape(path.name)}[.-]*"):
        suffix = sibling.name[len(path.name) :].removesuffix(".gz")
        if suffix in _NOT_ROTATED:
            continue
        numbered = _NUMBERED.fullmatch(suffix)
        found.append(((1, -int(numbered.group(1)), "") if numbered else (0, 0, suffix), sibling))
    return [sibling for _, sibling in sorted(found)]


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


MAX_LINE = 16 << 20  # an event is a few KiB; a longer "line" is not one (a bomb, a device)
MAX_BREAKS = 100  # past this the log is plainly not intact: say so and stop reading


class _TooBroken(Exception):
    """Raised once MAX_BREAKS breaks are found (a flood of them would fill memory)."""


@dataclass(frozen=True)
class Verified:
    """What `verify` found: the breaks, and how many events in how many files."""

    breaks: tuple[Break, ...]
    events: int
    files: int


@dataclass
class _Chain:
    """The chain as read so far, one line at a time (no file is held whole)."""

    prev: str | None
    breaks: list[Break]
    events: int = 0
    last: str | None = None  # the digest of the last line read, any file


@dataclass(frozen=True)
class _Tail:
    """What the head check needs of the live file: its line count, the digest of line
    `count` (the head's), and the newest rotated file's last digest before it."""

    lines: int
    at_count: str | None
    before: str | None


def _lines(path: Path) -> Iterator[bytes]:
    fd = open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as raw, (gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw) as fh:
        while line := fh.readline(MAX_LINE):
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                raise LogError(f"log {path} holds a line longer than {MAX_LINE} bytes: not a vmguard log")
            yield line.rstrip(b"\n")


def _read_file(path: Path, chain: _Chain, after_file: bool, head_count: int = 0) -> str | None:
    """Chain every line of one file; the digest of line `head_count` if asked."""
    at_count = None
    try:
        for number, line in enumerate(_lines(path), start=1):
            _check_line(chain, line, number, str(path), after_file)
            at_count = chain.last if number == head_count else at_count
            if len(chain.breaks) >= MAX_BREAKS:
                chain.breaks.append(Break(number, f"{MAX_BREAKS} breaks: the rest is not read", str(path)))
                raise _TooBroken
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise LogError(f"cannot read log {path}: {getattr(err, 'strerror', None) or err}") from err
    return at_count


def _check_line(chain: _Chain, line: bytes, number: int, where: str, after_file: bool) -> None:
    try:
        claimed = json.loads(line)["prev"]
    except (ValueError, KeyError, TypeError, RecursionError):
        chain.breaks.append(Break(number, "not a vmguard log event", where))
        claimed = None
    if claimed is not None and chain.prev is not None and claimed != chain.prev:
        reason = "previous-line hash does not match: edited, removed or reordered"
        if number == 1 and after_file:
            reason = "does not follow the last event of the file before (edited, removed or reordered)"
        chain.breaks.append(Break(number, reason, where))
    chain.prev = chain.last = digest(line)
    chain.events += 1


def verify_chain(path: Path) -> Verified:
    """Every place the chain breaks (none: the log is intact), file by file, line by line;
    the first MAX_BREAKS of them."""
    rotated = rotated_files(path)
    chain = _Chain(None if rotated else GENESIS, [])
    try:
        return _verify(path, rotated, chain)
    except _TooBroken:
        return Verified(tuple(chain.breaks), chain.events, len(rotated) + 1)


def _verify(path: Path, rotated: list[Path], chain: _Chain) -> Verified:
    for index, each in enumerate(rotated):
        _read_file(each, chain, after_file=index > 0)
    before = chain.last
    with _shared(lock_path(path)):  # no appender between the live file and its head
        head = _head(path)
        start = chain.events
        try:
            at_count = _read_file(path, chain, after_file=bool(rotated), head_count=head[0] if head else 0)
        except LogError as err:
            if not (rotated and isinstance(err.__cause__, FileNotFoundError)):
                raise  # moved by logrotate, not created yet: the next append creates it
            at_count = None
    tail = _Tail(chain.events - start, at_count, before)
    breaks = chain.breaks + _tail_breaks(path, head, tail)
    return Verified(tuple(breaks), chain.events, len(rotated) + 1)


@contextlib.contextmanager
def _shared(lock: Path) -> Iterator[None]:
    """The appenders' lock, shared, when this reader may open it (else unlocked: a reader
    who may not lock reads what is there)."""
    try:
        fd = open_regular(lock, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _head(path: Path) -> tuple[int, str] | None:
    try:
        return read_head(path)
    except OSError as err:
        raise LogError(f"cannot read the log's head {head_path(path)}: {err.strerror or err}") from err


def _tail_breaks(path: Path, head: tuple[int, str] | None, tail: _Tail) -> list[Break]:
    """The recorded head must still be there. More lines than recorded is fine: a writer
    may have died between its append and its head update. An empty live file is fine
    when the head names the last event of the newest rotated file (just rotated)."""
    if head is None:
        return []
    count, last = head
    if not tail.lines and tail.before == last:
        return []
    if tail.lines < count:
        return [Break(tail.lines + 1, f"log ends early: {count - tail.lines} line(s) removed", str(path))]
    if tail.at_count != last:
        return [Break(count, "differs from the line recorded at append time: edited", str(path))]
    return []
