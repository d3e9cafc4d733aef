"""Builders of the independent filesystem attack g (session 34): the names quarantine
(session 33's new name rules in subdirectories, with trailing dots and spaces, in any
case, and as tar members, empty ones included), a quarantine seen under another path by
overlayfs or by another mount namespace, a zoo of entries for a rerun, and tmpfs areas
whose inodes run out."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.attack_dfs_tools import Run
from tests.support.attack_ffs_races import overlay

TEXT = b"event 17 done, 3 tracks\n"


@dataclass(frozen=True)
class Name:
    """A file of the names quarantine: where it lies and what it holds."""

    rel: str
    data: bytes = TEXT


# Session 33's names with Windows' trailing dots and spaces, in another case, in a
# subdirectory: each a name a client acts on; all must be refused by name.
NAME_REFUSED = tuple(
    Name(rel)
    for rel in (
        "ROOTLOGON.c",
        "deep/rootlogon.C. .",
        "sub/rootalias.C ",
        "sub/RootLogoff.c..",
        "sub/PawLogon.KUMAC.",
        "a.xlsb. ",
        "b.XLA",
        "c.iqy .",
        "d.var.txt",
        "e.xoml.dat",
        "f.Rules.csv",
        "g.rem.txt",
        "h.SOAP.log",
        "i.pssc..",
        "j.udl",
        "k.cdxml ",
        "l.xlm",
        "m.slk",
        "n.ICA",
        "o.vsto",
        "p.spl",
        "q.dcr",
        "r.dxr",
        "s.dir",
        "sub/w.ica.Z",
        "sub/x.slk-gz",
    )
)

# Tar members, one bad name a tar, most of them empty: the tar is refused by its member.
TAR_MEMBERS = {
    "t-empty-logon.tar": ("rootlogon.C.", b""),
    "t-alias.tar": ("Sub/ROOTALIAS.C ", b""),
    "t-xlsb.tar": ("x.xlsb.", b""),
    "t-var.tar": ("z.var.txt", TEXT),
    "t-paw.tar": ("e/pawlogon.kumac", b""),
    "t-vsto.tar": ("w.VSTO ", b""),
}

# The Silverlight plug-in's application package (IIS maps .xap to
# application/x-silverlight-app by default): the docs list Silverlight among the
# plug-in players refused, but Debian's mime.types names only `.scr` for it.
NAME_HOLES = {
    "sub/t.xap": "a Silverlight application package (.xap, what the plug-in runs: IIS "
    "serves it as application/x-silverlight-app) is published; the docs refuse Silverlight",
}

# Ordinary names a lab writes, trailing dots and spaces too: published byte-identical.
NAME_PUBLISHED = (
    Name("notes.txt."),
    Name("run.2024-12-04.log"),
    Name("sub/data v2.csv", b"a,b\n1,2\n"),
    Name("sub/ROOTLOGON.txt"),
    Name("variables.txt"),
)


def make_names(q: Path) -> dict[str, bytes]:
    """Write every name case into q; returns the ordinary tar's members' bytes."""
    for case in (*NAME_REFUSED, *NAME_PUBLISHED, *(Name(rel) for rel in NAME_HOLES)):
        path = q / case.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
    for tar, member in TAR_MEMBERS.items():
        write_tar(q / tar, [member])
    write_tar(q / "ok.tar", [("ok.txt", TEXT), ("empty.txt", b""), ("sub/more.txt", TEXT)])
    return {"ok.tar": (q / "ok.tar").read_bytes()}


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_733_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))


@contextlib.contextmanager
def overlaid(base: Path, side: str) -> Iterator[tuple[Path, Path]]:
    """An overlayfs whose merged q holds a.txt; yields (quarantine, --to): the merged q
    with a --to in the upper layer's q, or the upper layer's q with a --to in the merged
    q. Either way the output lands in the directory the guest writes."""
    with overlay(base / "ov") as merged:
        (merged / "q").mkdir()
        (merged / "q" / "a.txt").write_bytes(TEXT)
        upper = base / "ov" / "upper" / "q"
        if side == "merged":
            yield merged / "q", upper / "pub" / "r"
        else:
            yield upper, merged / "q" / "pub" / "r"


@contextlib.contextmanager
def other_namespace(source: Path, at: Path, cwd: bool) -> Iterator[int]:
    """A process in a mount namespace of its own where `source` is bound at `at` (a
    container's or a VM helper's view of the quarantine); yields its pid, so
    /proc/PID/root (or /proc/PID/cwd, `cwd` there, or /proc/PID/fd/3, the bound
    directory held open) reaches the quarantine by a path the
    host's mounts do not show."""
    script = 'mount --bind "$1" "$2" && cd "$3" && exec 3<"$2" && echo ready && exec sleep 60'
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(source), str(at)]
        + [str(at if cwd else "/")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def make_zoo(q: Path) -> None:
    """Every kind of entry the walk records, nothing changed between two vets: special
    files, a symlink, a hardlinked pair, names refused for bytes, empty files and dirs,
    a file no one may read, trailing dots and spaces."""
    (q / "d" / "e").mkdir(parents=True)
    (q / "empty").mkdir()
    for rel, data in {
        "a.txt": TEXT,
        "d/z.txt": TEXT,
        "d/e/deep.txt": TEXT,
        "zero.txt": b"",
        "x. ": TEXT,
        "run.exe": TEXT,
        "rootlogon.C.": TEXT,
        "h1.txt": TEXT,
    }.items():
        (q / rel).write_bytes(data)
    os.link(q / "h1.txt", q / "h2.txt")
    (q / os.fsdecode(b"b\xff.txt")).write_bytes(TEXT)
    (q / "c\nd.txt").write_bytes(TEXT)
    (q / "locked.txt").write_bytes(TEXT)
    os.chmod(q / "locked.txt", 0)
    os.mkfifo(q / "fifo")
    (q / "s").symlink_to("a.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(q / "sock"))
    sock.close()


@contextlib.contextmanager
def inode_tmpfs(path: Path, inodes: int) -> Iterator[Path]:
    """A 4 MiB tmpfs of `inodes` inodes (its root one of them), unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size=4m,nr_inodes={inodes}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def tree(top: Path) -> list[str]:
    """Every entry under top (symlinks not followed), relative, sorted."""
    return sorted(str(p.relative_to(top)) for p in top.rglob("*"))


def fill_when_published(
    mnt: Path, out: Path, pid_of: Callable[[], int | None], stop: threading.Event
) -> None:
    """The public filesystem fills the moment the job's output appears (another job
    writing there): the vet is stopped at that instant, every free page taken in one
    write, and the vet let go, so what it writes after publishing meets a full disk."""
    while not stop.is_set() and not out.exists():
        pass
    pid = pid_of()
    if pid is None or stop.is_set():
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        fd = os.open(mnt / "fill", os.O_WRONLY | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            while os.write(fd, bytes(4 << 20)):
                pass
        os.close(fd)
    finally:
        os.kill(pid, signal.SIGCONT)


def vet_into_a_disk_that_fills(argv: list[str], env: dict[str, str], mnt: Path, out: Path) -> Run:
    """Run the CLI (`argv`) while `fill_when_published` watches `out`."""
    stop, box = threading.Event(), {}
    watcher = threading.Thread(target=fill_when_published, args=(mnt, out, lambda: box.get("pid"), stop))
    watcher.start()
    try:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        box["pid"] = proc.pid
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        stop.set()
        watcher.join()
    return Run(proc.returncode, stdout, stderr, ())
