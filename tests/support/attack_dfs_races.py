"""Racing guests for the filesystem attack d: processes that change the quarantine while a
vet runs (forked, killed by pid by the test that started them)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.attack_dfs_tools import IN_CLOSE_NOWRITE, Inotify


@contextlib.contextmanager
def forked(body: Callable[[], None]) -> Iterator[int]:
    """Run `body` in a child for the duration of the block; kill it after."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def version(k: int, size: int) -> bytes:
    """Version k of the victim: one repeated line, so a torn copy shows two numbers."""
    line = f"version {k:06d} of the guest's file\n".encode()
    return (line * (size // len(line) + 1))[: size - 1] + b"\n"


def rewrite_after_each_read(victim: Path, size: int, record: Path, seconds: float) -> Callable[[], None]:
    """The guest waits until the vet has read `victim` (IN_CLOSE_NOWRITE: vet opens it
    for reading once) and then rewrites it in place with the same size, putting its
    mtime back (utimensat: the guest owns the file). `record` gets the last version."""

    def body() -> None:
        watch = Inotify()
        watch.watch(victim.parent, IN_CLOSE_NOWRITE)
        k = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not any(path == victim for path, _ in watch.names()):
                time.sleep(0.0005)
                continue
            with contextlib.suppress(OSError):
                st = os.stat(victim)
                k += 1
                fd = os.open(victim, os.O_WRONLY)
                os.pwrite(fd, version(k, size), 0)
                os.close(fd)
                os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
                record.write_text(str(k))

    return body


MOUNTER = r"""
Q=$1; S=$2; W=$3; SECS=$4; shift 4
mkdir -p "$W/up" "$W/work"
(
  end=$(( $(date +%s) + SECS ))
  while [ "$(date +%s)" -lt "$end" ]; do
    mount --bind "$S" "$Q/d" 2>/dev/null; mount --bind "$S/s.txt" "$Q/f.txt" 2>/dev/null
    mount -t tmpfs tmpfs "$Q/t" 2>/dev/null && cp "$S/s.txt" "$Q/t/s.txt"
    mount -t overlay overlay -o "lowerdir=$S,upperdir=$W/up,workdir=$W/work" "$Q/o" 2>/dev/null
    umount "$Q/d" "$Q/f.txt" "$Q/t" "$Q/o" 2>/dev/null
  done
) &
M=$!
"$@"; rc=$?
kill $M; wait
exit $rc
"""


def mounting(quarantine: Path, secret: Path, work: Path, seconds: int) -> tuple[str, ...]:
    """A prefix for a command: in a private mount namespace of its own, keep mounting the
    host's secret over quarantine entries (a bind of a directory, of a file, a tmpfs
    holding it, an overlay whose lower layer is it) and unmounting them, while the command
    runs. The namespace, and every mount in it, ends with the command."""
    return (
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        MOUNTER,
        "sh",
        str(quarantine),
        str(secret),
        str(work),
        str(seconds),
    )


def mutate_while_read(victims: list[Path], size: int, seconds: float) -> Callable[[], None]:
    """Keep changing files the vet reads, each its own way: append to one, truncate and
    regrow one (a hole, then the text again), punch a hole in one, rewrite one in place
    putting its mtime back. Every version is one repeated line: a torn copy shows two."""
    from tests.support.attack_dfs_tools import punch

    def body() -> None:
        k = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            k += 1
            for index, path in enumerate(victims):
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    fd = os.open(path, os.O_WRONLY)
                    try:
                        if index % 4 == 0:
                            os.pwrite(fd, b"x\n", st.st_size)
                            os.ftruncate(fd, size)
                        elif index % 4 == 1:
                            os.ftruncate(fd, size // 2)
                            os.ftruncate(fd, size)
                            os.pwrite(fd, version(k, size), 0)
                        elif index % 4 == 3:
                            os.pwrite(fd, version(k, size), 0)
                    finally:
                        os.close(fd)
                    if index % 4 == 2:  # a hole for a moment, then the same bytes again
                        block = k % (size // 4096)
                        punch(path, [block])
                        fd = os.open(path, os.O_WRONLY)
                        os.pwrite(fd, version(0, size)[block * 4096 : (block + 1) * 4096], block * 4096)
                        os.close(fd)
                    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return body


def versions_in(data: bytes) -> set[bytes]:
    """The versions whose lines a file holds (its last line is cut short by design)."""
    return {line[:14] for line in data.splitlines()[:-1]}


def churn(q: Path) -> Callable[[], None]:
    """Create files in `q` and `q/sub` as fast as possible, keeping the last five."""

    def body() -> None:
        n = 0
        while True:
            n += 1
            for where in (q, q / "sub"):
                (where / f"n{n}.txt").write_text("new\n")
                if n > 5:
                    (where / f"n{n - 5}.txt").unlink(missing_ok=True)

    return body


def patch_on_open(path: Path, delay: float, offset: int, byte: bytes) -> Callable[[], None]:
    """When the vet first opens `path` (IN_OPEN), wait `delay` and write `byte` at
    `offset` in place, putting the mtime back."""
    from tests.support.attack_dfs_tools import IN_OPEN

    def body() -> None:
        watch = Inotify()
        watch.watch(path.parent, IN_OPEN)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if any(seen == path for seen, _ in watch.names()):
                time.sleep(delay)
                st = os.stat(path)
                fd = os.open(path, os.O_WRONLY)
                os.pwrite(fd, byte, offset)
                os.close(fd)
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                return
            time.sleep(0.0002)

    return body
