"""`vmguard system install` where something else was put in its place: a FIFO, a link
(dangling, or to a file that even carries vmguard's marker) at a file it writes, a
symlink as a folder it writes files into, and the modes of the folders it makes under
any umask. A hang would fail the test (the CLI runs in a child with a timeout)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support import attack_ops_tools as ops
from vmguard.system.install import FOLDERS, MARKER

SNIPPET = "etc/logrotate.d/vmguard"
UNIT = "etc/systemd/system/vmguard-audit.timer"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    assert ops.install(root).code == 0
    return root


def plant(path: Path, kind: str, elsewhere: Path) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling":
        path.symlink_to(elsewhere / "nowhere")
    else:  # a link to a file that says vmguard wrote it: still not vmguard's file
        (elsewhere / "marked").write_text(f"# {MARKER}\n")
        path.symlink_to(elsewhere / "marked")


@pytest.mark.parametrize("target", [SNIPPET, UNIT])
@pytest.mark.parametrize("kind", ["fifo", "dangling", "to-marked-file"])
def test_a_fifo_or_link_at_a_file_is_refused_and_left(
    root: Path, tmp_path: Path, target: str, kind: str
) -> None:
    plant(root / target, kind, tmp_path)
    before = os.lstat(root / target)
    done = ops.install(root, child=True, timeout=10)
    assert done.code == 3 and "not written by vmguard" in done.err and target in done.err
    after = os.lstat(root / target)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode))


@pytest.mark.parametrize("folder", ["etc/logrotate.d", "etc/systemd/system", "usr/local/bin"])
def test_a_symlinked_folder_it_writes_into_is_refused(root: Path, tmp_path: Path, folder: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for entry in (root / folder).iterdir():
        entry.unlink()
    (root / folder).rmdir()
    (root / folder).symlink_to(elsewhere)
    done = ops.install(root)
    assert done.code == 3 and "symlink where install writes files, left alone (make it a folder" in done.err
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_log_folder_is_an_admins_choice(root: Path, tmp_path: Path) -> None:
    """/var/log/vmguard linked to another disk: install writes nothing there, exit 0."""
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o750)
    (root / "var/log/vmguard").rmdir()
    (root / "var/log/vmguard").symlink_to(disk)
    assert ops.install(root).code == 0
    assert (root / "var/log/vmguard").is_symlink() and list(disk.iterdir()) == []


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o777])
def test_the_folders_it_makes_have_their_modes_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert ops.install(tmp_path / "root").code == 0
    finally:
        os.umask(old)
    made = {p: stat.S_IMODE(p.lstat().st_mode) for p in (tmp_path / "root").rglob("*") if p.is_dir()}
    wanted = {tmp_path / "root" / folder: mode for folder, mode in FOLDERS.items()}
    assert {p: m for p, m in made.items() if p in wanted} == wanted
    assert {m for p, m in made.items() if p not in wanted} == {0o755}
