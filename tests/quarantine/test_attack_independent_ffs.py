"""Independent black-box attack f on `vmguard vet`, everything outside file content
(session 33, issue #13). Not repeated from test_attack_independent_fs.py, dfs.py and
efs.py: the classes here are new. Each test passes while the documented claim holds; a
hit is a strict xfail whose reason says what got out, what was lost, or which promise the
run broke.

One quarantine of real output (logging, numpy.savetxt, csv, json, astropy, h5py,
tarfile) with the session-32 name rules' look-alikes (dot_names in another case or with a
trailing dot, config names in any case and directory, gunzip's suffixes, Outlook's list)
and names the tables do not hold (ROOT's and PAW's logon macros, Apache's type maps,
IIS's .xoml), plus two 5-6 MiB files of long zero runs whose zero blocks are half holes,
vetted ONCE through the CLI; then runs of their own: --remove-promoted killed at
COMMITTED or mid-removal while the guest then changes the quarantine, and rerun; d/
swapped for a host symlink during the removal; a file rewritten through a shared mapping
after its copy; a public tmpfs at the free-space boundary; PATH_MAX counted in bytes;
--to through a bind mount of the quarantine or of a directory in it; an event log whose
last line was torn, and one whose disk fills at the append; the quarantine made anew
(overlayfs, a fresh disk at the same path); a vet not run as root while the guest flips
modes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.attack_dfs_races import forked
from tests.support.attack_dfs_static import entry, make_controls
from tests.support.attack_dfs_tools import (
    JSON,
    PER_FILE_JSON,
    Run,
    published,
    vet,
    write_policy,
)
from tests.support.attack_efs_cases import give_to_guest, quarantine_of, shared_top, vet_as_nobody
from tests.support.attack_ffs_cases import (
    NAME_HOLES,
    NAME_PUBLISHED,
    NAME_REFUSED,
    MappedWriter,
    deep_tree,
    in_private_mounts,
    kill_at_deletion,
    leaf_write,
    make_names,
    tmpfs,
    zero_blocks_are_holes,
    zero_run_hdf5,
    zero_run_image,
)
from tests.support.attack_ffs_log import vet_after_a_torn_line, vets_around_a_full_log
from tests.support.attack_ffs_races import (
    counted_quarantine,
    guest_meddles,
    swap_on_first_delete,
    tmpfs_like,
    toggle_modes,
    vet_two_quarantines,
)
from tests.support.require import require_root, require_tools

JOB = "r"
TYPES = "text, json, fits, hdf5, gzip, tar"
DOT_NAMES = "    dot_names: [.snakemake]\n"
BIG = ("big/zeros.fits", "big/zeros.h5")


@dataclass(frozen=True)
class Shared:
    """The one shared run: its quarantine, public output and controls."""

    q: Path
    run: Run
    out: Path
    controls: dict[str, bytes]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Shared:
    base = tmp_path_factory.mktemp("ffs")
    q = base / "q"
    q.mkdir()
    controls = make_controls(q)
    make_names(q)
    (q / "big").mkdir()
    zero_run_image(q / BIG[0], seed=33)
    zero_run_hdf5(q / BIG[1], seed=34)
    policy = write_policy(base / "policy.yaml", DOT_NAMES, TYPES)
    out = base / "pub" / JOB
    run = vet(q, policy, base / "events.jsonl", "--to", str(out), "--job", JOB, *PER_FILE_JSON, timeout=120)
    return Shared(q, run, out, controls)


def test_shared_run_ran(shared):
    assert "Traceback" not in shared.run.err
    assert shared.run.code == 1, shared.run.err[-400:]  # the refused names, --per-file
    assert shared.run.report()["status"] == "partial"


def test_controls_published_identical(shared):
    out = published(shared.out)
    for rel, data in shared.controls.items():
        assert out.get(rel) == data, (rel, entry(shared.run, rel))


@pytest.mark.parametrize("case", [*NAME_HOLES, *NAME_REFUSED], ids=lambda c: c.rel)
def test_names_a_reader_acts_on_are_refused(shared, case):
    assert not (shared.out / case.rel).exists()
    assert entry(shared.run, case.rel)["verdict"] == "rejected"


@pytest.mark.parametrize("case", NAME_PUBLISHED, ids=lambda c: c.rel)
def test_ordinary_and_listed_names_are_published(shared, case):
    assert (shared.out / case.rel).read_bytes() == case.data, entry(shared.run, case.rel)


@pytest.mark.parametrize("rel", BIG)
def test_long_zero_runs_and_holes_publish_the_same_bytes(shared, rel):
    """Files over 1 MiB whose zero runs cross the copy's chunks, half their zero blocks
    holes: the published sha256 is the source's and the manifest's."""
    src = hashlib.sha256((shared.q / rel).read_bytes()).hexdigest()
    item = entry(shared.run, rel)
    assert item["verdict"] == "accepted", item
    assert hashlib.sha256((shared.out / rel).read_bytes()).hexdigest() == src == item["sha256"]


@pytest.mark.parametrize("rel", BIG)
def test_published_hole_map_is_the_bytes(shared, rel):
    assert zero_blocks_are_holes(shared.out / rel) == []


def _policy(tmp_path: Path) -> Path:
    require_root()
    return write_policy(tmp_path / "policy.yaml", DOT_NAMES, TYPES)


def _not_removed(run: Run) -> set[str]:
    return {item["path"] for item in run.report().get("not_removed", [])} if run.out else set()


@pytest.mark.parametrize("count", [0, 1, 23, 81])
def test_remove_promoted_killed_then_rerun(tmp_path, count):
    """Killed at COMMITTED or after the `count`th deletion of its removal, the guest then
    meddling, a rerun with --remove-promoted: the public area holds all of the job or none,
    nothing outside the quarantine is touched, nothing rejected or unpublished is deleted,
    every deleted file was published, every published file left is named (exit 3), or
    the rerun refuses the quarantine, no longer what was vetted (late.txt, f0.txt anew),
    saying the removal is unfinished (exit 2)."""
    policy, log, pub = _policy(tmp_path), tmp_path / "events.jsonl", tmp_path / "pub"
    q, outside = tmp_path / "q", tmp_path / "host"
    files = counted_quarantine(q, 90)
    outside.mkdir()
    for rel in files:
        if rel.startswith("d/"):
            (outside / rel[2:]).write_bytes(b"host file\n")
    kill_at_deletion(q, policy, log, pub / JOB, count, "--per-file")
    first = published(pub / JOB)
    assert not first or len(first) == len(files), len(first)
    guest_meddles(q, outside)
    run = vet(q, policy, log, "--to", str(pub / JOB), "--job", JOB, "--per-file", "--remove-promoted", *JSON)
    assert "Traceback" not in run.err, run.err
    assert all(p.read_bytes() == b"host file\n" for p in outside.iterdir())
    after = published(pub / JOB)
    assert (q / "bad.txt").exists() and ((q / "late.txt").exists() or "late.txt" in after)
    left = set()
    for rel, data in files.items():
        here = q / rel if not rel.startswith("d/") else q / "d.moved" / rel[2:]
        if not here.exists():
            assert after.get(rel) == data or after.get(f"d.moved/{rel[2:]}") == data, rel
        elif rel in after and rel != "f0.txt":
            left.add(rel)
    named = run.code == 3 and left <= _not_removed(run)
    refused = run.code == 2 and "--remove-promoted of this job is unfinished" in run.err
    assert not left or named or refused, (
        run.code,
        sorted(left)[:3],
        run.err[-300:],
    )


@pytest.mark.parametrize("size_kib", [1304, 1320])
def test_public_tmpfs_a_few_blocks_short(tmp_path, size_kib):
    """30 files of 40 KiB and the sidecars on a tmpfs near their size: all of the job
    (exit 0) or nothing of it and no staging left (exit 3), never a traceback."""
    q = tmp_path / "q"
    q.mkdir()
    for i in range(30):
        (q / f"f{i}.txt").write_bytes(f"line {i}\n".encode() * 5000)
    policy, mnt = _policy(tmp_path), tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mnt)], check=True)
    try:
        run = vet(q, policy, tmp_path / "events.jsonl", "--to", str(mnt / JOB), "--job", JOB, *JSON)
        out = published(mnt / JOB)
        left = sorted(os.listdir(mnt / ".vmguard-staging")) if (mnt / ".vmguard-staging").exists() else []
        sidecars = sorted(p.name for p in mnt.iterdir() if p.name.startswith(f"{JOB}."))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert "Traceback" not in run.err
    assert (run.code, len(out)) in ((0, 30), (3, 0)), (run.code, len(out), run.err[-300:])
    assert run.code == 0 or (left in ([], [f"{JOB}.lock"]) and not sidecars), (left, sidecars)


@pytest.mark.parametrize(
    "bound",
    [
        "q",
        "q/out",
    ],
)
def test_to_through_a_bind_mount_of_the_quarantine(tmp_path, bound):
    """--to under a bind mount of the quarantine, or of a directory in it: the output
    would be the guest's to rewrite. Exit 2, nothing made inside the quarantine."""
    require_tools("unshare", "mount")
    policy, log = _policy(tmp_path), tmp_path / "events.jsonl"
    q = tmp_path / "q"
    (q / "out").mkdir(parents=True)
    (q / "a.txt").write_text("one\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    to = mnt / ("sub/r" if bound == "q" else "r")
    script = (
        'mount --bind "$1" "$2" && exec "$3" -m vmguard vet "$4" --policy "$5" --to "$6" --job r --per-file'
    )
    res = in_private_mounts(
        log, script, str(tmp_path / bound), str(mnt), sys.executable, str(q), str(policy), str(to)
    )
    made = sorted(str(p.relative_to(q)) for p in q.rglob("*"))
    assert "Traceback" not in res.stderr
    assert res.returncode == 2 and made == ["a.txt", "out"], (res.returncode, res.stdout[-300:], made)


def _job_of(line: bytes) -> str | None:
    try:
        return json.loads(line)["data"].get("job")
    except ValueError:
        return None


def test_torn_last_line_of_the_event_log(tmp_path):
    """A log whose last line a full disk tore (no newline): the next vet's event must be
    a line of its own (exit 0), or the vet says it is not logged (exit 3)."""
    res, last = vet_after_a_torn_line(tmp_path, _policy(tmp_path))
    assert "Traceback" not in res.stderr, res.stderr[-400:]
    if res.returncode == 0:
        assert _job_of(last) == "r", last[:60] + b" ... " + last[-60:]
    else:
        assert res.returncode == 3 and "missing from the log" in res.stderr, res.stderr[-300:]


def test_full_log_disk_at_the_head_record(tmp_path):
    runs = vets_around_a_full_log(tmp_path, _policy(tmp_path))
    assert "Traceback" not in runs.full.stderr + runs.after.stderr
    assert (runs.full.returncode, runs.after.returncode) == (3, 0), runs.full.stderr[-300:]
    said_missing = "missing from the log" in runs.full.stderr
    assert not (said_missing and "s1" in runs.jobs), ("said missing, but logged", runs.jobs)
    assert runs.verify.returncode == 0, runs.verify.stderr[-300:]
    assert runs.stray == ["events.jsonl", "events.jsonl.head", "events.jsonl.lock"], runs.stray


def test_remove_promoted_keeps_a_file_rewritten_through_a_mapping(tmp_path):
    policy, pub = _policy(tmp_path), tmp_path / "pub"
    with tmpfs(tmp_path / "q") as q:
        (q / "a.txt").write_bytes(b"event 0000000 done\n" * 400)
        writer = MappedWriter(q / "a.txt")
        with writer:
            run = vet(
                q,
                policy,
                tmp_path / "events.jsonl",
                "--to",
                str(pub / JOB),
                "--job",
                JOB,
                "--remove-promoted",
                *JSON,
            )
        final = writer.close()
        kept = (q / "a.txt").exists()
    assert "Traceback" not in run.err
    out = published(pub / JOB).get("a.txt")
    assert run.code == 0 and out is not None, (run.code, run.err[-300:])
    assert kept or out == final, (out[:20], final[:20], run.report()["notes"])


def test_path_max_boundary_counts_bytes(tmp_path):
    """A file whose published path is 4095 bytes is published; one of 4096 bytes, or of
    4095 characters but 4096 bytes (an é), is refused: path-too-long."""
    q, to = tmp_path / "q", tmp_path / "pub" / JOB
    q.mkdir()
    room = deep_tree(q, 4095 - len(os.fsencode(str(to))) - 1)
    names = {"fit": "f" * (room - 4), "over": "o" * (room - 3), "accent": "é" + "a" * (room - 5)}
    for name in names.values():
        leaf_write(q, name + ".txt")
    run = vet(q, _policy(tmp_path), tmp_path / "events.jsonl", "--to", str(to), "--job", JOB, *PER_FILE_JSON)
    assert "Traceback" not in run.err
    got = {
        tag: (e["verdict"], e["reasons"])
        for e in run.report()["entries"]
        for tag, name in names.items()
        if e["path"].endswith(f"/{name}.txt")
    }
    refused = ("rejected", ["path-too-long"])
    assert got == {"fit": ("accepted", []), "over": refused, "accent": refused}, got


def test_directory_swapped_for_a_host_symlink_during_removal(tmp_path):
    """From --remove-promoted's first deletion on, the guest keeps exchanging d/ with a
    symlink to a host directory holding the same names: no host file is deleted, and the
    published files left behind are named (exit 3)."""
    policy, pub, q, host = _policy(tmp_path), tmp_path / "pub", tmp_path / "q", tmp_path / "host"
    (q / "d").mkdir(parents=True)
    host.mkdir()
    for index in range(300):
        (q / "d" / f"f{index}.txt").write_bytes(b"guest\n")
        (host / f"f{index}.txt").write_bytes(b"host\n")
    (q / "dlink").symlink_to(host)
    with forked(swap_on_first_delete(q, "d", "dlink", 1.5)):
        run = vet(
            q,
            policy,
            tmp_path / "events.jsonl",
            "--to",
            str(pub / JOB),
            "--job",
            JOB,
            "--remove-promoted",
            *PER_FILE_JSON,
        )
    assert "Traceback" not in run.err
    assert sorted(p.read_bytes() for p in host.iterdir()) == [b"host\n"] * 300
    real = q / "d" if not (q / "d").is_symlink() else q / "dlink"
    left = {f"d/{name}" for name in os.listdir(real)} if real.is_dir() else set()
    named = run.code == 3 and left <= _not_removed(run)
    refused = run.code == 2 and "--remove-promoted of this job is unfinished" in run.err
    assert not left or named or refused, (run.code, len(left))


def test_modes_flipped_under_a_vet_not_run_as_root(tmp_path):
    """vet as nobody while the guest flips its files' modes (0000/0644) and its
    directory's (0700/0755): each file is published with its bytes or refused with a
    reason (unreadable, changed-during-vet), or the directory, 0700 when walked, is refused
    whole and nothing of it published; exit 1 at worst, never a traceback."""
    require_tools("setpriv")
    names = [f"f{index}.txt" for index in range(200)]
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n"})
        (q / "d").mkdir()
        for name in names:
            (q / "d" / name).write_text(f"line {name}\n")
        give_to_guest(q)
        with forked(toggle_modes(q, names)):
            run = vet_as_nobody(base, q, "--per-file")
        out = published(base / "pub" / JOB)
    assert "Traceback" not in run.err and run.code in (0, 1), (run.code, run.err[-300:])
    refused = {e["path"]: e["reasons"] for e in run.report()["entries"] if e["verdict"] == "rejected"}
    assert all(out[f"d/{n}"] == f"line {n}\n".encode() for n in names if f"d/{n}" in out)
    assert out.get("a.txt") == b"one\n", (len(out), refused)
    if refused.get("d") == ["unreadable"]:  # d was 0700 when walked: refused whole, named
        assert len(out) == 1, (len(out), refused)  # nothing of d published
    else:  # every file of d published with its bytes, or refused by name
        assert len(out) + len(refused) == 201, (len(out), refused)


@pytest.mark.parametrize("kind", ["overlayfs", "disk", "tmpfs"])
def test_a_quarantine_made_anew_is_another_quarantine(tmp_path, kind):
    """The docs: 'the same path made anew is another quarantine'. a.txt vetted from the
    first, b.txt written in the second: the rerun exits 2 or vets b.txt alone."""
    require_tools("losetup", "mkfs.ext4")
    run = vet_two_quarantines(kind, tmp_path, _policy(tmp_path))
    assert "Traceback" not in run.err
    assert run.code == 2 or {e["path"] for e in run.report()["entries"]} == {"b.txt"}, (
        run.code,
        run.out[:200],
    )


@pytest.mark.parametrize("other", ["freed below", "taken a while"])
def test_a_new_tmpfs_gets_the_first_ones_device_back(tmp_path, other):
    """What the tmpfs case above needs, whatever other mounts come and go beside it:
    "freed below", a mount made before the first tmpfs ends after it (its number, lower,
    came back at every retry: the case was skipped); "taken a while", a mount takes the
    first's number for half a second."""
    require_root()
    require_tools("mount")
    at, foreign = tmp_path / "q", tmp_path / "foreign"
    foreign.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(foreign)]
    if other == "freed below":
        subprocess.run(mount, check=True)
    with tmpfs_like(at, None):
        first = os.stat(at)
    if other == "taken a while":
        subprocess.run(mount, check=True)
    ends = threading.Timer(0.5 if other == "taken a while" else 0, subprocess.run, [["umount", str(foreign)]])
    ends.start()
    if other == "freed below":
        ends.join()
    try:
        with tmpfs_like(at, first, wait=20):
            st = os.stat(at)
            assert (st.st_dev, st.st_ino) == (first.st_dev, first.st_ino)
            assert len(mounts_at(at)) == 1  # the numbers kept meanwhile were let go
    finally:
        ends.join()
    assert not mounts_at(at) and not mounts_at(foreign)


def mounts_at(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if f" {path} " in line]
