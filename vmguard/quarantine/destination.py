"""The public side of a vet: lock, staging, free-space check, and the atomic commit.

The --to path (say /public/alice/run42) is the job's output directory; it must not
exist yet. Everything happens in its parent, on the same filesystem:

    /public/alice/.vmguard-staging/     0700, owned by vmguard
        run42.lock                      flock'ed while a vet of this target runs
        run42.staging/out/...           the staged tree, becomes /public/alice/run42
        run42.staging/run42.manifest.json ...  sidecars, published beside the output
        run42.staging/COMMITTED         written and fsync'ed after syncfs: roll forward
        run42.staging/REMOVAL           --remove-promoted's record of what was copied,
        run42.removal                   moved here by the roll forward, until removed
    /public/alice/run42/                the job's output, published by ONE rename
    /public/alice/run42.manifest.json, run42.vet.json, run42.vet.txt

Lock names all end in ".lock" and staging names in ".staging", so no target name (say
`--to /public/alice/run41.lock`) can be another job's lock or staging. Every rename is
renameat2(RENAME_NOREPLACE): nothing in PUBLIC is ever overwritten, and a symlink planted
at a target name is neither replaced nor followed. A rename that fails half-way is undone.
After a crash the next vet of the job rolls a COMMITTED staging forward and removes any
other. A write that fails (ENOSPC, EIO, EDQUOT) raises OSError; api.py turns it into a
VetError after the staging is given up, so nothing partial is ever in PUBLIC. Once it
is published, a staging that cannot be removed is `left_behind` (done, exit 3).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from vmguard.core.atomicfile import stage_at
from vmguard.core.errors import VetError, VetInputError
from vmguard.policy.model import PromotePolicy
from vmguard.quarantine import hooks, manifest
from vmguard.quarantine.manifest import Manifest
from vmguard.quarantine.publicpath import SIDECARS, open_public
from vmguard.quarantine.sysio import open_child_dir, rename_noreplace, same_mount, statx, syncfs, write_all

STAGING = ".vmguard-staging"
COMMITTED = "COMMITTED"
RECORD = "REMOVAL"  # in the job's staging: --remove-promoted's record, moved beside the lock
OUT = "out"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


def strip_xattrs(fd: int) -> None:
    """Drop extended attributes (ACLs, default ACLs) so nothing is inherited or kept."""
    for name in os.listxattr(fd):
        with contextlib.suppress(OSError):  # security.selinux and the like may be fixed
            os.removexattr(fd, name)


def _ids(promote: PromotePolicy) -> tuple[int, int]:
    try:
        uid = pwd.getpwnam(promote.owner).pw_uid if promote.owner else -1
        gid = grp.getgrnam(promote.group).gr_gid if promote.group else -1
    except KeyError as err:
        raise VetInputError(f"quarantine.promote: unknown user or group {err}") from err
    return uid, gid


def _on_mount_of(fd: int, parent_fd: int, shown: str) -> None:
    """Refuse a directory vet made or opened in the judged public directory that is on
    another mount: one put over its name after the check (the quarantine bound there)."""
    if not same_mount(fd, parent_fd):
        raise VetInputError(
            f"{shown}: a mount appeared over vmguard's own directory during the vet; "
            "nothing is written through it: unmount it and rerun"
        )


class Destination:
    """`with Destination(target, job, promote, judge) as dest:` holds the target's lock.
    `judge(fd)` refuses a public directory in the quarantine (publicpath.open_public)."""

    def __init__(self, target: Path, job: str, promote: PromotePolicy, judge: Callable[[int], None]) -> None:
        self.target = target
        self.judge = judge
        self.public = target.parent
        self.name = target.name
        self.job = job
        self.promote = promote
        self.uid, self.gid = _ids(promote)
        self.sidecars = tuple(self.name + s for s in SIDECARS)
        self.staged = f"{self.name}.staging"  # in STAGING, beside the lock f"{name}.lock"
        self.record = f"{self.name}.removal"  # in STAGING while a --remove-promoted is unfinished
        self.record_tmp = f"{self.record}.tmp"  # where an older vmguard wrote the next record
        self.public_fd = self.staging_fd = self.lock_fd = self.job_fd = -1
        self.notes: list[str] = []
        self.committed = False
        self.left_behind: str | None = None  # a published job's staging not removed (_tidy)

    def __enter__(self) -> Destination:
        try:
            self.public_fd = open_public(self.public, self.promote.dir_mode, self.judge)
        except OSError as err:
            error = VetError if err.errno in WRITE_ERRORS else VetInputError
            raise error(f"{self.public}: cannot open destination: {err.strerror}") from err
        try:
            self._open_staging()
            self._lock()
            self._recover()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in (self.job_fd, self.lock_fd, self.staging_fd, self.public_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):  # Linux frees the fd and flock all the same
                    os.close(fd)
        self.public_fd = self.staging_fd = self.lock_fd = self.job_fd = -1

    def _open_staging(self) -> None:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(STAGING, 0o700, dir_fd=self.public_fd)
            self.staging_fd = os.open(STAGING, _DIR, dir_fd=self.public_fd)
        except OSError as err:
            raise VetError(f"{self.public}: destination not writable: {err.strerror}") from err
        _on_mount_of(self.staging_fd, self.public_fd, f"{self.public}/{STAGING}")
        st = os.fstat(self.staging_fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise VetError(f"{self.public}/{STAGING}: not private to this user; refusing to use it")
        strip_xattrs(self.staging_fd)

    def _lock(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        self.lock_fd = os.open(f"{self.name}.lock", flags, 0o600, dir_fd=self.staging_fd)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise VetError(f"another vet of {self.target} is running; try again later") from err

    def _exists(self, name: str, dir_fd: int) -> bool:
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _recover(self) -> None:
        self._drop_record_tmp()  # left by an older vmguard killed while it rewrote the record
        if not self._exists(self.staged, self.staging_fd):
            return
        try:
            job_fd = os.open(self.staged, _DIR, dir_fd=self.staging_fd)
        except OSError as err:
            raise VetError(
                f"{self.public}/{STAGING}/{self.staged}: not a vmguard staging "
                f"directory ({err.strerror}); remove it"
            ) from err
        try:
            committed = self._exists(COMMITTED, job_fd)
        finally:
            os.close(job_fd)
        if committed:
            self.notes.append("finished the promotion of an interrupted earlier vet")
            self._roll_forward()
        else:
            self.notes.append("removed the staging left by an interrupted earlier vet")
            self._remove_staging()

    def previous_manifest(self) -> Manifest | None:
        """The manifest of a completed promotion of this job, if there is one (open:
        the caller closes it)."""
        return manifest.published(self.public_fd, str(self.public), self.sidecars[0], self.job)

    def check_free(self) -> None:
        for name in (self.name, *self.sidecars):
            if self._exists(name, self.public_fd):
                raise VetInputError(
                    f"{self.public}/{name} already exists; vmguard never "
                    "overwrites or follows anything in the public area"
                )

    def check_space(self, sizes: list[int], entries: int) -> None:
        """Refuse before copying anything if the staged tree cannot fit."""
        vfs = os.fstatvfs(self.staging_fd)
        block = vfs.f_frsize or 4096
        need = sum(-(-s // block) * block for s in sizes) + (entries + 8) * block
        if need > vfs.f_bavail * vfs.f_frsize:
            raise VetError(
                f"{self.public}: not enough free space: need {need} bytes, "
                f"{vfs.f_bavail * vfs.f_frsize} available; nothing was copied"
            )
        if vfs.f_files and entries + 8 > vfs.f_favail:
            raise VetError(f"{self.public}: not enough free inodes for {entries} entries")

    def begin(self) -> int:
        """Create the job's staging directory; return the descriptor of its `out` tree."""
        os.mkdir(self.staged, 0o700, dir_fd=self.staging_fd)
        self.job_fd = os.open(self.staged, _DIR, dir_fd=self.staging_fd)
        strip_xattrs(self.job_fd)
        return self.make_dir(self.job_fd, OUT)

    def make_dir(self, parent_fd: int, name: str) -> int:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
        fd = open_child_dir(parent_fd, name)
        strip_xattrs(fd)
        self.normalise(fd, self.promote.dir_mode)
        return fd

    def create_file(self, dir_fd: int, name: str) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(name, flags, 0o600, dir_fd=dir_fd)

    def normalise(self, fd: int, mode: int) -> None:
        os.fchmod(fd, mode)
        if self.uid != -1 or self.gid != -1:
            os.fchown(fd, self.uid, self.gid)

    def open_staged_dir(self, parts: tuple[str, ...]) -> int:
        fd = open_child_dir(self.job_fd, OUT)
        for name in parts:
            child = open_child_dir(fd, name)
            os.close(fd)
            fd = child
        return fd

    def commit(self, sidecars: dict[str, Iterable[bytes]], record: bytes | None = None) -> None:
        """Make the staged job durable, mark it COMMITTED, then publish it. `record`
        (--remove-promoted's) is kept private, committed with the job."""
        if record is not None:
            fd = self.create_file(self.job_fd, RECORD)
            try:
                write_all(fd, memoryview(record))
            finally:
                os.close(fd)
        for name, chunks in sidecars.items():
            hooks.reach("sidecar", (name,))
            fd = self.create_file(self.job_fd, name)
            try:
                for chunk in chunks:
                    write_all(fd, memoryview(chunk))
                self.normalise(fd, self.promote.file_mode)
            finally:
                os.close(fd)
        syncfs(self.job_fd)
        hooks.reach("synced")
        fd = self.create_file(self.job_fd, COMMITTED)
        os.fsync(fd)
        os.close(fd)
        os.fsync(self.job_fd)
        self.committed = True
        hooks.reach("committed")
        self._roll_forward()

    def _roll_forward(self) -> None:
        job_fd = os.open(self.staged, _DIR, dir_fd=self.staging_fd)
        try:
            self._publish_all(job_fd)
            self._tidy(job_fd)
        finally:
            os.close(job_fd)

    def _tidy(self, job_fd: int) -> None:
        """Published: move the removal record beside the lock (first: while that fails the
        record stays in the staging), remove the staging. A failure is `left_behind`, never
        "nothing was published"; the next vet of the job rolls the staging forward."""
        try:
            with contextlib.suppress(FileNotFoundError):  # none asked, or moved by the interrupted run
                os.rename(RECORD, self.record, src_dir_fd=job_fd, dst_dir_fd=self.staging_fd)
            self._remove_staging()
        except OSError as err:
            self.left_behind = f"{self.public}/{STAGING}/{self.staged} ({err.strerror})"

    def _publish_all(self, job_fd: int) -> None:
        done: list[tuple[str, str]] = []
        try:
            for src, dst in ((OUT, self.name), *((s, s) for s in self.sidecars)):
                if self._publish(job_fd, src, dst):
                    done.append((src, dst))
            os.fsync(self.public_fd)
            hooks.reach("published")
        except BaseException as err:
            kept = self._unpublish(job_fd, done)
            if kept and isinstance(err, Exception):  # never "nothing was published" then
                raise VetError(
                    f"{self.public}: publishing failed ({err}) and {', '.join(kept)} could not be "
                    f"taken back: the job is partly published; the committed staging "
                    f"{self.public}/{STAGING}/{self.staged} is kept: rerun the same command to finish it"
                ) from err
            raise

    def read_record(self) -> bytes | None:
        """The record of an unfinished --remove-promoted of this job, if there is one."""
        try:
            fd = os.open(self.record, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.staging_fd)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def write_record(self, data: bytes) -> None:
        """Replace the record (what is still to remove), whole or not at all: a failed
        write or a kill leaves the old one, and no temporary (vmguard.core.atomicfile)."""
        stage_at(self.staging_fd, self.record, data, 0o600).commit()

    def _drop_record_tmp(self) -> None:
        with contextlib.suppress(OSError):  # none there; or a disk error the next vet meets again
            os.unlink(self.record_tmp, dir_fd=self.staging_fd)

    def drop_record(self) -> None:
        """The removal is done (or the job it was for is no longer published)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.record, dir_fd=self.staging_fd)
            os.fsync(self.staging_fd)

    def _publish(self, job_fd: int, src: str, dst: str) -> bool:
        hooks.reach("rename", (dst,))
        try:
            rename_noreplace(job_fd, src, self.public_fd, dst)
        except FileNotFoundError:
            return False  # moved by the run that was interrupted
        except OSError as err:
            if err.errno == errno.EEXIST:
                raise VetError(
                    f"{self.public}/{dst} appeared during the vet; staging kept "
                    f"in {self.public}/{STAGING}/{self.staged} for inspection"
                ) from err
            raise
        hooks.reach("renamed", (dst,))
        return True

    def _unpublish(self, job_fd: int, done: list[tuple[str, str]]) -> list[str]:
        """A rename failed half-way: take back what this run published, so the public
        area has all of the job or nothing; the committed staging stays to roll forward.
        Returns what could not be taken back (each with why): still published."""
        kept = []
        for src, dst in reversed(done):
            try:
                rename_noreplace(self.public_fd, dst, job_fd, src)
            except OSError as err:
                kept.append(f"{self.public}/{dst} ({err.strerror})")
        return kept

    def abort(self) -> None:
        """Give up an uncommitted staging. Once COMMITTED exists the staging is kept
        whatever happens, so the next vet can only roll it forward. Never raises: it
        runs while another error is reported, and a staging left behind is removed by
        the next vet of the job."""
        if self.committed:
            return
        try:
            self._remove_staging()
        except OSError as err:
            self.notes.append(f"staging left for the next vet to remove: {err.strerror}")

    def _remove_staging(self) -> None:
        if self.job_fd >= 0:
            os.close(self.job_fd)
            self.job_fd = -1
        with contextlib.suppress(FileNotFoundError):
            if statx(self.staging_fd, self.staged).mount_id != statx(self.staging_fd).mount_id:
                raise OSError(errno.EXDEV, f"a mount is over {self.staged}: never removed through it")
            shutil.rmtree(self.staged, dir_fd=self.staging_fd)
        os.fsync(self.staging_fd)
