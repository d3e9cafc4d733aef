"""The report folder: one timestamped folder per run, a `latest` symlink, retention."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from vmguard.core.atomicfile import link_atomic
from vmguard.core.errors import AuditError

LATEST = "latest"
RUN_NAME = re.compile(r"^\d{8}T\d{6}Z(-\d{3})?$")


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


def new_run_dir(out: Path, started: dt.datetime) -> Path:
    """<out>/20261125T091500Z; runs within one second get -001, -002... so that names
    always sort in run order (also after older runs of that second were pruned)."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    taken = [p.name for p in out.glob(f"{stamp}*") if RUN_NAME.match(p.name)]
    name = stamp
    if taken:
        last = max(int(n.partition("-")[2] or 0) for n in taken)
        name = f"{stamp}-{last + 1:03d}"
    path = out / name
    try:
        path.mkdir()
    except OSError as err:  # the run lock makes FileExistsError impossible short of a bug
        raise AuditError(f"cannot create {path}: {err.strerror}") from err
    return path


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
