"""Slurm: the node epilog (slurm.conf `Epilog=`), run as root by slurmd after each job.

Why an epilog and not a job-step wrapper: the epilog runs after every job on the node,
also after a job was cancelled or hit its time limit, as root and outside the user's
control, so a user cannot skip the vet and the vet has the rights to promote. A wrapper
would run as the user, inside the job's time limit, and only when the user calls it.

What the epilog gets: SLURM_JOB_ID, SLURM_JOB_UID/GID/USER, SLURM_JOB_PARTITION,
SLURM_JOB_COMMENT, SLURM_JOB_WORK_DIR, SLURMD_NODENAME; the job name and the expanded
output path come from `scontrol show job` (the job is COMPLETING, still known).
Slurm refuses `scontrol update ... Comment=` once a job has finished ("Job has already
finished"), so the comment goes to accounting through sacctmgr where slurmdbd keeps
comments (AccountingStoreFlags=job_comment); the verdict file beside the output is the
channel that always works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from vmguard.batch.hook import end_of_job
from vmguard.batch.job import BatchJob
from vmguard.batch.quiet import TIMEOUT, run_quiet
from vmguard.batch.verdict import Verdict
from vmguard.display import shown
from vmguard.errors import InputError


def _show_job(job_id: str) -> dict[str, str]:
    """`scontrol show job -o` as key -> value (values with spaces are cut at the space)."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(re.findall(r"(?:^| )(\w+)=(\S*)", out))


def _output_dir(env: Mapping[str, str], shown: Mapping[str, str]) -> str:
    stdout = shown.get("StdOut", "")
    if stdout.startswith("/"):
        return str(Path(stdout).parent)
    return env.get("SLURM_JOB_WORK_DIR", "")


def job_from_env(env: Mapping[str, str]) -> BatchJob:
    """The ending job as slurmd describes it to the epilog."""
    if not env.get("SLURM_JOB_ID"):
        raise InputError("SLURM_JOB_ID is not set: run this as slurm.conf's Epilog")
    shown = _show_job(env["SLURM_JOB_ID"])
    return BatchJob(
        runner="slurm",
        id=env["SLURM_JOB_ID"],
        user=env.get("SLURM_JOB_USER", ""),
        uid=int(env.get("SLURM_JOB_UID", "-1")),
        gid=int(env.get("SLURM_JOB_GID", "-1")),
        name=shown.get("JobName", ""),
        queue=env.get("SLURM_JOB_PARTITION", ""),
        comment=env.get("SLURM_JOB_COMMENT", ""),
        host=env.get("SLURMD_NODENAME", ""),
        output_dir=_output_dir(env, shown),
        exit_status=env.get("SLURM_JOB_EXIT_CODE2", ""),
    )


def set_comment(verdict: Verdict) -> str:
    """Put the verdict's summary in the job's comment; "" or why it could not."""
    job_id, text = verdict.job.id, verdict.summary()
    problem = run_quiet(["scontrol", "update", f"JobId={job_id}", f"Comment={text}"])
    if problem and shutil.which("sacctmgr"):
        problem = run_quiet(
            ["sacctmgr", "-i", "modify", "job", "where", f"JobID={job_id}", "set", f"Comment={text}"]
        )
    return f"job comment not set: {problem}" if problem else ""


def epilog(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> int:
    """The Epilog's work; always 0 (a failing epilog drains the node)."""
    env = os.environ if env is None else env
    try:
        job = job_from_env(env)
    except (InputError, ValueError) as err:
        print(f"vmguard: slurm epilog: {shown(err)}")
        return 0
    return end_of_job(job, config_path, set_comment)
