"""Real Slurm (munged, slurmctld, slurmd), vmguard installed and hooked in by docs/batch.md's
lines (prefix swapped), two unprivileged users: jobs get VMs from the prolog, the epilog
vets exactly their output.

One cluster for the whole module: every job is submitted up front, then the tests look
at what the hooks left.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.batch import slurm_cluster
from tests.batch.site import HARMLESS, POOLS, REPO, Site, make_site
from tests.support.require import require_root, require_tools
from tests.support.wheelhouse import Wheelhouse
from vmguard.batch.hook import start_of_job
from vmguard.batch.job import BatchJob

pytestmark = [pytest.mark.root, pytest.mark.slow]
DOC = REPO / "docs/batch.md"
Q = "Q=$(cut -f2 {state}/assigned/slurm-$SLURM_JOB_ID); "  # the job finds its quarantine
CRASHED = "99999"  # a job Slurm does not know: it ended, its epilog never ran


def doc_lines(site: Site) -> str:
    """docs/batch.md's slurm.conf lines, with this site's prefix and one license per VM."""
    block = re.search(r"### Slurm: slurm.conf\n\n```conf\n(.*?)```", DOC.read_text(), re.S).group(1)
    licenses = ",".join(f"vmpool-{name}:{len(pool['vms'])}" for name, pool in POOLS.items())
    block = re.sub(r"^Licenses=.*$", f"Licenses={licenses}", block, flags=re.M)
    return block.replace("/opt/vmguard", str(site.prefix)).strip()


@dataclass(frozen=True)
class Ran:
    site: Site
    slurm: slurm_cluster.Slurm
    jobs: dict[str, str]  # label -> Slurm job id

    def record(self, label: str) -> dict:
        return json.loads((self.site.state / f"slurm-{self.jobs[label]}.json").read_text())

    def public(self, label: str, user: int = 0) -> Path:
        return self.site.public(self.jobs[label], self.site.users[user])

    def out(self, label: str, user: int = 0) -> str:
        path = self.site.work(self.site.users[user]) / f"{self.jobs[label]}.out"
        return path.read_text() if path.exists() else ""


def _submit(site: Site, cluster: slurm_cluster.Slurm, user: int, script: str, *opts: str) -> str:
    who = site.users[user]
    return cluster.sbatch(
        f"--uid={who.pw_uid}",
        f"--gid={who.pw_gid}",
        f"--chdir={site.work(who)}",
        f"--output={site.work(who)}/%j.out",
        *opts,
        "--wrap",
        script,
    )


def _crash_a_holder(site: Site) -> None:
    """A job that held the solo VM, wrote, and ended with no epilog (node crash)."""
    user = site.users[0]
    lost = BatchJob(
        runner="slurm", id=CRASHED, user=user.pw_name, uid=user.pw_uid, gid=user.pw_gid, requests=("solo",)
    )
    assert start_of_job(lost, site.config, lambda _: True) == ""
    (site.quarantine("vmgjob-s1") / "unvetted.txt").write_text("from the crashed job\n")


def _until_exists(path: Path) -> str:
    """A job's wait (up to a minute) for B's prolog to have made `path`: a fixed sleep
    lost the race under load, and the attack then met no folder instead of a shut one."""
    return f"for i in $(seq 600); do [ -d {path} ] && break; sleep 0.1; done; "


def _submit_all(site: Site, cluster: slurm_cluster.Slurm) -> dict[str, str]:
    q = Q.format(state=site.state)
    stamp = "date +%s.%N > {w}/$SLURM_JOB_ID.{k}; "
    jobs = {
        "a_mc": _submit(
            site,
            cluster,
            0,
            q
            + stamp.format(w=site.work(), k="start")
            + HARMLESS.format(q="$Q")
            + "; sleep 4; "
            + stamp.format(w=site.work(), k="end"),
            "-L",
            "vmpool-mc",
        ),
        "b_bee": _submit(
            site,
            cluster,
            1,
            q
            + stamp.format(w=site.work(site.users[1]), k="start")
            + "echo 'B secret' > $Q/bee.txt; sleep 5; "
            + stamp.format(w=site.work(site.users[1]), k="end"),
            "-L",
            "vmpool-bee",
        ),
    }
    bee = site.quarantine("vmgjob-b1")
    fake = "x Account=gleam Licenses=vmpool-bee Features=vmpool-bee"  # later fields of scontrol -o
    jobs["a_attack"] = _submit(  # A's job named after B's VM, faking B's pool in name and comment
        site,
        cluster,
        0,
        q + _until_exists(bee) + f"cp {bee}/bee.txt $Q/ ; ln {bee}/bee.txt $Q/hard.txt ; "
        f"ln -s {bee}/bee.txt $Q/bee-link.txt; ls {bee} ; true",
        "-L",
        "vmpool-mc",
        f"--job-name=vmgjob-b1 {fake}",
        f"--comment={fake}",
        "--export=ALL,VMGUARD_BATCH_CONFIG=/nonexistent,VMGUARD_VM=vmgjob-b1",
    )
    jobs["a_not_allowed"] = _submit(site, cluster, 0, "echo ran > ran.txt", "-L", "vmpool-bee")
    jobs["a_ghost"] = _submit(site, cluster, 0, "echo ran", "-L", "vmpool-ghost")
    jobs["b_plain"] = _submit(site, cluster, 1, "echo not a VM job")
    jobs["b_partition"] = _submit(site, cluster, 1, "echo ran", "-p", "vmg-mc")  # the pool of mc
    _crash_a_holder(site)
    jobs["a_solo"] = _submit(site, cluster, 0, q + "echo solo > $Q/solo.txt; sleep 2", "-L", "vmpool-solo")
    jobs["b_solo_empty"] = _submit(site, cluster, 1, q + "ls $Q", "-L", "vmpool-solo")
    # Before a_cancel, so it gets the next VM of mc. Slurm counts time limits in whole
    # minutes: once the job has written, its end time is moved up (_time_out_when_written).
    jobs["a_timeout"] = _submit(
        site, cluster, 0, q + "echo t > $Q/t.txt; sleep 300", "-L", "vmpool-mc", "--time=0:05"
    )
    jobs["a_cancel"] = _submit(site, cluster, 0, q + "echo c > $Q/c.txt; sleep 300", "-L", "vmpool-mc")
    return jobs


def _written(site: Site, job_id: str, name: str) -> Callable[[], bool]:
    """Whether the job has written `name` into the quarantine its prolog gave it."""

    def written() -> bool:
        note = site.state / f"assigned/slurm-{job_id}"
        return note.exists() and (Path(note.read_text().split("\t")[1].strip()) / name).exists()

    return written


def _cancel_when_written(site: Site, cluster: slurm_cluster.Slurm, job_id: str) -> None:
    slurm_cluster.wait_for(_written(site, job_id, "c.txt"), 90, "the job to be cancelled to write")
    cluster.run("scancel", job_id)


def _time_out_when_written(site: Site, cluster: slurm_cluster.Slurm, job_id: str) -> None:
    """Its time limit (a whole minute, Slurm's least) ends now: slurmctld's own time-limit
    check (every 30 s) then ends it as TIMEOUT, a minute earlier than the limit would."""
    slurm_cluster.wait_for(_written(site, job_id, "t.txt"), 90, "the job to time out to write")
    cluster.run("scontrol", "update", f"JobId={job_id}", "EndTime=now+2")


def _await_end(cluster: slurm_cluster.Slurm, jobs: dict[str, str]) -> None:
    def done() -> bool:
        queued = cluster.run("squeue", "-h", "-j", ",".join(jobs.values()), check=False).stdout
        return not queued.strip() and cluster.node_state() == "idle"

    try:
        slurm_cluster.wait_for(done, 180, "the jobs and their epilogs to finish")
    except TimeoutError as err:
        raise TimeoutError(f"{err}\n{cluster.log_tail()}") from None


@pytest.fixture(scope="module")
def ran(wheelhouse: Wheelhouse) -> Iterator[Ran]:
    require_root()
    require_tools("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "useradd")
    site = make_site(documented=wheelhouse)
    cluster = slurm_cluster.start(site.root / "slurm", doc_lines(site))
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]  # for the crashed holder's check
    try:
        jobs = _submit_all(site, cluster)
        _time_out_when_written(site, cluster, jobs["a_timeout"])
        _cancel_when_written(site, cluster, jobs["a_cancel"])
        _await_end(cluster, jobs)
        yield Ran(site, cluster, jobs)
    finally:
        os.environ.pop("SLURM_CONF") if saved is None else os.environ.update(SLURM_CONF=saved)
        cluster.stop()
        site.remove()


def test_the_hooks_are_the_installed_scripts_of_the_docs(ran: Ran) -> None:
    conf = (ran.site.root / "slurm/slurm.conf").read_text()
    assert f"Prolog={ran.site.hooks}/slurm-prolog" in conf and f"Epilog={ran.site.hooks}/slurm-epilog" in conf
    assert ran.slurm.node_state() == "idle"  # never drained, whatever was refused


def test_two_jobs_on_two_vms_at_once(ran: Ran) -> None:
    (a_start, a_end), (b_start, b_end) = (
        [
            float((ran.site.work(ran.site.users[u]) / f"{ran.jobs[label]}.{k}").read_text())
            for k in ("start", "end")
        ]
        for u, label in ((0, "a_mc"), (1, "b_bee"))
    )
    assert a_start < b_end and b_start < a_end  # they overlapped
    assert ran.record("a_mc")["vm"] != ran.record("b_bee")["vm"]
    assert (ran.public("a_mc") / "result.txt").read_text() == "energy 13.6 eV\n"
    assert (ran.public("b_bee", 1) / "bee.txt").read_text() == "B secret\n"


def test_a_job_named_after_anothers_vm_gets_nothing_of_it(ran: Ran) -> None:
    record = ran.record("a_attack")
    assert record["pool"] == "mc" and record["vm"] in POOLS["mc"]["vms"]
    assert "Permission denied" in ran.out("a_attack")  # B's quarantine is shut to A
    assert record["outcome"] == "rejected" and [r["path"] for r in record["rejected"]] == ["bee-link.txt"]
    everything_of_a = [
        p.read_text() for p in (ran.site.root / "public" / ran.site.user.pw_name).rglob("*") if p.is_file()
    ]
    assert not any("B secret" in text for text in everything_of_a)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("a_not_allowed", "may not use VM pool bee"),
        ("a_ghost", "VM other-vm of pool ghost is not in the inventory"),
        ("b_partition", "user vmgtest-b (groups vmgtest-b; account -) may not use VM pool mc"),
    ],
)
def test_refused_jobs_never_run_and_say_why(ran: Ran, label: str, reason: str) -> None:
    user = 1 if label.startswith("b_") else 0
    out = ran.out(label, user)
    assert reason in out and "refused" in out
    assert "ran" not in out.replace("refused", "")
    assert not (ran.site.work() / "ran.txt").exists()
    assert not (ran.site.state / f"slurm-{ran.jobs[label]}.json").exists()
    assert not ran.public(label, user).exists()


def test_a_job_of_no_pool_is_left_alone(ran: Ran) -> None:
    assert ran.out("b_plain", 1) == "not a VM job\n"
    assert not (ran.site.state / f"slurm-{ran.jobs['b_plain']}.json").exists()


def test_a_crashed_holder_is_held_by_the_next_prolog(ran: Ran) -> None:
    lost = json.loads((ran.site.state / f"slurm-{CRASHED}.json").read_text())
    assert lost["outcome"] == "failed" and "epilog did not run" in lost["message"]
    assert (ran.site.held(f"slurm-{CRASHED}") / "unvetted.txt").exists()
    assert sorted(p.name for p in ran.public("a_solo").iterdir()) == ["solo.txt"]


def test_a_job_asking_for_a_busy_vm_waits_and_publishes_only_its_own(ran: Ran) -> None:
    assert ran.record("b_solo_empty")["vm"] == ran.record("a_solo")["vm"] == "vmgjob-s1"
    assert ran.out("b_solo_empty", 1) == ""  # its quarantine was empty when it ran
    assert ran.record("b_solo_empty")["promoted"] == 0
    assert not ran.public("b_solo_empty", 1).exists()


@pytest.mark.parametrize(
    ("label", "name", "state"), [("a_cancel", "c.txt", "CANCELLED"), ("a_timeout", "t.txt", "TIMEOUT")]
)
def test_cancelled_and_timed_out_jobs_are_vetted_once(ran: Ran, label: str, name: str, state: str) -> None:
    shown = ran.slurm.run("scontrol", "show", "job", ran.jobs[label], check=False).stdout
    assert f"JobState={state}" in shown or not shown  # the controller may have forgotten it
    assert (ran.public(label) / name).exists()
    events = [json.loads(line)["data"] for line in ran.site.log.read_text().splitlines()]
    key = f"slurm-{ran.jobs[label]}"
    assert [e["outcome"] for e in events if e.get("job") == key and "outcome" in e] == ["promoted"]


def test_every_job_was_vetted_at_most_once(ran: Ran) -> None:
    events = [json.loads(line) for line in ran.site.log.read_text().splitlines()]
    vets = [e["data"]["job"] for e in events if e["kind"] == "batch-vet"]
    assert len(vets) == len(set(vets))


def test_admins_list_what_is_held(ran: Ran) -> None:
    out = ran.site.vmguard("batch", "pending", "--config", str(ran.site.config)).stdout
    assert f"slurm-{CRASHED}" in out and f"slurm-{ran.jobs['a_attack']}" in out
    assert f"slurm-{ran.jobs['a_mc']}\t" not in out
