"""Real Slurm: jobs write into their VM's quarantine; the Epilog vets it when they end."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.batch import slurm_cluster
from tests.batch.site import HARMLESS, HOSTILE, SCRIPTS, VMGUARD, Site, make_site
from tests.support.require import require_root, require_tools

pytestmark = [pytest.mark.root, pytest.mark.slow]


@dataclass(frozen=True)
class Ran:
    site: Site
    slurm: slurm_cluster.Slurm
    good: str  # job ids
    bad: str
    plain: str  # a job of no VM


def _epilog(site: Site) -> Path:
    """slurm.conf's Epilog: the shipped script, told where this site's settings are."""
    path = site.root / "epilog"
    exports = "\n".join(f"export {k}='{v}'" for k, v in site.env().items())
    path.write_text(f"#!/bin/sh\n{exports}\nexec {SCRIPTS / 'slurm-epilog'}\n")
    path.chmod(0o755)
    return path


def _submit(site: Site, slurm: slurm_cluster.Slurm, vm: str, script: str) -> str:
    share = site.make_vm_share(vm)
    return slurm.sbatch(
        f"--uid={site.user.pw_name}",
        f"--job-name={vm}",
        f"--chdir={site.work}",
        f"--output={site.work}/{vm}-%j.out",
        "--wrap",
        script.format(q=share),
    )


def _await_end(site: Site, slurm: slurm_cluster.Slurm, jobs: tuple[str, ...]) -> None:
    """Until every job has left the queue and the node is idle again (epilogs done)."""

    def done() -> bool:
        queued = slurm.run("squeue", "-h", "-j", ",".join(jobs), check=False).stdout
        return not queued.strip() and slurm.node_state() == "idle"

    try:
        slurm_cluster.wait_for(done, 90, "the jobs and their epilogs to finish")
    except TimeoutError as err:
        raise TimeoutError(f"{err}\n{slurm.log_tail()}") from None


@pytest.fixture(scope="module")
def ran() -> Iterator[Ran]:
    require_root()
    require_tools("slurmctld", "slurmd", "munged", "mungekey", "sbatch")
    site = make_site()
    slurm = slurm_cluster.start(site.root / "slurm", _epilog(site))
    try:
        good = _submit(site, slurm, "vmgjob-good", HARMLESS)
        bad = _submit(site, slurm, "vmgjob-bad", HOSTILE)
        plain = slurm.sbatch(
            f"--uid={site.user.pw_name}",
            "--job-name=analysis",
            f"--chdir={site.work}",
            f"--output={site.work}/analysis-%j.out",
            "--wrap",
            "echo not a VM job",
        )
        _await_end(site, slurm, (good, bad, plain))
        yield Ran(site, slurm, good, bad, plain)
    finally:
        slurm.stop()
        site.remove()


def manifest_paths(record: dict) -> set[str]:
    """What the vet's manifest (named in the verdict record) says it promoted."""
    manifest = json.loads(Path(record["manifest"]).read_text())
    return {e["path"] for e in manifest["entries"] if e["verdict"] == "accepted"}


def rejected_reasons(record: dict) -> dict[str, str]:
    return {r["path"]: r["reason"] for r in record["rejected"]}


def _record(ran: Ran, job: str) -> dict:
    return json.loads((ran.site.state / f"slurm-{job}.json").read_text())


def test_harmless_output_is_public_with_its_manifest(ran: Ran) -> None:
    public = ran.site.public(ran.good)
    assert (public / "result.txt").read_text() == "energy 13.6 eV\n"
    assert (public / "summary.json").exists()
    record = _record(ran, ran.good)
    assert record["outcome"] == "promoted" and record["promoted"] == 2
    assert manifest_paths(record) == {"result.txt", "summary.json"}


def test_hostile_output_stays_out_of_public(ran: Ran) -> None:
    public = ran.site.public(ran.bad)
    leaked = sorted(p.name for p in public.rglob("*")) if public.exists() else []
    assert not {"notes.txt", "passwd.txt", "readme.txt"} & set(leaked), leaked
    record = _record(ran, ran.bad)
    assert record["outcome"] == "rejected"
    reasons = rejected_reasons(record)
    assert sorted(reasons) == ["notes.txt", "passwd.txt"]
    assert reasons["notes.txt"].startswith("executable-content")  # by content: mode is 644
    assert reasons["passwd.txt"].startswith("symlink")
    # rejected files stay in the quarantine for admins to look at
    assert (ran.site.quarantine("vmgjob-bad") / "notes.txt").exists()


def test_verdicts_are_beside_the_job_output_owned_by_the_user(ran: Ran) -> None:
    for job, word in ((ran.good, "promoted"), (ran.bad, "rejected")):
        verdict = ran.site.work / f"vmguard-{job}.verdict"
        assert word in verdict.read_text()
        assert verdict.stat().st_uid == ran.site.user.pw_uid  # written as the user, not root
    bad_text = (ran.site.work / f"vmguard-{ran.bad}.verdict").read_text()
    assert "notes.txt" in bad_text and f"vmguard batch revet slurm-{ran.bad}" in bad_text


def test_a_job_of_no_vm_leaves_no_trace(ran: Ran) -> None:
    assert (ran.site.work / f"analysis-{ran.plain}.out").read_text() == "not a VM job\n"
    assert not (ran.site.state / f"slurm-{ran.plain}.json").exists()
    assert not (ran.site.work / f"vmguard-{ran.plain}.verdict").exists()


def test_rejection_is_in_the_log_and_the_node_stays_up(ran: Ran) -> None:
    events = [json.loads(line) for line in ran.site.log.read_text().splitlines()]
    vets = {e["data"]["job"]: e["data"] for e in events if e["kind"] == "batch-vet"}
    assert vets[f"slurm-{ran.bad}"]["outcome"] == "rejected"
    assert vets[f"slurm-{ran.good}"]["outcome"] == "promoted"
    assert ran.slurm.node_state() == "idle"  # not drained


def test_finished_job_comment_refusal_is_a_warning_not_a_failure(ran: Ran) -> None:
    """Slurm refuses a finished job's comment, and sacctmgr needs slurmdbd: noted only."""
    for job in (ran.good, ran.bad):
        assert _record(ran, job)["warnings"] == [
            "job comment not set: sacctmgr: Only 'accounting_storage/slurmdbd' is supported."
        ]


def _vmguard(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VMGUARD), *args, "--config", str(site.config)],
        env={**os.environ, **site.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_admins_list_the_rejected_job(ran: Ran) -> None:
    out = _vmguard(ran.site, "batch", "pending").stdout
    assert f"slurm-{ran.bad}" in out and f"slurm-{ran.good}" not in out


def test_resubmitting_the_vet_after_a_fix_is_one_command(ran: Ran) -> None:
    share = ran.site.quarantine("vmgjob-bad")
    (share / "notes.txt").unlink()
    (share / "passwd.txt").unlink()
    proc = _vmguard(ran.site, "batch", "revet", f"slurm-{ran.bad}")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert (ran.site.public(ran.bad) / "readme.txt").read_text() == "fine\n"
    assert _record(ran, ran.bad)["outcome"] == "promoted"
    assert "promoted" in (ran.site.work / f"vmguard-{ran.bad}.verdict").read_text()
