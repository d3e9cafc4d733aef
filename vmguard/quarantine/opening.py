"""Open quarantine entries without side effects: look first (O_PATH), open only what passed.

Opening a name can run code: opening a FIFO wakes or unblocks its writer, opening a
device node runs its driver. So every entry is first reached with O_PATH|O_NOFOLLOW,
which opens nothing (not a FIFO, not a device, not a symlink's target), and its type
and identity (the inode the walk saw) are checked on that descriptor. Only a regular
file or a directory that passed is opened for reading, through /proc/self/fd/N: the
very inode that was checked, whatever its name points to by then.

Mount points are told by mount id (statx, in the walk), not by st_dev: a bind mount of
another directory of the same filesystem has the quarantine's device but its own mount.
The walk saw each inode on the quarantine's mount, so at open the same inode is enough;
a mount over the name since shows as another inode, and statx then names it.

Every open of a quarantine entry (the root, its directories, its files, a dry run's
second look at a file) goes through noatime_open: even the access times stay unchanged
(vet run as root, or as the files' owner; any other user cannot ask for it, and the
report then says how many entries' access times moved). An entry whose mode shuts out
vet's user is refused (`unreadable`, its mode named) and the rest vetted as usual.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import NoReturn

from vmguard.core.errors import VetError, VetInputError
from vmguard.quarantine.model import Kind, Reason
from vmguard.quarantine.sysio import Stat, statx

_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
DIR_FLAGS = DIR_READ | os.O_NOFOLLOW  # the quarantine's root and its directories
_FORMATS = {stat.S_IFREG: Kind.FILE, stat.S_IFDIR: Kind.DIRECTORY, stat.S_IFLNK: Kind.SYMLINK}
_SPECIAL = {
    stat.S_IFIFO: "FIFO",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


def noatime_open(path: str | os.PathLike[str], flags: int, dir_fd: int | None = None) -> tuple[int, bool]:
    """Open a quarantine entry for reading without touching its access time (O_NOATIME:
    a directory listed or a file read stays as the guest left it); return the descriptor
    and whether the access time was kept. The flag is for the owner or CAP_FOWNER only:
    a vet run as another user opens without it, and the caller says so in the report."""
    try:
        return os.open(path, flags | os.O_NOATIME, dir_fd=dir_fd), True
    except PermissionError:
        return os.open(path, flags, dir_fd=dir_fd), False


def atime_note(entries: int) -> str:
    """The report's note when O_NOATIME was refused for `entries` entries."""
    return (
        f"access times: {entries} quarantine entries opened without O_NOATIME (vet's user, "
        f"uid {os.geteuid()}, neither owns them nor has CAP_FOWNER), so reading them moved "
        "their access times; run vet as root (or as their owner) to leave them unchanged"
    )


_ON_THE_WAY = {  # the name itself cannot be looked at: a component before it failed
    errno.ENOTDIR: "a component on the way is not a directory: give the directory's path",
    errno.ELOOP: "a symlink on the way loops: give the directory's real path",
    errno.EACCES: "vet's user may not enter a directory on the way: run vet as root, or as that user",
    errno.ENOENT: "give the path of an existing directory",
}
_NOT_READABLE = "vet's user must be able to read and enter it: run vet as root, or as that user"


def open_quarantine(path: os.PathLike[str]) -> tuple[int, bool]:
    """The quarantine directory itself (never through a symlink at its name: the guest
    could repoint it between two vets); exit 2 with one line saying what is there."""
    try:
        return noatime_open(path, DIR_FLAGS)
    except OSError as err:
        raise VetInputError(
            f"{path}: cannot open the quarantine directory: {err.strerror} ({_what_is_there(path, err)})"
        ) from err


def _what_is_there(path: os.PathLike[str], err: OSError) -> str:
    """What the name is, and the remedy: a symlink (however the open failed on it: ELOOP,
    ENOTDIR) is named as one; otherwise the open's errno says it."""
    try:
        st = os.lstat(path)
    except OSError as looked:
        return _ON_THE_WAY.get(looked.errno, "give the path of a directory vet's user can reach")
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFLNK:
        link = f"it is a symlink to {os.readlink(path)!r}"
        try:
            real = os.path.realpath(path, strict=True)
        except OSError:
            return f"{link}, which loops or leads nowhere; vet never follows one: give a directory's path"
        return f"{link}; vet never follows one: give the real path, {real}"
    if fmt != stat.S_IFDIR:
        return f"it is a {_SPECIAL.get(fmt, 'regular file')}; it must be a directory"
    return (
        _NOT_READABLE
        if err.errno in (errno.EACCES, errno.EPERM)
        else "give the path of a directory vet can read"
    )


class Refused(Exception):
    """The entry cannot be published; carries the reasons."""

    def __init__(self, reasons: list[Reason], detail: str = "") -> None:
        super().__init__(detail)
        self.reasons = reasons
        self.detail = detail


def kind_of(mode: int) -> Kind:
    return _FORMATS.get(stat.S_IFMT(mode), Kind.OTHER)


def reason_for_open_error(err: OSError) -> tuple[Reason, str]:
    """Name what a failed look-up or open tells about a swapped entry."""
    if err.errno == errno.ELOOP:
        return Reason.SYMLINK, "replaced by a symlink during the vet"
    if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ESTALE, errno.ENXIO):
        return Reason.CHANGED_DURING_VET, f"replaced or removed during the vet: {err.strerror}"
    if err.errno in (errno.EACCES, errno.EPERM):  # a directory on its way shuts vet's user out
        return Reason.UNREADABLE, f"vet's user (uid {os.geteuid()}) may not reach it: Permission denied"
    return Reason.UNREADABLE, err.strerror or str(err)


def outside_mount(st: Stat, mount_id: int) -> bool:
    """Whether an entry is reached through another mount than the quarantine root's."""
    return st.mount_id != mount_id or st.mount_root


def check_entry(st: Stat, kind: Kind, dev: int, ino: int, mount_id: int) -> NoReturn:
    """Refuse an entry that is not the `kind` entry (dev, ino) the walk saw, saying why."""
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFLNK:
        raise Refused([Reason.SYMLINK], "replaced by a symlink during the vet; never followed")
    if fmt in _SPECIAL:
        raise Refused(
            [Reason.SPECIAL_FILE, Reason.CHANGED_DURING_VET],
            f"replaced by a {_SPECIAL[fmt]} during the vet; never opened",
        )
    if outside_mount(st, mount_id):
        raise Refused([Reason.MOUNT_POINT], "a mount point inside the quarantine; never followed")
    raise Refused([Reason.CHANGED_DURING_VET], "replaced during the vet")


class Opener:
    """Opens entries of one quarantine. Holds /proc/self/fd open: a reopen through it
    costs one look-up instead of four (this is on the path of every file)."""

    def __init__(self, root_fd: int) -> None:
        try:
            self.proc_fd = os.open("/proc/self/fd", DIR_READ)
        except OSError as err:
            raise VetError(
                f"/proc/self/fd: {err.strerror}; vet opens quarantine files only through it (mount /proc)"
            ) from err
        self.mount_id = statx(root_fd).mount_id
        self.atime_moved = 0  # entries opened without O_NOATIME (atime_note)

    def close(self) -> None:
        if self.proc_fd >= 0:
            os.close(self.proc_fd)
            self.proc_fd = -1

    def __enter__(self) -> Opener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_checked(
        self, name: str, dir_fd: int, kind: Kind, dev: int, ino: int
    ) -> tuple[int, os.stat_result]:
        """Open name (in dir_fd) for reading if it is still the checked `kind` (dev, ino);
        raise Refused otherwise, without having opened it. The walk saw (dev, ino) on the
        quarantine's mount, so the same inode now is that file: a mount over the name
        shows as another inode (and statx then names it)."""
        try:
            path_fd = os.open(name, _PATH, dir_fd=dir_fd)
        except OSError as err:
            raise Refused(*_listed(reason_for_open_error(err))) from err
        try:
            st = os.fstat(path_fd)
            if kind_of(st.st_mode) is not kind or (st.st_dev, st.st_ino) != (dev, ino):
                check_entry(statx(path_fd), kind, dev, ino, self.mount_id)  # raises, with why
            return self._readable(path_fd, kind, st), st
        finally:
            os.close(path_fd)

    def _readable(self, path_fd: int, kind: Kind, st: os.stat_result) -> int:
        try:
            return self._reopen(path_fd, DIR_READ if kind is Kind.DIRECTORY else FILE_READ)
        except PermissionError as err:  # its mode shuts out vet's user (not root): this entry only
            raise Refused(
                [Reason.UNREADABLE],
                f"vet's user (uid {os.geteuid()}) may not open it: {err.strerror} "
                f"(mode {st.st_mode & 0o7777:04o})",
            ) from err

    def _reopen(self, path_fd: int, flags: int) -> int:
        fd, kept = noatime_open(str(path_fd), flags, dir_fd=self.proc_fd)
        self.atime_moved += not kept
        return fd

    def reopen_file(self, fd: int) -> int:
        """A second, independent descriptor of a quarantine file already opened (a dry
        run's structure walk reads the source again, from its own offset)."""
        return self._reopen(fd, FILE_READ)

    def open_dir(self, name: str, parent_fd: int, dev: int, ino: int) -> int:
        return self.open_checked(name, parent_fd, Kind.DIRECTORY, dev, ino)[0]


def _listed(found: tuple[Reason, str]) -> tuple[list[Reason], str]:
    return [found[0]], found[1]
