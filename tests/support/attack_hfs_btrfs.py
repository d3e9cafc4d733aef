"""A btrfs for the independent filesystem attack h (session 34): a loop image mounted
whole, the quarantine in it holding a subvolume of its own (as any user who can write a
directory there can make: `btrfs subvolume create`), and that subvolume mounted again
elsewhere, by `subvol=` or by a bind. Each subvolume has a device number of its own
(statx), while mountinfo shows the filesystem's one."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


@contextlib.contextmanager
def _mount(target: Path, *argv: str) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    _run("mount", *argv, str(target))
    try:
        yield target
    finally:
        _run("umount", str(target))


@contextlib.contextmanager
def subvolume_in_quarantine(base: Path, how: str, text: bytes) -> Iterator[tuple[Path, Path]]:
    """Yields (the quarantine top/q holding a.txt and the subvolume `inner`, the place
    `inner` is mounted again: by `subvol=q/inner` of the same image, or `bind`; or, `how`
    "outside", the subvolume top/pub beside the quarantine)."""
    image = base / "btrfs.img"
    with open(image, "wb") as fh:
        fh.truncate(128 << 20)
    _run("mkfs.btrfs", "-q", str(image))
    with _mount(base / "top", "-o", "loop", str(image)) as top:
        (top / "q").mkdir()
        (top / "q" / "a.txt").write_bytes(text)
        _run("btrfs", "subvolume", "create", str(top / "q" / "inner"))
        _run("btrfs", "subvolume", "create", str(top / "pub"))
        if how == "outside":  # a control: a subvolume beside the quarantine
            yield top / "q", top / "pub"
            return
        if how == "bind":
            again = _mount(base / "again", "--bind", str(top / "q" / "inner"))
        else:
            again = _mount(base / "again", "-o", "loop,subvol=q/inner", str(image))
        with again as place:
            yield top / "q", place
