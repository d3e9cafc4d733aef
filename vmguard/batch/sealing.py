"""A VM's quarantine between jobs: opened to the job's user, then sealed when it ends.

Sealing moves every entry of the quarantine, by rename on the same filesystem, into a
root-only folder of that job beside the quarantines (`<parent>/.vmguard-held/<job>`).
The vet reads that folder, never the live share, so what a job left is vetted under
that job only and the VM starts the next job empty. A move that would cross
filesystems is refused (EXDEV): nothing is copied half.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from vmguard.core.errors import BatchError

HELD = ".vmguard-held"
PUBLISHED = ".vmguard-published"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def held_dir(quarantine: str, key: str) -> Path:
    """Where a job's sealed output is vetted and, if not published, held for admins."""
    return Path(quarantine).parent / HELD / key


def published_dir(held: Path) -> Path:
    """Where after_publish: keep moves a held folder once it was published."""
    return held.parent.parent / PUBLISHED / held.name


def _open_quarantine(quarantine: str, create: bool) -> int:
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(quarantine, 0o700)
        return os.open(quarantine, _DIR)
    except OSError as err:
        raise BatchError(
            f"{quarantine}: cannot open the VM's quarantine (a directory, not a link): {err.strerror}"
        ) from err


def set_owner(quarantine: str, uid: int, gid: int) -> None:
    """Open the quarantine to the job's user (uid) or close it again (uid 0)."""
    fd = _open_quarantine(quarantine, create=True)
    try:
        os.fchmod(fd, 0o700)  # first shut, then hand over: never open to two owners
        os.fchown(fd, uid, gid)
    finally:
        os.close(fd)


def is_empty(quarantine: str) -> bool:
    fd = _open_quarantine(quarantine, create=True)
    try:
        return not os.listdir(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> int:
    for part in (path.parent, path):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o700)
    fd = os.open(path, _DIR)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        os.close(fd)
        raise BatchError(f"{path}: must be vmguard's own private directory")
    return fd


def _free_name(dst: int, name: str) -> str:
    candidate, n = name, 0
    while True:
        try:
            os.lstat(candidate, dir_fd=dst)
        except FileNotFoundError:
            return candidate
        n += 1
        candidate = f"{name}.{n}"


def seal(quarantine: str, key: str) -> Path:
    """Move everything in the quarantine into the job's held folder; return the folder."""
    target = held_dir(quarantine, key)
    src = _open_quarantine(quarantine, create=True)
    try:
        dst = _private_dir(target)
        try:
            for name in os.listdir(src):
                os.rename(name, _free_name(dst, name), src_dir_fd=src, dst_dir_fd=dst)
        finally:
            os.close(dst)
    except OSError as err:
        raise BatchError(
            f"cannot move {quarantine}'s files to {target}: {err.strerror} (both must be on one filesystem)"
        ) from err
    finally:
        os.close(src)
    return target


def move_out(held: Path, keep_in: Path | None) -> None:
    """After publication: the held folder leaves at once (rename), then is kept or deleted."""
    if keep_in is not None:
        _private_dir(keep_in.parent)
        os.rename(held, keep_in)
        return
    trash = held.with_name(f".{held.name}.{time.time_ns()}.gone")
    os.rename(held, trash)
    shutil.rmtree(trash)


def remove_expired(held: Path) -> None:
    if held.name and held.parent.name == HELD:
        shutil.rmtree(held, ignore_errors=True)
