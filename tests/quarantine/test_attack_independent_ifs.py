"""Independent black-box attack i on `vmguard vet` (session 35, issue #13): what session
34 fixed after rounds g and h and nobody attacked since: the entries beside vmguard's
own event log (the lock file and head record), the --to judged by the superblock's
device, the job's staging under a mount that appears at the worst moment, and reruns
judged by the manifest's walked rows. Each test passes while the documented claim
holds; a hit is a strict xfail whose reason says what got out.

- The log's directory: a user who can write it (the job user's own
  ~/.local/state/vmguard, a $VMGUARD_LOG the job runner points into a shared
  directory, or one vet itself made 0777 under umask 000) plants symlinks and FIFOs at
  the names vet opens there. The lock refuses a symlink (exit 3, "not logged"); its
  siblings (the log, the head's temporary) follow one, and a FIFO lock hangs vet.
- One ext4 image attached through two loop devices: the same disk, two superblocks.
- A quarantine on tmpfs rewritten through a shared mapping (no ctime moves), between a
  vet and its rerun and while --remove-promoted runs.
- The quarantine bound over the job's staging right after the output's rename (the
  marker is then unlinked by name): refused, nothing in the quarantine touched.

"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.attack_dfs_tools import JSON, PER_FILE_JSON, published, vet_env, write_policy
from tests.support.attack_ifs_cases import (
    HANG,
    Job,
    Mapping,
    one_image_twice,
    plant_beside_log,
    reread_quarantine,
    run_side_by_side,
    tmpfs,
    toggling,
)
from tests.support.require import require_root, require_tools

TEXT = b"event 17 done, 3 tracks\n"
PAYLOAD = b"leaked: key 7f3a9c 0e12\n"  # same size as TEXT, text too
VICTIM = b"host file: root's, outside everything vet may write\n"
SOURCE = {"a.txt": TEXT, "b.csv": b"run,tracks\n1,3\n2,5\n"}


def _policy(tmp_path: Path) -> Path:
    require_root()
    return write_policy(tmp_path / "policy.yaml", "", "text, json, csv")


def _quarantine(path: Path, files: dict[str, bytes] = SOURCE) -> Path:
    path.mkdir(parents=True)
    for rel, data in files.items():
        (path / rel).parent.mkdir(exist_ok=True)
        (path / rel).write_bytes(data)
    return path


# Fixed in session 35 (each was a hit): a symlink at the head's old fixed temporary name
# (written through, as root), the log itself a symlink (appended through), a FIFO as the
# lock (open hung for ever), the head a symlink to /dev/zero (read whole: out of memory),
# the log a FIFO (exit 3, but the reason printed as None).
LOG_CASES = [
    pytest.param("plain", id="control-plain"),
    pytest.param("events.jsonl.lock-symlink", id="lock-symlink"),
    pytest.param("events.jsonl.tmp-symlink", id="tmp-symlink"),
    pytest.param("events.jsonl-symlink", id="log-symlink"),
    pytest.param("events.jsonl.lock-fifo", id="lock-fifo"),
    pytest.param("events.jsonl.head-zero", id="head-zero"),
    pytest.param("events.jsonl-fifo", id="log-fifo"),
]
KINDS = [param.values[0] for param in LOG_CASES]


@pytest.fixture(scope="module")
def log_runs(tmp_path_factory) -> dict[str, tuple]:
    """Every log case's vet at once, one quarantine (vet only reads it), a log directory,
    a host file and a --to each."""
    base = tmp_path_factory.mktemp("ifs-log")
    policy, q = _policy(base), _quarantine(base / "q")
    (base / "host").mkdir()
    jobs = []
    for n, kind in enumerate(KINDS):
        (base / "host" / f"victim{n}").write_bytes(VICTIM)
        plant_beside_log(base / f"log{n}", kind, base / "host" / f"victim{n}")
        jobs.append(
            Job(q, base / "pub" / f"r{n}", "r", base / f"log{n}" / "events.jsonl", JSON, memory=1 << 30)
        )
    fresh = base / "fresh" / "vmguard" / "events.jsonl"  # made by vet, under umask 000
    ended = run_side_by_side(
        policy, [*jobs, Job(q, base / "pub" / "u", "u", fresh, JSON, umask=0)], grace=3.0
    )
    out = {
        kind: (ended[n], published(jobs[n].to), (base / "host" / f"victim{n}").read_bytes())
        for n, kind in enumerate(KINDS)
    }
    modes = {
        str(path.relative_to(base)): path.lstat().st_mode & 0o7777
        for path in (fresh.parent.parent, fresh.parent, *fresh.parent.iterdir())
    }
    return {**out, "umask0": (ended[-1], modes)}


@pytest.mark.parametrize("kind", LOG_CASES)
def test_entries_planted_beside_the_log(log_runs, kind):
    """Whatever a user left beside the log: vet ends (exit 0, or 3 'not logged' with a
    reason), the host file a symlink names is untouched, and the job is published whole."""
    ended, out, victim = log_runs[kind]
    assert ended.code != HANG, ("hung", ended.err[-300:])
    assert "Traceback" not in ended.err
    assert victim == VICTIM, victim[:120]
    assert ended.code in (0, 3) and out == SOURCE, (ended.code, sorted(out), ended.err[-300:])
    assert ended.code == 0 or ": None:" not in ended.err, ended.err[-300:]


@pytest.fixture(scope="module")
def image_twice(tmp_path_factory) -> tuple:
    """The --to in the second mount of the quarantine's image, and a control --to on
    another filesystem, vetted side by side; then the image mounted alone again."""
    base = tmp_path_factory.mktemp("ifs-loop")
    policy = _policy(base)
    require_tools("mkfs.ext4", "losetup", "mount")
    with one_image_twice(base, SOURCE) as (first, again):
        jobs = [
            Job(first / "q", again / "q" / "pub" / "r", "r", base / "log" / "events.jsonl", JSON),
            Job(first / "q", base / "pub" / "r", "r", base / "log2" / "events.jsonl", JSON),
        ]
        ended = run_side_by_side(policy, jobs)
        made = sorted(path.name for path in (again / "q" / "pub").iterdir())
    return ended, made, reread_quarantine(base), published(base / "pub" / "r")


def test_to_on_a_second_mount_of_the_quarantines_image_is_refused(image_twice):
    """Another superblock and device number, the same disk: refused by the disk's UUID
    (a hole until session 35: a --to in B/q/pub was published into the quarantine)."""
    ended, made, later, _ = image_twice
    assert "Traceback" not in ended[0].err
    assert (ended[0].code, made, later) == (2, [], []), (ended[0].code, made, later, ended[0].err[-300:])


def test_control_from_the_image_to_another_filesystem_is_published_identical(image_twice):
    ended, _, _, out = image_twice
    assert (ended[1].code, out) == (0, SOURCE), (ended[1].code, sorted(out), ended[1].err[-300:])


MAPPED_RERUN = (
    "HIT (report): a vetted file of a tmpfs quarantine rewritten after the vet through a "
    "shared mapping the guest held since before it (a.txt now {0!r}: mtime and ctime do not "
    "move on tmpfs, as the docs say of --remove-promoted); the rerun of the same command "
    "reports already-promoted, exit 0: the walked rows match, the bytes are not what was "
    "vetted (the removal hashes the file; the rerun does not)"
)
TOGGLED = [f"t{n}.txt" for n in range(8)]


def _rerun_jobs(t: Path, base: Path) -> list[Job]:
    removing = ("--remove-promoted", *PER_FILE_JSON)
    return [
        Job(t / name, base / "pub" / name, name, base / "log" / f"{name}.jsonl", extra)
        for name, extra in (("q1", JSON), ("q2", JSON), ("q3", removing))
    ]


@pytest.fixture(scope="module")
def tmpfs_reruns(tmp_path_factory) -> dict:
    """On a tmpfs: q1 (a.txt mapped by the guest before the vet) and q2 vetted; then q1's
    a.txt rewritten through the mapping, q2's a.txt replaced by a new file of the same
    bytes, size and mtime; both reruns. Meanwhile q3 vetted --remove-promoted while eight
    mapped files toggle between two same-size texts, in a loop, for the whole vet."""
    base = tmp_path_factory.mktemp("ifs-tmpfs")
    policy = _policy(base)
    with tmpfs(base / "t") as t:
        for name in ("q1", "q2"):
            _quarantine(t / name)
        _quarantine(t / "q3", {**{rel: TEXT for rel in TOGGLED}, "b.csv": SOURCE["b.csv"]})
        maps = [Mapping(t / "q1" / "a.txt"), *(Mapping(t / "q3" / rel) for rel in TOGGLED)]
        try:
            with toggling(maps[1:], (TEXT, PAYLOAD)):
                first = run_side_by_side(policy, jobs := _rerun_jobs(t, base))
            before = (t / "q1" / "a.txt").stat()
            maps[0].store(PAYLOAD)
            after = (t / "q1" / "a.txt").stat()
            _replace_alike(t / "q2" / "a.txt")
            again = run_side_by_side(policy, jobs[:2])
            left = sorted(path.name for path in (t / "q3").iterdir())
        finally:
            for mapping in maps:
                mapping.close()
    return {
        "first": first,
        "again": again,
        "ctime_kept": (before.st_ctime_ns, before.st_mtime_ns) == (after.st_ctime_ns, after.st_mtime_ns),
        "out": {job.job: published(job.to) for job in jobs},
        "left": left,
    }


def _replace_alike(path: Path) -> None:
    """A new file (new inode, new ctime) with the same bytes and mtime, renamed over."""
    old = path.stat()
    tmp = path.with_name(".swap")
    tmp.write_bytes(path.read_bytes())
    os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.rename(tmp, path)


def test_control_first_vets_on_tmpfs_are_published_identical(tmpfs_reruns):
    codes = [ended.code for ended in tmpfs_reruns["first"][:2]]
    assert codes == [0, 0] and tmpfs_reruns["out"]["q1"] == tmpfs_reruns["out"]["q2"] == SOURCE, codes


def test_rerun_after_a_mapped_rewrite_is_not_already_promoted(tmpfs_reruns):
    """Fixed in session 35 (MAPPED_RERUN was the hit): the rerun hashes every published
    file again and refuses (exit 2) bytes that are not the manifest's sha256."""
    ended = tmpfs_reruns["again"][0]
    assert tmpfs_reruns["ctime_kept"], "ctime moved: this kernel's tmpfs updates times on mapped stores"
    assert ended.code == 2 and "Traceback" not in ended.err, (ended.code, ended.out[-200:])


def test_rerun_after_a_same_size_same_mtime_swap_is_refused(tmpfs_reruns):
    ended = tmpfs_reruns["again"][1]
    assert ended.code == 2 and "Traceback" not in ended.err, (ended.code, ended.err[-300:])


def test_remove_promoted_while_mapped_files_toggle(tmpfs_reruns):
    """Whatever the interleaving: exit 0, or 1 where a torn mix of the two texts is typed
    otherwise; each published file's bytes are what the report hashed, each byte one of
    the two versions the guest stored there; nothing rejected is published; b.csv is
    published identical and removed; a toggled file is either removed or still there."""
    ended = tmpfs_reruns["first"][2]
    assert ended.code in (0, 1) and "Traceback" not in ended.err, (ended.code, ended.err[-300:])
    out, report = tmpfs_reruns["out"]["q3"], json.loads(ended.out)
    accepted = {
        entry["path"]: entry["sha256"] for entry in report["entries"] if entry["verdict"] == "accepted"
    }
    assert set(out) == set(accepted) and out["b.csv"] == SOURCE["b.csv"], sorted(out)
    for rel in set(out) - {"b.csv"}:
        assert hashlib.sha256(out[rel]).hexdigest() == accepted[rel], rel
        assert all(
            byte in pair for byte, pair in zip(out[rel], zip(TEXT, PAYLOAD, strict=True), strict=True)
        ), out[rel]
    assert "b.csv" not in tmpfs_reruns["left"] and set(tmpfs_reruns["left"]) <= set(TOGGLED)


# Fixed in session 35: the log's folders were made 0777 and the log 0666 under umask 000.
def test_log_made_under_umask_000_is_not_world_writable(log_runs):
    ended, modes = log_runs["umask0"]
    assert ended.code == 0, (ended.code, ended.err[-300:])
    assert {path: mode & 0o022 for path, mode in modes.items()} == dict.fromkeys(modes, 0), {
        path: oct(mode) for path, mode in modes.items()
    }


def test_quarantine_bound_over_the_staging_after_the_first_rename(tmp_path):
    """The host's mounts change under vet's staging at the worst moment: a child spins
    until the job's output is renamed into place, then binds the quarantine over the
    job's staging (.vmguard-staging/rN.staging), whose COMMITTED marker vet then unlinks
    by name; the quarantine holds a COMMITTED of its own (rejected: executable mode, so
    never published or removed). Two vets in a row; whatever the interleaving: the
    quarantine keeps every entry, each exit is 1 (the rejection) or 3 naming the staging
    left under the mount, and every published file is the quarantine's, byte for byte."""
    policy = _policy(tmp_path)
    require_tools("unshare")
    q = _quarantine(tmp_path / "q", {**SOURCE, **{f"d/f{n}.txt": b"event %d done\n" % n for n in range(30)}})
    (q / "COMMITTED").write_bytes(TEXT)
    (q / "COMMITTED").chmod(0o755)
    (tmp_path / "pub").mkdir()
    script = str(Path(__file__).parents[1] / "support" / "attack_ifs_flap.py")
    argv = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        sys.executable,
        script,
        str(tmp_path),
        str(policy),
        "2",
    ]
    res = subprocess.run(
        argv, env=vet_env(tmp_path / "events.jsonl"), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-400:]
    seen, source = json.loads(res.stdout), published(q)
    assert seen["after"] == seen["before"], set(seen["before"]) ^ set(seen["after"])
    for index, (code, err) in enumerate(zip(seen["codes"], seen["errors"], strict=True)):
        assert code == 1 or (code == 3 and "a mount is over" in err), (index, code, err)
        out = published(tmp_path / "pub" / f"r{index}")
        assert out and {rel: source.get(rel) for rel in out} == out, (index, sorted(out))
