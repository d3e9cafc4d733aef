"""Phase 1 of a vet: walk the quarantine by directory descriptors, never following links.

Each entry is looked at with statx (no link followed), which also gives its mount: an
entry on another mount than the quarantine's (a bind mount, even of the same
filesystem) is refused, never entered. Each directory is opened relative to its
parent's descriptor by opening.Opener, which checks on an O_PATH descriptor that it is
the very inode statx saw before opening it, so a guest that swaps a directory for a
symlink mid-walk cannot steer the walk outside the quarantine. Only metadata is read
here; the bytes are read once, in the copy phase, from a descriptor checked again.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from vmguard.core.display import shown
from vmguard.policy.model import FileKind, NameRules, QuarantinePolicy
from vmguard.quarantine import hooks
from vmguard.quarantine.holes import written_size
from vmguard.quarantine.model import Entry, Kind, Reason, Verdict
from vmguard.quarantine.names import (
    collisions,
    config_note,
    explained,
    name_reasons,
    path_fits,
    sibling_notes,
    sibling_reasons,
)
from vmguard.quarantine.opening import (
    Opener,
    Refused,
    kind_of,
    outside_mount,
    reason_for_open_error,
)
from vmguard.quarantine.served import directory_acted_on
from vmguard.quarantine.sysio import Stat, statx


@dataclass(frozen=True, slots=True)
class Node:
    """An entry that passed every metadata check and goes on to the copy phase."""

    parts: tuple[str, ...]  # path components below the quarantine root
    kind: Kind  # FILE or DIRECTORY
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int  # the copy refuses a file whose ctime moved since (copy._check_same)
    written: int = 0  # bytes its copy will write: holes of a sparse file are not written


# (path, inode) of a directory; (path, inode, size, mtime_ns, ctime_ns) of any other entry
Stamp = tuple[str, int] | tuple[str, int, int, int, int]


def stamp(path: str, directory: bool, ino: int, size: int, mtime_ns: int, ctime_ns: int) -> Stamp:
    """What a rerun compares of an entry (rerun.py): a directory's times move when its
    entries do (a removal), so its inode alone; the ctime is what no guest can set."""
    return (path, ino) if directory else (path, ino, size, mtime_ns, ctime_ns)


def node_stamp(n: Node) -> Stamp:
    return stamp("/".join(n.parts), n.kind is Kind.DIRECTORY, n.ino, n.size, n.mtime_ns, n.ctime_ns)


def _stat_stamp(parts: tuple[str, ...], st: Stat) -> Stamp:
    directory = stat.S_ISDIR(st.st_mode)
    return stamp("/".join(parts), directory, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class Walk:
    nodes: tuple[Node, ...]  # parents before children; a directory's files are contiguous
    entries: tuple[Entry, ...]  # rejected and skipped entries
    total_size: int
    others: tuple[Stamp, ...] = ()  # the stamps of the entries statx saw that are no node

    def stamps(self) -> Iterator[Stamp]:
        """Every entry statx saw, whatever its verdict, one at a time: a node's stamp is
        made from the node (a file's as its copy saw it: the copy refuses any change
        since), so 100,000 entries keep no second path string and tuple each."""
        yield from map(node_stamp, self.nodes)
        yield from self.others

    def stamp_at(self, i: int) -> Stamp:
        """stamps()'s `i`th."""
        return node_stamp(self.nodes[i]) if i < len(self.nodes) else self.others[i - len(self.nodes)]


class _Walker:
    def __init__(self, policy: QuarantinePolicy, opener: Opener, root_dev: int, public: str) -> None:
        self.policy = policy
        self.public = public  # the job's output directory: a path must fit below it
        self.forbid = frozenset(policy.forbid)
        self.opener = opener
        self.root_dev = root_dev
        self.portable = policy.names is NameRules.PORTABLE
        self.dot_names = frozenset(policy.dot_names)
        self.nodes: list[Node] = []
        self.entries: list[Entry] = []
        self.others: list[Stamp] = []  # seen by statx, not a node (Walk.stamps)
        self.count = 0
        self.total = 0
        self.stopped = False
        self.notes: dict[tuple[str, ...], str] = {}  # a colliding entry's sibling and rule

    def reject(
        self, parts: tuple[str, ...], kind: Kind, reasons, detail="", seen: Stat | None = None, **kw
    ) -> None:
        """Record an entry that is no node; `seen`: what statx saw of it, if it did."""
        if seen is not None:
            self.others.append(_stat_stamp(parts, seen))
        verdict = Verdict.REJECTED if reasons else Verdict.SKIPPED
        path = shown("/".join(parts))
        detail = "; ".join(filter(None, (self.notes.pop(parts, ""), detail, explained(reasons))))
        self.entries.append(Entry(path, kind, verdict, tuple(reasons), detail, **kw))

    def note(self, path: tuple[str, ...], note: str) -> None:
        """Add to what an entry's detail says beyond its rules."""
        self.notes[path] = "; ".join(filter(None, (self.notes.get(path, ""), note)))

    def walk_dir(self, fd: int, parts: tuple[str, ...]) -> None:
        try:
            names = sorted(os.listdir(fd))
        except OSError as err:
            self.reject(parts, Kind.DIRECTORY, [Reason.UNREADABLE], err.strerror or "")
            return
        siblings = sibling_reasons(names, parts[-1] if parts else "")
        if any(Reason.NAME_COLLISION in found for found in siblings.values()):
            self.notes.update({parts + (name,): note for name, note in collisions(names).items()})
        if any(Reason.NAME_CONFIG in found for found in siblings.values()):
            for name, note in sibling_notes(names, parts[-1] if parts else "").items():
                self.note(parts + (name,), note)
        subdirs = []
        for name in names:
            if self.stopped:  # its subdirectories seen so far are never entered, but seen
                self.others.extend(_stat_stamp(path, st) for path, st in subdirs)
                return
            sub = self.visit(fd, parts + (name,), siblings.get(name, []))
            if sub is not None:
                subdirs.append(sub)
        for path, st in subdirs:
            self.descend(fd, path, st)

    def visit(self, dir_fd: int, path: tuple[str, ...], siblings: list[Reason]):
        """Check one entry; return (path, stat) of a directory to descend into."""
        self.count += 1
        if self.count > self.policy.max_files:
            detail = f"more than {self.policy.max_files} entries; the walk stopped here"
            self.reject(path, Kind.OTHER, [Reason.TOO_MANY_FILES], detail)
            self.stopped = True
            return None
        try:
            st = statx(dir_fd, path[-1])
        except OSError as err:  # gone, or its directory not searchable by vet's user (EACCES)
            reason, detail = reason_for_open_error(err)
            self.reject(path, Kind.OTHER, [reason], detail)
            return None
        reasons = self.common_reasons(path, st, siblings)
        kind = kind_of(st.st_mode)
        if kind is Kind.FILE:
            self.check_file(path, st, reasons)
        elif kind is Kind.DIRECTORY:
            return self.check_dir(path, st, reasons)
        else:
            self.check_other(path, kind, reasons, st)
        return None

    def common_reasons(self, path, st: Stat, siblings: list[Reason]) -> list[Reason]:
        directory = kind_of(st.st_mode) is Kind.DIRECTORY  # no tool's file (names._directory_config)
        limit = self.policy.max_name_length
        reasons = name_reasons(path[-1], limit, self.portable, self.dot_names, directory)
        reasons += [r for r in siblings if r not in reasons]  # main.aux: refused by name, and as a job's
        if Reason.NAME_CONFIG in reasons and (note := config_note(path[-1])):
            self.note(path, note)
        if len(path) > self.policy.max_depth:
            reasons.append(Reason.TOO_DEEP)
        if not path_fits("/".join(path), self.public):  # a directory: none of its entries fits
            reasons.append(Reason.PATH_TOO_LONG)
        if st.st_dev != self.root_dev or outside_mount(st, self.opener.mount_id):
            reasons.append(Reason.MOUNT_POINT)
        return reasons

    def check_dir(self, path, st: Stat, reasons: list[Reason]):
        """A directory to descend into, or None once refused (a server runs what is below
        it: served.directory_acted_on)."""
        if (why := directory_acted_on(path[-1])) is not None:
            reasons.append(Reason.NAME_TYPE)
        if not reasons:
            return path, st
        self.reject(path, Kind.DIRECTORY, reasons, why or "", seen=st)
        return None

    def check_other(self, path, kind: Kind, reasons: list[Reason], st: Stat) -> None:
        forbidden = FileKind.SYMLINKS if kind is Kind.SYMLINK else FileKind.SPECIAL_FILES
        if forbidden in self.forbid:
            reasons.append(Reason.SYMLINK if kind is Kind.SYMLINK else Reason.SPECIAL_FILE)
        self.reject(path, kind, reasons, "never followed or published", seen=st)

    def check_file(self, path, st: Stat, reasons: list[Reason]) -> None:
        reasons += mode_reasons(st, self.forbid)
        if st.st_size > self.policy.max_file_size:
            reasons.append(Reason.FILE_TOO_LARGE)
        elif self.total + st.st_size > self.policy.max_total_size:
            reasons.append(Reason.TOTAL_TOO_LARGE)
        if reasons:
            self.reject(path, Kind.FILE, reasons, seen=st, size=st.st_size)
            return
        self.total += st.st_size
        node = Node(
            path,
            Kind.FILE,
            self.root_dev,  # st_dev, as one int for all: an entry on another device is refused
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            written_size(st.st_size, st.st_blocks),
        )
        self.nodes.append(node)

    def descend(self, parent_fd: int, path: tuple[str, ...], st: Stat) -> None:
        hooks.reach("walk-dir", path)
        try:
            fd = self.opener.open_dir(path[-1], parent_fd, st.st_dev, st.st_ino)
        except Refused as refused:
            self.reject(path, Kind.DIRECTORY, refused.reasons, refused.detail, seen=st)
            return
        try:
            node = Node(path, Kind.DIRECTORY, self.root_dev, st.st_ino, 0, st.st_mtime_ns, st.st_ctime_ns)
            self.nodes.append(node)
            self.walk_dir(fd, path)
        finally:
            os.close(fd)


def mode_reasons(st: Stat | os.stat_result, forbid: frozenset[FileKind]) -> list[Reason]:
    """Reasons from a regular file's mode and link count (checked again on the open fd)."""
    bits, links = _watched(forbid)
    if not st.st_mode & bits and (st.st_nlink <= 1 or not links):
        return []  # nearly every file, twice per file: no enum looked up
    reasons = []
    if FileKind.HARDLINKS in forbid and st.st_nlink > 1:
        reasons.append(Reason.HARDLINK)
    if FileKind.SETUID in forbid:
        for bit, reason in (
            (stat.S_ISUID, Reason.SETUID),
            (stat.S_ISGID, Reason.SETGID),
            (stat.S_ISVTX, Reason.STICKY),
        ):
            if st.st_mode & bit:
                reasons.append(reason)
    if FileKind.EXECUTABLES in forbid and st.st_mode & 0o111:
        reasons.append(Reason.EXECUTABLE_MODE)
    return reasons


@functools.lru_cache(maxsize=16)
def _watched(forbid: frozenset[FileKind]) -> tuple[int, bool]:
    """The mode bits mode_reasons refuses under `forbid`, and whether it refuses hard links."""
    bits = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX if FileKind.SETUID in forbid else 0
    bits |= 0o111 if FileKind.EXECUTABLES in forbid else 0
    return bits, FileKind.HARDLINKS in forbid


def walk(root_fd: int, policy: QuarantinePolicy, opener: Opener, public: str = "") -> Walk:
    """The quarantine's entries; `public` is the directory they would be published in."""
    walker = _Walker(policy, opener, os.fstat(root_fd).st_dev, public)
    walker.walk_dir(root_fd, ())
    return Walk(tuple(walker.nodes), tuple(walker.entries), walker.total, tuple(walker.others))
