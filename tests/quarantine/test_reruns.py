"""Reruns of a job already published (rerun.py): `already-promoted` only for the same
quarantine and only while its output is all there; a rerun with --remove-promoted
finishes the removal a killed vet left, with the checks of a first run."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from tests.support.attack_ffs_cases import tmpfs
from tests.support.disks import attached, make_image
from tests.support.require import require_root, require_tools
from vmguard.core.errors import ExitCode, VetInputError
from vmguard.quarantine.destination import STAGING
from vmguard.quarantine.model import Status
from vmguard.quarantine.rerun import NOT_RECORDED

ROOT = Path(__file__).resolve().parents[2]
FILES = {f"d{i % 3}/f{i}.txt": f"line {i}\n" for i in range(12)}


def quarantine(path: Path, files: dict[str, str] = FILES) -> Path:
    for rel, text in files.items():
        write(path / rel, text)
    return path


def left(q: Path) -> set[str]:
    return set(published_files(q))


def die_at(q: Path, to: Path, point: str, nth: int = 1) -> int:
    """A vet --remove-promoted in its own process that dies (_exit, as a SIGKILL: no
    cleanup) at the nth hook `point`; its exit code."""
    script = (
        "import os, sys\n"
        "import vmguard\n"
        "from vmguard.quarantine import hooks\n"
        "from tests.quarantine.conftest import policy\n"
        "seen = [0]\n"
        "def hook(point, path):\n"
        "    if point == sys.argv[3]:\n"
        "        seen[0] += 1\n"
        "        if seen[0] == int(sys.argv[4]):\n"
        "            os._exit(9)\n"
        "hooks.set_hook(hook)\n"
        "vmguard.vet(sys.argv[1], policy(), sys.argv[2], job='j', remove_promoted=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-c", script, str(q), str(to), point, str(nth)]
    return subprocess.run(argv, env=env, cwd=ROOT, timeout=120, check=False).returncode


def test_same_quarantine_is_already_promoted(tmp_path):
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
    again = vmguard.vet(q, policy(), to, job="j")
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == ExitCode.OK
    assert {e.path for e in again.accepted if e.kind == "file"} == set(FILES)


@pytest.mark.parametrize("other", ["another", "recreated"])
def test_another_quarantine_is_refused_and_nothing_touched(tmp_path, other):
    """Another directory, or the same path made anew (another inode): exit 2."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    if other == "recreated":
        shutil.rmtree(q)
        second = quarantine(q, {"new.txt": "never vetted\n"})
    else:
        second = quarantine(tmp_path / "q2", {"new.txt": "never vetted\n"})
    before = published_files(tmp_path / "pub")
    with pytest.raises(VetInputError, match="already exists: .* not from .*choose another --to") as err:
        vmguard.vet(second, policy(), to, job="j", remove_promoted=True)
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert published_files(tmp_path / "pub") == before
    assert left(second) == {"new.txt"}


@pytest.mark.parametrize("gone", ["output", "file", "sidecar", "resized"])
def test_output_not_all_there_is_not_already_promoted(tmp_path, gone):
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    if gone == "output":
        shutil.rmtree(to)
    elif gone == "file":
        (to / "d1" / "f4.txt").unlink()
    elif gone == "sidecar":
        (tmp_path / "pub" / "j.vet.json").unlink()
    else:
        (to / "d2" / "f5.txt").write_text("longer than it was\n")
    with pytest.raises(VetInputError, match="no longer there as published"):
        vmguard.vet(q, policy(), to, job="j")


@pytest.mark.parametrize(("point", "nth"), [("committed", 1), ("published", 1), ("remove", 1), ("remove", 7)])
def test_rerun_finishes_a_killed_removal(tmp_path, point, nth):
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert die_at(q, to, point, nth) == 9
    assert left(q), "the kill came after the removal"
    again = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    assert again.exit_code == ExitCode.OK and again.not_removed == (), again.notes
    assert left(q) == set() and published_files(to) == {k: v.encode() for k, v in FILES.items()}
    assert os.listdir(tmp_path / "pub" / STAGING) == ["j.lock"]  # the record is gone with the removal


def test_rerun_without_remove_promoted_says_the_removal_is_unfinished(tmp_path):
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert die_at(q, to, "remove", 3) == 9
    again = vmguard.vet(q, policy(), to, job="j")
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == ExitCode.OK
    assert any("--remove-promoted is unfinished" in n for n in again.notes), again.notes
    assert len(left(q)) == len(FILES) - 2


def test_rerun_of_a_quarantine_rewritten_since_its_copy_is_refused(tmp_path):
    """Its contents are no longer the ones vetted: exit 2, nothing removed, the
    unfinished removal named."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert die_at(q, to, "published") == 9
    st = os.stat(q / "d0" / "f3.txt")
    (q / "d0" / "f3.txt").write_text("line 3\n")  # same bytes, size, mtime put back: its ctime moved
    os.utime(q / "d0" / "f3.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(VetInputError, match="another inode, size, mtime or ctime of d0/f3.txt.*unfinished"):
        vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    assert left(q) == set(FILES)


def test_rerun_after_a_finished_removal(tmp_path):
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert vmguard.vet(q, policy(), to, job="j", remove_promoted=True).exit_code == ExitCode.OK
    assert not q.exists() or left(q) == set()
    q.mkdir(exist_ok=True)
    again = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == ExitCode.OK
    assert any("removed by the earlier vet" in n for n in again.notes), again.notes


def test_rerun_asking_a_removal_the_first_vet_did_not_record(tmp_path):
    """Published without --remove-promoted: nothing says which bytes were copied, so
    nothing is removed, and every published file still there is named: exit 3."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    (q / "d0" / "f0.txt").unlink()
    again = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    assert again.exit_code == ExitCode.CANNOT_RUN
    assert dict(again.not_removed) == {p: NOT_RECORDED for p in FILES if p != "d0/f0.txt"}
    assert left(q) == set(FILES) - {"d0/f0.txt"}


def test_a_stale_record_is_never_used_for_a_new_job(tmp_path):
    """A record left for an output since removed by an admin goes with the next vet."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert die_at(q, to, "remove", 1) == 9
    for name in ("j", "j.manifest.json", "j.vet.json", "j.vet.txt"):
        path = tmp_path / "pub" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
    assert os.listdir(tmp_path / "pub" / STAGING) == ["j.lock"]


def test_a_removal_that_failed_is_finished_by_a_rerun_once_possible(tmp_path):
    """d1 append-only: its files stay (exit 3, the record kept for them alone); unlocked
    (the directory's ctime moves, not its files'), the rerun removes them. (An immutable
    file cannot be: unlocking it moves its own ctime, and it is kept as changed.)"""
    require_root()
    require_tools("chattr")
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    subprocess.run(["chattr", "+a", str(q / "d1")], check=True)
    try:
        first = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    finally:
        subprocess.run(["chattr", "-a", str(q / "d1")], check=True)
    in_d1 = {p for p in FILES if p.startswith("d1/")}
    assert first.exit_code == ExitCode.CANNOT_RUN and {p for p, _ in first.not_removed} == in_d1
    assert left(q) == in_d1
    again = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == ExitCode.OK, again.notes
    assert left(q) == set() and os.listdir(tmp_path / "pub" / STAGING) == ["j.lock"]


@pytest.mark.parametrize("same", [True, False])
def test_a_manifest_without_a_source_is_matched_by_its_path(tmp_path, same):
    """Written by a vmguard before the source was recorded: the path it names decides."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    manifest = tmp_path / "pub" / "j.manifest.json"
    doc = json.loads(manifest.read_text())
    del doc["source"], doc["remove_promoted"]
    manifest.write_text(json.dumps(doc))
    other = q if same else quarantine(tmp_path / "q2")
    if same:
        assert vmguard.vet(other, policy(), to, job="j").status is Status.ALREADY_PROMOTED
        return
    with pytest.raises(VetInputError, match="a quarantine it does not record"):
        vmguard.vet(other, policy(), to, job="j")


def test_a_quarantine_made_anew_on_its_old_inode_number_is_another(tmp_path):
    """ext4 hands a deleted directory's inode number to the next one made (CI saw it):
    the generation tells them apart. On a small ext4 of its own (one block group, nothing
    else made there) the next directory takes the freed number at once: never skipped."""
    require_root()
    image = make_image(tmp_path / "disk.img", "ext4", "-N", "64", "-E", "nodiscard")
    with attached(image, tmp_path / "fs") as fs:
        q, to = quarantine(fs / "q"), tmp_path / "pub" / "j"
        vmguard.vet(q, policy(), to, job="j")
        first = os.stat(q).st_ino
        shutil.rmtree(q)
        quarantine(q, {"new.txt": "never vetted\n"})
        assert os.stat(q).st_ino == first
        with pytest.raises(VetInputError, match="already exists"):
            vmguard.vet(q, policy(), to, job="j")


def test_a_file_added_since_is_not_already_promoted(tmp_path):
    """The same directory (device, inode, generation), a file the vet never saw: exit 2."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    write(q / "d1" / "late.txt", "never vetted\n")
    with pytest.raises(VetInputError, match="records no d1/late.txt, which the quarantine holds"):
        vmguard.vet(q, policy(), to, job="j")


def test_a_file_replaced_by_its_own_bytes_is_not_already_promoted(tmp_path):
    """Same name, bytes, size and mtime, another inode (and ctime): not what was vetted."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    path = q / "d2" / "f2.txt"
    st = os.stat(path)
    write(tmp_path / "new.txt", path.read_bytes())
    os.utime(tmp_path / "new.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(tmp_path / "new.txt", path)
    with pytest.raises(VetInputError, match="another inode, size, mtime or ctime of d2/f2.txt"):
        vmguard.vet(q, policy(), to, job="j")


def test_an_entry_gone_since_hides_nothing(tmp_path):
    """A rejected file the guest removed since: still the vetted contents, less one."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    write(q / "run.sh", "#!/bin/sh\n", mode=0o755)
    first = vmguard.vet(q, policy(), to, job="j", per_file=True)
    assert first.status is Status.PARTIAL
    (q / "run.sh").unlink()
    again = vmguard.vet(q, policy(), to, job="j", per_file=True)
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == first.exit_code


def test_a_manifest_that_records_no_entries_is_refused_clearly(tmp_path):
    """Written by a vmguard before `walked`: nothing proves the quarantine is the one
    vetted, so the rerun is refused, saying why (exit 2)."""
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    vmguard.vet(q, policy(), to, job="j")
    manifest = tmp_path / "pub" / "j.manifest.json"
    doc = json.loads(manifest.read_text())
    del doc["walked"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(VetInputError, match="records no entries of the quarantine .*choose another --to"):
        vmguard.vet(q, policy(), to, job="j")


def test_a_tmpfs_made_anew_with_the_same_names_and_bytes_is_another(tmp_path):
    """Not only new names: the same files written again on a new tmpfs at the same path
    have new ctimes (whatever device and inode numbers they get): exit 2."""
    require_root()
    q, to = tmp_path / "q", tmp_path / "pub" / "j"
    for attempt in range(2):
        with tmpfs(q):
            quarantine(q, {"a.txt": "the same bytes\n"})
            if attempt == 0:
                assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
                continue
            with pytest.raises(VetInputError, match="a.txt, which the quarantine holds|not from"):
                vmguard.vet(q, policy(), to, job="j")


def test_a_rerun_refuses_a_file_rewritten_through_a_mapping_by_the_manifests_sha256(tmp_path):
    """Killed after its renames; then a store through a mapping (tmpfs: no time moves, so
    the quarantine still stamps as vetted): the rerun reads every published file again
    and refuses (exit 2, naming the file), nothing removed, the removal still pending;
    once the bytes are the vetted ones again, the same rerun finishes it (exit 0)."""
    require_root()
    q, to = tmp_path / "q", tmp_path / "pub" / "j"
    with tmpfs(q):
        quarantine(q)
        victim = q / "d0" / "f3.txt"
        fd = os.open(victim, os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as mapped:
                mapped[:4] = b"line"  # the first store: the page is writable from now on
                assert die_at(q, to, "published") == 9
                before = os.stat(victim)
                mapped[:4] = b"LINE"
                with pytest.raises(
                    VetInputError, match=r"d0/f3.txt with a sha256 its bytes .* no longer have"
                ):
                    vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
                assert left(q) == set(FILES) and victim.read_bytes() == b"LINE 3\n"
                mapped[:4] = b"line"
                now = os.stat(victim)
                again = vmguard.vet(q, policy(), to, job="j", remove_promoted=True)
        finally:
            os.close(fd)
        assert (now.st_mtime_ns, now.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns)
        assert left(q) == set()
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == ExitCode.OK, again.notes
    assert published_files(to)["d0/f3.txt"] == b"line 3\n"


@pytest.mark.parametrize("store", [b"LINE", b"line"], ids=["rewritten", "control-same-bytes"])
def test_a_rerun_hashes_each_published_file_again(tmp_path, store):
    """A finished vet; then a store through a mapping the guest opened before it: only
    bytes that are not the manifest's sha256 make the rerun exit 2 (its stamps match)."""
    require_root()
    q, to = tmp_path / "q", tmp_path / "pub" / "j"
    with tmpfs(q):
        quarantine(q)
        fd = os.open(q / "d1" / "f4.txt", os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as mapped:
                mapped[:4] = b"line"
                assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
                mapped[:4] = store
                if store == b"line":
                    assert vmguard.vet(q, policy(), to, job="j").status is Status.ALREADY_PROMOTED
                else:
                    with pytest.raises(VetInputError, match="d1/f4.txt with a sha256"):
                        vmguard.vet(q, policy(), to, job="j")
        finally:
            os.close(fd)


def test_a_directory_the_stopped_walk_never_entered_is_recorded(tmp_path):
    """A walk stopped by max_files has seen directories it never enters (no node): a
    rerun still finds one swapped for another (a new inode), not what was vetted."""
    q, to = tmp_path / "q", tmp_path / "pub" / "j"
    for name in ("a/in.txt", "b/in.txt", "c.txt", "d.txt", "e.txt"):
        write(q / name, "text\n")
    first = vmguard.vet(q, policy(max_files=3), to, job="j", per_file=True)
    assert first.status is Status.PARTIAL  # d.txt is the fourth entry: the walk stops there
    write(q / "a2" / "in.txt", "never vetted\n")
    shutil.rmtree(q / "a")
    os.rename(q / "a2", q / "a")
    with pytest.raises(VetInputError, match="another inode, size, mtime or ctime of a,"):
        vmguard.vet(q, policy(max_files=3), to, job="j", per_file=True)
