"""Where a directory lies in its filesystem, whatever mount shows it: a bind mount shows a
directory of the quarantine under another path (of the quarantine itself, or of a
directory the guest made in it), which no comparison of paths or of one inode sees.

A mount's root within its filesystem is in /proc/self/mountinfo (field 4); a path's
mount is the one statx names. So a directory's place in its filesystem is that root
joined with its path below the mount point, and a --to is inside the quarantine if
that place is at or below the quarantine's, on the same device.
"""

from __future__ import annotations

import os
import re

from vmguard.core.paths import is_under
from vmguard.quarantine.sysio import statx

_ESCAPED = re.compile(rb"\\([0-7]{3})")  # mountinfo writes space, tab, newline, \ as \ooo


def _unescape(field: bytes) -> str:
    return os.fsdecode(_ESCAPED.sub(lambda m: bytes([int(m.group(1), 8)]), field))


def _mount(mount_id: int) -> tuple[str, str] | None:
    """The mount's (root within its filesystem, mount point), or None if it is gone."""
    with open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            fields = line.split(b" ")
            if int(fields[0]) == mount_id:
                return _unescape(fields[3]), _unescape(fields[4])
    return None


def place(fd: int) -> tuple[int, str] | None:
    """(device, path within the filesystem) of the directory open at fd; None if its
    mount cannot be found (unmounted meanwhile)."""
    st = statx(fd)
    found = _mount(st.mount_id)
    if found is None:
        return None
    root, point = found
    below = os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), point)
    return st.st_dev, root if below == "." else os.path.normpath(os.path.join(root, below))


def reaches(target: str, quarantine_fd: int) -> bool:
    """Whether the resolved path `target` (created or not) lies in the quarantine through
    any mount: its nearest existing directory is the quarantine or below it in the same
    filesystem. Fails closed: a place that cannot be told counts as inside."""
    here = target
    while not os.path.isdir(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    try:
        fd = os.open(here, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        ours, theirs = place(fd), place(quarantine_fd)
    finally:
        os.close(fd)
    if ours is None or theirs is None:
        return True
    return ours[0] == theirs[0] and is_under(ours[1], theirs[1])
