"""Write a file into a job owner's directory with the owner's rights, never root's.

The epilog runs as root, but the job's output directory belongs to the user, who could
have planted a symlink there (to /etc/shadow, say). A child process that has dropped to
the user's uid and gid can only write where the user could write anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmguard.core.errors import VetError
from vmguard.core.regular import open_regular


def _write(path: Path, text: str, append: bool = False) -> None:
    """Never through a symlink, never a FIFO or device planted as the file (open_regular);
    O_TRUNC only after that check."""
    fd = open_regular(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0), 0o644)
    if not append:
        os.ftruncate(fd, 0)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _child(uid: int, gid: int, path: Path, text: str, append: bool) -> int:
    try:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        _write(path, text, append)
    except OSError:
        return 1
    return 0


def write_as_user(uid: int, gid: int, path: Path, text: str, append: bool = False) -> None:
    """Create or replace (or append to) `path`, never following a symlink, as uid:gid."""
    pid = os.fork()
    if pid == 0:  # the child must never return into the caller's code
        code = 1
        try:
            code = _child(uid, gid, path, text, append)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise VetError(
            f"cannot write {path} as uid {uid}: no such directory, no permission, or a symlink in the way"
        )
