"""`vmguard log verify`: the event log's hash chain, followed across rotated files.

The files are read oldest first: logrotate's numbered files (`events.jsonl.2.gz`,
`events.jsonl.1`) or dated ones (`events.jsonl-20261203`), then the live file. Each
file's first event must chain to the previous file's last one. The oldest file kept
may start anywhere (logrotate deletes what is older than `rotate N`), but the live
file alone must start from the beginning. The head beside the live file vouches for
the last event, also when the live file was just rotated and is still empty.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.errors import LogError
from vmguard.core.regular import read_regular

GENESIS = "0" * 64


def digest(line: bytes) -> str:
    """The hash the next line carries as its `prev`."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


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


@dataclass(frozen=True)
class Segment:
    path: Path
    lines: tuple[bytes, ...]


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


def _read(path: Path, missing_ok: bool) -> Segment:
    try:
        raw = read_regular(path)
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except FileNotFoundError as err:
        if missing_ok:  # moved by logrotate, not created yet: the next append creates it
            return Segment(path, ())
        raise LogError(f"cannot read log {path}: {err.strerror}") from err
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise LogError(f"cannot read log {path}: {getattr(err, 'strerror', None) or err}") from err
    return Segment(path, tuple(data.splitlines()))


def segments(path: Path) -> list[Segment]:
    """The rotated files and the live file, oldest first, read."""
    rotated = [_read(p, missing_ok=False) for p in rotated_files(path)]
    return [*rotated, _read(path, missing_ok=bool(rotated))]


def verify_chain(path: Path) -> list[Break]:
    """Every place the chain breaks; an empty list means the log is intact."""
    parts = segments(path)
    breaks: list[Break] = []
    prev: str | None = None if len(parts) > 1 else GENESIS
    for index, part in enumerate(parts):
        breaks += _segment_breaks(part, prev, after_file=index > 0)
        prev = digest(part.lines[-1]) if part.lines else prev
    earlier = [p for p in parts[:-1] if p.lines]
    return breaks + _tail_breaks(path, parts[-1].lines, earlier[-1].lines[-1] if earlier else None)


def _segment_breaks(part: Segment, prev: str | None, after_file: bool) -> list[Break]:
    breaks = []
    for number, line in enumerate(part.lines, start=1):
        try:
            claimed = json.loads(line)["prev"]
        except (ValueError, KeyError, TypeError):
            breaks.append(Break(number, "not a vmguard log event", str(part.path)))
            claimed = None
        if claimed is not None and prev is not None and claimed != prev:
            reason = "previous-line hash does not match: edited, removed or reordered"
            if number == 1 and after_file:
                reason = "does not follow the last event of the file before (edited, removed or reordered)"
            breaks.append(Break(number, reason, str(part.path)))
        prev = digest(line)
    return breaks


def _tail_breaks(path: Path, lines: tuple[bytes, ...], before: bytes | None) -> list[Break]:
    """The recorded head must still be there. More lines than recorded is fine: a writer
    may have died between its append and its head update. An empty live file is fine
    when the head names the last event of the newest rotated file (just rotated)."""
    try:
        head = read_head(path)
    except OSError as err:
        raise LogError(f"cannot read the log's head {head_path(path)}: {err.strerror or err}") from err
    if head is None:
        return []
    count, last = head
    if not lines and before is not None and digest(before) == last:
        return []
    if len(lines) < count:
        return [Break(len(lines) + 1, f"log ends early: {count - len(lines)} line(s) removed", str(path))]
    if digest(lines[count - 1]) != last:
        return [Break(count, "differs from the line recorded at append time: edited", str(path))]
    return []
