"""Tools for the independent filesystem attack i (session 35): vets run side by side (each
its own log and --to, killed by its pid when it hangs), the entries a job user can plant
beside vmguard's event log, one ext4 image attached through two loop devices, a tmpfs,
and a shared mapping that rewrites a file without moving its ctime."""

from __future__ import annotations

import contextlib
import mmap
import os
import resource
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.attack_dfs_tools import ROOT, vet_argv, vet_env

HANG = -1  # the code of a vet killed because it did not end in time


@dataclass(frozen=True)
class Job:
    """One vet to run: its quarantine, --to, job id, log, and extra arguments."""

    quarantine: Path
    to: Path
    job: str
    log: Path
    extra: tuple[str, ...] = ()
    umask: int = 0o022
    memory: int = 0  # an address-space limit (RLIMIT_AS) in bytes, 0 for none


@dataclass(frozen=True)
class Ended:
    """How a vet ended: its exit code (HANG if killed), stdout and stderr."""

    code: int
    out: str
    err: str


def run_side_by_side(policy: Path, jobs: list[Job], grace: float = 4.0, limit: float = 90.0) -> list[Ended]:
    """Start every vet at once (they share no file) and wait until all have ended, or
    until `grace` s passed since the last one ended (the others did the same work: one
    still running then is stuck), or `limit` s in all; kill (by pid) each one still
    running then. A hang is an outcome, not a test error."""
    procs = [
        subprocess.Popen(  # noqa: S603 (our own CLI)
            vet_argv(job.quarantine, policy, "--to", str(job.to), "--job", job.job, *job.extra),
            env=vet_env(job.log),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            umask=job.umask,
            preexec_fn=_limit(job.memory),
        )
        for job in jobs
    ]
    _wait(procs, grace, limit)
    out = []
    for proc in procs:
        hung = proc.poll() is None
        if hung:
            proc.kill()
        stdout, stderr = proc.communicate()
        out.append(Ended(HANG if hung else proc.returncode, stdout, stderr))
    return out


def _limit(memory: int):
    """A preexec function capping the vet's address space (a runaway read then fails
    fast as MemoryError instead of taking the machine's memory)."""
    if not memory:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _wait(procs: list[subprocess.Popen], grace: float, limit: float) -> None:
    start = last = time.monotonic()
    running = len(procs)
    while running and time.monotonic() - start < limit:
        time.sleep(0.05)
        now_running = sum(proc.poll() is None for proc in procs)
        if now_running < running:
            running, last = now_running, time.monotonic()
        elif running < len(procs) and time.monotonic() - last > grace:
            return


def plant(path: Path, what: str, victim: Path) -> None:
    """`path` made a symlink to `victim` (a file of the host's), to /dev/zero (and a log
    of one line beside it, so that vet reads its head), or a FIFO."""
    if what == "symlink":
        path.symlink_to(victim)
    elif what == "zero":
        path.with_name("events.jsonl").write_text("{}\n")
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)


def plant_beside_log(log_dir: Path, kind: str, victim: Path) -> None:
    """What a user who can write the log's directory leaves there before a vet: `kind` is
    NAME-symlink or NAME-fifo (or anything else: nothing)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    name, _, what = kind.rpartition("-")
    if name:
        plant(log_dir / name, what, victim)


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


@contextlib.contextmanager
def _loop(image: Path) -> Iterator[str]:
    device = _run("losetup", "-f", "--show", str(image))
    try:
        yield device
    finally:
        _run("losetup", "-d", device)


@contextlib.contextmanager
def _mounted(device: str, target: Path, *options: str) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    _run("mount", *options, device, str(target))
    try:
        yield target
    finally:
        _run("umount", str(target))


@contextlib.contextmanager
def one_image_twice(base: Path, seed: dict[str, bytes]) -> Iterator[tuple[Path, Path]]:
    """An ext4 image holding q/ (the `seed` files and an empty q/pub), attached through two
    loop devices and mounted at base/A and base/B: the same disk, two superblocks, two
    device numbers. Yields (A, B); unmounted and detached after."""
    image = base / "ext4.img"
    with open(image, "wb") as fh:
        fh.truncate(32 << 20)
    _run("mkfs.ext4", "-q", "-F", str(image))
    with _loop(image) as first, _mounted(first, base / "A") as top:
        (top / "q" / "pub").mkdir(parents=True)
        for rel, data in seed.items():
            (top / "q" / rel).write_bytes(data)
        os.sync()
        with _loop(image) as second, _mounted(second, base / "B") as again:
            yield top, again


def reread_quarantine(base: Path) -> list[str]:
    """After one_image_twice: the image mounted alone again, read-only: what its q/pub holds."""
    with _loop(base / "ext4.img") as device, _mounted(device, base / "C", "-o", "ro") as top:
        return sorted(os.listdir(top / "q" / "pub"))


@contextlib.contextmanager
def tmpfs(target: Path, size: str = "16m") -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target))
    try:
        yield target
    finally:
        _run("umount", str(target))


class Mapping:
    """A shared writable mapping of a file, its page dirtied once now: on tmpfs later
    stores through it move neither mtime nor ctime (no page fault, no time update)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, 0)
        self.map[0:1] = self.map[0:1]

    def store(self, data: bytes) -> None:
        self.map[0 : len(data)] = data

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


@contextlib.contextmanager
def toggling(mappings: list[Mapping], versions: tuple[bytes, bytes]) -> Iterator[None]:
    """A thread storing the two same-size versions in turn through each of `mappings` as
    fast as it can, until the block ends (the guest rewriting files in place while vet
    runs)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for data in versions:
                for mapping in mappings:
                    mapping.store(data)
                time.sleep(0.0002)  # leave the vets a core: this loop holds the GIL

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
