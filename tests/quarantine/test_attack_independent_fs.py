"""Independent black-box attacks on `vmguard vet`, filesystem side (issue #13).

Each test passes while the documented claim holds; a failing test is a hit. The attacks:
--to paths that collide with vmguard's own staging/lock names, things already in the
public area, Unicode name collisions and Windows names, swaps and rename loops while the
vet runs, bind mounts (same filesystem too), sparse files claiming huge sizes, a public
tmpfs filled by a concurrent writer, and kill -9 at random moments."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from tests.support.require import require_root
from vmguard.policy.model import NameRules
from vmguard.quarantine.model import Reason, Verdict

ROOT = Path(__file__).parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: attack-fs}
spec:
  quarantine:
    allow_types: [text/plain, application/json]
"""
SECRET = b"HOST SECRET 7c1f outside the quarantine\n"
RENAME_EXCHANGE = 2


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "vmguard", "vet", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "vmguard", "vet", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture
def pol(tmp_path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def all_bytes(top: Path) -> bytes:
    out = b""
    for base, _, files in os.walk(top):
        for name in files:
            path = os.path.join(base, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    out += fh.read()
    return out


def check_manifest(pub: Path, job: str) -> None:
    """The published manifest lists exactly the published bytes."""
    manifest = json.loads((pub / f"{job}.manifest.json").read_text())
    text = json.dumps(manifest)
    for rel, data in published_files(pub / job).items():
        assert hashlib.sha256(data).hexdigest() in text, rel


# --- --to colliding with vmguard's own names ----------------------------------------------


@pytest.mark.parametrize("suffix", [".staging", ".lock"])
def test_to_inside_staging_dir_cannot_hijack_another_job(tmp_path, pol, suffix):
    """Job A publishes to PUB/.vmguard-staging/r1<suffix> (a --to the docs do not forbid).
    A's guest wrote COMMITTED, out/ and r1.manifest.json. The later, honest job r1 must
    publish ITS OWN vetted files, not A's guest files with A's forged manifest."""
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    first = tmp_path / "qz"
    write(first / "z.txt", "z\n")
    assert cli(str(first), "--policy", str(pol), "--to", str(pub / "z"), "--job", "z").returncode == 0
    guest_a = tmp_path / "qa"
    write(guest_a / "COMMITTED", b"")
    write(guest_a / "out" / "evil.txt", "forged by guest A\n")
    write(guest_a / "r1.manifest.json", '{"job": "r1", "entries": []}\n')
    write(guest_a / "r1.vet.json", "{}\n")
    write(guest_a / "r1.vet.txt", "forged\n")
    hijack = pub / ".vmguard-staging" / f"r1{suffix}"
    a = cli(str(guest_a), "--policy", str(pol), "--to", str(hijack), "--job", "a")
    honest = tmp_path / "q1"
    write(honest / "real.txt", "honest output of r1\n")
    r1 = cli(str(honest), "--policy", str(pol), "--to", str(pub / "r1"), "--job", "r1")
    # Either the colliding --to is refused up front, or job r1 is untouched by it.
    assert a.returncode == 2 or r1.returncode == 0, (
        f"--to {hijack.name} accepted (exit {a.returncode}) and job r1 then failed: {r1.stderr}"
    )
    if r1.returncode == 0:
        assert published_files(pub / "r1") == {"real.txt": b"honest output of r1\n"}, (
            f"job r1 published another guest's files: a={a.returncode} {a.stdout}{r1.stdout}"
        )
        check_manifest(pub, "r1")
    assert "Traceback" not in a.stderr + r1.stderr


@pytest.mark.parametrize("name", [".vmguard-staging", "x.staging", "x.lock"])
def test_to_named_like_staging_or_lock(tmp_path, pol, name):
    """A --to named like vmguard's own directory is refused; lock/staging-like names of
    the public level are ordinary outputs that must not disturb job x."""
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    q = tmp_path / "q"
    write(q / "a.txt")
    res = cli(str(q), "--policy", str(pol), "--to", str(pub / name), "--job", "j")
    assert res.returncode in (0, 2), res.stderr
    assert "Traceback" not in res.stderr
    x = cli(str(q), "--policy", str(pol), "--to", str(pub / "x"), "--job", "x")
    assert x.returncode == 0, x.stderr
    assert published_files(pub / "x") == {"a.txt": b"some text\n"}


# --- things already in the public area ------------------------------------------------------


@pytest.mark.parametrize("target", ["run", "run.manifest.json", "run.vet.json", "run.vet.txt"])
def test_existing_symlink_at_a_target_is_not_followed(tmp_path, pol, target):
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (pub / target).symlink_to(elsewhere / "victim")  # dangling: a create would follow it
    q = tmp_path / "q"
    write(q / "a.txt")
    res = cli(str(q), "--policy", str(pol), "--to", str(pub / "run"), "--job", "run")
    assert res.returncode == 2, res.stdout + res.stderr
    assert list(elsewhere.iterdir()) == []
    assert os.readlink(pub / target) == str(elsewhere / "victim")
    assert "Traceback" not in res.stderr


def test_existing_symlink_as_staging_dir_is_not_followed(tmp_path, pol):
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (pub / ".vmguard-staging").symlink_to(elsewhere)
    q = tmp_path / "q"
    write(q / "a.txt")
    res = cli(str(q), "--policy", str(pol), "--to", str(pub / "run"), "--job", "run")
    assert res.returncode in (2, 3), res.stdout
    assert list(elsewhere.iterdir()) == []
    assert not (pub / "run").exists()
    assert "Traceback" not in res.stderr


# --- hostile names ---------------------------------------------------------------------------

COLLIDING = [
    ("dır", "DIR"),
    ("İ.txt", "i.txt"),
    ("ı.txt", "I.txt"),
    ("ﬁle", "file"),
    ("Straße", "STRASSE"),
    ("ὀδυσσεύς", "ὈΔΥΣΣΕΎΣ"),
    ("σς", "ΣΣ"),
    ("K.txt", "k.txt"),
    ("Å", "å"),
    ("ａ.txt", "a.txt"),
    ("x²", "x2"),
    ("Ⅻ", "xii"),
    ("ǅ", "dž"),
    ("e\u0301", "é"),
    ("ꭰ", "Ꭰ"),
    ("ẞ", "ss"),
    ("ﬀ", "FF"),
    ("ŉ", "ʼn"),
]


@pytest.mark.parametrize(("one", "two"), COLLIDING)
def test_unicode_collisions_are_refused(tmp_path, one, two):
    q = tmp_path / "q"
    write(q / one, "a\n")
    write(q / two, "b\n")
    res = vmguard.vet(q, policy(), tmp_path / "out", job="j", per_file=True)
    reasons = {r for e in res.entries for r in e.reasons}
    assert Reason.NAME_COLLISION in reasons, [(e.path, e.verdict, e.reasons) for e in res.entries]


def test_collision_between_directory_and_file(tmp_path):
    q = tmp_path / "q"
    write(q / "Data" / "x.txt", "a\n")
    write(q / "data", "b\n")
    res = vmguard.vet(q, policy(), tmp_path / "out", job="j", per_file=True)
    assert any(Reason.NAME_COLLISION in e.reasons for e in res.entries)


BAD_NAMES = [
    "a\u202eb.txt",
    "a\u200bb",
    "a\u2066b",
    "x\u061cy",
    "x\u180ey",
    "x\ufeffy",
    "x\u2028y",
    "x\ue000y",
    "a\u034fb",
    "x\U000e0041y",
    "\u3164",
    "x\n.txt",
    "x\x1b[31m.txt",
    "x\ufe0fy",
    "x\u00ady",
    "x\u115fy",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invisible_and_control_names_are_refused(tmp_path, name):
    q = tmp_path / "q"
    write(q / name, "a\n")
    res = vmguard.vet(q, policy(), tmp_path / "out", job="j", dry_run=True)
    assert all(e.verdict is not Verdict.ACCEPTED for e in res.entries if e.kind == "file"), [
        (e.path, e.reasons) for e in res.entries
    ]


WINDOWS = [
    "CON",
    "con.txt",
    "Nul.tar.gz",
    "aux",
    "PRN.",
    "COM1",
    "lpt9.log",
    "COM¹",
    "LPT².txt",
    "CONIN$",
    "conout$.txt",
    "a.",
    "a ",
    "a:b",
    "a*b",
    "a?b",
    'a"b',
    "a<b",
    "a>b",
    "a|b",
    "CON .txt",
    "nul ",
    "COM1 .txt",
]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_names_refused_when_portable(tmp_path, name):
    q = tmp_path / "q"
    write(q / name, "a\n")
    res = vmguard.vet(q, policy(names=NameRules.PORTABLE), tmp_path / "out", job="j", dry_run=True)
    assert all(e.verdict is not Verdict.ACCEPTED for e in res.entries), [
        (e.path, e.reasons) for e in res.entries
    ]


# --- sparse files ----------------------------------------------------------------------------


def test_sparse_file_claiming_a_terabyte_is_refused_quickly(tmp_path):
    q = tmp_path / "q"
    write(q / "ok.txt")
    with open(q / "huge.txt", "wb") as fh:
        fh.write(b"text\n")
        fh.truncate(1 << 40)
    began = time.monotonic()
    res = vmguard.vet(q, policy(max_file_size=1 << 30), tmp_path / "out", job="j")
    assert time.monotonic() - began < 20
    huge = [e for e in res.entries if e.path == "huge.txt"][0]
    assert huge.verdict is Verdict.REJECTED and Reason.FILE_TOO_LARGE in huge.reasons
    assert not (tmp_path / "out").exists()


# --- swaps while the vet runs ----------------------------------------------------------------


def _exchanger(a: bytes, b: bytes, seconds: float) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        libc.renameat2(-100, a, -100, b, RENAME_EXCHANGE)


def _swap_loop(a: Path, b: Path, seconds: float) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            _exchanger(os.fsencode(a), os.fsencode(b), seconds)
        finally:
            os._exit(0)
    return pid


@pytest.mark.parametrize(
    "kind",
    ["dir-symlink", "file-symlink", "file-fifo", "dir-file", "file-hardlink", "file-chardev", "file-socket"],
)
def test_swaps_during_vet_never_publish_outside_bytes(tmp_path, kind):
    """A guest exchanges an entry with a symlink to a host secret, a FIFO, a hardlink
    to the secret's copy, or a directory with a file, as fast as it can while vets run."""
    require_root()
    secret = tmp_path / "secret"
    secret.mkdir()
    write(secret / "s.txt", SECRET)
    q = tmp_path / "q"
    for i in range(30):
        write(q / f"pad{i:02}.txt", f"pad {i}\n" * 2000)
    if kind == "dir-symlink":
        write(q / "d" / "s.txt", "guest\n")
        os.symlink(secret, q / "alt")
        a, b = q / "d", q / "alt"
    elif kind == "file-symlink":
        write(q / "f.txt", "guest\n")
        os.symlink(secret / "s.txt", q / "alt")
        a, b = q / "f.txt", q / "alt"
    elif kind == "file-fifo":
        write(q / "f.txt", "guest\n")
        os.mkfifo(q / "alt")
        a, b = q / "f.txt", q / "alt"
    elif kind == "file-chardev":  # /dev/urandom's numbers: reading it would never end
        write(q / "f.txt", "guest\n")
        os.mknod(q / "alt", 0o644 | 0o020000, os.makedev(1, 9))
        a, b = q / "f.txt", q / "alt"
    elif kind == "file-socket":
        import socket

        write(q / "f.txt", "guest\n")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(q / "alt"))
        a, b = q / "f.txt", q / "alt"
    elif kind == "file-hardlink":
        write(q / "f.txt", "guest\n")
        os.link(secret / "s.txt", q / "alt")
        a, b = q / "f.txt", q / "alt"
    else:
        write(q / "d" / "x.txt", "in dir\n")
        write(q / "alt", "a file\n")
        a, b = q / "d", q / "alt"
    for i in range(6):
        pid = _swap_loop(a, b, 30)
        try:
            out = tmp_path / f"out{i}"
            res = vmguard.vet(q, policy(), out, job=f"j{i}", per_file=True)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if out.exists():
            assert SECRET not in all_bytes(out)
            for entry in res.accepted:
                assert entry.kind in ("file", "directory")


# --- mounts ----------------------------------------------------------------------------------

MOUNTED = r"""
set -e
Q=$1; S=$2; OUT=$3; POL=$4
mkdir -p "$Q/bind" "$Q/same"; : > "$Q/file.txt"; : > "$Q/proc.txt"; mkdir -p "$Q/procdir"
mount --bind "$S" "$Q/bind"
mount --bind "$S/s.txt" "$Q/file.txt"
mount --bind "$Q/samesrc" "$Q/same"
mount --bind /proc/self/status "$Q/proc.txt"
mount -t proc proc "$Q/procdir"
cd "$ROOT"; exec "$PY" -m vmguard vet "$Q" --policy "$POL" --to "$OUT" --job m --per-file --format json
"""


def test_bind_mounts_and_proc_inside_quarantine(tmp_path, pol):
    require_root()
    secret = tmp_path / "secret"
    write(secret / "s.txt", SECRET)
    q = tmp_path / "q"
    write(q / "ok.txt")
    write(q / "samesrc" / "also.txt", SECRET)  # same filesystem, only reachable via the bind
    out = tmp_path / "pub" / "m"
    out.parent.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), ROOT=str(ROOT), PY=sys.executable)
    res = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            MOUNTED,
            "sh",
            str(q),
            str(secret),
            str(out),
            str(pol),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    published = published_files(out) if out.exists() else {}
    assert set(published) <= {"ok.txt", "samesrc/also.txt"}, published
    report = json.loads(res.stdout)
    text = json.dumps(report)
    for name in ("bind", "file.txt", "same", "proc.txt", "procdir"):
        assert f'"{name}"' in text


# --- the public area fills up ----------------------------------------------------------------

FILLER = r"""
import os, sys, time
path = sys.argv[1]; delay = float(sys.argv[2]); staging = sys.argv[3]
end = time.monotonic() + 20
while not os.path.exists(staging) and time.monotonic() < end:
    time.sleep(0.001)
time.sleep(delay)
if sys.argv[4] == "inodes":
    os.mkdir(path)
    try:
        for n in range(10**6):
            os.close(os.open(f"{path}/{n}", os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        pass
    sys.exit(0)
with open(path, "wb") as fh:
    try:
        while True:
            fh.write(b"x" * 65536); fh.flush()
    except OSError:
        pass
"""


@pytest.mark.parametrize("what", ["bytes", "inodes"])
def test_concurrent_filler_public_area_all_or_nothing(tmp_path, pol, what):
    """Another writer fills the public tmpfs at a random moment of the vet: exit 0 with
    the whole job, or exit 3 with nothing of it; never a traceback, never a part."""
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,nr_inodes=400", "tmpfs", str(pub)], check=True)
    try:
        q = tmp_path / "q"
        for i in range(5):
            write(q / f"f{i}.txt", f"line {i}\n" * 30_000)
        rng = random.Random(13)
        for i in range(6):
            filler = pub / f"filler{i}"
            fp = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    FILLER,
                    str(filler),
                    str(rng.uniform(0, 0.4)),
                    str(pub / ".vmguard-staging" / f"j{i}.staging"),
                    what,
                ]
            )
            res = cli(str(q), "--policy", str(pol), "--to", str(pub / f"j{i}"), "--job", f"j{i}")
            fp.wait()
            print("filler run", i, res.returncode, res.stderr.strip())
            assert res.returncode in (0, 3), res.stdout + res.stderr
            assert "Traceback" not in res.stderr
            names = {p.name for p in pub.iterdir()}
            job = {n for n in names if n.startswith(f"j{i}")}
            if res.returncode == 0:
                assert job == {f"j{i}", f"j{i}.manifest.json", f"j{i}.vet.json", f"j{i}.vet.txt"}
                assert len(published_files(pub / f"j{i}")) == 5
                check_manifest(pub, f"j{i}")
            else:
                assert job == set(), job
            for n in names:
                if n.startswith((f"j{i}", "filler")) and (pub / n).is_dir():
                    subprocess.run(["rm", "-rf", str(pub / n)], check=True)
                elif n.startswith(("j", "filler")):
                    (pub / n).unlink()
    finally:
        subprocess.run(["umount", "-l", str(pub)], check=False)


# --- kill -9 at random moments ---------------------------------------------------------------


def test_kill9_at_random_moments_then_rerun(tmp_path, pol):
    require_root()
    pub = tmp_path / "pub"
    pub.mkdir()
    q = tmp_path / "q"
    for i in range(40):
        write(q / "d" / f"f{i:02}.txt", f"line {i}\n" * 3000)
    rng = random.Random(99)
    for i in range(8):
        job = f"k{i}"
        proc = start(str(q), "--policy", str(pol), "--to", str(pub / job), "--job", job)
        staging = pub / ".vmguard-staging" / f"{job}.staging"
        end = time.monotonic() + 20
        while not staging.exists() and time.monotonic() < end:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.5))  # in the copy, the sync or the renames
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        print(
            "kill",
            i,
            sorted(p.name for p in pub.iterdir()),
            os.listdir(pub / ".vmguard-staging") if (pub / ".vmguard-staging").exists() else None,
        )
        if (pub / job).exists():  # all of it, never a part
            assert len(published_files(pub / job)) == 40
        again = cli(str(q), "--policy", str(pol), "--to", str(pub / job), "--job", job)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(published_files(pub / job)) == 40
        check_manifest(pub, job)


def test_rename_loop_moving_a_directory_around_while_vetting(tmp_path):
    """The guest keeps moving a subtree between two places (and a file between two
    directories): every published file still holds the bytes of its manifest entry."""
    require_root()
    q = tmp_path / "q"
    for i in range(20):
        write(q / "a" / f"f{i:02}.txt", f"a {i}\n" * 2000)
        write(q / "b" / "c" / f"g{i:02}.txt", f"b {i}\n" * 2000)
    write(q / "m" / "x.txt", "moving\n")
    (q / "n").mkdir()
    for i in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    for src, dst in (
                        (q / "m", q / "b" / "c" / "m"),
                        (q / "b" / "c" / "m", q / "m"),
                        (q / "a", q / "b" / "a"),
                        (q / "b" / "a", q / "a"),
                    ):
                        with contextlib.suppress(OSError):
                            os.rename(src, dst)
            finally:
                os._exit(0)
        try:
            out = tmp_path / f"out{i}"
            res = vmguard.vet(q, policy(), out, job=f"r{i}", per_file=True)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        sums = {e.path: e.sha256 for e in res.accepted if e.kind == "file"}
        for rel, data in published_files(out).items() if out.exists() else ():
            assert sums.get(rel) == hashlib.sha256(data).hexdigest(), rel


@pytest.mark.parametrize("swap", ["dir-symlink", "dir-dir"])
def test_remove_promoted_never_deletes_outside_the_quarantine(tmp_path, swap):
    """--remove-promoted while the guest exchanges a published directory with a symlink
    to a host directory (or with another guest directory) holding files
    of the same names: the host's files must survive."""
    require_root()
    host = tmp_path / "host"
    for i in range(10):
        write(host / f"f{i}.txt", SECRET)
    for run in range(5):
        q = tmp_path / f"q{run}"
        for i in range(10):
            write(q / "d" / f"f{i}.txt", f"guest {i}\n" * 1000)
        for i in range(20):
            write(q / f"pad{i:02}.txt", f"pad {i}\n" * 1000)
        if swap == "dir-symlink":
            os.symlink(host, q / "alt")
        else:
            for i in range(10):
                write(q / "alt" / f"f{i}.txt", f"guest {i}\n" * 1000)
        pid = _swap_loop(q / "d", q / "alt", 30)
        try:
            vmguard.vet(
                q, policy(), tmp_path / f"out{run}", job=f"rm{run}", per_file=True, remove_promoted=True
            )
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert not (q / "pad00.txt").exists()  # control: --remove-promoted did remove
        assert sorted(p.name for p in host.iterdir()) == [f"f{i}.txt" for i in range(10)]
        assert all((host / f"f{i}.txt").read_bytes() == SECRET for i in range(10))


def test_very_deep_tree_is_refused_without_a_crash(tmp_path):
    """3000 nested directories (built with mkdirat, far beyond PATH_MAX): too-deep,
    no RecursionError, no ENAMETOOLONG traceback."""
    q = tmp_path / "q"
    write(q / "ok.txt")
    fd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(3000):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.close(os.open("leaf.txt", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    try:
        res = vmguard.vet(q, policy(), tmp_path / "out", job="deep", per_file=True)
        assert any(Reason.TOO_DEEP in e.reasons for e in res.entries)
        assert published_files(tmp_path / "out") == {"ok.txt": b"some text\n"}
    finally:
        subprocess.run(["rm", "-rf", str(q)], check=False)


def test_xattrs_and_default_acls_do_not_reach_the_public_area(tmp_path):
    require_root()
    q = tmp_path / "q"
    write(q / "a.txt")
    write(q / "d" / "b.txt")
    os.setxattr(q / "a.txt", "user.evil", b"1")
    os.setxattr(q / "a.txt", "trusted.evil", b"1")
    subprocess.run(["setcap", "cap_sys_admin+ep", str(q / "d" / "b.txt")], check=True)
    pub = tmp_path / "pub"
    pub.mkdir()
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rwx,o::rwx", str(pub)], check=True)
    res = vmguard.vet(q, policy(), pub / "j", job="j")
    assert res.status == "promoted"
    for base, dirs, files in os.walk(pub):
        for name in dirs + files:
            path = os.path.join(base, name)
            if ".vmguard-staging" in path:
                continue
            assert os.listxattr(path, follow_symlinks=False) == [], path
            assert not os.stat(path).st_mode & 0o002, path


@pytest.mark.parametrize("sparse", ["preserve", "refuse"])
def test_elf_behind_a_text_head_and_a_hole_is_refused(tmp_path, sparse):
    """Text, a 9 MiB hole, then an ELF image with its NULs and a '#!' line: the
    whole file is judged, holes included; a text-only sparse control is copied intact."""
    from tests.quarantine.conftest import ELF
    from vmguard.policy.model import SparseFiles

    q = tmp_path / "q"
    with open(q.mkdir() or q / "a.txt", "wb") as fh:
        fh.write(b"plain text line\n" * 40)
        fh.seek(9 << 20)
        fh.write(ELF)
    with open(q / "control.txt", "wb") as fh:
        fh.write(b"text\n" * 200)
        fh.seek(2 << 20)
        fh.write(b"more text\n")
    res = vmguard.vet(q, policy(sparse_files=SparseFiles(sparse)), tmp_path / "out", job="s", per_file=True)
    verdicts = {e.path: e for e in res.entries}
    assert verdicts["a.txt"].verdict is Verdict.REJECTED, verdicts["a.txt"]
    published = published_files(tmp_path / "out") if (tmp_path / "out").exists() else {}
    assert "a.txt" not in published
