"""Bind mounts inside the quarantine, on the quarantine's own filesystem: st_dev cannot
tell them, their mount id does. Each test runs the real `vmguard vet` in a private mount
namespace (unshare -m), so every mount vanishes with it, whatever happens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.quarantine.conftest import write
from tests.support.require import require_root, require_tools

ROOT = Path(__file__).parents[2]
SECRET = b"SECRET-OUTSIDE"
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: mounts}
spec:
  quarantine:
    allow_types: [text/plain]
"""
FLIPPER = """
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
while True:
    for src, dst in pairs:
        libc.mount(src, dst, None, 4096, None)  # MS_BIND
    time.sleep(0.001)  # mounted about half the time
    for src, dst in pairs:
        libc.umount2(dst, 2)  # MNT_DETACH
    time.sleep(0.001)
"""


@pytest.fixture
def area(tmp_path):
    require_root()
    require_tools("unshare", "mount")
    q, pub, outside = tmp_path / "q", tmp_path / "pub", tmp_path / "outside"
    pub.mkdir()
    write(outside / "secret.txt", SECRET)
    write(outside / "dir" / "secret.txt", SECRET)
    write(q / "a.txt", "alpha\n")
    write(q / "d" / "inner.txt", "inner\n")
    (tmp_path / "policy.yaml").write_text(POLICY)
    assert os.stat(q).st_dev == os.stat(outside).st_dev  # the same filesystem
    return tmp_path


def vet_in_namespace(area: Path, setup: str, jobs: int = 1) -> list[dict]:
    """Run `setup` (shell) then `jobs` vets of q in one private mount namespace."""
    vets = "\n".join(
        f"{sys.executable} -m vmguard vet {area / 'q'} --policy {area / 'policy.yaml'} "
        f"--to {area / 'pub' / f'job{n}'} --per-file --format json || test $? = 1"
        for n in range(jobs)
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", f"{setup}\n{vets}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def entries(report: dict) -> dict[str, dict]:
    return {e["path"]: e for e in report["entries"]}


def published(area: Path) -> dict[str, bytes]:
    found = {}
    for top, _, files in os.walk(area / "pub"):
        for name in files:
            path = Path(top, name)
            found[str(path.relative_to(area / "pub"))] = path.read_bytes()
    return found


def assert_no_secret(area: Path) -> None:
    assert not [p for p, data in published(area).items() if SECRET in data]


def test_a_bind_mounted_directory_is_refused_not_followed(area):
    (report,) = vet_in_namespace(area, f"mount --bind {area / 'outside' / 'dir'} {area / 'q' / 'd'}")
    d = entries(report)["d"]
    assert d["verdict"] == "rejected" and d["reasons"] == ["mount-point"]
    assert "d/secret.txt" not in entries(report)
    assert_no_secret(area)


def test_control_without_the_mount_the_directory_is_published(area):
    (report,) = vet_in_namespace(area, "true")
    assert report["status"] == "promoted"
    assert published(area)["job0/d/inner.txt"] == b"inner\n"


def test_a_bind_mounted_file_is_refused_not_read(area):
    (report,) = vet_in_namespace(
        area, f"mount --bind {area / 'outside' / 'secret.txt'} {area / 'q' / 'a.txt'}"
    )
    a = entries(report)["a.txt"]
    assert a["verdict"] == "rejected" and a["reasons"] == ["mount-point"]
    assert_no_secret(area)


def test_a_bind_mount_of_the_quarantine_onto_itself_is_refused(area):
    """Even a mount of the quarantine's own tree: the walk stays on one mount."""
    (report,) = vet_in_namespace(
        area, f"mkdir {area / 'q' / 'loop'}\nmount --bind {area / 'q' / 'd'} {area / 'q' / 'loop'}"
    )
    assert entries(report)["loop"]["reasons"] == ["mount-point"]
    assert "loop/inner.txt" not in entries(report)


def test_racing_bind_mounts_never_publish_what_is_outside(area):
    """Another process keeps mounting the secret over files and directories and
    unmounting it while vets run: whatever it has mounted when, nothing outside is
    published, and some mounts land between walk and open (refused there)."""
    q = area / "q"
    pairs = []
    for i in range(60):
        write(q / "many" / f"f{i:02}.txt", f"file {i}\n")
        write(q / "many" / f"d{i:02}" / "inner.txt", f"inner {i}\n")
        if i % 2 == 0:
            pairs += [
                area / "outside" / "secret.txt",
                q / "many" / f"f{i:02}.txt",
                area / "outside" / "dir",
                q / "many" / f"d{i:02}",
            ]
    flipper = " ".join(str(p) for p in pairs)
    setup = f"{sys.executable} -c '{FLIPPER}' {flipper} >/dev/null 2>&1 &\ntrap 'kill $!' EXIT\nsleep 0.5"
    raced = 0
    for _ in range(4):  # about 1 round in 6 sees no mount land between walk and open
        for report in vet_in_namespace(area, setup, jobs=3):
            for entry in report["entries"]:
                if entry["verdict"] == "rejected":
                    assert set(entry["reasons"]) <= {"mount-point", "changed-during-vet"}, entry
                    raced += "never followed" in entry["detail"]
        assert_no_secret(area)
        if raced:
            break
        shutil.rmtree(area / "pub")  # the next round's vets publish the same jobs anew
    assert raced > 0, "no mount landed between walk and open in 4 rounds: the race was not exercised"


def vet_to(area: Path, setup: str, quarantine: Path, to: Path) -> subprocess.CompletedProcess:
    """Run `setup` then one vet of `quarantine` to `to`, in a private mount namespace."""
    vet = f"{sys.executable} -m vmguard vet {quarantine} --policy {area / 'policy.yaml'} --to {to} --per-file"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", f"{setup}\nexec {vet}"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bound", "to"),
    [("q", "view/new/r"), ("q/d", "view/r"), ("q/d", "view/x/y/r"), ("q/d/deep", "view/r")],
)
def test_to_through_a_bind_mount_of_any_directory_of_the_quarantine_is_refused(area, bound, to):
    """A bind mount shows the quarantine, or a directory the guest made in it, under
    another path: publishing there would hand the output, its manifest and vmguard's
    staging to the guest. Exit 2, and nothing is made in the quarantine."""
    (area / "q" / "d" / "deep").mkdir()
    (area / "view").mkdir()
    before = sorted(p.relative_to(area) for p in (area / "q").rglob("*"))
    run = vet_to(area, f"mount --bind {area / bound} {area / 'view'}", area / "q", area / to)
    assert run.returncode == 2 and "overlaps the quarantine" in run.stderr, (run.returncode, run.stderr)
    assert sorted(p.relative_to(area) for p in (area / "q").rglob("*")) == before


def test_quarantine_vetted_through_a_bind_mount_still_sees_its_own_path(area):
    """The quarantine given through a bind mount of it, --to below its own path."""
    (area / "view").mkdir()
    run = vet_to(area, f"mount --bind {area / 'q'} {area / 'view'}", area / "view", area / "q" / "d" / "r")
    assert run.returncode == 2 and "overlaps the quarantine" in run.stderr, (run.returncode, run.stderr)


def test_control_a_new_to_beside_the_quarantine_is_taken(area):
    """--to whose nearest existing directory holds the quarantine (not inside it)."""
    run = vet_to(area, "true", area / "q", area / "new" / "deeper" / "r")
    assert run.returncode == 0, run.stderr
    assert (area / "new" / "deeper" / "r" / "a.txt").read_bytes() == b"alpha\n"
