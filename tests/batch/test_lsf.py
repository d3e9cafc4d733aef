"""LSF PRE_EXEC and POST_EXEC, run as LSF runs them: the installed scripts, /tmp as cwd,
the LSB_* environment LSF 10.1 documents (recorded in fixtures/; there is no LSF here)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch.jobs import as_user
from tests.batch.site import HARMLESS, HOSTILE, Site, module_site
from vmguard.core.errors import InputError

pytestmark = pytest.mark.root
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    yield from module_site("setpriv")


def recorded_env(site: Site, job_id: str, user: pwd.struct_passwd, **changes: str) -> dict[str, str]:
    env = {}
    for line in (FIXTURES / "lsf-harmless.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value.replace("{work}", str(site.work(user))).replace("{user}", user.pw_name)
    env.update(
        LSB_JOBID=job_id,
        PATH=f"{FIXTURES}/bin:{env['PATH']}",
        VMGTEST_LSF_RUNNING=str(site.root / "lsf-running"),
        **changes,
    )
    with open(site.root / "lsf-running", "a") as running:  # what bjobs says runs
        running.write(f"{job_id}\n")
    return env


def ended(site: Site, job_id: str) -> None:
    path = site.root / "lsf-running"
    path.write_text("".join(f"{j}\n" for j in path.read_text().split() if j != job_id))


def hook(site: Site, name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(site.hooks / name)],
        env=env,
        cwd="/tmp",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def quarantine(site: Site, job_id: str) -> Path:
    return Path((site.state / f"assigned/lsf-{job_id}").read_text().split("\t")[1].strip())


def record(site: Site, job_id: str) -> dict:
    return json.loads((site.state / f"lsf-{job_id}.json").read_text())


def lsf_job(site: Site, job_id: str, script: str, user: int = 0, **changes: str) -> dict[str, str]:
    """PRE_EXEC, the job as its user, POST_EXEC; returns the job's environment."""
    who = site.users[user]
    env = recorded_env(site, job_id, who, **changes)
    assert hook(site, "lsf-pre-exec", env).returncode == 0
    assert as_user(who, script.format(q=quarantine(site, job_id))).returncode == 0
    assert hook(site, "lsf-post-exec", env).returncode == 0
    return env


def test_a_job_gets_a_vm_of_its_queues_pool_and_publishes_once(site: Site) -> None:
    lsf_job(site, "81723", HARMLESS)
    assert (site.public("81723") / "result.txt").read_text() == "energy 13.6 eV\n"
    assert record(site, "81723")["pool"] == "mc"
    assert "promoted" in (site.work() / "vmguard-81723.verdict").read_text()
    lsf_job(site, "81725", "true")  # the next job on that pool writes nothing
    assert record(site, "81725")["promoted"] == 0 and not site.public("81725").exists()


def test_a_job_named_after_anothers_vm_is_vetted_as_its_own(site: Site) -> None:
    lsf_job(site, "81724", HOSTILE, LSB_JOBNAME="vmgjob-b1", LSB_JOBEXIT_STAT="256")
    rec = record(site, "81724")
    assert rec["vm"] in ("vmgjob-a1", "vmgjob-a2") and rec["outcome"] == "rejected"
    assert sorted(r["path"] for r in rec["rejected"]) == ["notes.txt", "passwd.txt"]
    assert not site.public("81724").exists()


def test_a_user_not_allowed_is_refused_with_the_reason_in_the_error_file(site: Site) -> None:
    env = recorded_env(site, "81730", site.users[1])
    proc = hook(site, "lsf-pre-exec", env)
    assert proc.returncode == 1  # LSF requeues the job; the queue's retry limit ends it
    err = site.work(site.users[1]) / "lsfgood.81730.err"
    assert "may not use VM pool mc" in err.read_text()
    assert not (site.state / "assigned/lsf-81730").exists()


@pytest.mark.parametrize(
    ("job_id", "unread", "reason", "error_file"),
    [
        ("81731", {"LSFUSER": "no-such-user-vmg"}, "not a user on this host", False),  # root never writes it
        ("81732", {"LSB_QUEUE": None}, "LSB_QUEUE is not set", True),
        ("81733", {"LSB_JOBID": None}, "LSB_JOBID is not set", False),  # its name has %J
    ],
)
def test_a_job_vmguard_cannot_read_does_not_start(
    site: Site, job_id: str, unread: dict, reason: str, error_file: bool
) -> None:
    """Fail closed like Slurm's prolog: a job in a VM queue whose variables cannot be read
    may have been meant for a VM pool (session 38; the PRE_EXEC said 0, the job ran)."""
    env = recorded_env(site, job_id, site.user)
    env = {k: v for k, v in {**env, **unread}.items() if v is not None}
    assert hook(site, "lsf-pre-exec", env).returncode == 1  # LSF requeues; the retry limit ends it
    assert not list((site.state / "assigned").glob(f"lsf-{job_id}*"))
    err = site.work() / f"lsfgood.{job_id}.err"
    assert err.exists() == error_file
    if error_file:
        assert "could not read the job (retry it)" in err.read_text() and reason in err.read_text()
        assert err.stat().st_uid == site.user.pw_uid  # written as the job's user
    events = [json.loads(line) for line in site.log.read_text().splitlines()]
    assert any(e["kind"] == "batch-refuse" and reason in e["data"]["message"] for e in events)


def test_two_jobs_at_once_then_a_third_finds_no_vm(site: Site) -> None:
    envs = [recorded_env(site, j, site.user) for j in ("81740", "81741", "81742")]
    assert hook(site, "lsf-pre-exec", envs[0]).returncode == 0
    assert hook(site, "lsf-pre-exec", envs[1]).returncode == 0
    assert quarantine(site, "81740") != quarantine(site, "81741")
    env = {**envs[2], "PATH": "/bin:/usr/bin"}  # no bjobs: LSF cannot be asked, so busy
    assert hook(site, "lsf-pre-exec", env).returncode == 1
    assert "no free VM in pool mc" in (site.work() / "lsfgood.81742.err").read_text()
    for job_id, env in (("81740", envs[0]), ("81741", envs[1])):
        as_user(site.user, f"echo {job_id} > {quarantine(site, job_id)}/{job_id}.txt")
        hook(site, "lsf-post-exec", env)
        assert sorted(p.name for p in site.public(job_id).iterdir()) == [f"{job_id}.txt"]


def test_a_killed_job_is_vetted_once_and_a_lost_one_held(site: Site) -> None:
    env = lsf_job(site, "81750", "echo k > {q}/k.txt", LSB_JOBEXIT_STAT="33280")  # bkill
    hook(site, "lsf-post-exec", env)  # POST_EXEC again (LSF retried it): nothing more
    events = [json.loads(line)["data"] for line in site.log.read_text().splitlines()]
    assert [e["outcome"] for e in events if e.get("job") == "lsf-81750" and "outcome" in e] == ["promoted"]
    lost = recorded_env(site, "81751", site.user)
    assert hook(site, "lsf-pre-exec", lost).returncode == 0
    as_user(site.user, f"echo lost > {quarantine(site, '81751')}/lost.txt")
    ended(site, "81751")
    # the host crashed: no POST_EXEC. The next jobs take the pool's VMs; bjobs: not found
    for job_id in ("81752", "81753"):
        assert hook(site, "lsf-pre-exec", recorded_env(site, job_id, site.user)).returncode == 0
    assert "epilog did not run" in record(site, "81751")["message"]
    assert not site.public("81752").exists() and not site.public("81753").exists()


def test_missing_job_id_is_logged_not_fatal(site: Site) -> None:
    proc = subprocess.run(
        [str(site.hooks / "lsf-post-exec")],
        env={"PATH": "/bin:/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "LSB_JOBID is not set" in (site.root / "log/hooks.log").read_text()


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
    assert job.error_file == "/scratch/alice/run/out/500.log"


def test_unknown_user_is_bad_input() -> None:
    from vmguard.batch.lsf import job_from_env

    with pytest.raises(InputError, match="not a user on this host"):
        job_from_env({"LSB_JOBID": "1", "LSFUSER": "no-such-user-vmg"})


def test_pre_exec_exit_codes(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """vmguard's PRE_EXEC says 1 for a refused job (LSF requeues, then ends it), else 0."""
    from vmguard.batch.lsf import pre_exec

    monkeypatch.setenv("VMGUARD_LOG", str(site.log))
    refused = recorded_env(site, "81760", site.users[1])
    assert pre_exec(site.config, refused) == 1
    plain = recorded_env(site, "81761", site.users[1], LSB_QUEUE="normal")  # no pool: no VM job
    assert pre_exec(site.config, plain) == 0
    assert os.path.exists(site.work(site.users[1]) / "lsfgood.81760.err")
