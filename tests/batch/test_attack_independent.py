"""Independent attacks on the batch binding (issue #14): a hostile job user against the
documented claims of docs/batch.md. Each test passes when the claim holds; a failing
test is a hit. The hooks are driven as the runners drive them (Python hooks, the
installed LSF/Slurm scripts with crafted environments); jobs write as their user.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests.batch.jobs import as_user, asking, job, quarantine_of, run, start
from tests.batch.site import HARMLESS, Site, make_site, module_site
from tests.support.require import require_root, require_tools
from vmguard.batch.hook import end_of_job, start_of_job

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("site_log")]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    yield from module_site("setpriv", "useradd")


def files_under(path: Path) -> dict[str, str]:
    if not path.is_dir():
        return {}
    return {str(p.relative_to(path)): p.read_text() for p in path.rglob("*") if p.is_file()}


def record(site: Site, key: str) -> dict:
    return json.loads((site.state / f"{key}.json").read_text())


def crash(site: Site, vm: str) -> None:
    """The node rebooted while the VM's holder ran: its epilog never comes."""
    path = site.state / f"vms/{vm}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "boot_id": "an-earlier-boot"}))


# --- job ids reused (Slurm after a state reset / MaxJobId wrap; LSF after MAX_JOBID) ---


def test_reused_job_id_never_publishes_a_crashed_jobs_held_files_into_another_users_area(site: Site) -> None:
    """A's job 4201 dies with the node; its files are held, not vetted. Later the id 4201
    is reused by a job of B: B's epilog must not publish A's held files into B's area."""
    a, b = site.users
    crashed = asking(job(site, "4201", a), "solo")
    assert start(site, crashed) == ""
    as_user(a, f"echo 'secret of A' > {quarantine_of(site, crashed)}/a-secret.txt")
    crash(site, "vmgjob-s1")
    nxt = run(site, asking(job(site, "4202", a), "solo"), "true")  # finds A's dead holder
    assert record(site, crashed.key)["outcome"] == "failed"  # held, not vetted
    assert (site.held(crashed.key) / "a-secret.txt").exists()
    reused = run(site, asking(job(site, "4201", b), "solo"), "echo b > {q}/b.txt")
    got = files_under(site.public("4201", b))
    assert "a-secret.txt" not in got, f"A's held file published into B's area: {got}"
    assert nxt.key != reused.key


def test_reused_job_id_after_a_crash_does_not_take_over_the_dead_holder(site: Site) -> None:
    """A's job 4301 holds the VM when the node dies. After the reboot the id 4301 is given
    to B's job: B's prolog must not be handed A's dead holder (A's quarantine, A's
    unvetted files vetted and published by B's epilog instead of held)."""
    a, b = site.users
    crashed = asking(job(site, "4301", a), "solo")
    assert start(site, crashed) == ""
    as_user(a, f"echo 'unvetted of A' > {quarantine_of(site, crashed)}/a.txt")
    crash(site, "vmgjob-s1")
    reused = asking(job(site, "4301", b), "solo")
    try:
        assert start(site, reused) == ""
        q = quarantine_of(site, reused)
        owner = pwd.getpwuid(os.stat(q).st_uid).pw_name
        wrote = as_user(b, f"echo b > {q}/b.txt").returncode == 0
        end_of_job(reused, site.config)
        rec = record(site, reused.key)
        facts = {
            "quarantine owner": owner,
            "B could write": wrote,
            "record user": rec["job"]["user"],
            "outcome": rec["outcome"],
            "message": rec["message"],
            "A's unvetted file published": (site.public("4301", a) / "a.txt").exists(),
        }
        assert facts == {
            "quarantine owner": b.pw_name,
            "B could write": True,
            "record user": b.pw_name,
            "outcome": "promoted",
            "message": "",
            "A's unvetted file published": False,
        }, facts
    finally:
        end_of_job(reused, site.config)


# --- a process the batch system failed to kill ---


@pytest.mark.xfail(
    strict=True,
    reason="documented limit (docs/batch.md, Limits): a process the batch "
    "system failed to kill writes into its own user's next job; never another user's",
)
def test_a_left_behind_process_of_the_same_user_writes_nothing_into_the_next_job(site: Site) -> None:
    """docs: such a process writes only into its own job's held folder, 'never in the
    next job's quarantine, which is shut to it'. Here the next job is the same user's."""
    a = site.user
    first = asking(job(site, "4401", a), "solo")
    assert start(site, first) == ""
    q = quarantine_of(site, first)
    writer = subprocess.Popen(
        [
            "setpriv",
            f"--reuid={a.pw_uid}",
            f"--regid={a.pw_gid}",
            "--clear-groups",
            "sh",
            "-c",
            f"cd {q} && while true; do echo late > late-$$.txt 2>/dev/null; sleep 0.02; done",
        ],
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(0.3)
        end_of_job(first, site.config)
        second = asking(job(site, "4402", a), "solo")
        assert start(site, second) == ""
        as_user(a, f"echo mine > {q}/mine.txt")
        time.sleep(0.5)
        end_of_job(second, site.config)
        names = sorted(files_under(site.public("4402", a)))
        assert names == ["mine.txt"], f"job 4401's process wrote into job 4402's output: {names}"
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)


# --- the public area: a symlink in a user-owned part of the path ---


def test_a_symlink_in_the_users_part_of_the_public_path_does_not_redirect_publication(
    site: Site, tmp_path: Path
) -> None:
    """A site whose public area is under each user's own folder (home/{user}/outbox/{job},
    home/<user> owned by the user). A points her outbox at B's: root must not publish
    A's job into B's area (the binding job -> output must not follow A's symlink)."""
    a, b = site.users
    home = site.root / "home"
    home.mkdir(exist_ok=True)
    for user in (a, b):
        (home / user.pw_name).mkdir(exist_ok=True)
        os.chown(home / user.pw_name, user.pw_uid, user.pw_gid)
    as_user(b, f"mkdir -p {home}/{b.pw_name}/outbox")
    as_user(a, f"ln -sfn {home}/{b.pw_name}/outbox {home}/{a.pw_name}/outbox")
    settings = yaml.safe_load(site.config.read_text())
    settings["public"] = str(home / "{user}/outbox/{job}")
    settings["inventory"] = str(site.root / "etc/inventory.yaml")
    config = site.root / "etc/batch-homes.yaml"
    config.write_text(yaml.safe_dump(settings))
    mine = asking(job(site, "4501", a), "mc")
    assert start_of_job(mine, config, lambda _: True) == ""
    as_user(a, f"echo 'from A' > {quarantine_of(site, mine)}/from-a.txt")
    end_of_job(mine, config)
    in_b = files_under(home / b.pw_name / "outbox")
    assert not in_b, f"root published A's job into B's area through A's symlink: {in_b}"


# --- the hook's own interpreter: the current directory on sys.path ---


def test_lsf_pre_exec_does_not_import_code_from_its_working_directory(site: Site, tmp_path: Path) -> None:
    """LSF runs PRE_EXEC/POST_EXEC in /tmp (docs, lsf.py). `python -m vmguard` puts the
    current directory first on sys.path: a `vmguard/` package planted there by any user
    would run as root. Here a user-owned folder stands in for /tmp (never the real one)."""
    a = site.user
    cwd = site.root / "fake-tmp"
    cwd.mkdir()
    cwd.chmod(0o1777)
    marker = site.root / "pwned-by-cwd"
    plant = (
        f"mkdir -p {cwd}/vmguard && "
        f'echo \'import os; open("{marker}", "w").write(str(os.geteuid()))\' '
        f"> {cwd}/vmguard/__main__.py && touch {cwd}/vmguard/__init__.py"
    )
    assert as_user(a, plant).returncode == 0
    env = {"PATH": "/bin:/usr/bin", "LSB_JOBID": "4601", "LSFUSER": a.pw_name, "LSB_QUEUE": "normal"}
    subprocess.run(
        [str(site.hooks / "lsf-pre-exec")], env=env, cwd=cwd, capture_output=True, timeout=120, check=False
    )
    assert not marker.exists(), f"user's code ran as uid {marker.read_text()} in the hook"


def test_slurm_epilog_does_not_import_code_from_its_working_directory(site: Site) -> None:
    """The same for the Slurm scripts, run from a folder a user can write."""
    a = site.user
    cwd = site.root / "fake-cwd"
    cwd.mkdir()
    os.chown(cwd, a.pw_uid, a.pw_gid)
    marker = site.root / "pwned-by-slurm-cwd"
    as_user(
        a,
        f"mkdir -p {cwd}/vmguard && touch {cwd}/vmguard/__init__.py && "
        f'echo \'open("{marker}", "w").write("x")\' > {cwd}/vmguard/__main__.py',
    )
    env = {
        "SLURM_JOB_ID": "4602",
        "SLURM_JOB_USER": a.pw_name,
        "SLURM_JOB_UID": str(a.pw_uid),
        "SLURM_JOB_GID": str(a.pw_gid),
        "PATH": "/bin:/usr/bin",
    }
    subprocess.run(
        [str(site.hooks / "slurm-epilog")], env=env, cwd=cwd, capture_output=True, timeout=120, check=False
    )
    assert not marker.exists()


# --- symlinks planted where root's hooks write for the user ---


def test_symlinked_error_file_and_verdict_file_never_make_root_write(site: Site) -> None:
    a, _ = site.users
    victim = site.root / "etc/victim"
    victim.write_text("root's\n")
    victim.chmod(0o644)
    err = site.work(a) / "4701.err"
    as_user(a, f"ln -s {victim} {err} && ln -s {victim} {site.work(a)}/vmguard-4702.verdict")
    refused = asking(job(site, "4701", a, error_file=str(err)), "bee")  # A may not use bee
    assert "may not use VM pool bee" in start(site, refused)
    run(site, asking(job(site, "4702", a), "mc"), HARMLESS)
    assert victim.read_text() == "root's\n"


# --- what the job leaves in its quarantine ---


def test_links_and_fifos_in_the_quarantine_publish_nothing_of_others(site: Site) -> None:
    """B's job runs on vmgjob-b1 with a file; A's job plants a symlink to it, a symlink to
    B's whole quarantine, a hardlink attempt and a FIFO: none of B's data reaches A."""
    a, b = site.users
    holder = asking(job(site, "4801", b), "bee")
    assert start(site, holder) == ""
    bq = quarantine_of(site, holder)
    as_user(b, f"echo 'B private' > {bq}/b.txt")
    mine = asking(job(site, "4802", a), "mc")
    assert start(site, mine) == ""
    q = quarantine_of(site, mine)
    as_user(
        a,
        f"ln -s {bq}/b.txt {q}/l1.txt; ln -s {bq} {q}/ldir; ln {bq}/b.txt {q}/h.txt; "
        f"mkfifo {q}/fifo.txt; echo ok > {q}/ok.txt",
    )
    end_of_job(mine, site.config)
    rec = record(site, mine.key)
    # the vet is all-or-nothing: a rejected job publishes nothing, and no B data anywhere
    assert rec["outcome"] == "rejected" and not site.public("4802", a).exists(), rec
    assert sorted(r["path"] for r in rec["rejected"]) == ["fifo.txt", "l1.txt", "ldir"]
    end_of_job(holder, site.config)
    assert files_under(site.public("4801", b)) == {"b.txt": "B private\n"}


def test_names_like_vmguards_own_files_stay_inside_the_jobs_output(site: Site) -> None:
    a = site.user
    names = [
        "4901.manifest.json",
        "COMMITTED",
        "lock",
        "4901.vet.json",
        "x" * 250,
    ]
    # A .json name must hold JSON (served.py's name rule): the names are the attack here.
    # vmguard's .vmguard-staging and .vmguard-held are dot names, which no job publishes
    # (name-dotfile: tests/quarantine/test_names_acted_on.py).
    script = "; ".join(f"echo {'{{}}' if n.endswith('.json') else 'n'} > '{{q}}/{n}'" for n in names)
    run(site, asking(job(site, "4901", a), "mc"), script)
    got = files_under(site.public("4901", a))
    assert set(got) == set(names), sorted(got)
    assert json.loads((site.public("4901", a).parent / "4901.manifest.json").read_text())


# --- two jobs racing for one VM ---


def _start_in_child(args: tuple[str, str, int]) -> str:
    root, job_id, user_index = args
    os.environ["VMGUARD_LOG"] = f"{root}/log/events.jsonl"
    from tests.batch.site import USERS  # noqa: PLC0415 - in the forked child

    user = pwd.getpwnam(USERS[user_index])
    from vmguard.batch.job import BatchJob  # noqa: PLC0415

    the_job = BatchJob(
        runner="race", id=job_id, user=user.pw_name, uid=user.pw_uid, gid=user.pw_gid, requests=("solo",)
    )
    return start_of_job(the_job, Path(root) / "etc/batch.yaml", lambda _: True)


def test_two_jobs_racing_for_one_vm_never_both_get_it(site: Site) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(4):
        ids = (f"50{round_}0", f"50{round_}1")
        with ctx.Pool(2) as pool:
            answers = pool.map(_start_in_child, [(str(site.root), ids[0], 0), (str(site.root), ids[1], 1)])
        assert sorted(a == "" for a in answers) == [False, True], answers
        for job_id, user in zip(ids, site.users, strict=True):
            end_of_job(job(site, job_id, user, runner="race"), site.config)


# --- LSF: the user's own environment names nothing ---


def test_lsf_user_variables_do_not_pick_another_vm_or_owner(site: Site) -> None:
    """USER, LSB_JOBNAME, LSB_PROJECT_NAME and a forged VMGUARD_* in the job's environment
    (LSF passes the job's environment to POST_EXEC) do not change VM, pool or owner."""
    a, b = site.users
    from tests.batch.test_lsf import hook, recorded_env

    env = recorded_env(
        site,
        "5101",
        a,
        USER=b.pw_name,
        LSB_JOBNAME="vmgjob-b1",
        VMGUARD_BATCH_CONFIG="/nonexistent",
        VMGUARD_LOG="/tmp/x",
    )
    assert hook(site, "lsf-pre-exec", env).returncode == 0
    q = Path((site.state / "assigned/lsf-5101").read_text().split("\t")[1].strip())
    assert q.name in ("vmgjob-a1", "vmgjob-a2")
    as_user(a, f"echo a > {q}/a.txt")
    assert hook(site, "lsf-post-exec", env).returncode == 0
    assert files_under(site.public("5101", a)) == {"a.txt": "a\n"}
    assert not site.public("5101", b).exists()
    stolen = recorded_env(site, "5102", b, LSB_PROJECT_NAME="gleam", LSB_QUEUE="vmg-mc")
    # B's LSF project is "gleam" (an account of bee, not mc): mc stays refused
    assert hook(site, "lsf-pre-exec", stolen).returncode == 1


# --- a refusal publishes nothing, even with files waiting in a free VM ---


def test_a_refused_job_publishes_nothing_and_later_leftovers_stay_held(site: Site) -> None:
    a, b = site.users
    stray = site.quarantine("vmgjob-s1")
    stray.mkdir(exist_ok=True)
    (stray / "stray.txt").write_text("planted\n")
    refused = asking(job(site, "5201", a), "bee")
    assert start(site, refused) != ""
    end_of_job(refused, site.config)
    assert not site.public("5201", a).exists()
    later = run(site, asking(job(site, "5202", b), "solo"), "echo b > {q}/b.txt")
    assert files_under(site.public("5202", b)) == {"b.txt": "b\n"}
    assert record(site, later.key)["outcome"] == "promoted"


def test_replace_keeps_fields(site: Site) -> None:
    """Control: the helper job() builds the job the tests above think it builds."""
    the_job = replace(job(site, "1", site.users[1]), requests=("solo",))
    assert the_job.uid == site.users[1].pw_uid and the_job.key == "test-1"


# --- FIFOs where the hooks write for the user: a hook that never returns drains a node ---

_HOOK = """
import json, sys
from pathlib import Path
from vmguard.batch.hook import end_of_job, start_of_job
from vmguard.batch.job import BatchJob
job = BatchJob.from_dict(json.loads(sys.argv[1]))
if sys.argv[3] == "start":
    print(start_of_job(job, Path(sys.argv[2]), lambda _: True))
else:
    end_of_job(job, Path(sys.argv[2]))
"""


def _hook_returns(site: Site, the_job, which: str, seconds: float) -> bool:
    """Run a hook as root in its own session; whether it came back within `seconds`.
    A hung one is killed with everything it forked (the user-side writer too), so
    no lock outlives the test."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "VMGUARD_LOG": str(site.log),
    }
    proc = subprocess.Popen(
        [
            str(site.prefix / "bin/python"),
            "-c",
            _HOOK,
            json.dumps(the_job.to_dict()),
            str(site.config),
            which,
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture()
def own_site() -> Iterator[Site]:
    """A site of its own: a hung hook must leave nothing behind for the other tests."""
    require_root()
    require_tools("setpriv", "mkfifo")
    site = make_site()
    yield site
    import shutil

    shutil.rmtree(site.root, ignore_errors=True)


def test_a_fifo_as_the_error_output_does_not_hang_the_prolog_of_a_refused_job(own_site: Site) -> None:
    """Slurm drains a node whose prolog runs past PrologEpilogTimeout: a refusal must
    come back even when the user made the error output a FIFO nobody reads."""
    site, a = own_site, own_site.user
    err = site.work(a) / "5301.err"
    as_user(a, f"mkfifo {err}")
    refused = asking(job(site, "5301", a, error_file=str(err)), "bee")
    assert _hook_returns(site, refused, "start", 60), "the refusing prolog hung on a FIFO"


def test_a_fifo_as_the_verdict_file_does_not_hang_the_epilog_nor_keep_the_vm(own_site: Site) -> None:
    site, (a, b) = own_site, own_site.users
    mine = asking(job(site, "5401", a), "solo")
    assert start(site, mine) == ""
    as_user(a, f"mkfifo {site.work(a)}/vmguard-5401.verdict; echo x > {quarantine_of(site, mine)}/x.txt")
    done = _hook_returns(site, mine, "end", 120)
    # the next job on the VM: its prolog finds the killed epilog and writes ITS verdict
    # (into the same FIFO) while holding vmguard's assignment lock
    nxt = asking(job(site, "5402", b), "solo")
    next_start = _hook_returns(site, nxt, "start", 120)
    _hook_returns(site, nxt, "end", 120)
    assert (done, next_start) == (True, True), (
        f"epilog came back: {done}; the next job's prolog on that VM came back: {next_start}"
    )


# --- real Slurm: what the user picks at sbatch time ---


@pytest.fixture(scope="module")
def slurm_ran() -> Iterator[tuple[Site, dict[str, str]]]:
    require_root()
    require_tools("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "useradd")
    from tests.batch import slurm_cluster
    from tests.batch.test_slurm import _await_end, _submit, doc_lines

    site = make_site()
    cluster = slurm_cluster.start(site.root / "slurm", doc_lines(site))
    try:
        q = f"Q=$(cut -f2 {site.state}/assigned/slurm-$SLURM_JOB_ID); "
        b = site.users[1]
        jobs = {
            # A is not a user of bee; bee lists the account gleam: A just names it
            "a_account": _submit(
                site, cluster, 0, q + "echo via-account > $Q/acct.txt", "-A", "gleam", "-L", "vmpool-bee"
            ),
            # A sets SLURM_* of B in the job's environment
            "a_env": _submit(
                site,
                cluster,
                0,
                q + "echo via-env > $Q/env.txt",
                "-L",
                "vmpool-bee",
                f"--export=ALL,SLURM_JOB_USER={b.pw_name},SLURM_JOB_UID={b.pw_uid},"
                f"SLURM_JOB_GID={b.pw_gid},SLURM_JOB_ACCOUNT=gleam",
            ),
        }
        _await_end(cluster, jobs)
        yield site, jobs
    finally:
        cluster.stop()
        site.remove()


@pytest.mark.slow
def test_slurm_env_of_the_job_does_not_choose_the_owner(slurm_ran: tuple[Site, dict[str, str]]) -> None:
    site, jobs = slurm_ran
    assert not (site.state / f"slurm-{jobs['a_env']}.json").exists()
    assert not site.public(jobs["a_env"], site.users[1]).exists()
    assert not site.public(jobs["a_env"], site.users[0]).exists()


@pytest.mark.slow
def test_slurm_an_account_the_user_merely_names_does_not_open_a_pool(
    slurm_ran: tuple[Site, dict[str, str]],
) -> None:
    """docs: 'The job's user, one of the user's groups, or the job's account must be
    allowed'. Without enforced associations (AccountingStorageEnforce), Slurm takes any
    -A string: the account is then the user's choice, not a root-side fact."""
    site, jobs = slurm_ran
    key = f"slurm-{jobs['a_account']}"
    rec = site.state / f"{key}.json"
    got = json.loads(rec.read_text()) if rec.exists() else {}
    assert got.get("pool") != "bee", (
        f"A got pool bee by naming account gleam: {got.get('vm')}, "
        f"published {files_under(site.public(jobs['a_account'], site.users[0]))}"
    )


# --- the quarantine itself, while the user owns it ---


def test_acls_and_renames_on_the_quarantine_give_no_access_to_the_next_jobs_files(site: Site) -> None:
    """A owns the quarantine during her job: she adds access and default ACL entries for
    herself, and tries to rename or replace it. After her job, B's job on the same VM
    writes a file: A must not read it (nor have moved the quarantine)."""
    require_tools("setfacl")
    a, b = site.users
    first = asking(job(site, "5501", a), "solo")
    assert start(site, first) == ""
    q = quarantine_of(site, first)
    as_user(a, f"setfacl -m u:{a.pw_name}:rwx,d:u:{a.pw_name}:rwx,d:o::rwx {q}; chmod 0777 {q}")
    assert as_user(a, f"mv {q} {q}.mine").returncode != 0  # the parent is root's
    assert as_user(a, f"ln -sfnT /tmp {q}").returncode != 0
    assert not Path(f"{q}.mine").exists() and not q.is_symlink()
    end_of_job(first, site.config)
    second = asking(job(site, "5502", b), "solo")
    assert start(site, second) == ""
    try:
        as_user(b, f"echo 'B private' > {q}/b.txt; mkdir {q}/d; echo 'B deeper' > {q}/d/c.txt")
        peek = as_user(a, f"cat {q}/b.txt; cat {q}/d/c.txt; ls {q}")
        assert "B private" not in peek.stdout and "B deeper" not in peek.stdout, peek.stdout
    finally:
        end_of_job(second, site.config)


@pytest.mark.parametrize("target", ["a root-only folder", "B's outbox"])
def test_public_path_symlink_variants(site: Site, target: str) -> None:
    """As the symlink test above, pointing at a folder only root may write (site/etc) too."""
    a, b = site.users
    home = site.root / "home2"
    home.mkdir(exist_ok=True)
    (home / a.pw_name).mkdir(exist_ok=True)
    os.chown(home / a.pw_name, a.pw_uid, a.pw_gid)
    dest = site.root / "etc" if target == "a root-only folder" else site.root / "home2-b-outbox"
    dest.mkdir(exist_ok=True)
    as_user(a, f"ln -sfn {dest} {home}/{a.pw_name}/outbox")
    settings = yaml.safe_load(site.config.read_text())
    settings.update(public=str(home / "{user}/outbox/{job}"), inventory=str(site.root / "etc/inventory.yaml"))
    config = site.root / "etc/batch-homes2.yaml"
    config.write_text(yaml.safe_dump(settings))
    job_id = "5601" if target == "a root-only folder" else "5602"
    mine = asking(job(site, job_id, a), "mc")
    before = set(os.listdir(dest))
    assert start_of_job(mine, config, lambda _: True) == ""
    as_user(a, f"echo 'from A' > {quarantine_of(site, mine)}/from-a.txt")
    end_of_job(mine, config)
    added = sorted(set(os.listdir(dest)) - before)
    assert not added, f"root wrote {added} into {dest} through A's symlink"
