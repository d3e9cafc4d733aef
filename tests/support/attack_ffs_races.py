"""Racing guests of the filesystem attack f (session 33): a directory of the quarantine
exchanged with a symlink to a host directory of the same names, from the first deletion
of a --remove-promoted on (renameat2 RENAME_EXCHANGE in a loop, in a forked child); a
quarantine made anew at the same path (overlayfs, a new ext4 disk, a new tmpfs) and vetted again."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.attack_dfs_tools import Inotify, Run, vet

RENAME_EXCHANGE = 2
AT_FDCWD = -100
SYS_RENAMEAT2 = 316  # x86_64
IN_DELETE = 0x200
_LIBC = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> bool:
    rc = _LIBC.syscall(SYS_RENAMEAT2, AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return rc == 0


def swap_on_first_delete(q: Path, name: str, link: str, seconds: float) -> Callable[[], None]:
    """Wait for the first deletion in q/name, then exchange q/name and q/link for
    `seconds` (an even number of exchanges each round leaves the directory in place)."""

    def body() -> None:
        watch = Inotify()
        watch.watch(q / name, IN_DELETE)
        end = time.monotonic() + 30
        while time.monotonic() < end and not watch.names():
            select.select([watch.fd], [], [], 0.01)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            exchange(q / name, q / link)

    return body


@contextmanager
def overlay(top: Path) -> Iterator[Path]:
    """An overlayfs under `top` (lower, upper and work dirs beside it), unmounted after."""
    for sub in ("lower", "upper", "work", "merged"):
        (top / sub).mkdir(parents=True)
    opts = f"lowerdir={top / 'lower'},upperdir={top / 'upper'},workdir={top / 'work'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(top / "merged")], check=True)
    try:
        yield top / "merged"
    finally:
        subprocess.run(["umount", str(top / "merged")], check=True)


def recreate_with_same_inode(q: Path, tries: int = 400) -> bool:
    """Remove q and make it anew until the new directory has the old inode number (the
    filesystem reuses freed numbers; each miss leaves a spacer directory)."""
    old = os.stat(q).st_ino
    shutil.rmtree(q)
    for index in range(tries):
        q.mkdir()
        if os.stat(q).st_ino == old:
            return True
        q.rmdir()
        (q.parent / f"spacer{index}").mkdir()
    return False


def counted_quarantine(q: Path, count: int) -> dict[str, bytes]:
    (q / "d").mkdir(parents=True)
    files = {f"d/f{i}.txt" if i % 3 else f"f{i}.txt": f"event {i} done\n".encode() * 50 for i in range(count)}
    for rel, data in files.items():
        (q / rel).write_bytes(data)
    (q / "bad.txt").write_text("rejected: executable\n")
    (q / "bad.txt").chmod(0o755)
    return files


def guest_meddles(q: Path, outside: Path) -> None:
    """After the kill: a new file, a published file replaced by a new inode of the same
    bytes, and d/ moved away with a symlink to a host directory of the same names put in
    its place."""
    (q / "late.txt").write_text("written after the vet\n")
    data = (q / "f0.txt").read_bytes() if (q / "f0.txt").exists() else None
    if data is not None:
        (q / "f0.txt").unlink()
        (q / "f0.txt").write_bytes(data)
    if (q / "d").is_dir() and not (q / "d").is_symlink():
        (q / "d").rename(q / "d.moved")
        (q / "d").symlink_to(outside)


def toggle_modes(q: Path, names: list[str], seconds: float = 20) -> Callable[[], None]:
    """The guest flips each file of q/d between 0000 and 0644, and d between 0700 and
    0755, as fast as it can: a vet not run as root meets EACCES between walk and open."""

    def body() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for path in [q / "d" / name for name in names] + [q / "d"]:
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o000 if path.is_file() else 0o700)
                    os.chmod(path, 0o644 if path.is_file() else 0o755)

    return body


@contextmanager
def loop_disk(image: Path, size: str = "8M") -> Iterator[str]:
    """A loop device over a sparse image file (the job's disk, copied out), detached after."""
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


@contextmanager
def fresh_filesystem(dev: str, at: Path) -> Iterator[Path]:
    """mkfs.ext4 on `dev` (a new disk: root inode 2, generation 0), mounted at `at`."""
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
    at.mkdir(exist_ok=True)
    subprocess.run(["mount", dev, str(at)], check=True)
    try:
        (at / "lost+found").rmdir()
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=True)


@contextmanager
def tmpfs_like(at: Path, first: os.stat_result | None, tries: int = 20) -> Iterator[Path]:
    """A new tmpfs at `at` (a per-job quarantine mounted afresh); with `first`, remounted
    until the root has first's device and inode (the kernel hands the freed anonymous
    device number to the next mount), so it is the same triple the vet records."""
    at.mkdir(exist_ok=True)
    for _ in range(tries):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(at)], check=True)
        st = os.stat(at)
        if first is None or (st.st_dev, st.st_ino) == (first.st_dev, first.st_ino):
            break
        subprocess.run(["umount", str(at)], check=True)
    else:  # another process's mount took the freed number (the suite's other half runs beside it)
        pytest.skip(f"no new tmpfs got the first one's device number in {tries} tries")
    try:
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=True)


def vet_two_quarantines(kind: str, tmp_path: Path, policy: Path) -> Run:
    """Vet a quarantine of a.txt to pub/r, make the quarantine anew (`kind`: a directory
    removed and made again on overlayfs until its inode number comes back, a new ext4 on
    the same loop device, a new tmpfs) at the same path with b.txt, and vet it again."""
    log, to, at = tmp_path / "events.jsonl", tmp_path / "pub" / "r", tmp_path / "q"
    args = ("--to", str(to), "--job", "r")
    with contextlib.ExitStack() as stack:
        if kind == "overlayfs":  # the upper layer on a disk of its own: no other writer
            dev = stack.enter_context(loop_disk(tmp_path / "disk.img"))
            merged = stack.enter_context(overlay(stack.enter_context(fresh_filesystem(dev, tmp_path / "fs"))))
            q = merged / "q"
            q.mkdir()
            (q / "a.txt").write_text("the first job\n")
            assert vet(q, policy, log, *args).code == 0
            assert recreate_with_same_inode(q), "overlayfs never gave the number back"
            (q / "b.txt").write_text("the second job, never vetted\n")
            return vet(q, policy, log, *args, "--format", "json")
        dev = stack.enter_context(loop_disk(tmp_path / "disk.img")) if kind == "disk" else ""
        fresh = (
            (lambda first: fresh_filesystem(dev, at))
            if kind == "disk"
            else (lambda first: tmpfs_like(at, first))
        )
        with fresh(None) as q:
            (q / "a.txt").write_text("the first job\n")
            first = os.stat(q)
            assert vet(q, policy, log, *args).code == 0
        with fresh(first) as q:
            (q / "b.txt").write_text("the retried job, never vetted\n")
            return vet(q, policy, log, *args, "--format", "json")
