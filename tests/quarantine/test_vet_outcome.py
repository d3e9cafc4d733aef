"""What a vet says when it cannot log, and what it makes of --to: its new parents' mode
whatever the umask, and names too long for the sidecars refused before anything is made."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import ELF, policy, published_files, rules, write
from vmguard.core.errors import ExitCode, VetInputError
from vmguard.core.eventlog import EventLog
from vmguard.policy.model import PromotePolicy
from vmguard.quarantine.model import Status

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: outcome}
spec:
  quarantine:
    allow_types: [text/plain]
"""


def broken_log(tmp_path: Path) -> EventLog:
    """A log no one can append to, root included: its directory is a regular file."""
    (tmp_path / "notadir").write_text("")
    return EventLog(tmp_path / "notadir" / "events.jsonl", syslog=None)


def cli(q: Path, log: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (q.parent / "p.yaml").write_text(POLICY)
    argv = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(q.parent / "p.yaml"), *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), VMGUARD_LOG=str(log))
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("outcome", ["promoted", "rejected", "dry-run"])
def test_an_unlogged_vet_still_says_what_it_did(tmp_path, outcome):
    q = tmp_path / "q"
    write(q / "a.txt", "one\n")
    if outcome == "rejected":
        write(q / "tool", ELF)
    to = tmp_path / "pub" / "j"
    result = vmguard.vet(q, policy(), to, job="j", dry_run=outcome == "dry-run", events=broken_log(tmp_path))
    assert result.status.value == outcome and result.exit_code == ExitCode.CANNOT_RUN
    assert result.log_error and "cannot append to log" in result.log_error
    assert "missing from the log" in result.notes[-1] and "Not a directory" in result.notes[-1]
    assert bool(published_files(to)) == (outcome == "promoted")


def test_cli_prints_the_report_and_the_log_failure(tmp_path):
    q = tmp_path / "q"
    write(q / "a.txt", "one\n")
    (tmp_path / "notadir").write_text("")
    run = cli(q, tmp_path / "notadir" / "e.jsonl", "--to", str(tmp_path / "pub" / "j"), "--format", "json")
    assert run.returncode == 3, run.stderr
    assert json.loads(run.stdout)["status"] == "promoted"
    assert run.stderr.count("\n") == 1 and "missing from the log" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_vet_that_fails_and_cannot_log_keeps_its_code(tmp_path):
    q = tmp_path / "q"
    write(q / "a.txt", "one\n")
    (tmp_path / "pub" / "j").mkdir(parents=True)  # --to exists: exit 2, logged as failed
    with pytest.raises(VetInputError, match="already exists.*cannot append to log") as err:
        vmguard.vet(q, policy(), tmp_path / "pub" / "j", job="j", events=broken_log(tmp_path))
    assert err.value.exit_code == ExitCode.BAD_INPUT


def test_new_parents_get_dir_mode_whatever_the_umask(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", "one\n")
    (pub / "kept").mkdir(parents=True, mode=0o700)
    os.chmod(pub / "kept", 0o700)  # an existing parent is the admin's: left as it is
    promote = PromotePolicy(dir_mode=0o750, file_mode=0o640)
    old = os.umask(0o077)
    try:
        result = vmguard.vet(q, rules(promote=promote), pub / "kept" / "a" / "b" / "j", job="j")
    finally:
        os.umask(old)
    assert result.status is Status.PROMOTED
    modes = {p: stat.S_IMODE(os.stat(pub / p).st_mode) for p in ("kept", "kept/a", "kept/a/b", "kept/a/b/j")}
    assert modes == {"kept": 0o700, "kept/a": 0o750, "kept/a/b": 0o750, "kept/a/b/j": 0o750}, modes


@pytest.mark.parametrize(
    ("name", "ok"),
    [("y" * 241, True), ("y" * 242, False), ("é" * 120, True), ("é" * 121, False)],
    ids=["241-bytes", "242-bytes", "240-bytes-utf8", "242-bytes-utf8"],
)
def test_to_names_leave_room_for_the_sidecars(tmp_path, name, ok):
    """NAME_MAX 255 less '.manifest.json' (14): 241 bytes at most, counted in bytes."""
    q = tmp_path / "q"
    write(q / "a.txt", "one\n")
    to = tmp_path / "pub" / name
    if ok:
        assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
        assert (tmp_path / "pub" / f"{name}.manifest.json").is_file()
        return
    with pytest.raises(
        VetInputError, match=r"'\.manifest\.json'.*255-byte names \(NAME_MAX\): use at most 241"
    ):
        vmguard.vet(q, policy(), to, job="j")
    assert not (tmp_path / "pub").exists()  # nothing made


def test_a_too_long_parent_name_is_bad_input_before_anything_is_made(tmp_path):
    q = tmp_path / "q"
    write(q / "a.txt", "one\n")
    with pytest.raises(VetInputError, match="over the filesystem's 255 bytes"):
        vmguard.vet(q, policy(), tmp_path / "pub" / ("p" * 256) / "j", job="j")
    assert not (tmp_path / "pub").exists()
