"""A failure after the job is published never reports "nothing was published".

The staging directory is made immutable (`chattr +i`, a real EPERM from the kernel) at
the exact step named by a hook: after the renames, its removal fails and the vet is done
as published with its staging named (exit 3, the note saying how to clean it); during
the renames, a rename taken back fails and the error says the job is partly published.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import published_files, rules, write
from tests.support.require import require_root, require_tools
from vmguard.core.errors import ExitCode, VetError
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Status

ROOT = Path(__file__).parents[2]
STAGED = Path(".vmguard-staging") / "run1.staging"
# The real CLI in its own process, its staging made immutable at one named step.
LOCKED_CLI = """
import subprocess, sys
from vmguard.quarantine import hooks
point, staged = sys.argv[1], sys.argv[2]
def lock(reached, path):
    if reached == point:
        subprocess.run(["chattr", "+i", staged], check=True)
hooks.set_hook(lock)
from vmguard.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture
def job(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A quarantine and a public area; the staging unlocked again afterwards."""
    require_root()
    require_tools("chattr")
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", "alpha\n")
    write(q / "sub" / "b.txt", "beta\n")
    pub.mkdir()
    try:
        yield q, pub
    finally:
        if (pub / STAGED).exists():
            subprocess.run(["chattr", "-i", str(pub / STAGED)], check=True)


def vet_locked_at(point: str, name: str, q: Path, pub: Path, **kw) -> vmguard.VetResult:
    """vet, the job's staging made immutable when the vet reaches `point` for `name`."""

    def lock(reached: str, path: tuple[str, ...]) -> None:
        if reached == point and (not name or path == (name,)):
            subprocess.run(["chattr", "+i", str(pub / STAGED)], check=True)

    hooks.set_hook(lock)
    try:
        return vmguard.vet(q, rules(), pub / "run1", **kw)
    finally:
        hooks.set_hook(None)


def unlock(pub: Path) -> None:
    subprocess.run(["chattr", "-i", str(pub / STAGED)], check=True)


def last_event(log: Path) -> dict:
    return json.loads(log.read_text().splitlines()[-1])["data"]


def test_staging_not_removed_after_publishing_is_published_with_exit_3(job, vet_log):
    q, pub = job
    result = vet_locked_at("published", "", q, pub)
    assert result.status is Status.PROMOTED and result.promoted == 2
    assert published_files(pub / "run1") == published_files(q)
    assert result.staging_left == f"{pub / STAGED} (Operation not permitted)"
    assert result.exit_code is ExitCode.CANNOT_RUN
    note = result.notes[-1]
    assert "the job is published" in note and str(pub / STAGED) in note and "rerun the same command" in note
    event = last_event(vet_log)
    assert event["status"] == "promoted" and event["staging_left"] == result.staging_left
    unlock(pub)
    again = vmguard.vet(q, rules(), pub / "run1")  # the remedy the note names
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code is ExitCode.OK
    assert not (pub / STAGED).exists() and again.staging_left is None


def test_control_without_the_lock_the_staging_is_removed(job):
    q, pub = job
    result = vet_locked_at("never", "", q, pub)
    assert result.exit_code is ExitCode.OK and result.staging_left is None and not result.notes
    assert os.listdir(pub / ".vmguard-staging") == ["run1.lock"]


def test_the_cli_reports_the_job_published_and_names_the_staging(job, vet_log):
    q, pub = job
    (policy := pub.parent / "policy.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\n"
        "spec:\n  quarantine:\n    allow_types: [text/plain]\n"
    )
    argv = [sys.executable, "-c", LOCKED_CLI, "published", str(pub / STAGED)]
    argv += ["vet", str(q), "--policy", str(policy), "--to", str(pub / "run1")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "the job is published" in done.stderr and "nothing was published" not in done.stderr
    assert "promoted" in done.stdout and str(pub / STAGED) in done.stdout
    assert published_files(pub / "run1") == published_files(q)


def test_a_removal_record_that_cannot_be_moved_keeps_the_staging_for_the_rerun(job):
    """The record is moved out of the staging first: while that fails, the staging (and
    the record in it) stays, and the removal asked is done all the same."""
    q, pub = job
    result = vet_locked_at("published", "", q, pub, remove_promoted=True)
    assert result.status is Status.PROMOTED and result.exit_code is ExitCode.CANNOT_RUN
    assert not (q / "a.txt").exists() and not (q / "sub").exists()  # removed as asked
    assert (pub / STAGED / "REMOVAL").exists() and (pub / STAGED / "COMMITTED").exists()
    unlock(pub)
    again = vmguard.vet(q, rules(), pub / "run1", remove_promoted=True)
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code is ExitCode.OK
    assert os.listdir(pub / ".vmguard-staging") == ["run1.lock"]


def test_a_rename_that_cannot_be_taken_back_says_partly_published(job, vet_log):
    """The third rename fails (EPERM), and so does taking back the first two: the error
    names what is still published, never "nothing was published"."""
    q, pub = job
    with pytest.raises(VetError, match="partly published") as raised:
        vet_locked_at("rename", "run1.vet.json", q, pub)
    message = str(raised.value)
    assert "nothing was published" not in message
    assert f"{pub}/run1 (rename run1 -> out: Operation not permitted)" in message
    assert f"{pub}/run1.manifest.json (rename " in message
    assert last_event(vet_log)["status"] == "failed"
    assert sorted(os.listdir(pub)) == [".vmguard-staging", "run1", "run1.manifest.json"]
    unlock(pub)
    again = vmguard.vet(q, rules(), pub / "run1")  # rolled forward: the rest published
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code is ExitCode.OK
    assert (pub / "run1.vet.txt").exists() and published_files(pub / "run1") == published_files(q)


def test_a_roll_forward_that_cannot_remove_the_staging_is_done_with_exit_3(job):
    """The next vet finishes an interrupted one (roll forward): the same rule there."""
    q, pub = job

    def interrupt(point: str, _path: tuple[str, ...]) -> None:
        if point == "committed":
            raise KeyboardInterrupt  # as a kill would: the committed staging stays

    hooks.set_hook(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            vmguard.vet(q, rules(), pub / "run1")
    finally:
        hooks.set_hook(None)
    assert (pub / STAGED / "COMMITTED").exists() and not (pub / "run1").exists()
    result = vet_locked_at("published", "", q, pub)
    assert result.status is Status.ALREADY_PROMOTED and result.exit_code is ExitCode.CANNOT_RUN
    assert "finished the promotion of an interrupted earlier vet" in result.notes
    assert result.staging_left == f"{pub / STAGED} (Operation not permitted)"
    assert published_files(pub / "run1") == published_files(q)
    unlock(pub)
    again = vmguard.vet(q, rules(), pub / "run1")
    assert again.exit_code is ExitCode.OK and not (pub / STAGED).exists()
