"""Tools for the independent filesystem attack d (session 31): the CLI in a subprocess with
its own event log, inotify through libc, hole maps, and the public area's files."""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
IN_OPEN = 0x20
IN_CLOSE_NOWRITE = 0x10
IN_NONBLOCK = 0o4000
FALLOC_PUNCH_HOLE = 0x03  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
SECRET = b"HOST SECRET 5e2a: outside the quarantine\n"
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-dfs}}
spec:
  quarantine:
    allow_types: [{types}]
{extra}"""

JSON = ("--format", "json")
PER_FILE_JSON = ("--per-file", *JSON)
_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Run:
    """One `vmguard vet` run: its exit code, stdout, stderr and the events it logged."""

    code: int
    out: str
    err: str
    events: tuple[dict, ...]

    def report(self) -> dict:
        return json.loads(self.out)


def write_policy(path: Path, extra: str = "", types: str = "text, json, fits") -> Path:
    path.write_text(POLICY.format(extra=extra, types=types))
    return path


def vet_env(log: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), VMGUARD_LOG=str(log))


def vet_argv(quarantine: Path, policy: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "vmguard", "vet", str(quarantine), "--policy", str(policy), *args]


def events(log: Path) -> tuple[dict, ...]:
    if not log.exists():
        return ()
    return tuple(json.loads(line) for line in log.read_text().splitlines() if line.strip())


def vet(
    quarantine: Path, policy: Path, log: Path, *args: str, timeout: float = 60, prefix: tuple[str, ...] = ()
) -> Run:
    """Run the CLI (optionally behind `prefix`, e.g. `unshare -m`); `log` gets its events."""
    before = len(events(log))
    res = subprocess.run(
        [*prefix, *vet_argv(quarantine, policy, *args)],
        env=vet_env(log),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return Run(res.returncode, res.stdout, res.stderr, events(log)[before:])


def published(top: Path) -> dict[str, bytes]:
    """Every regular file under `top` (symlinks never followed), by relative path."""
    out: dict[str, bytes] = {}
    if not top.is_dir():
        return out
    for base, _, files in os.walk(top):
        for name in files:
            path = Path(base, name)
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(top))] = path.read_bytes()
    return out


def punch(path: Path, blocks: list[int], block: int = 4096) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        for index in blocks:
            rc = _LIBC.fallocate(fd, FALLOC_PUNCH_HOLE, ctypes.c_long(index * block), ctypes.c_long(block))
            if rc:
                raise OSError(ctypes.get_errno(), f"fallocate {path}")
    finally:
        os.close(fd)


def hole_map(path: Path, block: int = 4096) -> list[int]:
    """1 for each whole block of `path` that is a hole, 0 for data (SEEK_DATA)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        out = []
        for index in range(size // block):
            try:
                data = os.lseek(fd, index * block, os.SEEK_DATA)
            except OSError:
                data = size
            out.append(0 if data == index * block else 1)
        return out
    finally:
        os.close(fd)


class Inotify:
    """An inotify descriptor watching directories; `names(mask)` lists the entries the
    events of `mask` named since the last call."""

    def __init__(self) -> None:
        self.fd = _LIBC.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs: dict[int, Path] = {}

    def watch(self, path: Path, mask: int) -> None:
        wd = _LIBC.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.dirs[wd] = path

    def names(self) -> list[tuple[Path, int]]:
        out: list[tuple[Path, int]] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            pos = 0
            while pos < len(buf):
                wd, mask, _, length = struct.unpack_from("iIII", buf, pos)
                name = buf[pos + 16 : pos + 16 + length].rstrip(b"\0")
                out.append((self.dirs[wd] / os.fsdecode(name), mask))
                pos += 16 + length

    def close(self) -> None:
        os.close(self.fd)
