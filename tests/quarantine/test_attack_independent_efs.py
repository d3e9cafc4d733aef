"""Independent black-box attack e on `vmguard vet`, everything outside file content
(session 32, issue #13). Not repeated from test_attack_independent_fs.py and
test_attack_independent_dfs.py: the classes here are new. Each test passes while the
documented claim holds; a hit is a strict xfail whose reason says what got out, what was
lost, or which promise the run broke.

One quarantine of real output (logging, numpy.savetxt, csv, json, astropy) with names
that the programs reading a public area act on (a web server's per-directory
configuration, PHP, `tar *`), vetted ONCE through the CLI; then the runs of their own: a
tree whose paths outgrow PATH_MAX, reruns after a vet of another quarantine or a vet
killed at COMMITTED or after its renames (with --remove-promoted), a --to whose name
leaves no room for the sidecars, a public tmpfs short of inodes, and an output directory
at another job's manifest name."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.attack_dfs_static import entry, make_controls
from tests.support.attack_dfs_tools import JSON, PER_FILE_JSON, Run, published, vet, write_policy
from tests.support.attack_efs_cases import (
    AFTER_PUBLISH,
    AT_COMMITTED,
    JOB,
    NAME_HOLES,
    NAME_REFUSED,
    PATH_MAX,
    TAR_STAR,
    Named,
    give_to_guest,
    kill_at,
    make_deep,
    make_names,
    make_repo,
    make_shadow,
    quarantine_of,
    shared_top,
    vet_as_nobody,
)
from tests.support.require import require_root, require_tools


@dataclass(frozen=True)
class Names:
    """The one shared run: its quarantine, public output, controls and `tar *` marker."""

    base: Path
    run: Run
    out: dict[str, bytes]
    controls: dict[str, bytes]
    marker: Path
    git_marker: Path
    py_marker: Path


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> Names:
    base = tmp_path_factory.mktemp("efs")
    q = base / "q"
    q.mkdir()
    controls = make_controls(q)
    marker = base / "pwned"
    make_names(q, marker)
    git_marker = base / "git-pwned"
    make_repo(q, git_marker)
    py_marker = base / "py-pwned"
    make_shadow(q, py_marker)
    policy = write_policy(base / "policy.yaml")
    run = vet(q, policy, base / "events.jsonl", "--to", str(base / "pub" / JOB), "--job", JOB, *PER_FILE_JSON)
    return Names(base, run, published(base / "pub" / JOB), controls, marker, git_marker, py_marker)


def test_names_run_ran(names):
    assert names.run.code == 1, names.run.err  # the refused Windows names, --per-file
    assert "Traceback" not in names.run.err
    assert names.run.report()["status"] == "partial"


def test_controls_published_identical(names):
    for rel, data in names.controls.items():
        assert names.out.get(rel) == data, (rel, entry(names.run, rel))


def _hit(case: Named) -> object:
    return pytest.param(
        case, id=case.name, marks=pytest.mark.xfail(strict=True, reason=f"{case.name} published: {case.why}")
    )


@pytest.mark.parametrize("case", [*(_hit(c) for c in NAME_HOLES), *NAME_REFUSED], ids=lambda c: c.name)
def test_names_a_reader_acts_on_are_refused(names, case):
    rel = f"web/{case.name}"
    assert rel not in names.out
    assert entry(names.run, rel)["verdict"] == "rejected"


@pytest.mark.xfail(
    strict=True,
    reason="files named --checkpoint=1 and '--checkpoint-action=exec=sh x.txt' are published "
    "(empty files, admitted); `tar -cf backup.tar *` in the published directory, an "
    "admin's backup, then runs sh x.txt, the guest's shell script (a .txt of text)",
)
def test_tar_star_in_the_public_area_runs_nothing(names):
    require_tools("tar", "sh")
    backup = names.base / "pub" / JOB / "backup"
    assert backup.is_dir(), names.run.err
    subprocess.run(
        ["sh", "-c", f"tar -cf {names.base / 'backup.tar'} *"], cwd=backup, capture_output=True, timeout=30
    )
    assert not names.marker.exists()
    assert not any(f"backup/{name}" in names.out for name in TAR_STAR)


@pytest.mark.xfail(
    strict=True,
    reason="a .git directory (HEAD, config: text; objects/, refs/: empty) is published; "
    "`git status` in the published directory, or a shell prompt showing the branch on "
    "`cd`, runs the guest's core.fsmonitor command as the reader",
)
def test_git_in_the_public_area_runs_nothing(names, tmp_path):
    require_tools("git")
    repo = names.base / "pub" / JOB / "repo"
    assert repo.is_dir(), names.run.err
    env = dict(os.environ, HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "status"], cwd=repo, env=env, capture_output=True, timeout=30)
    assert not names.git_marker.exists()
    assert "repo/.git/config" not in names.out


@pytest.mark.xfail(
    strict=True,
    reason="ana/numpy.py ('import os; os.system(...)', typed text/plain) is published beside "
    "the data; `python -c 'import numpy'` in that directory runs it (the cwd is "
    "sys.path[0]): a Python script, executable content, passes under a .py name",
)
def test_python_in_the_public_area_runs_nothing(names):
    ana = names.base / "pub" / JOB / "ana"
    assert ana.is_dir(), names.run.err
    subprocess.run([sys.executable, "-c", "import numpy"], cwd=ana, capture_output=True, timeout=60)
    assert not names.py_marker.exists()
    assert "ana/numpy.py" not in names.out


def _policy(tmp_path: Path) -> Path:
    require_root()
    return write_policy(tmp_path / "policy.yaml")


def _listed(run: Run) -> set[str]:
    return {item["path"] for item in run.report()["entries"]}


@pytest.mark.xfail(
    strict=True,
    reason="a vet of ANOTHER quarantine to a --to already published says already-promoted, "
    "exit 0, and its JSON report names the new quarantine with the first one's entries "
    "(b.json, which it does not hold) and not its own c.txt, never vetted nor published",
)
def test_rerun_with_another_quarantine_reports_that_quarantine(tmp_path):
    policy, log, to = _policy(tmp_path), tmp_path / "events.jsonl", str(tmp_path / "pub" / JOB)
    first = quarantine_of(tmp_path / "q1", {"a.txt": "one\n", "b.json": '{"a": 1}\n'})
    second = quarantine_of(tmp_path / "q2", {"a.txt": "one\n", "c.txt": "never vetted\n"})
    assert vet(first, policy, log, "--to", to, "--job", JOB, *JSON).code == 0
    run = vet(second, policy, log, "--to", to, "--job", JOB, *JSON)
    assert "Traceback" not in run.err
    assert run.code != 0 or _listed(run) == {"a.txt", "c.txt"}, (run.code, _listed(run))


@pytest.mark.xfail(
    strict=True,
    reason="the published output directory is gone (an admin removed it to vet again), its "
    "manifest left: the rerun says already-promoted, exit 0, 'promoted: 1', output: a "
    "path that does not exist; nothing is published, the quarantine's new b.txt unseen",
)
def test_already_promoted_needs_the_output_it_names(tmp_path):
    policy, log, pub = _policy(tmp_path), tmp_path / "events.jsonl", tmp_path / "pub"
    q = quarantine_of(tmp_path / "q", {"a.txt": "one\n"})
    assert vet(q, policy, log, "--to", str(pub / JOB), "--job", JOB).code == 0
    subprocess.run(["rm", "-rf", "--", str(pub / JOB)], check=True)
    (q / "b.txt").write_text("two\n")
    run = vet(q, policy, log, "--to", str(pub / JOB), "--job", JOB, *JSON)
    assert "Traceback" not in run.err
    assert run.code != 0 or published(pub / JOB) == {"a.txt": b"one\n", "b.txt": b"two\n"}, run.code


@pytest.mark.xfail(
    strict=True,
    reason="a vet killed after COMMITTED, rerun on ANOTHER quarantine: the rerun rolls the "
    "first quarantine's staging forward and reports already-promoted, exit 0, for the "
    "second, whose files were never vetted (report: its path, the first one's entries)",
)
def test_roll_forward_for_another_quarantine_reports_the_truth(tmp_path):
    policy, log, pub = _policy(tmp_path), tmp_path / "events.jsonl", tmp_path / "pub"
    first = quarantine_of(tmp_path / "q1", {f"f{i}.txt": f"{i}\n" for i in range(50)})
    second = quarantine_of(tmp_path / "q2", {"only-here.txt": "never vetted\n"})
    for _ in range(5):  # the kill must land between COMMITTED and the output's rename
        if kill_at(first, policy, log, pub, AT_COMMITTED) and not (pub / JOB).exists():
            break
        subprocess.run(["rm", "-rf", "--", str(pub)], check=True)
    else:
        pytest.fail("never killed between COMMITTED and the rename")
    run = vet(second, policy, log, "--to", str(pub / JOB), "--job", JOB, *JSON)
    assert "Traceback" not in run.err
    assert run.code != 0 or _listed(run) == {"only-here.txt"}, (run.code, sorted(_listed(run))[:3])


@pytest.mark.xfail(
    strict=True,
    reason="vet --remove-promoted killed after its renames, before removing: the rerun of "
    "the same command says already-promoted, exit 0, not_removed [], and removes nothing: "
    "every published file stays in the quarantine while the job runner takes it as cleared",
)
def test_rerun_after_kill_with_remove_promoted_clears_the_quarantine(tmp_path):
    policy, log, pub = _policy(tmp_path), tmp_path / "events.jsonl", tmp_path / "pub"
    q = quarantine_of(tmp_path / "q", {f"f{i}.txt": f"{i}\n" for i in range(200)})
    assert kill_at(q, policy, log, pub, AFTER_PUBLISH, "--remove-promoted"), "not killed after the renames"
    if not os.listdir(q):
        pytest.fail("the kill landed after the removal: nothing to look at")
    run = vet(q, policy, log, "--to", str(pub / JOB), "--job", JOB, "--remove-promoted", *JSON)
    assert "Traceback" not in run.err
    left = set(os.listdir(q)) & set(published(pub / JOB))
    named = {item["path"] for item in run.report()["not_removed"]} if run.out else set()
    assert not left or (run.code == 3 and left <= named), (run.code, len(left), len(named))


@pytest.mark.xfail(
    strict=True,
    reason="a 245-byte --to name (NAME_MAX leaves no room for '.manifest.json') exits 3, "
    "'could not run' (the code of a full disk, an I/O error, a running vet: worth a retry) "
    "with an Errno 36 message; it is bad input, exit 2, and no retry ever succeeds",
)
def test_to_name_too_long_for_its_sidecars_is_bad_input(tmp_path):
    q = quarantine_of(tmp_path / "q", {"a.txt": "one\n"})
    run = vet(
        q,
        _policy(tmp_path),
        tmp_path / "events.jsonl",
        "--to",
        str(tmp_path / "pub" / ("y" * 245)),
        "--job",
        JOB,
    )
    assert "Traceback" not in run.err
    assert not (tmp_path / "pub" / ("y" * 245)).exists()
    assert run.code == 2, (run.code, run.err[-200:])


@pytest.mark.xfail(
    strict=True,
    reason="20 directories of 250-byte names (under max_depth 32 and NAME_MAX) are "
    "published: the manifest's path is 5030 bytes, over PATH_MAX (4096); no reader can open it "
    "by its name (ENAMETOOLONG: cp, rsync, sha256sum, a manifest check, open())",
)
def test_published_paths_fit_in_path_max(tmp_path):
    q = tmp_path / "q"
    q.mkdir()
    rel = make_deep(q)
    run = vet(
        q,
        _policy(tmp_path),
        tmp_path / "events.jsonl",
        "--to",
        str(tmp_path / "pub" / JOB),
        "--job",
        JOB,
        *JSON,
    )
    assert "Traceback" not in run.err
    paths = [item["path"] for item in run.report()["entries"] if item["verdict"] == "accepted"]
    assert len(rel) > PATH_MAX
    assert all(len(str(tmp_path / "pub" / JOB / path)) < PATH_MAX for path in paths), max(map(len, paths))


@pytest.mark.parametrize("inodes", [20, 34, 40])
def test_public_tmpfs_short_of_inodes_is_refused_with_nothing_written(tmp_path, inodes):
    """30 files, a tmpfs of `inodes` inodes: each run either publishes all of the job or
    exits 3 with nothing of it in the public area (no partial output, no traceback)."""
    q = quarantine_of(tmp_path / "q", {f"f{i}.txt": f"{i}\n" for i in range(30)})
    policy, mnt = _policy(tmp_path), tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=8m,nr_inodes={inodes}", "tmpfs", str(mnt)], check=True
    )
    try:
        run = vet(q, policy, tmp_path / "events.jsonl", "--to", str(mnt / "pub" / JOB), "--job", JOB)
        out = published(mnt / "pub" / JOB)
        left = sorted(os.listdir(mnt / "pub" / ".vmguard-staging")) if (mnt / "pub").exists() else []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert "Traceback" not in run.err
    assert run.code in (0, 3), run.err
    assert (run.code, len(out)) in ((0, 30), (3, 0)), (run.code, len(out), run.err)
    assert run.code == 0 or left == [f"{JOB}.lock"], left


@pytest.mark.xfail(
    strict=True,
    reason="the event log's disk is full: the job is published (output, manifest, reports) "
    "and the quarantine cleared by --remove-promoted, yet vet exits 3 ('could not run') "
    "with only 'cannot append to log' and no report on stdout (--format json)",
)
def test_full_log_disk_after_promotion_tells_the_truth(tmp_path):
    q = quarantine_of(tmp_path / "q", {"a.txt": "one\n"})
    policy, logfs, pub = _policy(tmp_path), tmp_path / "logfs", tmp_path / "pub"
    logfs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(logfs)], check=True)
    try:
        (logfs / "fill").write_bytes(b"\0" * 65536)  # /var/log full, as it gets
        run = vet(
            q,
            policy,
            logfs / "events.jsonl",
            "--to",
            str(pub / JOB),
            "--job",
            JOB,
            "--remove-promoted",
            *JSON,
        )
    finally:
        subprocess.run(["umount", str(logfs)], check=True)
    assert "Traceback" not in run.err
    if published(pub / JOB):  # published and removed: the code and the report must say so
        assert run.code == 0 and run.out, (run.code, run.err, os.listdir(q))
    else:
        assert run.code == 3 and (q / "a.txt").exists(), (run.code, run.err)


@pytest.mark.xfail(
    strict=True,
    reason="vet run as a user that does not own the quarantine's files (the non-root mode "
    "whose log the docs name): O_NOATIME is not allowed there (EPERM), and every file's "
    "and directory's atime moves to the vet's time; the claim says none changes, no note",
)
def test_access_times_stay_unchanged_when_vet_is_not_root(tmp_path):
    require_tools("setpriv")
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n", "b.csv": "run,events\n1,10\n"})
        give_to_guest(q)
        for path in (q / "a.txt", q / "b.csv", q):
            os.utime(path, ns=(10**18, 1_700_000_000 * 10**9))  # atime 2001, older than mtime
        run = vet_as_nobody(base, q)
        atimes = {p.name: os.stat(p).st_atime_ns for p in (q / "a.txt", q / "b.csv", q)}
    assert run.code == 0, run.err
    assert set(atimes.values()) == {10**18}, atimes


@pytest.mark.xfail(
    strict=True,
    reason="vet not root, the guest makes one file 0600 (or one directory 0700): the whole "
    "vet exits 3, 'could not run: [Errno 13] Permission denied: '15'' (a descriptor number, "
    "not a name), nothing published even with --per-file; a mode the guest sets stops its job",
)
@pytest.mark.parametrize("locked", ["file", "directory"])
def test_an_unreadable_entry_is_rejected_not_fatal(tmp_path, locked):
    require_tools("setpriv")
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n"})
        (q / "d").mkdir()
        (q / "d" / "in.txt").write_text("two\n")
        give_to_guest(q)
        (q / "d" if locked == "directory" else q / "d" / "in.txt").chmod(
            0o700 if locked == "directory" else 0o600
        )
        run = vet_as_nobody(base, q, "--per-file")
        out = published(base / "pub" / JOB)
    assert "Traceback" not in run.err
    assert run.code == 1 and out == {"a.txt": b"one\n"}, (run.code, run.err, out)


@pytest.mark.xfail(
    strict=True,
    reason="--to's missing parents are created with the vet's umask, not promote.dir_mode "
    "as documented: a job runner with umask 077 (systemd UMask=0077) gets 0700 parents, "
    "and the published job (0755/0644 itself) is out of every reader's reach",
)
def test_missing_parents_get_dir_mode_whatever_the_umask(tmp_path):
    q = quarantine_of(tmp_path / "q", {"a.txt": "one\n"})
    pub, umask = tmp_path / "pub", ("sh", "-c", 'umask 077 && exec "$@"', "sh")
    run = vet(q, _policy(tmp_path), tmp_path / "events.jsonl", "--to", str(pub / "alice" / JOB), prefix=umask)
    assert run.code == 0, run.err
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (pub, pub / "alice", pub / "alice" / JOB)}
    assert modes == {"pub": 0o755, "alice": 0o755, JOB: 0o755}, {k: oct(v) for k, v in modes.items()}


def test_output_at_another_jobs_manifest_name_is_never_taken_for_it(tmp_path):
    """Job A's output directory sits where job B's manifest goes: B must not report
    already-promoted (it never was) nor overwrite A's directory."""
    policy, log, pub = _policy(tmp_path), tmp_path / "events.jsonl", tmp_path / "pub"
    q = quarantine_of(tmp_path / "q", {"a.txt": "one\n"})
    assert vet(q, policy, log, "--to", str(pub / "b.manifest.json"), "--job", "a").code == 0
    run = vet(q, policy, log, "--to", str(pub / "b"), "--job", "b", *JSON)
    assert run.code == 2, run.err
    assert not (pub / "b").exists()
    assert published(pub / "b.manifest.json") == {"a.txt": b"one\n"}
