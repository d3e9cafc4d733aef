"""Where a directory lies in its filesystem, whatever mount shows it: a bind mount shows a
directory of the quarantine under another path (of the quarantine itself, or of a
directory the guest made in it), which no comparison of paths or of one inode sees.

A mount's root within its filesystem is in /proc/self/mountinfo (field 4); an open
directory's mount is the one statx names. So a directory's place in its filesystem is
that root joined with its path below the mount point. An overlayfs shows one directory
in several filesystems: its merged view, and the same path in each layer (upperdir=,
lowerdir= in its super options); a directory's places are all of them. A --to is
inside the quarantine if any of its places is at or below one of the quarantine's, in
the same filesystem: mountinfo's device (field 3), the superblock's, which a btrfs
subvolume shares with its parent while statx gives it a device of its own; or the same
UUID on disk (vmguard.quarantine.fsident), which the quarantine's disk attached a
second time (another loop device, another superblock) shares with it.

Judged on descriptors (the directory the kernel opened), never on path text. Fails
closed: a mount our mountinfo does not show (another mount namespace, reached through
/proc/PID/root, cwd or fd; a mount gone meanwhile) or an overlay layer that cannot be
opened counts as inside.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vmguard.core.errors import VetInputError
from vmguard.core.paths import is_under
from vmguard.quarantine.fsident import Filesystem, filesystem
from vmguard.quarantine.sysio import statx

_ESCAPED = re.compile(rb"\\([0-7]{3})")  # mountinfo writes space, tab, newline, \ , as \ooo
_LAYERS = ("upperdir", "lowerdir", "lowerdir+", "datadir+")  # where an overlay's files are
_NESTED = 4  # overlays over overlays followed this deep; deeper cannot be told


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: the mount's root within its filesystem, its mount point,
    its type and its super options (each still escaped as the line has it)."""

    dev: int
    root: str
    point: str
    fstype: str
    options: tuple[bytes, ...]


class Unknown(Exception):
    """A place that cannot be told: the caller fails closed."""


def _unescape(field: bytes) -> str:
    return os.fsdecode(_ESCAPED.sub(lambda m: bytes([int(m.group(1), 8)]), field))


def _mount(mount_id: int) -> Mount:
    with open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            fields = line.rstrip(b"\n").split(b" ")
            if int(fields[0]) == mount_id:
                fstype, _, options = fields[fields.index(b"-") + 1 :][:3]
                major, _, minor = fields[2].partition(b":")
                dev = os.makedev(int(major), int(minor))
                root, point = _unescape(fields[3]), _unescape(fields[4])
                return Mount(dev, root, point, _unescape(fstype), tuple(options.split(b",")))
    raise Unknown(f"mount {mount_id} is not in this mount namespace's table")


def _below(fd: int, point: str) -> str:
    """fd's path below its mount point: what the kernel names it in our namespace."""
    path = os.readlink(f"/proc/self/fd/{fd}")
    if not is_under(path, point) or path.endswith(" (deleted)"):
        raise Unknown(f"{path} is not reachable below its mount point {point}")
    return os.path.relpath(path, point)


def _split_layers(value: str) -> list[str]:
    """The legacy lowerdir's ':'-separated layers (the mounter's string as given), overlay's
    '\\' escapes (of ':' ',' '\\') undone."""
    layers, here, escaped = [], "", False
    for char in value:
        if escaped:
            here, escaped = here + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            layers, here = [*layers, here], ""
        else:
            here += char
    return [layer for layer in (*layers, here) if layer]  # '::' marks data-only layers


def _layer_dirs(mount: Mount) -> list[str]:
    found = []
    for option in mount.options:
        key, _, value = _unescape(option).partition("=")
        if key == "lowerdir":
            found += _split_layers(value)
        elif key in _LAYERS:  # one path each, as the kernel keeps it: ':' and '\\' are its own
            found.append(value)
    if not found:
        raise Unknown(f"overlay at {mount.point} names no layers")
    return found


Place = tuple[Filesystem, str]  # a directory's path below its filesystem's root


def places(fd: int, layers: bool = True, depth: int = 0) -> set[Place]:
    """Every (filesystem, path) the directory open at fd is in: its own place, and (layers)
    on an overlayfs the same path in each layer. Raises Unknown where it cannot tell."""
    mount = _mount(statx(fd).mount_id)
    below = os.path.normpath(os.path.join(mount.root, _below(fd, mount.point)))
    found = {(filesystem(fd, mount.dev, mount.fstype), below)}
    if not layers or mount.fstype != "overlay":
        return found
    if depth >= _NESTED:
        raise Unknown(f"overlays nested over {_NESTED} deep at {mount.point}")
    for layer in _layer_dirs(mount):
        if not layer.startswith("/"):  # relative to a mounter's cwd we do not know
            raise Unknown(f"overlay layer {layer!r} is not an absolute path")
        try:
            layer_fd = os.open(layer, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise Unknown(f"overlay layer {layer}: {err.strerror}") from err
        try:
            shown = places(layer_fd, True, depth + 1)
            found |= {(fs, os.path.normpath(f"{top}/{below}")) for fs, top in shown}
        finally:
            os.close(layer_fd)
    return found


def _overlap(ours: set[Place], theirs: set[Place]) -> str | None:
    for fs, path in sorted(ours, key=_order):
        for qfs, qpath in sorted(theirs, key=_order):
            if fs.same(qfs) and is_under(path, qpath):
                return f"it is {path} on {fs}, in the quarantine's {qpath} (on {qfs})"
    return None


def _order(place: Place) -> tuple[int, str]:
    return place[0].dev, place[1]


def inside(fd: int, quarantine_fd: int) -> str | None:
    """Why the directory open at fd is in the quarantine (at or below it, through any
    mount or overlay layer), or None if it is not. Unknown counts as inside. Layers are
    looked at only across devices: on one device (one overlay too) the two paths in
    each layer stand as they stand in the merged view, so its own places tell it all."""
    try:
        ours, theirs = places(fd, False), places(quarantine_fd, False)
        found = _overlap(ours, theirs)
        if found or {fs for fs, _ in ours} == {fs for fs, _ in theirs}:
            return found
        return _overlap(places(fd), places(quarantine_fd))
    except (Unknown, OSError) as err:
        return f"where it lies cannot be told: {err}"


def check_apart(fd: int, quarantine_fd: int, to: object) -> None:
    """Refuse (exit 2) a public directory in the quarantine, however reached: the guest
    could rewrite what is published, its sidecars and vmguard's staging and lock."""
    why = inside(fd, quarantine_fd)
    if why is not None:
        raise VetInputError(
            f"--to {to}: the directory it opens overlaps the quarantine ({why}); the output must be "
            "outside the quarantine through every mount, overlay layer and mount namespace: "
            "publish on a path of this mount namespace that does not reach the quarantine"
        )
