"""Jobs driven through the Python hooks, as a runner would: start, write as the user, end."""

from __future__ import annotations

import pwd
import subprocess
from dataclasses import replace
from pathlib import Path

from tests.batch.site import Site
from vmguard.batch.hook import end_of_job, start_of_job
from vmguard.batch.job import BatchJob


def job(site: Site, job_id: str, user: pwd.struct_passwd | None = None, **changes: object) -> BatchJob:
    user = user or site.user
    fields = {
        "runner": "test",
        "id": job_id,
        "user": user.pw_name,
        "uid": user.pw_uid,
        "gid": user.pw_gid,
        "output_dir": str(site.work(user)),
        "error_file": str(site.work(user) / f"{job_id}.err"),
    }
    return BatchJob(**{**fields, **changes})


def as_user(user: pwd.struct_passwd, script: str) -> subprocess.CompletedProcess[str]:
    """What the job does, with the user's rights only."""
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def start(site: Site, the_job: BatchJob, alive: bool | None = True) -> str:
    return start_of_job(the_job, site.config, lambda _: alive)


def quarantine_of(site: Site, the_job: BatchJob) -> Path:
    return Path(site.assigned(the_job.key).read_text().split("\t")[1].strip())


def run(site: Site, the_job: BatchJob, script: str) -> BatchJob:
    """A whole job: start, the script ({q}: its quarantine) as the user, end."""
    assert start(site, the_job) == ""
    proc = as_user(pwd.getpwuid(the_job.uid), script.format(q=quarantine_of(site, the_job)))
    assert proc.returncode == 0, proc.stderr
    assert end_of_job(the_job, site.config) == 0
    return the_job


def asking(the_job: BatchJob, pool: str) -> BatchJob:
    return replace(the_job, requests=(pool,))
