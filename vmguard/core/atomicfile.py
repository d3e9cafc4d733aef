"""Write a file whole or not at all: vmguard's one way to replace a file's bytes.

The bytes go into a temporary in the target's folder, are synced, and the temporary is
renamed over the target, and the folder synced: after a crash the old file or the new
one is there, never half of one. The temporary is an anonymous file (O_TMPFILE) while
it is written, so a full disk, an I/O error or a kill leaves nothing behind; it gets a
name (unique, created exclusively, never through a symlink) only for the instant of the
rename. On a filesystem without O_TMPFILE the temporary is named from the start and
removed on any failure. A failure is an OSError, or the caller's subsystem error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.errors import VmguardError

TMP_SUFFIX = ".tmp"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NAMED = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}  # old kernels, NFS, ...
_PROC_FD = "/proc/self/fd"


def temp_name(name: str) -> str:
    """A temporary's name beside `name`: hidden, unique, and short enough for any name."""
    return f".{name[:200]}.{secrets.token_hex(8)}{TMP_SUFFIX}"


def remove_leftovers(path: Path) -> None:
    """Remove the temporaries of `path` a writer killed in the instant between naming
    one and renaming it left behind. Only for a caller that excludes every other writer
    of `path` (a lock): a live writer's temporary would go too."""
    pattern = re.compile(re.escape(f".{path.name[:200]}.") + r"[0-9a-f]{16}" + re.escape(TMP_SUFFIX))
    for name in os.listdir(path.parent):
        if pattern.fullmatch(name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path.parent / name)


@dataclass(frozen=True)
class Staged:
    """Bytes written and synced, not yet in place: `commit` renames them over the
    target, `discard` drops them. Holds two descriptors until one of these is called."""

    dir_fd: int
    fd: int
    name: str
    temp: str  # "" while the temporary is anonymous

    def commit(self) -> None:
        temp = self.temp
        try:
            if not temp:
                temp = temp_name(self.name)
                os.link(f"{_PROC_FD}/{self.fd}", temp, dst_dir_fd=self.dir_fd, follow_symlinks=True)
            os.rename(temp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            temp = ""
            os.fsync(self.dir_fd)  # the rename itself survives a crash
        finally:
            _close(self, temp)

    def discard(self) -> None:
        _close(self, self.temp)


def _close(staged: Staged, temp: str) -> None:
    try:
        if temp:
            with contextlib.suppress(OSError):  # gone already, or the disk that failed the write
                os.unlink(temp, dir_fd=staged.dir_fd)
    finally:
        os.close(staged.fd)
        os.close(staged.dir_fd)


def _open_temp(dir_fd: int, name: str, mode: int) -> tuple[int, str]:
    if os.path.isdir(_PROC_FD):  # linking an anonymous file takes its /proc name
        try:
            return os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode, dir_fd=dir_fd), ""
        except OSError as err:
            if err.errno not in _NO_TMPFILE:
                raise
    temp = temp_name(name)
    return os.open(temp, _NAMED, mode, dir_fd=dir_fd), temp


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd`: os.write may write less than asked (a signal, a pipe, a
    nearly full disk) and returns how much it took."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def stage_at(dir_fd: int, name: str, data: bytes, mode: int) -> Staged:
    """`data` written and synced for `name` in the folder `dir_fd` (duplicated: the
    caller keeps its own), with exactly `mode` (no umask)."""
    dir_fd = os.dup(dir_fd)
    try:
        fd, temp = _open_temp(dir_fd, name, mode)
    except BaseException:
        os.close(dir_fd)
        raise
    staged = Staged(dir_fd, fd, name, temp)
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        staged.discard()
        raise
    return staged


def stage(path: Path, data: bytes, mode: int) -> Staged:
    """`stage_at` for a path: its folder is opened by name (the folder may be reached
    through a symlink; the temporary never is)."""
    dir_fd = os.open(path.parent, _DIR)
    try:
        return stage_at(dir_fd, path.name, data, mode)
    finally:
        os.close(dir_fd)


def link_atomic(path: Path, target: str) -> None:
    """Point the symlink `path` at `target`, replacing what is there at once (readers see
    the old link or the new one); a failure leaves the old one and no temporary."""
    dir_fd = os.open(path.parent, _DIR)
    temp = temp_name(path.name)
    try:
        os.symlink(target, temp, dir_fd=dir_fd)  # fails on any name there: never through one
        try:
            os.rename(temp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, data: bytes, mode: int, error: type[VmguardError] | None = None) -> None:
    """Replace `path` with `data` (mode `mode`), whole or not at all. On failure nothing
    is left behind and the old file is intact; raises the OSError, or `error` saying
    which file could not be written and why (a subsystem's error, for its exit code)."""
    try:
        stage(path, data, mode).commit()
    except OSError as err:
        if error is None:
            raise
        raise error(f"cannot write {path}: {err.strerror or err}") from err
