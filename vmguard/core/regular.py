"""Open a file that must be a regular file, wherever someone else may have planted
another: never through a symlink (O_NOFOLLOW), never waiting on a FIFO or acting on a
device (O_NONBLOCK for the open, then the descriptor must be a regular file)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_regular(path: Path | str, flags: int, mode: int = 0o600, dir_fd: int | None = None) -> int:
    """A descriptor of the regular file at `path`, opened with `flags` (O_TRUNC is left
    to the caller: truncating before the check could act on a device); OSError if it is
    a symlink (ELOOP) or anything but a regular file (EINVAL: "not a regular file")."""
    fd = os.open(path, flags | _FLAGS, mode, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, limit: int = -1) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them when given (a
    small record: a planted huge file must not fill memory)."""
    with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as fh:
        return fh.read(limit)


def why_refused(err: OSError) -> str:
    """What an OSError of open_regular means, for a message: O_NOFOLLOW's ELOOP says
    "Too many levels of symbolic links", which hides that the path is one."""
    if err.errno == errno.ELOOP:
        return "a symlink, not a regular file"
    return err.strerror or str(err)
