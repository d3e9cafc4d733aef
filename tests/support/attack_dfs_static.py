"""The builders of the filesystem attack d: the shared quarantine of the static cases
(real output of the real tools, special files, names that break lines, a FITS image with
a hole pattern), vetted once, and the small quarantines of the other runs."""

from __future__ import annotations

import codecs
import csv
import json
import logging
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from tests.support.attack_dfs_tools import (
    IN_OPEN,
    PER_FILE_JSON,
    ROOT,
    SECRET,
    Inotify,
    Run,
    published,
    punch,
    vet,
    vet_argv,
    vet_env,
    write_policy,
)

# Names the text report must escape: each would end or rewrite a line somewhere
# (str.splitlines, a terminal, a bidi-aware viewer). All are rejected; none may be raw.
LINE_BREAKERS = {
    "nel": "a\x85b.txt",
    "lsep": "a\u2028b.txt",
    "psep": "a\u2029b.txt",
    "cr": "a\rb.txt",
    "esc": "a\x1b[2Jb.txt",
    "vt": "a\x0bb.txt",
    "ff": "a\x0cb.txt",
    "fs": "a\x1cb.txt",
    "rlo": "a\u202etxt.exe",
    "bom": "\ufeffa.txt",
}
RAW_FORBIDDEN = "\x85\u2028\u2029\r\x1b\x0b\x0c\x1c\u202e\ufeff"
GUEST_MTIME = 981_173_106_123_456_789  # 2001-02-03, nanoseconds chosen by the guest
SPECIALS = ("spec/ff.txt", "spec/zero", "spec/loop", "spec/sock")
HOLE_BLOCKS = 256  # a FITS image of 512 x 512 float64 zeros: 2 MiB of 4 KiB blocks


def make_controls(q: Path) -> dict[str, bytes]:
    """Real output of the real tools, with the modes a job leaves (0600, 0400, 0664)."""
    ctrl = q / "ctrl"
    ctrl.mkdir(parents=True)
    log = logging.getLogger("attack-dfs")
    handler = logging.FileHandler(ctrl / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.warning("event %d done", 42)
    log.removeHandler(handler)
    handler.close()
    np.savetxt(ctrl / "table.txt", np.arange(30.0).reshape(10, 3), header="a b c")
    with open(ctrl / "data.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["run", "events"], [1, 1000], [2, 2000]])
    (ctrl / "meta.json").write_text(json.dumps({"run": 42, "ok": True}, indent=2))
    fits.PrimaryHDU(np.arange(100.0).reshape(10, 10)).writeto(ctrl / "img.fits")
    os.chmod(ctrl / "run.log", 0o600)
    os.chmod(ctrl / "meta.json", 0o400)
    os.chmod(ctrl / "table.txt", 0o664)
    for path in ctrl.iterdir():  # 30 bits of nanoseconds per file a reader would get back
        os.utime(path, ns=(GUEST_MTIME, GUEST_MTIME))
    grp = q / "grp"
    grp.mkdir()
    os.chmod(grp, 0o2775)  # noqa: S103 (a group area's directories carry setgid; files under it do not)
    (grp / "out.txt").write_text("made in a setgid directory\n")
    return {str(p.relative_to(q)): p.read_bytes() for p in [*ctrl.iterdir(), grp / "out.txt"]}


def make_specials(q: Path) -> socket.socket:
    spec = q / "spec"
    spec.mkdir()
    os.mkfifo(spec / "ff.txt")
    os.mknod(spec / "zero", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    os.mknod(spec / "loop", 0o644 | stat.S_IFBLK, os.makedev(7, 0))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(spec / "sock"))
    return sock


def make_holes(q: Path) -> list[int]:
    """A FITS image of zeros, every other block (by a fixed pattern) punched to a hole:
    the same bytes for every reader, 256 bits in the allocation map."""
    path = q / "holes.fits"
    fits.PrimaryHDU(np.zeros((512, 512), dtype=">f8")).writeto(path)
    pattern = [(index * 2654435761 >> 7) & 1 for index in range(1, HOLE_BLOCKS * 2 - 1)]
    punch(path, [index + 1 for index, bit in enumerate(pattern) if bit])
    return pattern


class Static:
    """The one shared vet of the static cases, and what it was given."""

    def __init__(self, base: Path) -> None:
        self.q = base / "q"
        self.q.mkdir()
        self.controls = make_controls(self.q)
        self.sock = make_specials(self.q)
        self.pattern = make_holes(self.q)
        for name in LINE_BREAKERS.values():
            (self.q / name).write_text("fine text\n")
        self.pub = base / "pub"
        self.pub.mkdir()
        self.log = base / "events.jsonl"
        watch = Inotify()
        for sub in ("spec",):
            watch.watch(self.q / sub, IN_OPEN)
        try:
            args = ("--to", str(self.pub / "job"), "--job", "job", *PER_FILE_JSON)
            self.run = vet(self.q, write_policy(base / "policy.yaml"), self.log, *args)
            self.opened = sorted(str(p.relative_to(self.q)) for p, _ in watch.names())
        finally:
            watch.close()
            self.sock.close()
        self.out = published(self.pub / "job")


def small_quarantine(q: Path, files: int = 3) -> Path:
    q.mkdir(parents=True)
    for i in range(files):
        (q / f"f{i}.txt").write_text(f"line {i}\n" * 100)
    return q


def mount_quarantine(base: Path) -> tuple[Path, Path]:
    secret = base / "secret"
    secret.mkdir()
    (secret / "s.txt").write_bytes(SECRET)
    q = small_quarantine(base / "q", files=150)
    (q / "d").mkdir()
    (q / "d" / "s.txt").write_text("the guest's own\n")
    (q / "f.txt").write_text("the guest's own\n")
    (q / "t").mkdir()
    (q / "o").mkdir()
    return q, secret


def start_vet(q: Path, pol: Path, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        vet_argv(q, pol, *args),
        env=vet_env(log),
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.001)


def old_atimes(q: Path) -> dict[str, int]:
    """Put every atime of `q` in 2020 (relatime would then update it on any read)."""
    old = 1_577_836_800 * 10**9
    for rel, mtime_ns in _tree(q, lambda st: st.st_mtime_ns).items():
        os.utime(q / rel, ns=(old, mtime_ns), follow_symlinks=False)
    return atimes(q)


def atimes(q: Path) -> dict[str, int]:
    return _tree(q, lambda st: st.st_atime_ns)


def _tree(q: Path, field, rel: str = ".") -> dict[str, int]:
    """field(lstat) of every entry under q, by relative path ("." for q), each directory
    listed with O_NOATIME: os.walk's listing would itself move the directories' atimes
    (relatime updates an atime older than the mtime), which is what the test measures."""
    fd = os.open(q / rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME)
    try:
        out = {rel: field(os.fstat(fd))}
        for name in os.listdir(fd):
            child = name if rel == "." else f"{rel}/{name}"
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                out.update(_tree(q, field, child))
            else:
                out[child] = field(st)
    finally:
        os.close(fd)
    return out


def atime_quarantine(q: Path) -> Path:
    import h5py

    small_quarantine(q, files=2)
    (q / "d").mkdir()
    (q / "d" / "b.json").write_text('{"x": 1}\n')
    with h5py.File(q / "big.h5", "w") as f:  # over 1 MiB: walked in a process of its own
        f["x"] = np.arange(300_000)
    return q


def entry(run: Run, path: str) -> dict:
    """The report's entry for `path`; a rejected name is reported escaped (`\\u2028`)."""
    for item in run.report()["entries"]:
        shown = item["path"]
        if path in (shown, codecs.decode(shown, "unicode_escape") if shown.isascii() else shown):
            return item
    raise AssertionError(f"{path!r} is not in the report")


def reserved_byte_quarantine(q: Path) -> tuple[Path, int, bytes]:
    """big.h5 (over 1 MiB: walked by a process of its own) with a reserved byte of /x's v1
    object header set: the walk refuses it. Returns the quarantine, /x's header address
    and the file's bytes."""
    import h5py

    q.mkdir()
    with h5py.File(q / "big.h5", "w") as f:
        f["x"] = np.arange(300_000)
        header = h5py.h5o.get_info(f["x"].id).addr
    dirty = bytearray((q / "big.h5").read_bytes())
    dirty[header + 1] = 0x42
    (q / "big.h5").write_bytes(dirty)
    return q, header, bytes(dirty)
