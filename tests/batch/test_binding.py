"""Job -> VM -> output, decided by root's hooks only: assignment, refusal, exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.batch.jobs import as_user, asking, job, quarantine_of, run, start
from tests.batch.site import HARMLESS, Site, module_site
from vmguard.batch.config import load_batch_config
from vmguard.batch.hook import end_of_job, start_of_job
from vmguard.batch.records import pending, prune
from vmguard.batch.state import State
from vmguard.core.errors import InputError

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("site_log")]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    yield from module_site("setpriv", "useradd")


def published(site: Site) -> dict[str, str]:
    """Every published file, by path under public/, with its text."""
    root = site.root / "public"
    return {
        str(p.relative_to(root)): p.read_text()
        for p in root.rglob("*")
        if p.is_file()
        and "/." not in str(p.relative_to(root))
        and not p.name.startswith(tuple(f"{d.name}." for d in p.parent.iterdir() if d.is_dir()))
    }


def record(site: Site, key: str) -> dict:
    return json.loads((site.state / f"{key}.json").read_text())


def test_a_job_gets_a_vm_of_its_pool_and_publishes_once(site: Site) -> None:
    first = run(site, asking(job(site, "101"), "mc"), HARMLESS)
    assert record(site, first.key)["outcome"] == "promoted"
    assert (site.public("101") / "result.txt").read_text() == "energy 13.6 eV\n"
    # nothing of it stays where a later job on that VM could publish it again
    assert not any(site.quarantine(record(site, first.key)["vm"]).iterdir())
    assert not site.held(first.key).exists() and not site.assigned(first.key).exists()
    later = run(site, asking(job(site, "102"), "mc"), "true")  # writes nothing
    assert record(site, later.key)["promoted"] == 0
    assert not site.public("102").exists()


@pytest.mark.parametrize(
    ("pool", "user", "reason"),
    [
        ("nosuch", 0, "unknown VM pool 'nosuch' (pools here: bee, ghost, mc, solo)"),
        ("bee", 0, "user vmgtest-a (groups vmgtest-a; account -) may not use VM pool bee"),
        ("ghost", 1, "VM other-vm of pool ghost is not in the inventory"),
    ],
)
def test_refused_at_start_with_the_reason_in_the_jobs_error_output(
    site: Site, pool: str, user: int, reason: str
) -> None:
    refused = asking(job(site, f"2{user}{pool}", site.users[user]), pool)
    message = start(site, refused)
    assert reason in message
    err = Path(refused.error_file)
    assert reason in err.read_text() and err.stat().st_uid == site.users[user].pw_uid
    assert not site.assigned(refused.key).exists()
    end_of_job(refused, site.config)
    assert not (site.state / f"{refused.key}.json").exists()  # nothing vetted, nothing published


def _with_accounts(site: Site, enforced: bool) -> Path:
    """The site's settings with pool bee open to account gleam (beside the original, so
    relative paths resolve the same)."""
    settings = yaml.safe_load(site.config.read_text())
    settings["pools"]["bee"]["accounts"] = ["gleam"]
    if enforced:
        settings["accounts_enforced"] = True
    path = site.config.with_name(f"batch-accounts-{enforced}.yaml")
    path.write_text(yaml.safe_dump(settings))
    return path


def test_an_account_of_the_pool_may_use_it_where_accounts_are_enforced(site: Site) -> None:
    """Control for the refusals: the account is a root-side fact where the batch system
    enforces accounts (the settings say so)."""
    config = _with_accounts(site, enforced=True)
    member = asking(job(site, "250", account="gleam"), "bee")
    assert start_of_job(member, config, lambda _: True) == ""
    assert end_of_job(member, config) == 0


def test_accounts_without_enforcement_are_bad_input(site: Site) -> None:
    """A user names any account (`sbatch -A gleam`) unless accounts are enforced: such a
    pool is refused at load, located, and the job with it."""
    config = _with_accounts(site, enforced=False)
    with pytest.raises(InputError) as err:
        load_batch_config(config)
    assert "pools.bee.accounts" in str(err.value) or ":" in str(err.value)
    assert "accounts_enforced" in str(err.value)
    member = asking(job(site, "251", account="gleam"), "bee")
    assert "refused" in start_of_job(member, config, lambda _: True)


def test_no_free_vm_is_refused_and_the_busy_vm_stays_with_its_job(site: Site) -> None:
    holder = asking(job(site, "301"), "solo")
    assert start(site, holder) == ""
    quarantine = quarantine_of(site, holder)
    as_user(site.user, HARMLESS.format(q=quarantine))
    other = asking(job(site, "302", site.users[1]), "solo")
    assert "no free VM in pool solo: vmgjob-s1 is held by job test-301" in start(site, other)
    # B cannot read or write A's VM while A holds it
    assert as_user(site.users[1], f"ls {quarantine} || touch {quarantine}/x").returncode != 0
    end_of_job(holder, site.config)
    assert record(site, holder.key)["promoted"] == 2


def test_broken_settings_refuse_the_job_and_never_raise(site: Site, tmp_path: Path) -> None:
    broken = tmp_path / "batch.yaml"
    broken.write_text("inventory: [unclosed\n")
    the_job = job(site, "401", requests=("mc",))
    from vmguard.batch.hook import start_of_job

    message = start_of_job(the_job, broken, lambda _: True)
    assert "refused" in message and "batch.yaml:" in message
    assert end_of_job(the_job, broken) == 0


def test_leftovers_in_a_free_vm_are_held_never_published_under_the_next_job(site: Site) -> None:
    stray = site.quarantine("vmgjob-b1")
    stray.mkdir(exist_ok=True)
    (stray / "stray.txt").write_text("from before\n")
    bee = run(site, asking(job(site, "501", site.users[1]), "bee"), "echo mine > {q}/mine.txt")
    assert sorted(p.name for p in site.public("501", site.users[1]).iterdir()) == ["mine.txt"]
    held = [v for v in pending(load_batch_config(site.config)) if v.job.runner == "leftover"]
    assert [(Path(v.quarantine) / "stray.txt").read_text() for v in held] == ["from before\n"]
    assert record(site, bee.key)["outcome"] == "promoted"


def test_a_dead_holder_from_before_a_reboot_is_held_by_the_next_start(site: Site) -> None:
    crashed = asking(job(site, "601"), "solo")
    assert start(site, crashed) == ""
    as_user(site.user, f"echo unvetted > {quarantine_of(site, crashed)}/x.txt")
    path = site.state / "vms/vmgjob-s1.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "boot_id": "an-earlier-boot"}))  # the node rebooted
    nxt = run(site, asking(job(site, "602", site.users[1]), "solo"), "true")
    assert record(site, crashed.key)["outcome"] == "failed"
    assert "rebooted before its epilog ran" in record(site, crashed.key)["message"]
    assert (site.held(crashed.key) / "x.txt").read_text() == "unvetted\n"
    assert not site.public("602", site.users[1]).exists()
    assert record(site, nxt.key)["promoted"] == 0


def test_an_ended_job_whose_epilog_never_ran_is_held(site: Site) -> None:
    lost = asking(job(site, "701"), "solo")
    assert start(site, lost) == ""
    as_user(site.user, f"echo lost > {quarantine_of(site, lost)}/y.txt")
    nxt = asking(job(site, "702"), "solo")
    assert start(site, nxt, alive=None) != ""  # the batch system is unsure: still busy
    assert start(site, asking(job(site, "703"), "solo"), alive=False) == ""  # it says: gone
    assert "epilog did not run" in record(site, lost.key)["message"]
    end_of_job(lost, site.config)  # a late epilog of the lost job finds nothing to do
    assert record(site, lost.key)["outcome"] == "failed"
    assert (site.held(lost.key) / "y.txt").exists()
    end_of_job(job(site, "703"), site.config)


def test_revet_publishes_held_output_under_its_own_job_once(site: Site) -> None:
    key = "test-701"
    proc = site.vmguard("batch", "revet", key, "--config", str(site.config))
    assert proc.returncode == 0, proc.stderr
    assert (site.public("701") / "y.txt").read_text() == "lost\n"
    again = site.vmguard("batch", "revet", key, "--config", str(site.config))
    assert again.returncode == 2 and "nothing is held" in again.stderr


def test_the_epilog_running_twice_vets_once(site: Site) -> None:
    twice = asking(job(site, "801"), "mc")
    assert start(site, twice) == "" and start(site, twice) == ""  # a rerun prolog: same VM
    as_user(site.user, HARMLESS.format(q=quarantine_of(site, twice)))
    end_of_job(twice, site.config)
    end_of_job(twice, site.config)
    events = [json.loads(line)["data"] for line in site.log.read_text().splitlines()]
    assert [e["outcome"] for e in events if e.get("job") == twice.key and "outcome" in e] == ["promoted"]


def test_held_output_is_listed_until_its_retention_ends(site: Site) -> None:
    config = load_batch_config(site.config)
    held = {v.job.key for v in pending(config)}
    assert "test-601" in held
    proc = site.vmguard("batch", "pending", "--config", str(site.config))
    assert "test-601" in proc.stdout and "until 20" in proc.stdout
    gone = prune(config, now=4e9)
    assert {v.job.key for v in gone} == held and not pending(config)
    assert not site.held("test-601").exists()


def test_state_is_root_only_where_it_decides(site: Site) -> None:
    state = State(site.state)
    assert (site.state / "vms").stat().st_mode & 0o077 == 0
    assert state.assigned_note("../etc/passwd") == ""


def test_a_process_left_behind_by_a_job_writes_nothing_into_the_next_job(site: Site) -> None:
    """A's job leaves a process (the batch system failed to kill it) that keeps writing
    into A's quarantine while B's job gets the same VM: none of it reaches B's output."""
    a_job = asking(job(site, "1001"), "solo")
    assert start(site, a_job) == ""
    q = quarantine_of(site, a_job)
    cwd_writer = subprocess.Popen(  # holds the quarantine as its cwd and keeps writing
        [
            "setpriv",
            f"--reuid={site.user.pw_uid}",
            f"--regid={site.user.pw_gid}",
            "--clear-groups",
            "sh",
            "-c",
            f"cd {q} && while true; do echo late >> late.txt; echo x > new-$$-$RANDOM.txt; sleep 0.01; done",
        ],
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(0.3)
        end_of_job(a_job, site.config)
        wrote = [d / "late.txt" for d in (site.public("1001"), site.held("test-1001"))]
        assert any(p.exists() for p in wrote)  # it did write, under A's own job
        b_job = asking(job(site, "1002", site.users[1]), "solo")
        for _ in range(3):  # B's job runs while A's process still tries
            assert start(site, b_job) == ""
            as_user(site.users[1], f"echo b > {q}/b.txt")
            time.sleep(0.1)
            end_of_job(b_job, site.config)
            names = sorted(p.name for p in site.public("1002", site.users[1]).iterdir())
            assert names == ["b.txt"], names
            shutil.rmtree(site.public("1002", site.users[1]))
            for path in site.public("1002", site.users[1]).parent.glob("1002.*"):
                path.unlink()
            (site.state / "test-1002.json").unlink()
    finally:
        os.killpg(cwd_writer.pid, signal.SIGKILL)
        cwd_writer.wait(timeout=10)


def test_the_job_reads_its_vm_from_vmguard_batch_vm(site: Site) -> None:
    mine = asking(job(site, "1101"), "mc")
    assert start(site, mine) == ""
    proc = site.vmguard("batch", "vm", "--job", mine.key, "--config", str(site.config))
    vm, quarantine = proc.stdout.rstrip("\n").split("\t")
    assert vm in ("vmgjob-a1", "vmgjob-a2") and quarantine == str(site.quarantine(vm))
    end_of_job(mine, site.config)
    gone = site.vmguard("batch", "vm", "--job", mine.key, "--config", str(site.config))
    assert gone.returncode == 2 and "no VM is assigned to job test-1101" in gone.stderr
