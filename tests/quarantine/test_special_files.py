"""A FIFO or device node swapped in for a checked file or directory is never opened.

Opening runs code (a device's driver; a FIFO's open wakes its writer), so the vet must
refuse such a node without opening it. inotify reports every open of an inode (IN_OPEN)
and none for O_PATH: each test watches the planted nodes, and a control opens one the
ordinary way to show that the watch does see an open.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import published_files, rules, write
from tests.quarantine.test_races import at, entry
from tests.support.require import require_root
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Reason, Verdict

_libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN = 0x20
NULL_DEVICE = os.makedev(1, 3)  # a harmless driver: /dev/null's


class OpenWatch:
    """Which watched inodes were opened (not merely looked at with O_PATH)."""

    def __init__(self) -> None:
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.paths: dict[int, str] = {}

    def watch(self, path: Path) -> None:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN)
        assert wd >= 0, os.strerror(ctypes.get_errno())
        self.paths[wd] = path.name

    def opened(self) -> set[str]:
        found = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            at = 0
            while at < len(data):
                wd, mask, _, length = struct.unpack_from("iIII", data, at)
                if mask & IN_OPEN:
                    found.add(self.paths[wd])
                at += 16 + length

    def close(self) -> None:
        os.close(self.fd)


def make_node(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path, 0o644)
    else:
        require_root()
        os.mknod(path, stat.S_IFCHR | 0o644, NULL_DEVICE)


@pytest.fixture
def area(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    write(q / "a.txt", "first\n")
    write(q / "victim.txt", "victim\n")
    write(q / "d" / "inner.txt", "inner\n")
    watch = OpenWatch()
    yield q, pub, watch
    watch.close()
    hooks.set_hook(None)


def swap_in(path: Path, kind: str, watch: OpenWatch):
    def action():
        os.rename(path, path.with_name(path.name + ".orig"))
        make_node(path, kind)
        watch.watch(path)

    return action


def assert_watch_works(path: Path, watch: OpenWatch) -> None:
    """Control: an ordinary open of the node is seen."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.close(fd)
    assert path.name in watch.opened()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_node_swapped_in_for_a_file_is_refused_unopened(area, kind):
    q, pub, watch = area
    done = at("open", ("victim.txt",), swap_in(q / "victim.txt", kind, watch))
    result = vmguard.vet(q, rules(), pub / "job", per_file=True)
    assert done and watch.opened() == set()
    victim = entry(result, "victim.txt")
    assert victim.verdict is Verdict.REJECTED
    assert set(victim.reasons) == {Reason.SPECIAL_FILE, Reason.CHANGED_DURING_VET}
    assert "never opened" in victim.detail
    assert sorted(published_files(pub / "job")) == ["a.txt", "d/inner.txt"]
    assert_watch_works(q / "victim.txt", watch)


@pytest.mark.parametrize("point", ["walk-dir", "open"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_node_swapped_in_for_a_directory_is_refused_unopened(area, kind, point):
    """Swapped while the walk descends, or after the walk (the copy reopens it)."""
    q, pub, watch = area
    target = ("d",) if point == "walk-dir" else ("a.txt",)
    done = at(point, target, swap_in(q / "d", kind, watch))
    result = vmguard.vet(q, rules(), pub / "job", per_file=True)
    assert done and watch.opened() == set()
    refused = entry(result, "d" if point == "walk-dir" else "d/inner.txt")
    assert Reason.SPECIAL_FILE in refused.reasons
    assert "d/inner.txt" not in published_files(pub / "job")
    assert_watch_works(q / "d", watch)


def test_dry_run_scanner_never_opens_a_node_swapped_in_after_the_copy(area, tmp_path):
    """On a dry run the scanner reads the descriptor that was checked, never a name: a
    FIFO swapped in after the copy is never opened, and the file is rejected as changed."""
    q, pub, watch = area
    command = vmguard.policy.model.CommandScanner(("true", "{path}"), 10)
    policy = rules(scanners=vmguard.policy.model.Scanners(command=command))
    done = at("staged", ("victim.txt",), swap_in(q / "victim.txt", "fifo", watch))
    result = vmguard.vet(q, policy, pub / "job", dry_run=True)
    assert done and watch.opened() == set()
    assert {Reason.SPECIAL_FILE, Reason.CHANGED_DURING_VET} & set(entry(result, "victim.txt").reasons)


FLIPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
print("ready", flush=True)
while True:
    for a, b in pairs:
        libc.renameat2(-100, a, -100, b, 2)  # RENAME_EXCHANGE: the name is never missing
"""


def test_racing_swaps_to_fifo_and_device_never_open_them(area):
    """Another process keeps exchanging files with FIFOs and device nodes (atomically,
    renameat2 RENAME_EXCHANGE) while vets run: whatever the name is at each instant, a
    node is never opened and only a file's own bytes are published."""
    require_root()
    q, pub, watch = area
    many, park = q / "many", q / "park"
    park.mkdir()
    names = [f"f{i:03}.txt" for i in range(100)]
    pairs = []
    for i, name in enumerate(names):
        write(many / name, f"file {name}\n")
        if i % 3 == 0:  # every third file flips
            node = park / name
            make_node(node, ("fifo", "device")[i % 2])
            watch.watch(node)
            pairs += [str(many / name), str(node)]
    flipper = subprocess.Popen([sys.executable, "-c", FLIPPER, *pairs], stdout=subprocess.PIPE)
    try:
        assert flipper.stdout.readline() == b"ready\n"
        results = [vmguard.vet(many, rules(), pub / f"job{n}", per_file=True) for n in range(3)]
    finally:
        flipper.kill()
        flipper.wait()
    assert watch.opened() == set()
    raced = 0
    for n, result in enumerate(results):
        for got in result.entries:
            if got.verdict is Verdict.ACCEPTED:
                assert (pub / f"job{n}" / got.path).read_bytes() == f"file {got.path}\n".encode()
            else:
                assert not (pub / f"job{n}" / got.path).exists()
                assert set(got.reasons) <= {Reason.SPECIAL_FILE, Reason.CHANGED_DURING_VET}
                raced += set(got.reasons) == {Reason.SPECIAL_FILE, Reason.CHANGED_DURING_VET}
    assert raced > 0, "no swap landed between walk and open: the race was not exercised"
    node = next(p for p in (park / names[0], many / names[0]) if stat.S_ISFIFO(p.lstat().st_mode))
    assert_watch_works(node, watch)
