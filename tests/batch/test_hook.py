"""The shared end-of-job hook, driven directly: what must never block a node."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.batch.site import HARMLESS, SCRIPTS, VMGUARD, Site, make_site
from vmguard.batch.config import load_batch_config
from vmguard.batch.hook import end_of_job
from vmguard.batch.job import BatchJob
from vmguard.batch.userfile import write_as_user
from vmguard.batch.vetting import vet_job
from vmguard.errors import InputError, VmguardError


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    site = make_site()
    monkeypatch.setenv("VMGUARD_LOG", str(site.log))
    yield site
    site.remove()


def job(site: Site, name: str, **changes: object) -> BatchJob:
    fields = {
        "runner": "test",
        "id": "7",
        "user": site.user.pw_name,
        "uid": site.user.pw_uid,
        "gid": site.user.pw_gid,
        "name": name,
        "output_dir": str(site.work),
    }
    return BatchJob(**{**fields, **changes})


def write_harmless(site: Site, vm: str) -> None:
    share = site.make_vm_share(vm)
    subprocess.run(["sh", "-c", HARMLESS.format(q=share)], check=True, timeout=10)


def test_time_limit_stops_the_vet_and_leaves_quarantine(site: Site) -> None:
    write_harmless(site, "vmgjob-slow")
    config = load_batch_config(site.config)
    slow = replace(config, time_limit=0.05)
    verdict = vet_job(job(site, "vmgjob-slow"), slow)
    assert verdict.outcome == "failed" and "did not finish within" in verdict.message
    assert (site.quarantine("vmgjob-slow") / "result.txt").exists()
    assert not site.public("7").exists()


def test_a_job_of_no_vm_is_skipped(site: Site) -> None:
    assert vet_job(job(site, "analysis"), load_batch_config(site.config)).outcome == "skipped"


@pytest.mark.parametrize("name", ["vmgjob-/../../etc", "vmgjob-a b", "../vmgjob-x", ".hidden"])
def test_a_job_name_cannot_steer_paths(site: Site, name: str) -> None:
    """The job name is the user's: "vmgjob-*" would match "vmgjob-/../../etc" as a glob."""
    verdict = vet_job(job(site, name), load_batch_config(site.config))
    assert verdict.outcome == "failed" and "not a plain name" in verdict.message


def test_unsafe_job_field_in_template_is_refused() -> None:
    with pytest.raises(InputError, match="not a plain name"):
        BatchJob("slurm", "1", "../root", 0, 0).expand("/public/{user}/{job}")


def test_broken_settings_never_fail_the_hook(site: Site) -> None:
    site.config.write_text("inventory: [unclosed\n")
    assert end_of_job(job(site, "vmgjob-x"), site.config) == 0
    event = json.loads(site.log.read_text().splitlines()[-1])
    assert event["data"]["outcome"] == "failed" and "batch.yaml:" in event["data"]["message"]


def test_settings_problems_are_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text("public: /x/{nope}\ntime_limit: -1\ncolour: red\n")
    with pytest.raises(InputError) as err:
        load_batch_config(path)
    lines = sorted(str(p).removeprefix(f"{path}:") for p in err.value.problems)
    assert lines[0].startswith("1:1: inventory: is required")
    assert lines[1].startswith("1:1: public: unknown field {nope}")
    assert lines[2].startswith("2:1: time_limit: must be a positive")
    assert lines[3].startswith("3:1: colour: unknown setting")


def test_verdict_file_never_follows_a_planted_symlink(site: Site) -> None:
    victim = site.root / "victim"
    victim.write_text("root's file\n")
    (site.work / "vmguard-7.verdict").symlink_to(victim)
    with pytest.raises(VmguardError):
        write_as_user(site.user.pw_uid, site.user.pw_gid, site.work / "vmguard-7.verdict", "x")
    assert victim.read_text() == "root's file\n"


def test_verdict_file_is_written_with_the_users_rights_only(site: Site) -> None:
    root_only = site.root / "etc"  # root's 0755 folder: the user may not write there
    with pytest.raises(VmguardError):
        write_as_user(site.user.pw_uid, site.user.pw_gid, root_only / "planted", "x")
    assert not (root_only / "planted").exists()


def test_epilog_script_exits_zero_even_when_vmguard_is_missing(site: Site) -> None:
    env = {**site.env(), "VMGUARD": "/nonexistent/vmguard", "SLURM_JOB_ID": "9"}
    proc = subprocess.run(["/bin/sh", str(SCRIPTS / "slurm-epilog")], env=env, timeout=30, check=False)
    assert proc.returncode == 0


def test_revet_of_an_unknown_job_is_bad_input(site: Site) -> None:
    proc = subprocess.run(
        [str(VMGUARD), "batch", "revet", "slurm-404", "--config", str(site.config)],
        env={**os.environ, **site.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "no verdict recorded for job slurm-404" in proc.stderr


@pytest.mark.parametrize("key", ["../../etc/passwd", "slurm-1/../x", ""])
def test_revet_key_cannot_reach_outside_the_state_dir(site: Site, key: str) -> None:
    proc = subprocess.run(
        [str(VMGUARD), "batch", "revet", key, "--config", str(site.config)],
        env={**os.environ, **site.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "is not a job key" in proc.stderr
