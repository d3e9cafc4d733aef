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
import itertools
import os
import stat
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NoReturn

from vmguard.core.display import shown
from vmguard.core.errors import VetError, VetInputError
from vmguard.quarantine.destination import STAGING, Destination
from vmguard.quarantine.manifest import Manifest
from vmguard.quarantine.model import Entry, Kind, Verdict
from vmguard.quarantine.opening import Opener
from vmguard.quarantine.removal import REWRITTEN, Identity, Rereader, from_record
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


def check_source(dest: Destination, manifest: Manifest, origin: Origin) -> None:
    """Raise VetInputError unless `manifest` (this job's, published) is of a vet of this
    quarantine."""
    source = manifest.fields.get("source")
    if not _same(source, manifest.fields.get("quarantine"), origin):
        before = "".join(f" ({n})" for n in dest.notes)  # a roll forward of another vet, say
        was = _shown(source) if isinstance(source, dict) else "a quarantine it does not record"
        raise VetInputError(
            f"--to {dest.target} already exists{before}: {dest.public}/{dest.sidecars[0]} is job "
            f"{dest.job}'s, vetted from {was}, not from {_shown(origin.to_dict())}; nothing was vetted: "
            "choose another --to"
        )


def _entries(dest: Destination, manifest: Manifest) -> Iterator[Entry]:
    """The manifest's entries, one at a time; VetInputError if one is no vet's entry."""
    try:
        yield from manifest.entries()
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        where = f"{dest.public}/{dest.sidecars[0]}"
        raise VetInputError(f"{where}: its entries are not a vmguard manifest's; never overwritten") from err


def published_entries(dest: Destination, manifest: Manifest) -> tuple[Entry, ...]:
    """The manifest's entries, once all its output is there as published; else raise
    VetInputError (read after the walk is gone: 100,000 of each never exist at once)."""
    where = f"{dest.public}/{dest.sidecars[0]}"
    entries = tuple(_entries(dest, manifest))
    if (missing := _missing(dest, entries)) is not None:
        raise VetInputError(
            f"--to {dest.target}: {where} names {missing}, which is no longer there as published; "
            f"nothing was vetted: to vet again, remove {dest.target} and its sidecars "
            f"({', '.join(dest.sidecars)}), or choose another --to"
        )
    return entries


def check_contents(dest: Destination, manifest: Manifest, walked: Walk) -> None:
    """Raise VetInputError unless every entry `walked` found is one the manifest's vet
    saw, unchanged (see the module's docstring)."""
    recorded = manifest.walked()
    if recorded is None:
        old = "records no entries of the quarantine (an earlier vmguard's): it cannot be told from another"
        _refuse(dest, old)
    try:
        unvetted = first_unvetted(recorded, walked)
    except ValueError:  # it parsed before the walk: rewritten since
        _refuse(dest, "changed while it was read")
    if unvetted is not None:
        path, recorded_at_all = unvetted
        how = "another inode, size, mtime or ctime of" if recorded_at_all else "no"
        _refuse(dest, f"records {how} {shown(path)}, which the quarantine holds: not what was vetted")


def check_bytes(dest: Destination, manifest: Manifest, walked: Walk, opener: Opener, root_fd: int) -> None:
    """Raise VetInputError unless every file the manifest names as published (accepted)
    that the quarantine still holds hashes to the manifest's sha256. The walked rows
    cannot tell it (check_contents): a store through a shared mapping opened before the
    vet moves neither mtime nor ctime (tmpfs; other filesystems until writeback), so
    the quarantine can hold bytes never vetted under the stamps that were. Each file is
    read again as --remove-promoted reads it (removal.Rereader), the entries
    streamed while the walk is kept (its files indexed by their parts, no new tuple)."""
    files = {node.parts: node for node in walked.nodes if node.kind is Kind.FILE}
    try:
        with Rereader(opener, root_fd, walked.nodes) as again:
            for path, sha256 in manifest.published_files():
                node = files.get(tuple(path.split("/"))) if isinstance(path, str) else None
                if node is not None:  # else gone since (or a row that is no entry: refused after)
                    _judge_again(dest, path, again.check(node, sha256 if isinstance(sha256, str) else None))
    except ValueError:  # it parsed before the walk: rewritten since
        _refuse(dest, "changed while it was read")


def _judge_again(dest: Destination, path: str, why: str | None) -> None:
    if why == REWRITTEN:
        _refuse(
            dest,
            f"records {shown(path)} with a sha256 its bytes in the quarantine no longer have "
            "(rewritten in place, its times unchanged: as through a shared mapping): not what was vetted",
        )
    if why is not None:
        _refuse(dest, f"records {shown(path)}, which changed while it was read again ({why})")


def first_unvetted(recorded: Iterable[object], walked: Walk) -> tuple[str, bool] | None:
    """The first entry (in walk order) of `walked` that no row of `recorded` records as
    it is now, and whether a row names it at all; None when there is none. It judges as
    a dict of the rows by path would (a path recorded twice: its last row counts), but
    keeps no row: the rows come one at a time and each is looked up among the walk's
    entries, indexed by their path's parts (a node's own tuple, no new string)."""
    index = _by_parts(walked)
    state = bytearray(len(walked.nodes) + len(walked.others))  # 0: no row, 1: as recorded, 2: not
    for row in recorded:
        if not (isinstance(row, list) and row and isinstance(row[0], str)):
            continue  # no path: it records no entry
        at = index.get(tuple(row[0].split("/")), ())
        for i in (at,) if isinstance(at, int) else at:
            state[i] = 1 if row == list(walked.stamp_at(i)) else 2
    found = [i for i in (state.find(0), state.find(2)) if i >= 0]
    return (walked.stamp_at(min(found))[0], state[min(found)] == 2) if found else None


def _by_parts(walked: Walk) -> dict[tuple[str, ...], int | list[int]]:
    """Where in walked.stamps() each path is: an int, or a list for a path seen twice
    (no walk sees one twice; if one did, each would have to be as its row records)."""
    keys = itertools.chain((n.parts for n in walked.nodes), (tuple(s[0].split("/")) for s in walked.others))
    index: dict[tuple[str, ...], int | list[int]] = {}
    for i, key in enumerate(keys):
        had = index.setdefault(key, i)
        if had != i:
            index[key] = [*had, i] if isinstance(had, list) else [had, i]
    return index


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


def _missing(dest: Destination, entries: tuple[Entry, ...]) -> str | None:
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
        for entry in entries:
            accepted = entry.verdict is Verdict.ACCEPTED and entry.kind is Kind.FILE
            if accepted and not _there(out_fd, entry.path, entry.size):
                return f"{dest.target}/{entry.path}"
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
