"""Open the public directory a vet publishes into, without following a user's symlink.

The path comes from the admin (`--to`, `promote.to`, the batch settings), but parts of
it may belong to users (`/home/{user}/outbox/{job}`): a user who replaces their part
with a symlink must not make root write elsewhere (into another user's outbox, or a
root-only directory). So the path is opened one component at a time from `/`: a
component is created if missing (mode `dir_mode`, set by fchmod after the mkdir: the
umask of a job runner, say systemd's UMask=0077, must not make the public area's new
parents 0700 and the published job out of every reader's reach), and a symlink is followed only when
the directory holding it is root's alone (an admin's `/data -> /srv/data`). Where the
directory is writable by anyone else, the component must be a real directory.

And the names a vet makes there from the output's, which the filesystem must be able to
hold (check_names, before anything is made).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from vmguard.core.errors import VetInputError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
SIDECARS = (".manifest.json", ".vet.json", ".vet.txt")  # published beside the output
# Every name a vet makes from the output's: the sidecars, and in STAGING the lock, the
# staging and the removal record (all end differently: no job's is another's).
SUFFIXES = (*SIDECARS, ".lock", ".staging", ".removal", ".removal.tmp")
NAME_MAX = 255  # where the filesystem cannot be asked (its parent not made yet)


def check_names(target: Path) -> None:
    """Refuse (exit 2, before anything is made) a target whose name, or a sidecar's
    name, is longer than the filesystem allows: no retry could ever publish it."""
    limit = _name_max(target.parent)
    longest = max(SUFFIXES, key=len)
    for part in target.parts[1:]:
        if len(os.fsencode(part)) > limit:
            raise VetInputError(f"--to {target}: a name over the filesystem's {limit} bytes (NAME_MAX)")
    if len(os.fsencode(target.name)) + len(longest) > limit:
        raise VetInputError(
            f"--to {target}: the output's name must leave room for its sidecars' "
            f"'{longest}' within the filesystem's {limit}-byte names (NAME_MAX): "
            f"use at most {limit - len(longest)} bytes"
        )


def _name_max(path: Path) -> int:
    """NAME_MAX of the filesystem of path's nearest existing directory."""
    for here in (path, *path.parents):
        try:
            return os.pathconf(here, "PC_NAME_MAX")
        except OSError:
            continue
    return NAME_MAX


def _others_may_write(fd: int) -> bool:
    """Whether anyone but this process's user could replace an entry of the directory."""
    info = os.fstat(fd)
    return info.st_uid != os.geteuid() or bool(info.st_mode & 0o022)


def _step(fd: int, part: str, dir_mode: int) -> int:
    created = True
    try:
        os.mkdir(part, dir_mode, dir_fd=fd)
    except FileExistsError:
        created = False
    flags = _DIR | (os.O_NOFOLLOW if _others_may_write(fd) else 0)
    try:
        child = os.open(part, flags, dir_fd=fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(
                err.errno,
                f"{part!r} is a link or not a directory, in a directory others can write to (never followed)",
            ) from None
        raise
    if created and os.fstat(child).st_uid == os.geteuid():  # ours: not one put in its place
        os.fchmod(child, dir_mode)  # the umask took bits off the mkdir's mode
    return child


def open_public(path: Path, dir_mode: int) -> int:
    """A descriptor of the directory `path` (absolute), created as needed."""
    fd = os.open("/", _DIR)
    try:
        for part in Path(os.path.abspath(path)).parts[1:]:
            nxt = _step(fd, part, dir_mode)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd
