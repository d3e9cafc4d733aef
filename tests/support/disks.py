"""Disk images on loop devices for tests: made with a filesystem, seeded with files while
attached alone, then attached (once or more: the same disk twice) and mounted under a
tmp_path; every mount and loop device is undone when its block ends."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

SIZES = {"btrfs": 128 << 20, "xfs": 320 << 20}  # the smallest each mkfs takes; others 32 MiB


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


def make_image(path: Path, fstype: str, *mkfs: str) -> Path:
    """A sparse image holding a new `fstype` filesystem (`mkfs`: more mkfs arguments)."""
    with open(path, "wb") as fh:
        fh.truncate(SIZES.get(fstype, 32 << 20))
    _run(f"mkfs.{fstype}", "-q", *mkfs, str(path))
    return path


@contextlib.contextmanager
def attached(image: Path, target: Path, *options: str) -> Iterator[Path]:
    """`image` on a loop device of its own, mounted at `target` (mount `options`)."""
    device = _run("losetup", "-f", "--show", str(image))
    try:
        target.mkdir(parents=True, exist_ok=True)
        _run("mount", *options, device, str(target))
        try:
            yield target
        finally:
            _run("umount", str(target))
    finally:
        _run("losetup", "-d", device)


def seed(image: Path, mount_at: Path, files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> None:
    """Write `files` (and make `dirs`) in the image's filesystem, then unmount it: what a
    later attach finds there, whichever device it comes through."""
    with attached(image, mount_at) as top:
        for rel in dirs:
            (top / rel).mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (top / rel).parent.mkdir(parents=True, exist_ok=True)
            (top / rel).write_bytes(data)
