"""LSF POST_EXEC, run as LSF runs it: the shipped script, /tmp as cwd, a job's LSB_* env."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.batch.site import HARMLESS, HOSTILE, SCRIPTS, Site, make_site
from tests.batch.test_slurm import manifest_paths, rejected_reasons
from tests.support.require import require_root, require_tools
from vmguard.errors import InputError

pytestmark = pytest.mark.root
FIXTURES = Path(__file__).parent / "fixtures"


def recorded_env(name: str, site: Site) -> dict[str, str]:
    env = {}
    for line in (FIXTURES / name).read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value.replace("{root}", str(site.root)).replace("{user}", site.user.pw_name)
    return env


def run_job_as_user(site: Site, vm: str, script: str) -> None:
    """What the job did inside its VM: write into the VM's output share, as the user."""
    share = site.make_vm_share(vm)
    subprocess.run(
        [
            "setpriv",
            f"--reuid={site.user.pw_uid}",
            f"--regid={site.user.pw_gid}",
            "--clear-groups",
            "sh",
            "-c",
            script.format(q=share),
        ],
        check=True,
        timeout=30,
    )


def post_exec(site: Site, env_file: str) -> subprocess.CompletedProcess[str]:
    env = {**recorded_env(env_file, site), **site.env()}
    return subprocess.run(
        ["/bin/sh", "-c", str(SCRIPTS / "lsf-post-exec")],
        env=env,
        cwd="/tmp",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Ran:
    site: Site
    good: subprocess.CompletedProcess[str]
    bad: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def ran() -> Iterator[Ran]:
    require_root()
    require_tools("setpriv")
    site = make_site()
    try:
        run_job_as_user(site, "vmgjob-lsfgood", HARMLESS)
        run_job_as_user(site, "vmgjob-lsfbad", HOSTILE)
        yield Ran(site, post_exec(site, "lsf-harmless.env"), post_exec(site, "lsf-hostile.env"))
    finally:
        site.remove()


def _record(site: Site, job: str) -> dict:
    return json.loads((site.state / f"lsf-{job}.json").read_text())


def test_post_exec_always_exits_zero(ran: Ran) -> None:
    assert ran.good.returncode == 0 and ran.bad.returncode == 0


def test_harmless_job_is_promoted_with_manifest(ran: Ran) -> None:
    public = ran.site.public("81723")
    assert (public / "result.txt").read_text() == "energy 13.6 eV\n"
    record = _record(ran.site, "81723")
    assert record["outcome"] == "promoted"
    assert manifest_paths(record) == {"result.txt", "summary.json"}


def test_hostile_job_is_rejected_and_kept_out(ran: Ran) -> None:
    public = ran.site.public("81724")
    assert not public.exists() or not any(public.rglob("*.txt"))
    record = _record(ran.site, "81724")
    assert record["outcome"] == "rejected"
    assert record["job"]["exit_status"] == "256"
    reasons = rejected_reasons(record)
    assert sorted(reasons) == ["notes.txt", "passwd.txt"]
    assert reasons["notes.txt"].startswith("executable-content")  # by content: mode is 644
    assert reasons["passwd.txt"].startswith("symlink")


def test_verdicts_beside_output_and_bpost_absence_noted(ran: Ran) -> None:
    for job, word in (("81723", "promoted"), ("81724", "rejected")):
        assert word in (ran.site.work / f"vmguard-{job}.verdict").read_text()
        warnings = _record(ran.site, job)["warnings"]
        assert warnings == ["job message not posted: bpost not found"]


def test_missing_job_id_is_logged_not_fatal(ran: Ran) -> None:
    env = {**ran.site.env(), "PATH": "/bin:/usr/bin"}
    proc = subprocess.run(
        ["/bin/sh", "-c", str(SCRIPTS / "lsf-post-exec")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "LSB_JOBID is not set" in (ran.site.root / "log/hook.log").read_text()


def test_array_element_and_relative_output_file() -> None:
    from vmguard.batch.lsf import job_from_env

    job = job_from_env(
        {
            "LSB_JOBID": "500",
            "LSB_JOBINDEX": "3",
            "LSFUSER": "nobody",
            "LS_EXECCWD": "/scratch/alice/run",
            "LSB_OUTPUTFILE": "out/%J.log",
            "LSB_JOBNAME": "vmgjob-arr[1-10]",
        }
    )
    assert job.key == "lsf-500_3"
    assert job.output_dir == "/scratch/alice/run/out"
    with pytest.raises(InputError, match="not a plain name"):
        job.expand("{name}")  # "vmgjob-arr[1-10]" cannot name a VM


def test_unknown_user_is_bad_input() -> None:
    from vmguard.batch.lsf import job_from_env

    with pytest.raises(InputError, match="not a user on this host"):
        job_from_env({"LSB_JOBID": "1", "LSFUSER": "no-such-user-vmg"})
