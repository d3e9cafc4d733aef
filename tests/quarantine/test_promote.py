"""Promotion: all-or-nothing and per-file, the public area never overwritten or followed,
limits, free space, the lock, dry runs, --remove-promoted, the scanner hook."""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import random
import subprocess
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import ELF, published_files, rules, snapshot, write
from tests.support.require import require_root
from vmguard.core.errors import VetError, VetInputError
from vmguard.policy.model import CommandScanner, PromoteMode, PromotePolicy, Scanners
from vmguard.quarantine import copy, hooks
from vmguard.quarantine.model import Reason, Status, Verdict


@pytest.fixture
def job(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", "alpha\n")
    write(q / "sub" / "b.json", '{"b": 2}')
    pub.mkdir()
    return q, pub


def test_everything_accepted_is_promoted_with_a_matching_manifest(job):
    q, pub = job
    result = vmguard.vet(q, rules(), pub / "run1", job="run1")
    assert result.status is Status.PROMOTED and result.exit_code == 0
    assert published_files(pub / "run1") == {"a.txt": b"alpha\n", "sub/b.json": b'{"b": 2}'}
    manifest = json.loads((pub / "run1.manifest.json").read_text())
    files = {e["path"]: e for e in manifest["entries"] if e["kind"] == "file"}
    for path, data in published_files(pub / "run1").items():
        assert files[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert files[path]["size"] == len(data) and files[path]["verdict"] == "accepted"
    assert files["sub/b.json"]["type"] == "application/json"
    assert json.loads((pub / "run1.vet.json").read_text())["status"] == "promoted"
    assert "promoted to" in (pub / "run1.vet.txt").read_text()
    assert sorted(os.listdir(pub / ".vmguard-staging")) == ["run1.lock"]


def test_all_or_nothing_publishes_nothing_when_one_file_is_rejected(job):
    q, pub = job
    write(q / "evil.txt", ELF)
    result = vmguard.vet(q, rules(), pub / "run1")
    assert result.status is Status.REJECTED and result.exit_code == 1
    assert sorted(os.listdir(pub)) == [".vmguard-staging"]
    assert sorted(os.listdir(pub / ".vmguard-staging")) == ["run1.lock"]
    assert {e.path for e in result.accepted} >= {"a.txt", "sub/b.json"}  # still reported


def test_per_file_mode_from_the_policy_publishes_the_accepted_part(job):
    q, pub = job
    write(q / "evil.txt", ELF)
    result = vmguard.vet(q, rules(promote=PromotePolicy(mode=PromoteMode.PER_FILE)), pub / "r")
    assert result.status is Status.PARTIAL and result.exit_code == 1 and result.promoted == 2
    assert set(published_files(pub / "r")) == {"a.txt", "sub/b.json"}


@pytest.mark.parametrize("planted", ["run1", "run1.manifest.json", "run1.vet.txt"])
@pytest.mark.parametrize("as_symlink", [True, False])
def test_an_existing_public_name_is_never_overwritten_or_followed(job, tmp_path, planted, as_symlink):
    q, pub = job
    victim = tmp_path / "victim"
    victim.mkdir()
    if as_symlink:
        os.symlink(victim, pub / planted)
    else:
        write(pub / planted, "someone else's file\n")
    before = snapshot(pub), snapshot(victim)
    with pytest.raises(VetInputError, match="already exists"):
        vmguard.vet(q, rules(), pub / "run1")
    assert snapshot(pub) == before[0] | {k: v for k, v in snapshot(pub).items() if b".vmguard-staging" in k}
    assert snapshot(victim) == before[1]


def test_a_second_vet_of_the_same_target_cannot_take_the_lock(job):
    q, pub = job
    vmguard.vet(q, rules(), pub / "other")  # creates the staging directory
    fd = os.open(pub / ".vmguard-staging" / "run1.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(VetError, match="another vet"):
            vmguard.vet(q, rules(), pub / "run1")
    finally:
        os.close(fd)
    assert not (pub / "run1").exists()
    assert vmguard.vet(q, rules(), pub / "run1").status is Status.PROMOTED


def test_dry_run_publishes_nothing_and_needs_no_destination(job, tmp_path):
    q, _ = job
    write(q / "evil.txt", ELF)
    result = vmguard.vet(q, rules(), tmp_path / "nowhere" / "run1", dry_run=True)
    assert result.status is Status.DRY_RUN and result.exit_code == 1
    assert not (tmp_path / "nowhere").exists()
    assert (
        next(e for e in result.entries if e.path == "a.txt").sha256 == hashlib.sha256(b"alpha\n").hexdigest()
    )


def test_rerun_after_promotion_reports_already_promoted(job):
    q, pub = job
    first = vmguard.vet(q, rules(), pub / "run1", job="run1")
    again = vmguard.vet(q, rules(), pub / "run1", job="run1")
    assert again.status is Status.ALREADY_PROMOTED and again.exit_code == 0
    assert {e.path: e.sha256 for e in again.accepted} == {e.path: e.sha256 for e in first.accepted}


def test_remove_promoted_deletes_exactly_the_published_files(job):
    q, pub = job
    write(q / "evil.txt", ELF)
    result = vmguard.vet(q, rules(), pub / "run1", per_file=True, remove_promoted=True)
    assert result.status is Status.PARTIAL
    assert sorted(os.listdir(q)) == ["evil.txt"]


def test_quarantine_untouched_without_remove_promoted(job):
    q, pub = job
    before = snapshot(q)
    vmguard.vet(q, rules(), pub / "run1")
    assert snapshot(q) == before


def test_too_many_files_stops_the_walk(tmp_path):
    q = tmp_path / "q"
    for i in range(200):
        write(q / f"tiny{i:04}.txt", "x\n")
    result = vmguard.vet(q, rules(max_files=50), tmp_path / "run1", dry_run=True)
    too_many = [e for e in result.rejected if Reason.TOO_MANY_FILES in e.reasons]
    assert len(too_many) == 1 and too_many[0].path == "tiny0050.txt"
    assert len(result.entries) == 51


def test_total_size_limit(tmp_path):
    q = tmp_path / "q"
    for i in range(5):
        write(q / f"f{i}.txt", "y" * 1000)
    result = vmguard.vet(q, rules(max_total_size=3500), tmp_path / "run1", dry_run=True)
    assert [e.path for e in result.rejected if Reason.TOTAL_TOO_LARGE in e.reasons] == ["f3.txt", "f4.txt"]


def test_small_destination_is_refused_before_anything_is_copied(tmp_path):
    require_root()
    q, small = tmp_path / "q", tmp_path / "small"
    write(q / "big.txt", "z" * (3 << 20))
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        used = os.statvfs(small).f_bfree
        with pytest.raises(VetError, match="not enough free space"):
            vmguard.vet(q, rules(), small / "run1")
        assert os.statvfs(small).f_bfree == used
        assert sorted(os.listdir(small / ".vmguard-staging")) == ["run1.lock"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_owner_and_group_are_normalised(job):
    require_root()
    q, pub = job
    promote = PromotePolicy(owner="nobody", group="nogroup", file_mode=0o640, dir_mode=0o750)
    vmguard.vet(q, rules(promote=promote), pub / "run1")
    for path in (pub / "run1", pub / "run1" / "sub", pub / "run1" / "a.txt"):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534)
        assert st.st_mode & 0o777 == (0o750 if path.is_dir() else 0o640)


def test_unknown_owner_is_bad_input(job):
    q, pub = job
    with pytest.raises(VetInputError, match="unknown user"):
        vmguard.vet(q, rules(promote=PromotePolicy(owner="no-such-user-x")), pub / "r")


def scanner_script(tmp_path: Path, body: str, timeout: float = 30) -> Scanners:
    script = tmp_path / "scanner.sh"
    write(script, "#!/bin/sh\n" + body, mode=0o755)
    return Scanners(command=CommandScanner(argv=(str(script), "{path}"), timeout=timeout))


def test_scanner_verdicts_are_recorded(job, tmp_path):
    q, pub = job
    write(q / "eicar.txt", "X5O!P%@AP-EICAR-STANDARD-ANTIVIRUS-TEST-FILE\n")
    scanner = scanner_script(
        tmp_path, 'if grep -q EICAR "$1"; then echo "$1: Eicar FOUND"; exit 1; fi; echo "$1: OK"\n'
    )
    result = vmguard.vet(q, rules(scanners=scanner), pub / "run1", per_file=True)
    entries = {e.path: e for e in result.entries}
    assert entries["eicar.txt"].reasons == (Reason.SCANNER_FLAGGED,)
    assert "Eicar FOUND" in entries["eicar.txt"].scanner
    assert entries["a.txt"].verdict is Verdict.ACCEPTED
    assert entries["a.txt"].scanner.startswith("command: clean")


def test_a_hanging_scanner_is_killed_at_its_timeout(job, tmp_path):
    q, pub = job
    scanner = scanner_script(tmp_path, "sleep 30 & sleep 30\n", timeout=0.5)
    result = vmguard.vet(q, rules(scanners=scanner), pub / "run1", dry_run=True)
    assert all(Reason.SCANNER_FAILED in e.reasons for e in result.rejected)
    assert "timed out" in result.rejected[0].detail


def test_quarantine_that_is_a_symlink_or_missing_is_bad_input(job, tmp_path):
    q, pub = job
    os.symlink(q, tmp_path / "qlink")
    for path in (tmp_path / "qlink", tmp_path / "missing"):
        with pytest.raises(VetInputError, match="cannot open the quarantine"):
            vmguard.vet(path, rules(), pub / "run1")


def test_a_name_that_appears_after_commit_is_not_overwritten_and_staging_is_kept(job):
    q, pub = job

    def plant(point, path):
        if point == "committed":
            write(pub / "run1.vet.txt", "intruder\n")

    hooks.set_hook(plant)
    try:
        with pytest.raises(VetError, match="appeared during the vet"):
            vmguard.vet(q, rules(), pub / "run1")
    finally:
        hooks.set_hook(None)
    assert (pub / "run1.vet.txt").read_text() == "intruder\n"
    assert sorted(os.listdir(pub)) == [".vmguard-staging", "run1.vet.txt"]  # output taken back
    assert (pub / ".vmguard-staging" / "run1.staging" / "COMMITTED").exists()  # kept, not aborted
    os.unlink(pub / "run1.vet.txt")
    again = vmguard.vet(q, rules(), pub / "run1")
    assert again.status is Status.ALREADY_PROMOTED
    assert "finished the promotion of an interrupted earlier vet" in again.notes
    assert (pub / "run1.vet.txt").exists() and not (pub / ".vmguard-staging" / "run1.staging").exists()
    assert set(published_files(pub / "run1")) == {"a.txt", "sub/b.json"}


def octets(size: int, seed: int = 0) -> bytes:
    """Random-looking bytes, the same every run: os.urandom's sometimes start like a DOS
    executable to libmagic (a leading 0xE9 or 0xEB is a COM file's jump)."""
    return b"\0vmguard" + random.Random(seed).randbytes(size - 8)


def test_large_files_hashed_on_a_second_thread_match_their_bytes(tmp_path):
    q = tmp_path / "q"
    payloads = {f"big{i}.bin": octets((20 << 20) + i, seed=i) for i in range(2)}
    payloads["small.bin"] = octets(5000)
    for name, data in payloads.items():
        write(q / name, data)
    result = vmguard.vet(
        q,
        rules(allow_types=("application/octet-stream",), head_only=("application/octet-stream",)),
        tmp_path / "pub" / "run1",
    )
    assert result.status is Status.PROMOTED
    assert {e.path: e.sha256 for e in result.accepted} == {
        n: hashlib.sha256(d).hexdigest() for n, d in payloads.items()
    }
    assert published_files(tmp_path / "pub" / "run1") == payloads


def _cached_bytes(path: Path) -> int:
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def test_large_files_are_written_past_the_page_cache(tmp_path):
    """O_DIRECT for large files: the published copy leaves (almost) nothing in the page
    cache, the unaligned tail excepted; a small file goes through the cache as usual."""
    if (
        subprocess.run(
            ["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "tmpfs"
    ):
        pytest.skip("tmpfs is the page cache")
    q = tmp_path / "q"
    payloads = {"big.bin": octets((24 << 20) + 100), "small.bin": octets(64 << 10)}
    for name, data in payloads.items():
        write(q / name, data)
    result = vmguard.vet(
        q,
        rules(allow_types=("application/octet-stream",), head_only=("application/octet-stream",)),
        tmp_path / "pub" / "r",
    )
    assert result.status is Status.PROMOTED
    out = tmp_path / "pub" / "r"
    assert _cached_bytes(out / "big.bin") <= 1 << 20, "written with O_DIRECT"
    assert _cached_bytes(out / "small.bin") == 64 << 10, "control: a cached write shows"
    assert published_files(out) == payloads  # reading them caches them: checked last


def test_direct_write_falls_back_where_the_kernel_refuses_it(tmp_path):
    """Memory not aligned for O_DIRECT makes the kernel answer EINVAL: the write goes on
    through the cache, from the same offset, and nothing is lost or doubled."""
    data = os.urandom(3 * 4096)
    aligned = mmap.mmap(-1, 4096)
    aligned[:] = data[:4096]
    misaligned = memoryview(bytearray(b"\0" + data[4096:]))[1:]  # whole blocks, odd address
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        assert copy._set_direct(fd, True)
        assert copy.write_all(fd, memoryview(aligned), True) is True, "control: direct works"
        assert copy.write_all(fd, misaligned, True) is False
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data
