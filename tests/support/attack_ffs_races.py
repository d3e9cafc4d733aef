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


def _mount_tmpfs(at: Path) -> os.stat_result:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(at)], check=True)
    return os.stat(at)


def _umount(path: Path, times: int = 1) -> None:
    for _ in range(times):
        subprocess.run(["umount", str(path)], check=True)


def _mounts_of(dev: int) -> list[str]:
    """The mount lines of this namespace on anonymous device `dev` (who holds it)."""
    mark = f" {os.major(dev)}:{os.minor(dev)} "
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if mark in line]


@contextmanager
def tmpfs_like(at: Path, first: os.stat_result | None, wait: float = 60) -> Iterator[Path]:
    """A new tmpfs at `at` (a per-job quarantine mounted afresh); with `first`, one whose
    root has first's device and inode, so it is the same pair the vet records."""
    at.mkdir(exist_ok=True)
    if first is None:
        _mount_tmpfs(at)
    else:
        _mount_like(at, first, wait)
    try:
        yield at
    finally:
        _umount(at)


def _mount_like(at: Path, first: os.stat_result, wait: float) -> None:
    """Mount tmpfs at `at` until one gets first's anonymous device number back. The kernel
    gives a new mount the lowest free number: one freed below first's (another process's
    mount ended) came back at every retry, and the test was skipped whenever the suite's
    other half ran beside it (session 38). So each such mount stays mounted, under the
    next try, until first's number comes; then they all go and the new tmpfs stays, held
    meanwhile by a bind mount (the same device). First's number taken by another mount:
    retried until it is freed, at most `wait` seconds."""
    stacked, deadline = 0, time.monotonic() + wait
    try:
        while (st := _mount_tmpfs(at)).st_dev != first.st_dev:
            stacked += 1
            if os.minor(st.st_dev) > os.minor(first.st_dev):  # first's is another mount's
                _umount(at)  # a number above first's is no obstacle: let it go
                stacked -= 1
                time.sleep(0.05)
            if time.monotonic() > deadline:
                raise AssertionError(f"device {first.st_dev} taken for {wait} s: {_mounts_of(first.st_dev)}")
        stacked += 1
        assert st.st_ino == first.st_ino, f"tmpfs root inode {st.st_ino}, first's {first.st_ino}"
    except BaseException:
        _umount(at, stacked)
        raise
    if stacked > 1:
        keep = at.with_name(f"{at.name}.keep")
        keep.mkdir(exist_ok=True)
        subprocess.run(["mount", "--bind", str(at), str(keep)], check=True)
        _umount(at, stacked)
        subprocess.run(["mount", "--bind", str(keep), str(at)], check=True)
        _umount(keep)


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
