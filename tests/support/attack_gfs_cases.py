"""Builders of the independent filesystem attack g (session 34): the names quarantine
(session 33's new name rules in subdirectories, with trailing dots and spaces, in any
case, and as tar members, empty ones included), a quarantine seen under another path by
overlayfs or by another mount namespace, a zoo of entries for a rerun, and tmpfs areas
whose inodes run out."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import tarfile
from collections.abc import Iterator
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

# Packages a client runs or installs that no table held (attack g; fixed): the
# Silverlight plug-in's application (IIS maps .xap to application/x-silverlight-app; the
# docs refuse Silverlight, Debian's mime.types names only `.scr` for it), InfoPath form
# templates, OneNote tables of contents, RemoteApp workspaces, visual styles.
PLUG_IN_PACKAGES = ("sub/t.xap", "sub/f.xsn", "n.onetoc2", "n.onetoc", "w.wcx", "s.msstyles")

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
    for case in (*NAME_REFUSED, *NAME_PUBLISHED, *(Name(rel) for rel in PLUG_IN_PACKAGES)):
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


# The real CLI in its own process, the public filesystem filled (every free page taken,
# as another job writing there would) at the first removal of a published file
# (hooks' "remove" point): after the job is published, before the removal record is
# rewritten, however fast the machine. Arguments: the filler's path, then the CLI's.
FILL_AT_REMOVAL = """
import os, sys
from vmguard.quarantine import hooks
filler = sys.argv[1]
def fill(point, path):
    if point == "remove" and not os.path.exists(filler):
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, bytes(4 << 20)):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
hooks.set_hook(fill)
from vmguard.cli import main
sys.exit(main(sys.argv[2:]))
"""


def vet_into_a_disk_that_fills(argv: list[str], env: dict[str, str], filler: Path | None) -> Run:
    """Run the CLI (`argv` as vet_argv builds it); with `filler`, the public filesystem
    fills (into that file) at the first removal of a published file."""
    if filler is not None:
        argv = [argv[0], "-c", FILL_AT_REMOVAL, str(filler), *argv[3:]]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    return Run(res.returncode, res.stdout, res.stderr, ())
