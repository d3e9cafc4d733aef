"""The public filesystem fills up during a vet (a real tmpfs of a few MiB, filled at the
exact step by a hook): exit 3 with one line and no traceback, a `failed` log event, and
nothing of the job in the public area. Also: a --to named like another job's lock."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from tests.support.require import require_root

ROOT = Path(__file__).parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: full}
spec:
  quarantine:
    allow_types: [text/plain]
"""
# Runs the real CLI in its own process, the public filesystem filled at one named step.
FILLED_CLI = """
import os, sys
from vmguard.quarantine import hooks
point, name, filler = sys.argv[1], sys.argv[2], sys.argv[3]
def fill(reached, path):
    if reached == point and (not name or path == (name,)) and not os.path.exists(filler):
        with open(filler, "wb") as fh:
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
            except OSError:
                pass
hooks.set_hook(fill)
from vmguard.cli import main
sys.exit(main(sys.argv[4:]))
"""


@pytest.fixture
def small(tmp_path):
    """A 4 MiB tmpfs as the public area, and a quarantine that fits in it."""
    require_root()
    public = tmp_path / "small"
    public.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(public)], check=True)
    q = tmp_path / "q"
    for i in range(4):
        write(q / f"f{i}.txt", f"line {i}\n" * 40_000)  # 280 KiB each: several chunks
    (tmp_path / "policy.yaml").write_text(POLICY)
    try:
        yield tmp_path, q, public
    finally:
        subprocess.run(["umount", str(public)], check=True)


def vet_filled(tmp_path: Path, q: Path, public: Path, point: str, name: str = ""):
    argv = [
        sys.executable,
        "-c",
        FILLED_CLI,
        point,
        name,
        str(public / "filler"),
        "vet",
        str(q),
        "--policy",
        str(tmp_path / "policy.yaml"),
        "--to",
        str(public / "run1"),
    ]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def last_event(log: Path) -> dict:
    return json.loads(log.read_text().splitlines()[-1])


@pytest.mark.parametrize(
    "point, name",
    [
        ("copy-chunk", "f1.txt"),  # the data of the second file
        ("sidecar", "run1.manifest.json"),
        ("sidecar", "run1.vet.json"),
        ("sidecar", "run1.vet.txt"),  # the text report, the last file written
    ],
)
def test_public_filesystem_full_is_exit_3_and_nothing_partial(small, vet_log, point, name):
    tmp_path, q, public = small
    done = vet_filled(tmp_path, q, public, point, name)
    assert (public / "filler").exists(), "control: the filesystem was filled at that step"
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "No space left on device" in done.stderr and "nothing was published" in done.stderr
    assert sorted(os.listdir(public)) == [".vmguard-staging", "filler"]
    assert os.listdir(public / ".vmguard-staging") == ["run1.lock"]
    event = last_event(vet_log)
    assert event["kind"] == "vet" and event["data"]["status"] == "failed"
    assert "No space left on device" in event["data"]["error"]
    os.unlink(public / "filler")  # space again: the same vet now goes through
    again = vet_filled(tmp_path, q, public, "never", "")
    assert again.returncode == 0, again.stderr
    assert published_files(public / "run1") == published_files(q)


def test_control_the_same_vet_with_room_promotes(small):
    tmp_path, q, public = small
    done = vet_filled(tmp_path, q, public, "never", "")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(public)) == [
        ".vmguard-staging",
        "run1",
        "run1.manifest.json",
        "run1.vet.json",
        "run1.vet.txt",
    ]


def test_a_to_named_like_another_jobs_lock_or_staging(tmp_path):
    """Lock names end in .lock, staging names in .staging: no --to can be another's."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", "alpha\n")
    pub.mkdir()
    names = ["run1", "run1.lock", "run1.staging", "run1.lock.staging", "run1.staging.lock"]
    for name in names:
        result = vmguard.vet(q, policy(), pub / name)
        assert result.status.value == "promoted", name
    staging = pub / ".vmguard-staging"
    assert sorted(os.listdir(staging)) == sorted(f"{n}.lock" for n in names)
    for name in names:
        assert published_files(pub / name) == {"a.txt": b"alpha\n"}


def test_a_to_named_like_a_lock_while_that_job_holds_it(tmp_path):
    """Both at once: the second vet neither waits for nor breaks the first's lock."""
    import fcntl

    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", "alpha\n")
    (pub / ".vmguard-staging").mkdir(parents=True, mode=0o700)
    fd = os.open(pub / ".vmguard-staging" / "run1.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert vmguard.vet(q, policy(), pub / "run1.lock").status.value == "promoted"
        with pytest.raises(vmguard.core.errors.VetError, match="another vet"):
            vmguard.vet(q, policy(), pub / "run1")
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
