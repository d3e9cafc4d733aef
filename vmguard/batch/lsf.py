"""LSF: PRE_EXEC and POST_EXEC commands (lsb.queues), run before and after each job.

The job's pool is the pool of its queue (one queue per pool: LSF queues are the
admin's; the job name and the environment the user sets are never used). A refused
job gets its reason in its error file (bsub -e, else -o) and the PRE_EXEC exits 1, so
LSF requeues it; the queue's LOCAL_MAX_PREEXEC_RETRY_ACTION=EXIT then ends it. So is
a job vmguard cannot read (no LSB_JOBID or LSB_QUEUE, an LSFUSER unknown on the host):
it may have been meant for a VM pool.
LSF runs them under /bin/sh in /tmp with PATH=/bin:/usr/bin:/sbin:/usr/sbin, output to
/dev/null, as the job's user unless lsf.conf sets LSB_PRE_POST_EXEC_USER=root, which
vmguard needs to promote into the public area. The job is described by LSB_JOBID,
LSB_JOBINDEX, LSB_JOBNAME, LSB_QUEUE, LSB_JOBEXIT_STAT, LSB_OUTPUTFILE (bsub -o),
LS_EXECCWD and the user's name (LSFUSER). A non-zero exit only marks the job
POST_ERR, but the same rule holds as for Slurm: never fail, record the verdict.
The verdict is also posted to the job (`bpost`), where `bread` and `bjobs -l` show it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from vmguard.batch.hook import end_of_job, refuse_unread, start_of_job
from vmguard.batch.job import BatchJob
from vmguard.batch.quiet import TIMEOUT, run_quiet
from vmguard.batch.verdict import JobVerdict
from vmguard.core.display import shown
from vmguard.core.errors import InputError


def _job_id(env: Mapping[str, str]) -> str:
    index = env.get("LSB_JOBINDEX", "0")
    return env["LSB_JOBID"] if index in ("", "0") else f"{env['LSB_JOBID']}_{index}"


def _output_dir(env: Mapping[str, str]) -> str:
    cwd = env.get("LS_EXECCWD", "")
    output = env.get("LSB_OUTPUTFILE", "")
    if not output:
        return cwd
    return str((Path(cwd) / output).parent)  # a relative -o is relative to the job's cwd


def _error_file(env: Mapping[str, str]) -> str:
    name = env.get("LSB_ERRORFILE") or env.get("LSB_OUTPUTFILE", "")
    if not name:
        return ""
    name = name.replace("%J", env.get("LSB_JOBID", "")).replace("%I", env.get("LSB_JOBINDEX", "0"))
    return str(Path(env.get("LS_EXECCWD", "/")) / name)


def _user(env: Mapping[str, str]) -> pwd.struct_passwd:
    """LSFUSER, which LSF sets; never USER, which comes from the user's own environment."""
    name = env.get("LSFUSER", "")
    try:
        return pwd.getpwnam(name)
    except KeyError as err:
        raise InputError(f"LSF job user {name!r} (LSFUSER) is not a user on this host") from err


def job_from_env(env: Mapping[str, str], *, starting: bool = False) -> BatchJob:
    """The job as LSF describes it to PRE_EXEC and POST_EXEC; `starting` (PRE_EXEC): its
    queue must be set too, since the queue decides its pool."""
    if not env.get("LSB_JOBID"):
        raise InputError("LSB_JOBID is not set: run this as an LSF PRE_EXEC or POST_EXEC command")
    if starting and not env.get("LSB_QUEUE"):
        raise InputError(f"LSB_QUEUE is not set for job {_job_id(env)}: its queue decides its pool")
    user = _user(env)
    hosts = env.get("LSB_HOSTS", "").split()
    return BatchJob(
        runner="lsf",
        id=_job_id(env),
        user=user.pw_name,
        uid=user.pw_uid,
        gid=user.pw_gid,
        name=env.get("LSB_JOBNAME", ""),
        queue=env.get("LSB_QUEUE", ""),
        account=env.get("LSB_PROJECT_NAME", ""),
        host=hosts[0] if hosts else "",
        output_dir=_output_dir(env),
        error_file=_error_file(env),
        exit_status=env.get("LSB_JOBEXIT_STAT", ""),
    )


def post_message(verdict: JobVerdict) -> str:
    """Attach the verdict to the job with `bpost`; "" or why it could not."""
    if shutil.which("bpost") is None:
        return "job message not posted: bpost not found"
    job_id, _, index = verdict.job.id.partition("_")  # an array element is "ID[INDEX]"
    job_id = f"{job_id}[{index}]" if index else job_id
    problem = run_quiet(["bpost", "-d", verdict.summary(), job_id])
    return f"job message not posted: {problem}" if problem else ""


def alive(job: BatchJob) -> bool | None:
    """Whether LSF still runs the job (`bjobs`): False only when it says so."""
    job_id, _, index = job.id.partition("_")
    try:
        proc = subprocess.run(
            ["bjobs", "-noheader", "-o", "stat", f"{job_id}[{index}]" if index else job_id],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    state = proc.stdout.strip()
    if "not found" in proc.stdout + proc.stderr:
        return False
    return None if not state else state in ("RUN", "USUSP", "SSUSP")


def _unread(env: Mapping[str, str]) -> BatchJob:
    """What is known of a job job_from_env could not read. Its error file only with its id
    (%J) and an owner on this host, as whom it is written (never as root)."""
    known = bool(env.get("LSB_JOBID"))
    job = BatchJob(runner="lsf", id=_job_id(env) if known else "?", user="", uid=0, gid=0)
    try:
        user = _user(env)
    except InputError:
        return job
    error_file = _error_file(env) if known else ""
    return replace(job, user=user.pw_name, uid=user.pw_uid, gid=user.pw_gid, error_file=error_file)


def pre_exec(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> int:
    """The PRE_EXEC's work: 0 when the job may start (a VM, or no VM job), else 1."""
    env = os.environ if env is None else env
    try:
        job = job_from_env(env, starting=True)
    except (InputError, ValueError) as err:
        # Fail closed, as Slurm's prolog does: an unread job may have been meant for a VM
        # pool. LSF requeues it; the queue's retry limit ends it if it stays unreadable.
        refuse_unread(_unread(env), err, config_path)
        return 1
    return 1 if start_of_job(job, config_path, alive) else 0


def post_exec(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> int:
    """The POST_EXEC's work; always 0."""
    env = os.environ if env is None else env
    try:
        job = job_from_env(env)
    except InputError as err:
        print(f"vmguard: lsf post-exec: {shown(err)}")
        return 0
    return end_of_job(job, config_path, post_message)
