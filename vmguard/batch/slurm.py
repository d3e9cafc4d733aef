"""Slurm: the node Prolog and Epilog (slurm.conf `Prolog=`, `Epilog=`), run as root by
slurmd around each job, with only SLURM_* variables.

The job's pool: a license or node feature `vmpool-<pool>` it asked for (`sbatch -L
vmpool-mc` or `--constraint=vmpool-mc`), else the pool of its partition. The owner's
uid, gid and partition come from slurmd; account, licenses and features from squeue
(slurmctld); the output paths, only ever written with the user's rights, from
`scontrol show job`. The job name and comment are never used.

A prolog that exits non-zero drains the node, so a refused job is cancelled instead
(`scancel`), with the reason in its error output and in its comment.
Slurm refuses `scontrol update ... Comment=` once a job has finished, so the epilog's
verdict goes to accounting through sacctmgr where slurmdbd keeps comments
(AccountingStoreFlags=job_comment); the verdict file beside the output always works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from vmguard.batch.hook import end_of_job, refuse_unread, start_of_job
from vmguard.batch.job import BatchJob
from vmguard.batch.pools import requested
from vmguard.batch.quiet import TIMEOUT, run_quiet
from vmguard.batch.verdict import JobVerdict
from vmguard.core.display import shown
from vmguard.core.errors import InputError

_KILL_GRACE = 1.0  # seconds a refused job's prolog waits after the controller cancelled it
# What squeue says of a cancelled job until the controller has processed the cancel
# (None: squeue did not answer, so it is not known to be cancelled).
_NOT_CANCELLED = frozenset({None, "PENDING", "CONFIGURING", "RUNNING"})
# squeue states of a job that has started and whose epilog is still to come
_LIVE = {
    "RUNNING",
    "COMPLETING",
    "CONFIGURING",
    "SUSPENDED",
    "STOPPED",
    "SIGNALING",
    "STAGE_OUT",
    "RESIZING",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "REQUEUED",
}
# What the prolog must have from slurmd: the partition decides a pool, the owner's ids
# open the quarantine to the job; a missing one is never read as "no pool" or uid -1.
_STARTING = ("SLURM_JOB_PARTITION", "SLURM_JOB_UID", "SLURM_JOB_GID")


def _scontrol(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["scontrol", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _show_job(job_id: str) -> dict[str, str]:
    """`scontrol show job -o` as key -> value (values with spaces are cut at the space)."""
    proc = _scontrol("show", "job", "-o", job_id)
    return dict(re.findall(r"(?:^| )(\w+)=(\S*)", proc.stdout)) if proc else {}


def _output_dir(env: Mapping[str, str], shown: Mapping[str, str]) -> str:
    stdout = shown.get("StdOut", "")
    if stdout.startswith("/"):
        return str(Path(stdout).parent)
    return env.get("SLURM_JOB_WORK_DIR", "")


def _granted(job_id: str) -> tuple[str, tuple[str, ...]] | None:
    """The job's account and requested pools, from fields only the admin can name; None
    when squeue does not say (a busy controller: the job may have asked for a pool).

    Not from `scontrol show job -o`: its one line also holds the job name and comment,
    where a user can write "Account=gleam Licenses=vmpool-x" to fake later fields.
    """
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%a\t%W\t%f"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    account, licenses, features = ([*proc.stdout.strip().split("\t"), "", "", ""])[:3]
    tokens = [t for v in (licenses, features) for t in re.split(r"[,&|\[\]()]", v) if t]
    return ("" if account == "(null)" else account), requested(tokens)


def job_from_env(env: Mapping[str, str], *, granted: bool = False) -> BatchJob:
    """The job as slurmd describes it to the prolog and the epilog; `granted`: its account,
    requested pools, partition and owner must be read (the prolog decides its pool by
    them), else empty."""
    if not env.get("SLURM_JOB_ID"):
        raise InputError("SLURM_JOB_ID is not set: run this as slurm.conf's Prolog or Epilog")
    if granted and (unset := [v for v in _STARTING if not env.get(v)]):  # never read as "none"
        raise InputError(f"slurmd did not set {', '.join(unset)} for job {env['SLURM_JOB_ID']}")
    shown = _show_job(env["SLURM_JOB_ID"])  # names and paths: shown, or written as the user
    grants = _granted(env["SLURM_JOB_ID"])
    if grants is None and granted:
        raise InputError(f"squeue did not give job {env['SLURM_JOB_ID']}'s account and licenses")
    account, requests = grants or ("", ())
    stderr = shown.get("StdErr", "")
    return BatchJob(
        runner="slurm",
        id=env["SLURM_JOB_ID"],
        user=env.get("SLURM_JOB_USER", ""),
        uid=int(env.get("SLURM_JOB_UID", "-1")),
        gid=int(env.get("SLURM_JOB_GID", "-1")),
        name=shown.get("JobName", ""),
        queue=env.get("SLURM_JOB_PARTITION", ""),
        account=account,
        requests=requests,
        comment=env.get("SLURM_JOB_COMMENT", ""),
        host=env.get("SLURMD_NODENAME", ""),
        output_dir=_output_dir(env, shown),
        error_file=stderr if stderr.startswith("/") else "",
        exit_status=env.get("SLURM_JOB_EXIT_CODE2", ""),
    )


def alive(job: BatchJob) -> bool | None:
    """Whether Slurm still runs the job: False only when it says so, None when unsure."""
    state = _state(job.id)
    if state is None:
        return None
    return state in _LIVE if state else False


def _state(job_id: str, timeout: float | None = None) -> str | None:
    """The job's squeue state: "" when Slurm knows no such job, None when unsure (also
    when squeue takes longer than `timeout`, default TIMEOUT)."""
    try:
        argv = ["squeue", "-h", "-j", job_id, "-o", "%T"]
        wait = TIMEOUT if timeout is None else timeout
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=wait, check=False)
    except (OSError, subprocess.TimeoutExpired, ValueError):  # ValueError: not UTF-8
        return None
    if proc.returncode != 0:
        return "" if "Invalid job id" in proc.stderr else None
    return proc.stdout.strip()


def set_comment(verdict: JobVerdict) -> str:
    """Put the verdict's summary in the job's comment; "" or why it could not."""
    job_id, text = verdict.job.id, verdict.summary()
    problem = run_quiet(["scontrol", "update", f"JobId={job_id}", f"Comment={text}"])
    if problem and shutil.which("sacctmgr"):
        problem = run_quiet(
            ["sacctmgr", "-i", "modify", "job", "where", f"JobID={job_id}", "set", f"Comment={text}"]
        )
    return f"job comment not set: {problem}" if problem else ""


def _cancel(job_id: str, message: str) -> None:
    """Cancel the refused job and return only once the controller shows it cancelled:
    slurmd launches the job when the prolog returns unless the controller's kill (which
    revokes the job's credential) came first, and under load it came late enough that a
    refused job ran (a CI run of session 37). Bounded: the prolog must go on, so after
    scancel it waits at most TIMEOUT (an squeue still running is cut off then), then
    _KILL_GRACE."""
    run_quiet(["scontrol", "update", f"JobId={job_id}", f"Comment={message[:200]}"])
    run_quiet(["scancel", job_id])
    deadline = time.monotonic() + TIMEOUT
    while (left := deadline - time.monotonic()) > 0 and _state(job_id, left) in _NOT_CANCELLED:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    time.sleep(_KILL_GRACE)  # the kill travels from the controller to this slurmd after it


def prolog(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> int:
    """The Prolog's work; always 0 (a failing prolog drains the node)."""
    env = os.environ if env is None else env
    try:
        job = job_from_env(env, granted=True)
    except Exception as err:  # noqa: BLE001 - a job vmguard cannot read may have asked for a pool
        if not (job_id := env.get("SLURM_JOB_ID", "")):  # no job to cancel
            print(f"vmguard: slurm prolog: {shown(str(err))}")
            return 0
        unread = BatchJob(runner="slurm", id=job_id, user=env.get("SLURM_JOB_USER", ""), uid=0, gid=0)
        _cancel(job_id, refuse_unread(unread, err, config_path))  # logged; no error file read
        return 0
    if refusal := start_of_job(job, config_path, alive):
        _cancel(job.id, refusal)
    return 0


def epilog(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> int:
    """The Epilog's work; always 0 (a failing epilog drains the node)."""
    env = os.environ if env is None else env
    try:
        job = job_from_env(env)
    except (InputError, ValueError) as err:
        print(f"vmguard: slurm epilog: {shown(err)}")
        return 0
    return end_of_job(job, config_path, set_comment)
