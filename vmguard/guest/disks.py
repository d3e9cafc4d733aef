"""How a guest's disk images are handed to libguestfs: the format always stated, never probed.

A guest owns the bytes of its disk: a raw image whose first sector the guest wrote as a
qcow2 header (with a host path as its backing file) is opened as that qcow2 by anything
that probes the format, and the host file is read. So the format comes from the domain
(<driver type=...>) and is refused when missing or unknown, and a read-only disk does not
use libguestfs's own read-only overlay: libguestfs 1.48's direct backend hands that
overlay to qemu without a top-level format, so qemu probes the guest's data. vmguard
makes the overlay itself (`qemu-img create -f qcow2 -F FMT`) and adds it as qcow2.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404
from pathlib import Path

from vmguard.core.errors import GuestError

# Image formats qemu opens by name; anything else (or none) is refused, never probed.
KNOWN_FORMATS = frozenset({"raw", "qcow2", "qed", "vmdk", "vdi", "vhdx", "vpc"})
QEMU_IMG_TIMEOUT = 60.0


def checked_format(path: str, fmt: str) -> str:
    """The disk's declared format; GuestError (exit 3) when it is missing or unknown."""
    if fmt in KNOWN_FORMATS:
        return fmt
    said = f"format {fmt!r}" if fmt else "no format (<driver type=...> missing)"
    raise GuestError(
        f"disk {path}: {said}: vmguard opens a guest's disk only with its declared format, "
        f"never by probing its contents (known: {', '.join(sorted(KNOWN_FORMATS))})"
    )


def check_all(disks: list[tuple[str, str]]) -> None:
    """GuestError naming every disk whose format would have to be guessed."""
    problems = []
    for path, fmt in disks:
        try:
            checked_format(path, fmt)
        except GuestError as err:
            problems.append(str(err))
    if problems:
        raise GuestError("; ".join(problems))


def add(g, disks: list[tuple[str, str, bool]], scratch: Path) -> None:
    """Add (path, format, read_only) images to a libguestfs handle: writable ones as they
    are, read-only ones through an overlay of vmguard's in `scratch` (writes end there)."""
    folder = scratch / "disks"  # apart from guest files copied out (no "/" in their names)
    folder.mkdir(mode=0o700, exist_ok=True)
    for index, (path, fmt, read_only) in enumerate(disks):
        fmt = checked_format(path, fmt)
        if read_only:
            g.add_drive_opts(str(overlay(path, fmt, folder / f"overlay{index}.qcow2")), format="qcow2")
        else:
            g.add_drive_opts(path, readonly=False, format=fmt)


def overlay(path: str, fmt: str, target: Path) -> Path:
    """A qcow2 overlay on `path`, opened as `fmt` (a json: backing name states the format
    and turns QEMU's image lock off, as libguestfs does, so a running VM's disk reads)."""
    backing = {"driver": fmt, "file": {"driver": "file", "filename": path, "locking": "off"}}
    backing_name = "json:" + json.dumps(backing)
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b", backing_name, str(target)]
    try:  # a fixed argv, no shell
        done = subprocess.run(argv, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT, check=False)  # nosec
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GuestError(f"disk {path}: cannot make a read-only overlay: {err}") from None
    if done.returncode != 0:
        said = " | ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise GuestError(f"disk {path} as {fmt}: qemu-img could not open it for a read-only overlay: {said}")
    return target
