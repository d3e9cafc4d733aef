"""Builders of the filesystem attack f (session 33): names a tool reading the public area
acts on that the session-32 tables do not hold (ROOT's and PAW's logon macros, Apache's
type maps), the look-alikes of the names they do hold, large files of long zero runs and
holes, a vet killed at random with --remove-promoted while the guest keeps changing the
quarantine, and a bind mount of a quarantine directory used as --to."""

from __future__ import annotations

import gzip
import io
import mmap
import os
import random
import select
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy.io import fits

from tests.support.attack_dfs_tools import ROOT, Inotify, punch, vet_argv, vet_env

LOG_LINE = b"2026-12-05 00:00:00,000 INFO step 1 done\n"
XSS = b"<img src=x onerror=alert(document.domain)>\n"  # text: no markup the validator names
BLOCK = 4096
IN_CREATE = 0x100
IN_DELETE = 0x200


@dataclass(frozen=True)
class Named:
    """A file the guest leaves at `rel` (under the shared quarantine), and why it matters."""

    rel: str
    data: bytes
    why: str


# Published today: each is a hit (docs/quarantine.md: no name a program reading the public
# area acts on; names.py "one table per question").
NAME_HOLES = (
    Named(
        "root/rootlogon.C",
        b'{ gSystem->Exec("touch /tmp/ffs-rootlogon"); }\n',
        "ROOT (system.rootrc Rint.Logon) runs ./rootlogon.C on every `root` started in "
        "that directory, `root -l data.root` to look at the job's file included",
    ),
    Named(
        "root/rootalias.C",
        b'int pwned = gSystem->Exec("touch /tmp/ffs-rootalias");\n',
        "ROOT (Rint.Load) .L's ./rootalias.C from the macro path (`.` first) on start: "
        "a global initializer runs",
    ),
    Named(
        "root/rootlogoff.C",
        b'{ gSystem->Exec("touch /tmp/ffs-rootlogoff"); }\n',
        "ROOT (Rint.Logoff) runs ./rootlogoff.C when the session ends",
    ),
    Named(
        "root/pawlogon.kumac",
        b"shell touch /tmp/ffs-paw\n",
        "PAW runs ./pawlogon.kumac (KUIP) on start: a legacy guest's lab still has it",
    ),
    Named(
        "web/page.var",
        b"Content-type: text/html\nBody:----b----\n" + XSS + b"----b----\n",
        "Debian/Ubuntu Apache (mods-available/mime.conf: AddHandler type-map var) serves "
        "a .var as a type map: its Body is sent as text/html, the onerror runs",
    ),
    Named(
        "srv/flow.xoml",
        LOG_LINE,
        "IIS with WCF HTTP activation maps *.xoml to the workflow service handler, as it maps "
        ".xamlx (which the table holds): a XOML workflow's x:Code is compiled and run on request",
    ),
    Named(
        "arch/macros.tar",
        b"",  # filled by make_names: a tar of one member, rootlogon.C
        "tar member rootlogon.C: `tar xf` in the public area, then `root`, runs it",
    ),
    Named(
        "web/map.var.txt",
        b"URI: xss.txt\nContent-type: text/html\n",
        "a type map by AddHandler's any-extension rule (as notes.php.txt): xss.txt, "
        "published as text, is served as text/html",
    ),
)

# Refused today, and must stay so: look-alikes of the session-32 names.
NAME_REFUSED = (
    Named("dots1/.SNAKEMAKE", LOG_LINE, "dot_names is exact: not another case"),
    Named("dots2/.snakemake.", LOG_LINE, "dot_names is exact: not a trailing dot"),
    Named("dots3/.snakemake ", LOG_LINE, "dot_names is exact: not a trailing space"),
    Named("cfg/Web.Config", LOG_LINE, "IIS: any case"),
    Named("cfg/web.config. .", LOG_LINE, "IIS: trailing dots and spaces"),
    Named("cfg/PHP.INI ", LOG_LINE, "PHP: any case, trailing space"),
    Named("cfg/a/b/desktop.ini", LOG_LINE, "Explorer: in any directory"),
    Named("cfg/Node_Modules.", LOG_LINE, "Node: any case, trailing dot"),
    Named("git/g/HEAD", b"ref: refs/heads/main\n", "git: HEAD beside objects/ and refs/"),
    Named("git/h/head", b"ref: refs/heads/main\n", "git on a case-insensitive client opens head as HEAD"),
    Named("gz/run.bat.Gz", gzip.compress(LOG_LINE, mtime=0), "gunzip: .Gz in any case"),
    Named("gz/run.bat-GZ", gzip.compress(LOG_LINE, mtime=0), "gunzip: -GZ"),
    Named("gz/a.html.tgz", gzip.compress(LOG_LINE, mtime=0), "Apache: .html before .tgz"),
    Named("gz/x.svgz", gzip.compress(LOG_LINE, mtime=0), "image/svg+xml: a browser runs its script"),
    Named("win/a.bat. .", LOG_LINE, "Windows drops trailing dots and spaces"),
    Named("win/a.ps1.", LOG_LINE, "Windows drops a trailing dot"),
    Named("win/a.printerexport", LOG_LINE, "Outlook's list"),
    Named("win/a.psdm1", LOG_LINE, "Outlook's list"),
    Named("win/a.xltm", LOG_LINE, "macro-enabled template"),
    Named("srv/x.phar.txt", LOG_LINE, "a PHP archive handler anywhere in the name"),
)

# Published, and must be: the admin's exact dot name in any directory, the lab's own names.
NAME_PUBLISHED = (
    Named(".snakemake/log/run.log", LOG_LINE, "dot_names lists .snakemake"),
    Named("deep/er/.snakemake/meta.json", b'{"ok": true}\n', "dot_names: in any directory"),
    # after a first line: a file that starts with <img is refused by its bytes whatever its
    # name (sniffed-as-page: a browser given it with no type renders it, Firefox's tags)
    Named("web/xss.txt", b"run 42 done\n" + XSS, "text served as text/plain by its name"),
)


def make_names(q: Path) -> None:
    for case in (*NAME_HOLES, *NAME_REFUSED, *NAME_PUBLISHED):
        path = q / case.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
    with tarfile.open(q / "arch/macros.tar", "w") as tar:  # Python's tarfile, as a job packs
        data = NAME_HOLES[0].data
        info = tarfile.TarInfo("rootlogon.C")
        info.size, info.mode, info.mtime = len(data), 0o644, 1_733_356_800
        tar.addfile(info, io.BytesIO(data))
    for sub in ("git/g/objects", "git/g/refs/heads", "git/h/objects", "git/h/refs"):
        (q / sub).mkdir(parents=True, exist_ok=True)
        (q / sub / "x.txt").write_bytes(LOG_LINE)


def zero_run_image(path: Path, seed: int) -> None:
    """A 6 MiB float64 FITS image, mostly zeros: nonzero stretches placed so that zero
    runs start, end and span the copy's 1 MiB chunks at odd offsets; then about half of
    its whole zero blocks punched to holes (a guest's pattern), the rest written zeros."""
    rng = random.Random(seed)
    data = np.zeros(786_432, dtype=">f8")
    for start in (0, 131_000, 131_072 + 509, 262_143, 400_000, 655_360 - 3, 786_400):
        data[start : start + rng.randint(1, 700)] = rng.random() + 1.0
    fits.PrimaryHDU(data.reshape(768, 1024)).writeto(path)
    holes_in_zero_blocks(path, rng)


def zero_run_hdf5(path: Path, seed: int) -> None:
    """h5py, one contiguous 5 MiB int32 dataset of zeros with a few nonzero runs, then
    holes punched in about half of the file's whole zero blocks."""
    rng = random.Random(seed)
    data = np.zeros(1_310_720, dtype="<i4")
    for start in (5, 262_144 - 2, 700_001, 1_310_000):
        data[start : start + rng.randint(1, 400)] = rng.randint(1, 1000)
    with h5py.File(path, "w") as fh:
        fh.create_dataset("adc", data=data)
    holes_in_zero_blocks(path, rng)


def holes_in_zero_blocks(path: Path, rng: random.Random) -> None:
    raw = path.read_bytes()
    zero = bytes(BLOCK)
    blocks = [i for i in range(len(raw) // BLOCK) if raw[i * BLOCK : (i + 1) * BLOCK] == zero]
    punch(path, [i for i in blocks if rng.random() < 0.5])


def zero_blocks_are_holes(path: Path) -> list[int]:
    """The whole blocks of `path` where the hole map and the bytes disagree (docs: each
    aligned 4 KiB block of zeros is left a hole, every other block written)."""
    raw = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        wrong = []
        for index in range(len(raw) // BLOCK):
            try:
                is_data = os.lseek(fd, index * BLOCK, os.SEEK_DATA) == index * BLOCK
            except OSError:
                is_data = False
            if is_data == (raw[index * BLOCK : (index + 1) * BLOCK] == bytes(BLOCK)):
                wrong.append(index)
        return wrong
    finally:
        os.close(fd)


def kill_at_deletion(q: Path, policy: Path, log: Path, to: Path, count: int, *args: str) -> int:
    """Start `vet q --to to --job r --remove-promoted` and SIGKILL it once `count` entries
    of q (or of q/d) were deleted (inotify IN_DELETE); count 0: at COMMITTED's creation."""
    watcher = Inotify()
    staging = to.parent / ".vmguard-staging"
    staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    watcher.watch(staging, IN_CREATE)
    for path in (q, q / "d"):
        watcher.watch(path, IN_DELETE)
    proc = subprocess.Popen(
        vet_argv(q, policy, "--to", str(to), "--job", "r", "--remove-promoted", *args),
        env=vet_env(log),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = 0
        while proc.poll() is None:
            select.select([watcher.fd], [], [], 0.05)
            for path, mask in watcher.names():
                if mask & IN_CREATE and path.name == "r.staging":
                    watcher.watch(path, IN_CREATE)
                seen += bool(mask & IN_DELETE) or (count == 0 and path.name == "COMMITTED")
            if count == 0 and seen or count and seen >= count:
                proc.send_signal(signal.SIGKILL)
                break
        return proc.wait(timeout=60)
    finally:
        watcher.close()


def in_private_mounts(log: Path, script: str, *argv: str) -> subprocess.CompletedProcess:
    """Run `sh -c script` in a private mount namespace (every mount it makes dies with
    it), vet's events going to `log`."""
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv],
        env=vet_env(log),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


class MappedWriter:
    """The guest's writer through a shared mapping of `path`: after the first store (which
    moves mtime and ctime), the page stays writable and later stores move neither, on
    tmpfs for good and elsewhere until writeback. `running()` keeps storing a counter."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, 0)
        self.map[6:13] = b"0000001"  # the first store, before the vet's walk
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        count = 2
        while not self.stop.is_set():
            self.map[6:13] = b"%07d" % count
            count += 1
            time.sleep(0.0002)

    def __enter__(self) -> MappedWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def close(self) -> bytes:
        data = bytes(self.map)
        self.map.close()
        os.close(self.fd)
        return data


@contextmanager
def tmpfs(path: Path, size: str = "16m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def deep_tree(q: Path, budget: int) -> int:
    """Directories of at most 250-byte names under q until the path under q leaves 200
    bytes of its `budget` for a leaf's name; returns what is left (200)."""
    fd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    level = 0
    while (width := min(250, budget - 201)) > 0:
        name = chr(ord("a") + level) * width
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, budget, level = child, budget - width - 1, level + 1
    os.close(fd)
    return budget


def leaf_write(q: Path, name: str) -> None:
    """Write `name` in the deepest directory of q, by descriptors (the path is too long)."""
    fd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            subs = [e.name for e in os.scandir(fd) if e.is_dir()]
            if not subs:
                break
            child = os.open(subs[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, b"the bottom of a deep tree\n")
        os.close(out)
    finally:
        os.close(fd)
