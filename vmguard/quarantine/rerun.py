"""A vet of a job whose manifest is already published: when it may say `already-promoted`.

Only a rerun of the same quarantine holding what was vetted, and only while the public
area holds what the manifest names. No identity of the quarantine directory proves its
contents are the ones vetted (a new tmpfs or ext4 at the same path, a directory made
anew on overlayfs, can match its device, inode and generation): the manifest records
every entry the walk saw (`walked`: its path and inode and, but for a directory, its
size, mtime and ctime, as the copy saw them for a file it read), and the rerun walks the
quarantine again: every entry it finds must be recorded with the same stamp (the ctime,
which no guest sets, moves with any change), or the quarantine holds what was never
vetted. An entry gone since hides nothing unvetted (a removal removes published files).
Anything else is refused. The manifest also records the quarantine directory read (`Origin`:
its resolved path, device and inode, from the open descriptor), so a vet of another
quarantine to the same --to (or one that rolls an interrupted vet of another
quarantine forward) is told apart: its files were never vetted, and reporting the
first one's entries as its own would be false. And an output directory removed or
emptied since is not "already promoted". Either is --to existing: exit 2, nothing
vetted, a message naming what differs and the remedy.

A rerun with --remove-promoted finishes an unfinished removal from the record the
commit kept (removal.py), with the same checks as a first run.
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
from dataclasses import dataclass
from typing import NoReturn

from vmguard.core.display import shown
from vmguard.core.errors import VetError, VetInputError
from vmguard.quarantine.destination import STAGING, Destination
from vmguard.quarantine.removal import Identity, from_record
from vmguard.quarantine.walk import Node, Walk

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NOT_RECORDED = (
    "published by an earlier vet run without --remove-promoted, which kept no record of "
    "its copy: never removed unchecked; remove it by hand (the manifest has its sha256)"
)


_GETVERSION = 0x80087601  # FS_IOC_GETVERSION: the inode's generation


@dataclass(frozen=True)
class Origin:
    """The quarantine directory a vet read: a directory deleted and made again can get
    the same inode number, not the same generation (where the filesystem keeps one)."""

    path: str
    dev: int
    ino: int
    generation: int | None

    @classmethod
    def of(cls, root_fd: int) -> Origin:
        st = os.fstat(root_fd)
        return cls(os.readlink(f"/proc/self/fd/{root_fd}"), st.st_dev, st.st_ino, _generation(root_fd))

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "device": self.dev, "inode": self.ino, "generation": self.generation}


def _generation(fd: int) -> int | None:
    """ext4, xfs and btrfs give a reused inode number a new generation; tmpfs has none."""
    try:
        return struct.unpack_from("I", fcntl.ioctl(fd, _GETVERSION, bytes(8)))[0]
    except OSError:
        return None


def check_rerun(dest: Destination, manifest: dict, origin: Origin) -> None:
    """Raise VetInputError unless `manifest` (this job's, published) is of a vet of this
    quarantine and its output is all there."""
    where = f"{dest.public}/{dest.sidecars[0]}"
    before = "".join(f" ({n})" for n in dest.notes)  # a roll forward of another vet, say
    source = manifest.get("source")
    if not _same(source, manifest.get("quarantine"), origin):
        was = _shown(source) if isinstance(source, dict) else "a quarantine it does not record"
        raise VetInputError(
            f"--to {dest.target} already exists{before}: {where} is job {dest.job}'s, vetted from {was}, "
            f"not from {_shown(origin.to_dict())}; nothing was vetted: choose another --to"
        )
    if (missing := _missing(dest, manifest)) is not None:
        raise VetInputError(
            f"--to {dest.target}: {where} names {missing}, which is no longer there as published; "
            f"nothing was vetted: to vet again, remove {dest.target} and its sidecars "
            f"({', '.join(dest.sidecars)}), or choose another --to"
        )


def check_contents(dest: Destination, recorded: object, walked: Walk) -> None:
    """Raise VetInputError unless every entry `walked` found is one the manifest's vet
    saw, unchanged (see the module's docstring); `recorded`: the manifest's `walked`."""
    if not isinstance(recorded, list):
        old = "records no entries of the quarantine (an earlier vmguard's): it cannot be told from another"
        _refuse(dest, old)
    seen = {row[0]: row for row in recorded if isinstance(row, list) and row}
    for row in walked.stamps():
        if seen.get(row[0]) != list(row):
            how = "no" if row[0] not in seen else "another inode, size, mtime or ctime of"
            _refuse(dest, f"records {how} {shown(row[0])}, which the quarantine holds: not what was vetted")


def _refuse(dest: Destination, why: str) -> NoReturn:
    before = "".join(f" ({n})" for n in dest.notes)
    unfinished = (
        " (an earlier --remove-promoted of this job is unfinished: the files it names stay in the quarantine)"
        if dest.read_record() is not None
        else ""
    )
    raise VetInputError(
        f"--to {dest.target} already exists{before}: {dest.public}/{dest.sidecars[0]} {why}; "
        f"nothing was vetted: choose another --to{unfinished}"
    )


def _same(source: object, quarantine: object, origin: Origin) -> bool:
    """Whether the manifest's vet read `origin`. A manifest of a vmguard before the
    source was recorded has only the path as given: its resolved path must match."""
    if source is None and isinstance(quarantine, str) and os.path.isabs(quarantine):
        return os.path.realpath(quarantine) == origin.path
    return source == origin.to_dict()


def _shown(source: dict) -> str:
    return f"{shown(str(source.get('path')))} (device {source.get('device')}, inode {source.get('inode')})"


def _missing(dest: Destination, manifest: dict) -> str | None:
    """The first thing the manifest names that the public area lacks, or None."""
    for name in dest.sidecars[1:]:
        try:
            os.stat(name, dir_fd=dest.public_fd, follow_symlinks=False)
        except FileNotFoundError:
            return f"{dest.public}/{name}"
    try:
        out_fd = os.open(dest.name, _DIR, dir_fd=dest.public_fd)
    except OSError:
        return f"the output directory {dest.target}"
    try:
        for entry in manifest.get("entries", ()):
            accepted = entry.get("verdict") == "accepted" and entry.get("kind") == "file"
            if accepted and not _there(out_fd, entry["path"], entry.get("size")):
                return f"{dest.target}/{entry['path']}"
    finally:
        os.close(out_fd)
    return None


def _there(out_fd: int, path: str, size: object) -> bool:
    try:
        st = os.stat(path, dir_fd=out_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


@dataclass(frozen=True)
class ToRemove:
    """What a rerun with --remove-promoted is to remove (from the commit's record)."""

    nodes: tuple[Node, ...]
    published: dict[str, Identity]


def pending_removal(dest: Destination, origin: Origin) -> ToRemove | None:
    """The unfinished removal of this job's first vet, or None if there is none."""
    data = dest.read_record()
    if data is None:
        return None
    try:
        source, nodes, published = from_record(data)
    except (ValueError, KeyError, TypeError) as err:
        raise VetError(f"{dest.public}/{STAGING}/{dest.record}: not a vmguard removal record") from err
    if source != origin.to_dict():  # the manifest's own check passed: a record of another vet
        raise VetError(f"{dest.public}/{STAGING}/{dest.record}: of another quarantine; remove it")
    return ToRemove(nodes, published)
