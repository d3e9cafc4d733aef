"""The Slurm prolog fails closed: a job whose account and licenses squeue does not give
(a busy controller) may have asked for a VM pool, so it is cancelled with the reason,
never run as a plain job (session 37). squeue, scontrol and scancel are stubs here that
record what the prolog asked: the real cluster is tests/batch/test_slurm.py's."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmguard.batch import slurm
from vmguard.batch.install import install_hooks

ENV = {"SLURM_JOB_ID": "4711", "SLURM_JOB_USER": "alice", "SLURM_JOB_UID": "1000",
       "SLURM_JOB_GID": "1000", "SLURM_JOB_PARTITION": "batch", "SLURMD_NODENAME": "n1"}


def _stubs(bin_dir: Path, squeue: str) -> Path:
    """squeue answering with `squeue` (a shell body); scontrol and scancel logging to calls."""
    calls = bin_dir / "calls"
    bin_dir.mkdir()
    for name, body in (("squeue", squeue), ("scontrol", f'echo "scontrol $*" >> {calls}'),
                       ("scancel", f'echo "scancel $*" >> {calls}')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return calls


@pytest.mark.parametrize("squeue", [
    'echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1',
    "exec sleep 5",  # longer than the hook waits (TIMEOUT, 1 s here)
    "exit 0",  # no line: the controller says nothing of the job
])
def test_a_job_squeue_does_not_describe_is_cancelled(tmp_path, monkeypatch, squeue):
    calls = _stubs(tmp_path / "bin", squeue)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(slurm, "TIMEOUT", 1)
    monkeypatch.setattr(slurm, "_KILL_GRACE", 0)
    # Whatever the site's pools say of a job that asked for none (here: a plain job, run):
    # unread, its request is unknown.
    monkeypatch.setattr(slurm, "start_of_job", lambda *args: None)
    assert slurm.prolog(tmp_path / "batch.yaml", ENV) == 0
    said = calls.read_text()
    assert "scancel 4711" in said
    assert "could not read the job" in said and "account and licenses" in said


@pytest.mark.parametrize("unset", ["SLURM_JOB_PARTITION", "SLURM_JOB_UID", "SLURM_JOB_GID"])
def test_a_job_slurmd_does_not_fully_describe_is_cancelled(tmp_path, monkeypatch, unset):
    """Session 38: no partition was read as "the partition of no pool" (the job ran as a
    plain job), no uid or gid as -1."""
    calls = _stubs(tmp_path / "bin", "printf 'physics\\t(null)\\t(null)\\n'")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(slurm, "_KILL_GRACE", 0)
    monkeypatch.setattr(slurm, "_state", lambda *args: "CANCELLED")
    monkeypatch.setattr(slurm, "start_of_job", lambda *args: "")  # read, it would run
    assert slurm.prolog(tmp_path / "batch.yaml", {k: v for k, v in ENV.items() if k != unset}) == 0
    said = calls.read_text()
    assert "scancel 4711" in said and f"slurmd did not set {unset} for job 4711" in said
    event = json.loads((tmp_path / "events.jsonl").read_text())
    assert event["kind"] == "batch-refuse" and unset in event["data"]["message"]


def test_any_failure_to_read_the_job_cancels_it(tmp_path, monkeypatch):
    """Not only InputError: whatever stops the prolog reading the job (here a bug) cancels
    it; before session 38 it escaped, the hook script exited 0 and the job ran."""
    calls = _stubs(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(slurm, "_KILL_GRACE", 0)
    monkeypatch.setattr(slurm, "_state", lambda *args: "")
    monkeypatch.setattr(slurm, "_show_job", lambda job_id: {}["StdOut"])
    assert slurm.prolog(tmp_path / "batch.yaml", ENV) == 0
    assert "scancel 4711" in calls.read_text() and "KeyError" in calls.read_text()


def test_the_prolog_script_cancels_the_job_when_vmguard_does_not_run(tmp_path, monkeypatch):
    """The installed prolog exits 0 whatever happens (slurmd would drain the node), but a
    job vmguard did not look at (no Python, an import error, a crash) may have asked for
    a pool: cancelled, then the prolog waits TIMEOUT + grace as vmguard's cancel does at
    most. Before session 38 the job ran. The epilog only notes it in syslog."""
    calls = _stubs(tmp_path / "bin", "exit 0")
    monkeypatch.setattr(slurm, "TIMEOUT", 0.4)
    monkeypatch.setattr(slurm, "_KILL_GRACE", 0.2)
    install_hooks(tmp_path / "batch.yaml", tmp_path / "libexec")
    env = {**ENV, "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    for name in ("slurm-prolog", "slurm-epilog"):
        script = tmp_path / "libexec" / name  # its interpreter replaced by one that fails
        script.write_text(script.read_text().replace(shlex.quote(sys.executable), "/bin/false"))
        started = time.monotonic()
        proc = subprocess.run([str(script)], env=env, capture_output=True, timeout=30, check=False)
        assert proc.returncode == 0
        if name == "slurm-prolog":
            assert calls.read_text() == "scancel 4711\n" and time.monotonic() - started >= 0.6
    assert calls.read_text() == "scancel 4711\n"  # the epilog cancelled nothing


def test_the_epilog_still_reads_the_job_without_squeue(tmp_path, monkeypatch):
    """The epilog decides no pool: a busy controller does not stop it describing the job."""
    _stubs(tmp_path / "bin", "exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(slurm, "TIMEOUT", 1)
    job = slurm.job_from_env(ENV)
    assert (job.id, job.account, job.requests, job.queue) == ("4711", "", (), "batch")
