"""The report folder: one timestamped folder per run, a `latest` symlink, retention.

A run folder appears whole: its reports are written into a hidden staging folder
(.<name>.<random>.tmp) that is renamed to the run's name once they are all there. A run
killed before that leaves only its staging folder, which the next run removes under the
run lock (no other run can be writing it then).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from vmguard.core.atomicfile import link_atomic, temp_name
from vmguard.core.errors import AuditError

LATEST = "latest"
RUN_NAME = re.compile(r"^\d{8}T\d{6}Z(-\d{3})?$")
STAGING = re.compile(r"^\.\d{8}T\d{6}Z(-\d{3})?\.[0-9a-f]{16}\.tmp$")  # atomicfile.temp_name's


def run_started(name: str) -> dt.datetime | None:
    """When a run started, from its folder name (20261125T091500Z[-001]); None otherwise."""
    if not RUN_NAME.match(name):
        return None
    return dt.datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def prepare(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AuditError(f"cannot create report folder {out}: {err.strerror}") from err


def run_name(out: Path, started: dt.datetime) -> str:
    """20261125T091500Z; runs within one second get -001, -002... so that names always
    sort in run order (also after older runs of that second were pruned)."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    taken = [p.name for p in out.glob(f"{stamp}*") if RUN_NAME.match(p.name)]
    if not taken:
        return stamp
    last = max(int(n.partition("-")[2] or 0) for n in taken)
    return f"{stamp}-{last + 1:03d}"


@contextlib.contextmanager
def staged_run_dir(out: Path, name: str) -> Iterator[Path]:
    """A new, empty staging folder for the run `name`, removed if the block fails (a
    kill leaves it to `sweep`)."""
    path = out / temp_name(name)
    try:
        path.mkdir(mode=0o755)
    except OSError as err:
        raise AuditError(f"cannot create {path}: {err.strerror}") from err
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def publish_run_dir(staged: Path, name: str) -> Path:
    """Rename the staged folder, its reports written, to <out>/<name>: it appears whole."""
    path = staged.with_name(name)
    try:
        os.rename(staged, path)  # the run lock makes the name free: run_name chose it
        _sync(staged.parent)
    except OSError as err:
        raise AuditError(f"cannot rename {staged} to {path.name}: {err.strerror}") from err
    return path


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep(out: Path) -> list[Path]:
    """Remove what killed runs left: staging folders, and the empty run folders of
    versions that wrote reports straight into the run folder. Under the run lock only."""
    left = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and _left(p)]
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    return left


def _left(folder: Path) -> bool:
    if STAGING.match(folder.name):
        return True
    return bool(RUN_NAME.match(folder.name)) and not any(folder.iterdir())


def point_latest(out: Path, run_dir: Path) -> None:
    """Replace <out>/latest atomically: readers see the old run or the new one, never none."""
    try:
        link_atomic(out / LATEST, run_dir.name)
    except OSError as err:
        raise AuditError(f"cannot point {out / LATEST} at {run_dir.name}: {err.strerror}") from err


def runs(out: Path) -> list[Path]:
    """Run folders, oldest first (names sort by time)."""
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and RUN_NAME.match(p.name))


def prune(out: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` run folders; never the one `latest` names."""
    latest = (out / LATEST).resolve()
    doomed = [p for p in runs(out)[:-keep] if p.resolve() != latest]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed
