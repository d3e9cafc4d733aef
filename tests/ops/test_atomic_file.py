"""vmguard.core.atomicfile: whole or not at all, nothing left behind, never through a link.

On real tmpfs mounts (unmounted in finally): a full one for the failure path, a roomy one
for a writer SIGKILLed in a loop at random moments."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.attack_ffs_cases import tmpfs
from tests.support.require import require_root
from vmguard.core import atomicfile
from vmguard.core.atomicfile import link_atomic, stage, write_atomic
from vmguard.core.errors import AuditError, ExitCode

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]
DATA = bytes(16 << 20)

WRITER = """
import sys
from pathlib import Path
from vmguard.core.atomicfile import write_atomic
data = bytes(16 << 20)
print("ready", flush=True)
while True:
    write_atomic(Path(sys.argv[1]), data, 0o600)
"""


def fill(fs: Path) -> None:
    """Take every free block of the tmpfs."""
    with contextlib.suppress(OSError), open(fs / "fill", "wb", buffering=0) as fh:
        while True:
            fh.write(bytes(4096))


@pytest.fixture(params=["anonymous", "named"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both temporaries: O_TMPFILE, and the named one used where it is not supported."""
    if request.param == "named":
        monkeypatch.setattr(atomicfile, "_PROC_FD", "/nonexistent")
    return request.param


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, way: str) -> None:
    require_root()
    with tmpfs(tmp_path / "fs", "64k") as fs:
        write_atomic(fs / "f", b"old", 0o640)
        fill(fs)
        with pytest.raises(OSError):
            write_atomic(fs / "f", bytes(1 << 20), 0o640)
        with pytest.raises(AuditError) as raised:
            write_atomic(fs / "f", bytes(1 << 20), 0o640, AuditError)
        assert sorted(os.listdir(fs)) == ["f", "fill"]
        assert (fs / "f").read_bytes() == b"old"
    assert raised.value.exit_code == ExitCode.CANNOT_RUN
    assert str(raised.value) == f"cannot write {fs / 'f'}: No space left on device"


def test_the_mode_is_exact_and_a_link_at_the_target_is_replaced(tmp_path: Path, way: str) -> None:
    (tmp_path / "victim").write_bytes(b"victim")
    (tmp_path / "f").symlink_to(tmp_path / "victim")
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "f", b"new", 0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "victim").read_bytes() == b"victim"
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_bytes() == b"new"
    assert (tmp_path / "f").stat().st_mode & 0o7777 == 0o644
    assert sorted(os.listdir(tmp_path)) == ["f", "victim"]


def test_a_discarded_staging_leaves_the_old_file_alone(tmp_path: Path, way: str) -> None:
    write_atomic(tmp_path / "f", b"old", 0o600)
    staged = stage(tmp_path / "f", b"new", 0o600)
    assert (tmp_path / "f").read_bytes() == b"old"
    staged.discard()
    assert sorted(os.listdir(tmp_path)) == ["f"] and (tmp_path / "f").read_bytes() == b"old"


def test_temporaries_of_two_writers_never_share_a_name(tmp_path: Path) -> None:
    names = {atomicfile.temp_name("events.jsonl.head") for _ in range(1000)}
    assert len(names) == 1000 and all(n.startswith(".events.jsonl.head.") for n in names)
    assert len(atomicfile.temp_name("x" * 255).encode()) < 255


@pytest.mark.slow
def test_a_writer_killed_at_any_moment_leaves_the_old_file_or_the_new_one_and_no_temporary(
    tmp_path: Path,
) -> None:
    """SIGKILL 15 times at random moments of 16 MiB rewrites: the file is whole. A kill
    while the bytes are written (nearly all of the time) leaves no temporary; only one in
    the microseconds between naming the temporary and its rename may leave a whole one
    (the residue of any rename-based writer). Writers with a fixed NAME.tmp left a part
    of one behind at nearly every kill."""
    require_root()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    left = 0
    with tmpfs(tmp_path / "fs", "64m") as fs:
        for _ in range(15):
            _kill_one(fs, env)
            others = [n for n in os.listdir(fs) if n != "f"]
            for name in others:
                assert name.startswith(".f.") and (fs / name).read_bytes() == DATA, name
                (fs / name).unlink()
            left += bool(others)
            if (fs / "f").exists():
                assert (fs / "f").read_bytes() == DATA
        assert (fs / "f").exists(), "no write ever finished: the loop proved nothing"
    assert left <= 2, f"{left} of 15 kills left a temporary"


def _kill_one(fs: Path, env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(fs / "f")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(random.uniform(0.01, 0.3))  # noqa: S311 - a moment, not a secret
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_link_is_replaced_at_once_and_a_failed_replace_leaves_no_temporary(tmp_path: Path) -> None:
    """audit's `latest` and the command's link: the old link until the rename, and a
    rename that fails (a folder in the way) takes its temporary link away."""
    link_atomic(tmp_path / "latest", "run1")
    link_atomic(tmp_path / "latest", "run2")
    assert os.readlink(tmp_path / "latest") == "run2"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(OSError):
        link_atomic(tmp_path / "busy", "run2")
    assert sorted(os.listdir(tmp_path)) == ["busy", "latest"]
