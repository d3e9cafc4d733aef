"""Overlays for the independent filesystem attack h (session 34): mounted with the new
mount API (fsopen/fsconfig/fsmount/move_mount through libc), where each layer is one
string, so its directory's name may hold `:`, `,` or `\\` as any directory's may. The
kernel shows `lowerdir+=` and `upperdir=` values in mountinfo with `,` and `\\` escaped
(`\\054`, `\\134`) but `:` as it is: only the old `lowerdir=` list separates layers by
`:`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

_LIBC = ctypes.CDLL(None, use_errno=True)
_FSOPEN, _FSCONFIG, _FSMOUNT, _MOVE_MOUNT = 430, 431, 432, 429  # x86_64
_SET_STRING, _CMD_CREATE, _EMPTY_PATH, _AT_FDCWD, _MNT_DETACH = 1, 6, 4, -100, 2


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def _mount(target: Path, options: list[tuple[str, str]]) -> None:
    fs = _check(_LIBC.syscall(_FSOPEN, b"overlay", 0), "fsopen")
    try:
        for key, value in options:
            _check(_LIBC.syscall(_FSCONFIG, fs, _SET_STRING, key.encode(), os.fsencode(value), 0), key)
        _check(_LIBC.syscall(_FSCONFIG, fs, _CMD_CREATE, None, None, 0), "create")
        mnt = _check(_LIBC.syscall(_FSMOUNT, fs, 0, 0), "fsmount")
    finally:
        os.close(fs)
    try:
        _check(
            _LIBC.syscall(_MOVE_MOUNT, mnt, b"", _AT_FDCWD, os.fsencode(target), _EMPTY_PATH), "move_mount"
        )
    finally:
        os.close(mnt)


@contextlib.contextmanager
def overlay(base: Path, lowers: list[str], upper: str) -> Iterator[Path]:
    """An overlay at base/m: `lowers` (names under base, each its own `lowerdir+=`, top
    first) under `upper`; every name also made, and base/u, base/l2, base/l2x and base/ux beside them
    (the directories a reader that splits `u:/tmp` or `l2:/tmp` at `:` or drops the `\\` of `l2\\x`
    would take for the layer). Unmounted after."""
    for name in [*lowers, upper, "w", "m", "u", "l2", "l2x", "ux"]:
        (base / name).mkdir(parents=True, exist_ok=True)
    options = [("lowerdir+", str(base / name)) for name in lowers]
    _mount(base / "m", [*options, ("upperdir", str(base / upper)), ("workdir", str(base / "w"))])
    try:
        yield base / "m"
    finally:
        _check(_LIBC.umount2(os.fsencode(base / "m"), _MNT_DETACH), "umount")


def entries(top: Path) -> list[str]:
    """Every entry under `top`, hidden ones too, relative, sorted."""
    out = []
    for base, dirs, files in os.walk(top):
        out += [os.path.relpath(os.path.join(base, name), top) for name in dirs + files]
    return sorted(out)


@contextlib.contextmanager
def bound(source: Path, target: Path) -> Iterator[Path]:
    """`source` bound at `target` (made first), unmounted after."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@contextlib.contextmanager
def nested(base: Path) -> Iterator[tuple[Path, Path]]:
    """Overlay B whose lower layer lies in overlay A's merged view; B's merged q holds
    a.txt. Yields (the quarantine B/q, the same directory in A's upper layer)."""
    for name in ("la", "ua", "wa", "mA", "ub", "wb", "mB"):
        (base / name).mkdir(parents=True)
    opts = "lowerdir={0}/la,upperdir={0}/ua,workdir={0}/wa"
    with _mounted(base / "mA", opts.format(base)):
        (base / "mA" / "lb" / "q" / "pub").mkdir(parents=True)
        (base / "mA" / "lb" / "q" / "a.txt").write_bytes(b"event 1 done\n")
        with _mounted(base / "mB", f"lowerdir={base}/mA/lb,upperdir={base}/ub,workdir={base}/wb"):
            yield base / "mB" / "q", base / "ua" / "lb" / "q"


@contextlib.contextmanager
def _mounted(target: Path, opts: str) -> Iterator[None]:
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)
