"""Copies of a VM's disk images taken before `apply --guest` writes, and their restore.

Layout: <state>/guest-backups/<connection>/<vm>/<time>/ with disk<N> (sparse copies)
and manifest.json (each image's path, format, owner, mode, size and SHA-256, and the
backup's state). A backup is built in <time>.partial and renamed when whole, so after
a kill -9 it either exists complete or not at all; a disk is only written once its
backup exists. A restore writes next to the image, checks the SHA-256, then renames:
the image is the old one or the restored one, never half of each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import GuestError

CHUNK = 1 << 20
MANIFEST = "manifest.json"


def _safe(name: str) -> str:
    return _host()._safe(name)


def _write_durably(path: Path, data: bytes) -> None:
    """A manifest, whole or absent after a crash; GuestError when it cannot be written."""
    write_atomic(path, data, 0o600, GuestError)


def _host():
    """enforce.apply's state folder (imported here: enforce.plan, which enforce.apply
    imports, imports this module for the backup's cost)."""
    from vmguard.enforce import apply

    return apply


class BackupState:
    TAKEN = "taken"  # copied; the disk was not opened for writing yet
    APPLYING = "applying"  # the apply worker runs (its pid in the manifest)
    APPLIED = "applied"
    FAILED = "failed"  # the worker failed after opening the disk: restore it
    RESTORED = "restored"


@dataclass(frozen=True)
class Cost:
    disks: int
    size: int  # apparent bytes of the images
    allocated: int  # bytes they occupy, which is what a sparse copy takes

    def __str__(self) -> str:
        mib = 1024 * 1024
        return (
            f"a sparse copy of {self.disks} disk image(s) before writing: "
            f"{self.allocated / mib:.0f} MiB on disk ({self.size / mib:.0f} MiB apparent), "
            "read and written once (and once more by a rollback)"
        )


def cost(paths: list[str]) -> Cost:
    stats = [os.stat(p) for p in paths]
    return Cost(len(stats), sum(s.st_size for s in stats), sum(s.st_blocks * 512 for s in stats))


def copy_sparse(src: Path, dst: Path) -> str:
    """Copy src to a new file dst, leaving holes for zero blocks; the SHA-256 of src."""
    digest = hashlib.sha256()
    zero = bytes(CHUNK)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with src.open("rb") as source, os.fdopen(fd, "wb") as target:
        while block := source.read(CHUNK):
            digest.update(block)
            if block == zero[: len(block)]:
                target.seek(len(block), os.SEEK_CUR)
            else:
                target.write(block)
        target.truncate()
        target.flush()
        os.fsync(target.fileno())
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class GuestBackups:
    def __init__(self, state: Path | None = None) -> None:
        self.root = (state or _host().default_state_dir()) / "guest-backups"

    def folder(self, connection: str, vm: str) -> Path:
        return self.root / _safe(connection) / _safe(vm)

    def take(self, connection: str, vm: str, disks: list[tuple[str, str]]) -> Path:
        """Copy each (path, format) image; the finished backup's folder."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        final = self.folder(connection, vm) / stamp
        staging = final.with_name(stamp + ".partial")
        staging.mkdir(parents=True, mode=0o700)
        entries = []
        try:
            for index, (path, fmt) in enumerate(disks):
                info = os.stat(path)
                digest = copy_sparse(Path(path), staging / f"disk{index}")
                entries.append(self._entry(path, fmt, info, digest, index))
            _write_durably(
                staging / MANIFEST, json.dumps({"state": BackupState.TAKEN, "disks": entries}).encode()
            )
        except (OSError, GuestError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise GuestError(f"cannot back up the disks of {vm}: {err}") from err
        staging.rename(final)
        _fsync_dir(final.parent)
        return final

    @staticmethod
    def _entry(path: str, fmt: str, info: os.stat_result, digest: str, index: int) -> dict:
        return {
            "path": path,
            "format": fmt,
            "copy": f"disk{index}",
            "sha256": digest,
            "size": info.st_size,
            "uid": info.st_uid,
            "gid": info.st_gid,
            "mode": info.st_mode & 0o7777,
        }

    def latest(self, connection: str, vm: str) -> Path | None:
        """The newest whole backup not restored yet, or None."""
        for folder in sorted(self.folder(connection, vm).glob("*Z"), reverse=True):
            if read_manifest(folder).get("state") != BackupState.RESTORED:
                return folder
        return None

    def discard_partial(self, connection: str, vm: str) -> None:
        """Copies a killed run left half made: never a restore source, only space."""
        for folder in self.folder(connection, vm).glob("*.partial"):
            shutil.rmtree(folder, ignore_errors=True)


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise GuestError(f"backup {folder} is unreadable: {err}") from err


def set_state(folder: Path, state: str, **extra: object) -> None:
    manifest = {**read_manifest(folder), "state": state, **extra}  # renamed over the old: atomic
    _write_durably(folder / MANIFEST, json.dumps(manifest).encode())


def restore(folder: Path) -> list[str]:
    """Put every image of the backup back, bit for bit; the paths restored."""
    manifest = read_manifest(folder)
    for disk in manifest["disks"]:
        _restore_one(folder / disk["copy"], disk)
    set_state(folder, BackupState.RESTORED)
    return [d["path"] for d in manifest["disks"]]


def _restore_one(copy: Path, disk: dict) -> None:
    target = Path(disk["path"])
    staging = target.with_name(f".{target.name}.vmguard-restore")
    staging.unlink(missing_ok=True)  # left by a restore killed mid-way
    try:
        digest = copy_sparse(copy, staging)
        if digest != disk["sha256"]:
            raise GuestError(f"backup copy {copy} does not match its checksum: not restored")
        os.chown(staging, disk["uid"], disk["gid"])
        os.chmod(staging, disk["mode"])
        staging.rename(target)
        _fsync_dir(target.parent)
    except OSError as err:
        raise GuestError(f"cannot restore {target}: {err}") from err
    finally:
        staging.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
