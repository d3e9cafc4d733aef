"""The shared hooks, driven directly: what must never block a node or steer a path."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.batch.jobs import as_user, asking, job, quarantine_of, start
from tests.batch.site import HARMLESS, Site, module_site
from tests.support.schemas import validate
from vmguard.batch.config import load_batch_config
from vmguard.batch.hook import end_of_job
from vmguard.batch.install import install_hooks
from vmguard.batch.job import BatchJob
from vmguard.batch.userfile import write_as_user
from vmguard.batch.vetting import vet_held
from vmguard.core.errors import InputError, VmguardError

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("site_log")]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    yield from module_site(root=False)


def test_time_limit_stops_the_vet_and_holds_the_output(site: Site) -> None:
    held = site.held("test-slow")
    held.mkdir(parents=True)
    subprocess.run(["sh", "-c", HARMLESS.format(q=held)], check=True, timeout=10)
    slow = replace(load_batch_config(site.config), time_limit=0.05)
    verdict = vet_held(job(site, "slow"), "vmgjob-a1", "mc", held, slow)
    assert verdict.outcome == "failed" and "did not finish within" in verdict.message
    assert (held / "result.txt").exists() and verdict.quarantine == str(held)
    assert not site.public("slow").exists()


@pytest.mark.parametrize("name", ["vmgjob-b1", "vmgjob-/../../etc", "../x"])
def test_job_name_comment_and_environment_choose_nothing(
    site: Site, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the user controls is never read: no pool asked, no VM; the name is not a VM."""
    monkeypatch.setenv("VMGUARD_BATCH_CONFIG", "/nonexistent")
    plain = job(site, "11", name=name, comment=name)
    assert start(site, plain) == ""
    assert not site.assigned(plain.key).exists()
    assert end_of_job(plain, site.config) == 0
    assert not (site.state / f"{plain.key}.json").exists()


def test_unsafe_job_field_in_template_is_refused() -> None:
    with pytest.raises(InputError, match="not a plain name"):
        BatchJob("slurm", "1", "../root", 0, 0).expand("/public/{user}/{job}")


def test_settings_problems_are_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text(
        "public: /x/{name}\ntime_limit: -1\ncolour: red\nvm: '{name}'\n"
        "pools: {p: {vms: ['a*'], who: [x]}, q: {users: [u]}}\n"
    )
    with pytest.raises(InputError) as err:
        load_batch_config(path)
    lines = sorted(str(p).removeprefix(f"{path}:") for p in err.value.problems)
    assert lines[0].startswith("1:1: inventory: is required")
    assert lines[1].startswith("1:1: public: unknown field {name}")  # the user's job name
    assert lines[2].startswith("2:1: time_limit: must be a positive")
    assert lines[3].startswith("3:1: colour: unknown setting")
    assert lines[4].startswith("4:1: vm: removed: the job name cannot choose a VM")
    assert any("pools.p.who: unknown key" in line for line in lines)
    assert any("pools.p.vms: name each VM" in line for line in lines)
    assert any("pools.q: needs vms" in line for line in lines)


def test_verdict_file_never_follows_a_planted_symlink(site: Site) -> None:
    victim = site.root / "victim"
    victim.write_text("root's file\n")
    (site.work() / "vmguard-7.verdict").symlink_to(victim)
    with pytest.raises(VmguardError):
        write_as_user(site.user.pw_uid, site.user.pw_gid, site.work() / "vmguard-7.verdict", "x")
    assert victim.read_text() == "root's file\n"


def test_refusal_never_follows_a_planted_symlink_as_root(site: Site) -> None:
    victim = site.root / "victim2"
    victim.write_text("root's file\n")
    err = site.work() / "planted.err"
    err.symlink_to(victim)
    assert "refused" in start(site, job(site, "12", requests=("nosuch",), error_file=str(err)))
    assert victim.read_text() == "root's file\n"


def test_a_job_cannot_write_into_a_vm_it_does_not_hold(site: Site) -> None:
    mine = asking(job(site, "13"), "mc")
    assert start(site, mine) == ""
    other = "vmgjob-a2" if quarantine_of(site, mine).name == "vmgjob-a1" else "vmgjob-a1"
    site.quarantine(other).mkdir(exist_ok=True)
    proc = as_user(site.user, f"touch {site.quarantine(other)}/x")
    assert proc.returncode != 0 and not (site.quarantine(other) / "x").exists()
    control = as_user(site.user, f"touch {quarantine_of(site, mine)}/x")  # its own: allowed
    assert control.returncode == 0
    end_of_job(mine, site.config)
    vm = json.loads((site.state / f"{mine.key}.json").read_text())["vm"]
    closed = site.quarantine(vm).stat()
    assert closed.st_uid == 0 and closed.st_mode & 0o777 == 0o700  # shut again at the end


def test_hook_script_exits_zero_even_when_python_is_missing(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", "/nonexistent/python")
    for _name, script in install_hooks(site.config, tmp_path).scripts:
        proc = subprocess.run([str(script)], env={"SLURM_JOB_ID": "9"}, timeout=30, check=False)
        # LSF's PRE_EXEC says no instead: the job is requeued, not run without its VM
        assert proc.returncode == (127 if script.name == "lsf-pre-exec" else 0), script


def test_revet_of_an_unknown_job_is_bad_input(site: Site) -> None:
    proc = site.vmguard("batch", "revet", "slurm-404", "--config", str(site.config))
    assert proc.returncode == 2 and "no verdict recorded for job slurm-404" in proc.stderr


@pytest.mark.parametrize("key", ["../../etc/passwd", "slurm-1/../x", ""])
def test_revet_key_cannot_reach_outside_the_state_dir(site: Site, key: str) -> None:
    proc = site.vmguard("batch", "revet", key, "--config", str(site.config))
    assert proc.returncode == 2 and "is not a job key" in proc.stderr


def test_the_installed_hooks_name_their_interpreter_and_settings(site: Site) -> None:
    text = (site.hooks / "slurm-epilog").read_text()
    assert f"{site.prefix}/bin/python -I -m vmguard batch slurm-epilog --config {site.config}" in text
    assert os.access(site.hooks / "slurm-prolog", os.X_OK)


def test_a_quarantine_replaced_by_a_link_is_never_handed_to_the_user(site: Site) -> None:
    """The first VM's quarantine is a symlink to a root folder: that VM is skipped, the
    link's target keeps its owner, and the job gets the pool's other VM."""
    target = site.root / "etc"
    site.quarantine("vmgjob-a1").mkdir(exist_ok=True)
    moved = site.root / "quarantine/a1-real"
    site.quarantine("vmgjob-a1").rename(moved)
    site.quarantine("vmgjob-a1").symlink_to(target)
    try:
        linked = asking(job(site, "14"), "mc")
        assert start(site, linked) == ""
        assert quarantine_of(site, linked).name == "vmgjob-a2"
        assert target.stat().st_uid == 0 and target.stat().st_mode & 0o777 == 0o755
        end_of_job(linked, site.config)
        alone = asking(job(site, "15"), "mc")
        assert start(site, alone) == ""  # a2 is free again; a1 still cannot be used
        held = asking(job(site, "16"), "mc")
        message = start(site, held)
        assert "vmgjob-a1 cannot be cleared" in message and "a directory, not a link" in message
        end_of_job(alone, site.config)
    finally:
        site.quarantine("vmgjob-a1").unlink()
        moved.rename(site.quarantine("vmgjob-a1"))


@pytest.mark.parametrize(
    ("tokens", "pools"),
    [
        (["vmpool-mc:1"], ("mc",)),
        (["vmpool-mc*1", "other:3"], ("mc",)),
        (["vmpool-mc", "vmpool-bee"], ("bee", "mc")),  # two: refused by choose_pool
        (["fast", "vmpoolmc"], ()),
    ],
)
def test_pool_requests_from_licenses_and_features(tokens: list[str], pools: tuple[str, ...]) -> None:
    from vmguard.batch.pools import requested

    assert requested(tokens) == pools


def test_a_vm_in_two_pools_is_a_settings_problem(tmp_path: Path) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text("inventory: i.yaml\npools:\n  p: {vms: [a], users: [x]}\n  q: {vms: [a], users: [y]}\n")
    with pytest.raises(InputError, match="pools.q.vms: VM a is also in pool p"):
        load_batch_config(path)


def test_install_hooks_json_names_the_scripts_it_wrote(site: Site, tmp_path: Path) -> None:
    """--format json from the site's installed vmguard: each script named is there,
    executable, and runs the interpreter and settings file the document names."""
    argv = ("batch", "install-hooks", "--config", str(site.config), "--dir", str(tmp_path / "hooks"))
    proc = site.vmguard(*argv, "--output", str(tmp_path / "hooks.log"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = validate("batch-install-hooks", proc.stdout)
    assert [s["name"] for s in doc["scripts"]] == [
        "slurm-prolog",
        "slurm-epilog",
        "lsf-pre-exec",
        "lsf-post-exec",
    ]
    assert doc["python"] == str(site.prefix / "bin/python") and doc["config"] == str(site.config)
    for script in doc["scripts"]:
        text = Path(script["path"]).read_text()
        assert os.access(script["path"], os.X_OK) and Path(script["path"]).parent == tmp_path / "hooks"
        assert f"{doc['python']} -I -m vmguard batch {script['name']} --config {doc['config']}" in text
        assert str(tmp_path / "hooks.log") in text
    text = site.vmguard(*argv)  # control: the text lists the same files, one a line
    assert text.stdout.splitlines() == [s["path"] for s in doc["scripts"]]
