"""Bounded, read-only access to a guest's mounted file systems through a libguestfs handle.

Paths resolve inside the appliance's chroot, so a guest's symlink can never point at a
host file; every read is size-checked first, since the guest's files are untrusted.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from pathlib import Path

MAX_TEXT = 8 * 1024 * 1024  # dpkg status of a large Debian system is about 5 MiB
MAX_DATABASE = 1024 * 1024 * 1024
MAX_LISTING = 50_000


class GuestFileError(Exception):
    """A guest file could not be read within the limits; the message names it."""


class GuestfsFiles:
    def __init__(self, handle, scratch: Path) -> None:  # handle: guestfs.GuestFS
        self._g = handle
        self._scratch = scratch

    def is_file(self, path: str) -> bool:
        return bool(self._g.is_file(path, followsymlinks=True))

    def is_dir(self, path: str) -> bool:
        return bool(self._g.is_dir(path, followsymlinks=True))

    def read_text(self, path: str, limit: int = MAX_TEXT) -> str | None:
        """The file's text (undecodable bytes replaced); None when it is not a file."""
        local = self.copy_out(path, limit)
        if local is None:
            return None
        try:
            return local.read_bytes().decode("utf-8", errors="replace")
        finally:
            local.unlink()

    def copy_out(self, path: str, limit: int = MAX_DATABASE) -> Path | None:
        """Copy a guest file into the scratch folder; None when it is not a file."""
        if not self.is_file(path):
            return None
        size = self._g.filesize(path)
        if size > limit:
            raise GuestFileError(f"{path}: {size} bytes, over the {limit}-byte limit")
        local = self._scratch / path.strip("/").replace("/", "_")
        self._g.download(path, str(local))
        if local.stat().st_size > limit:  # the guest cannot change, but check what we got
            local.unlink()
            raise GuestFileError(f"{path}: grew past the {limit}-byte limit while copied")
        return local

    def listdir(self, path: str) -> list[str]:
        """Names in a folder (sorted); [] when it is not a folder."""
        if not self.is_dir(path):
            return []
        names = self._g.ls(path)
        if len(names) > MAX_LISTING:
            raise GuestFileError(f"{path}: {len(names)} entries, over {MAX_LISTING}")
        return sorted(names)

    def glob(self, pattern: str) -> list[str]:
        return sorted(self._g.glob_expand(pattern))[:MAX_LISTING]

    def lstat_many(self, paths: list[str]) -> list[tuple[int, int]]:
        """(mode, uid) of each path, without following symlinks."""
        by_folder: dict[str, list[str]] = defaultdict(list)
        for path in paths:
            folder, name = posixpath.split(path)
            by_folder[folder].append(name)
        found: dict[str, tuple[int, int]] = {}
        for folder, names in by_folder.items():
            for start in range(0, len(names), 1000):  # keep each message well under 4 MiB
                chunk = names[start : start + 1000]
                stats = self._g.lstatnslist(folder, chunk)
                found.update(
                    {
                        posixpath.join(folder, n): (s["st_mode"], s["st_uid"])
                        for n, s in zip(chunk, stats, strict=True)
                    }
                )
        return [found[p] for p in paths]

    def lstat(self, path: str) -> tuple[int, int, int] | None:
        """(mode, uid, gid) of a path, without following a symlink; None when absent."""
        if not (self._g.exists(path) or self._g.is_symlink(path)):
            return None
        found = self._g.lstatns(path)
        return found["st_mode"], found["st_uid"], found["st_gid"]

    def resolve(self, path: str) -> str:
        """Where a symlink leads, resolved inside the guest's root by the appliance (never
        on the host); a dangling or looping link: its target, lexically, ".." stopping at /."""
        try:
            return self._g.realpath(path)
        except RuntimeError:
            target = self._g.readlink(path)
            return posixpath.normpath(posixpath.join(posixpath.dirname(path), target))

    def find(self, folder: str) -> list[str]:
        """Every path under folder (relative names made absolute), bounded."""
        if not self.is_dir(folder) or self._g.is_symlink(folder):
            return []
        local = self._scratch / "find0"
        self._g.find0(folder, str(local))
        names = local.read_bytes().split(b"\0")
        local.unlink()
        if len(names) > 20 * MAX_LISTING:
            raise GuestFileError(f"{folder}: more than {20 * MAX_LISTING} files")
        return [posixpath.normpath(posixpath.join(folder, n.decode("utf-8", "replace"))) for n in names if n]
