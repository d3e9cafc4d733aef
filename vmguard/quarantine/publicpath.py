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

Each component is opened from the descriptor of the one before, as the kernel resolves
the path given: `..` is the parent of the directory reached (after a symlink, not the
text's), and a magic link (/proc/PID/root) leads where the kernel goes. The caller's
judge (is it the quarantine, through any mount?) sees that descriptor before anything is
made in it, and every later write is relative to the descriptors judged: a mount that
appears over a path after the check changes nothing already open.

And the names a vet makes there from the output's, which the filesystem must be able to
hold (check_names, before anything is made).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from vmguard.core.errors import VetInputError
from vmguard.quarantine.sysio import open_child_dir

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


def _open_existing(fd: int, part: str) -> int | None:
    """The directory `part` in fd as the kernel resolves it (a symlink followed only where
    no one else may replace it; `..` is the parent of what fd is, never text), or None if
    there is no such entry."""
    flags = _DIR | (os.O_NOFOLLOW if part != ".." and _others_may_write(fd) else 0)
    try:
        return os.open(part, flags, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(
                err.errno,
                f"{part!r} is a link or not a directory, in a directory others can write to (never followed)",
            ) from None
        raise


def _make(fd: int, part: str, dir_mode: int) -> int | None:
    """Create the directory `part` in fd (mode dir_mode, whatever the umask) and open it;
    None if it appeared meanwhile (the caller opens it as an existing one)."""
    try:
        os.mkdir(part, dir_mode, dir_fd=fd)
    except FileExistsError:
        return None
    child = open_child_dir(fd, part)  # no mount put over it since the mkdir
    if os.fstat(child).st_uid == os.geteuid():  # ours: not one put in its place
        os.fchmod(child, dir_mode)  # the umask took bits off the mkdir's mode
    return child


def open_public(path: Path, dir_mode: int, judge: Callable[[int], None], make: bool = True) -> int:
    """A descriptor of the directory `path` (absolute, its `..` kept as given), created
    as needed. Each component is opened as the kernel resolves it, from the descriptor of
    the one before: no text of the path is trusted. `judge(fd)` (raising to refuse) sees
    every directory the walk opens, `/` included, before anything is made in it or
    opened from it (a path that passes through the quarantine, `q/sub/../../pub` with a
    symlink the guest put at sub, is refused); one this call made is on the mount of its
    judged parent, so judged too. With make False (a dry run) nothing is made: the
    nearest existing directory is returned."""
    fd = os.open("/", _DIR)
    try:
        judge(fd)
        for part in path.parts[1:]:
            nxt, made = _open_existing(fd, part), False
            if nxt is None and not make:
                return fd
            if nxt is None:
                nxt = _make(fd, part, dir_mode)
                made = nxt is not None
                nxt = nxt if made else _open_existing(fd, part)  # appeared meanwhile
                if nxt is None:
                    raise FileNotFoundError(errno.ENOENT, f"{part!r} vanished as it was made")
            os.close(fd)
            fd = nxt
            if not made:
                judge(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd
