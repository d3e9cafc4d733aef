"""A public area on a disk that dies: ext4 on a loop device whose backing file lies, sparse,
on a small tmpfs. Filling that tmpfs from outside makes every new block the loop device
writes fail (ENOSPC in the backing file, EIO to ext4) while a vet writes; emptying it and
mounting the device again (after the e2fsck a reboot would run) shows what reached it."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE = 128 << 20


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def unmount(path: Path) -> None:
    """umount, waiting a little for the last user to let go; else lazily."""
    for _ in range(40):
        if subprocess.run(["umount", str(path)], check=False, capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@dataclass(frozen=True)
class Disk:
    back: Path  # the tmpfs holding the image
    loops: list[str]  # the loop devices (no autoclear: detached by dying_disk)
    mountpoint: Path

    def fail(self) -> None:
        """Fill the backing tmpfs: from now on the disk cannot take a new block."""
        with open(self.back / "filler", "wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\xaa" * (1 << 20))

    def remount_from_disk(self) -> None:
        """Forget the kernel's view (umount), then mount a copy of what the disk holds
        after the e2fsck a reboot would run. A copy, on a loop device of its own: another
        mount namespace of the machine may keep the failed filesystem's instance alive,
        and a mount of the same device would get that instance back."""
        unmount(self.mountpoint)
        (self.back / "filler").unlink(missing_ok=True)
        after = self.back / f"after{len(self.loops)}.img"
        sh("cp", "--sparse=always", str(self.back / "disk.img"), str(after))
        self.loops.append(sh("losetup", "--find", "--show", str(after)))
        subprocess.run(["e2fsck", "-fy", self.loops[-1]], check=False, capture_output=True)
        sh("mount", "-o", "errors=remount-ro", self.loops[-1], str(self.mountpoint))


@contextlib.contextmanager
def dying_disk(base: Path) -> Iterator[Disk]:
    back, mountpoint = base / "back", base / "pub"
    back.mkdir(parents=True)
    mountpoint.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(back))
    loops: list[str] = []
    try:
        with open(back / "disk.img", "wb") as fh:
            fh.truncate(IMAGE)
        sh("mkfs.ext4", "-q", "-E", "nodiscard", str(back / "disk.img"))
        loops.append(sh("losetup", "--find", "--show", str(back / "disk.img")))
        sh("mount", "-o", "errors=remount-ro", loops[0], str(mountpoint))
        yield Disk(back, loops, mountpoint)
    finally:
        unmount(mountpoint)
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
        unmount(back)


def vet_on_a_dying_disk(base: Path, q: Path, pol: Path, log: Path, delay: float) -> tuple[int, str, Path]:
    """Vet `q` onto a fresh dying disk that fails `delay` seconds after staging began, then
    check from the disk's own blocks: exit 3 (one line, one `failed` event) leaves no job,
    exit 0 the whole job; a rerun publishes it whole. Returns the first exit and stderr."""
    from tests.support.attack_dfs_static import start_vet, wait_for
    from tests.support.attack_dfs_tools import events, published, vet

    want = published(q)
    with dying_disk(base) as disk:
        to = disk.mountpoint / "r"
        before = len(events(log))
        proc = start_vet(q, pol, log, "--to", str(to), "--job", "r")
        wait_for(disk.mountpoint / ".vmguard-staging" / "r.staging")
        time.sleep(delay)  # in the copy, the syncfs, the renames or after
        disk.fail()
        _, err = proc.communicate(timeout=120)
        print("dying disk", proc.returncode, err.strip())
        if proc.returncode == 3:
            assert len(err.strip().splitlines()) == 1, err
            assert [e["data"]["status"] for e in events(log)[before:]] == ["failed"]
        disk.remount_from_disk()
        assert to.exists() == (proc.returncode == 0), f"exit {proc.returncode}, on disk: {to.exists()}"
        if to.exists():
            assert published(to) == want
        again = vet(q, pol, log, "--to", str(to), "--job", "r")
        assert again.code == 0, again.err
        assert published(to) == want
        return proc.returncode, err, to
