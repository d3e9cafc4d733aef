"""A --to on the quarantine's own disk attached a second time (another loop device: a
superblock and a device number of their own) is in the quarantine: refused by the UUID
on the disk (vmguard.quarantine.fsident), on every filesystem that keeps one; while a
--to beside the quarantine on that disk, or on another disk (another UUID, or none: an
all-zero UUID merges nothing), is published. All the vets run side by side."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.attack_dfs_tools import JSON, published, write_policy
from tests.support.attack_ifs_cases import Job, run_side_by_side
from tests.support.disks import attached, make_image, seed
from tests.support.require import require_root, require_tools

SOURCE = {"q/a.txt": b"event 17 done, 3 tracks\n", "q/b.csv": b"run,tracks\n1,3\n"}


@dataclass(frozen=True)
class Case:
    """The quarantine at A/q; the --to at B/`to`, B being: the same image attached again
    (`disk` "same"), a copy of it ("copy": the same UUID), or another image made alike
    ("other")."""

    fstype: str
    disk: str
    to: str
    code: int
    mkfs: tuple[str, ...] = ()
    again: tuple[str, ...] = ()  # mount options of the second attach


CASES = {
    "btrfs-same-disk": Case("btrfs", "same", "q/pub/r", 2),
    "xfs-same-disk": Case("xfs", "same", "q/pub/r", 2, again=("-o", "nouuid")),
    "ext4-same-disk-deeper": Case("ext4", "same", "q/pub/deeper/r", 2),
    "ext4-copy-of-the-disk": Case("ext4", "copy", "q/pub/r", 2),
    "control-ext4-same-disk-beside": Case("ext4", "same", "pub/r", 0),
    "control-btrfs-same-disk-beside": Case("btrfs", "same", "pub/r", 0),
    "control-ext4-other-disk": Case("ext4", "other", "q/pub/r", 0),
    "control-ext4-other-disk-no-uuid": Case("ext4", "other", "q/pub/r", 0, mkfs=("-U", "clear")),
}


def _disks(base: Path, case: Case) -> tuple[Path, Path]:
    first = make_image(base / "a.img", case.fstype, *case.mkfs)
    seed(first, base / "seed", SOURCE, ("q/pub/deeper", "pub"))
    if case.disk == "same":
        return first, first
    if case.disk == "copy":
        return first, Path(shutil.copyfile(first, base / "b.img"))
    second = make_image(base / "b.img", case.fstype, *case.mkfs)
    seed(second, base / "seed", {}, ("q/pub/deeper", "pub"))
    return first, second


@pytest.fixture(scope="module")
def vets(tmp_path_factory) -> dict[str, tuple]:
    """Each case's vet, all at once; then what each --to's directory gained, and holds."""
    require_root()
    require_tools("losetup", "mount", *{f"mkfs.{case.fstype}" for case in CASES.values()})
    base = tmp_path_factory.mktemp("twice")
    policy = write_policy(base / "policy.yaml", "", "text, csv")
    with contextlib.ExitStack() as stack:
        jobs = []
        for name, case in CASES.items():
            (base / name).mkdir()
            first, second = _disks(base / name, case)
            a = stack.enter_context(attached(first, base / name / "A"))
            b = stack.enter_context(attached(second, base / name / "B", *case.again))
            jobs.append(Job(a / "q", b / case.to, "r", base / name / "events.jsonl", JSON))
        before = {job.to: sorted(os.listdir(job.to.parent)) for job in jobs}
        ended = run_side_by_side(policy, jobs)
        made = {job.to: sorted(set(os.listdir(job.to.parent)) - set(before[job.to])) for job in jobs}
        out = {job.to: published(job.to) for job in jobs}
    return {name: (end, made[job.to], out[job.to]) for name, end, job in zip(CASES, ended, jobs, strict=True)}


@pytest.mark.parametrize("name", CASES)
def test_a_to_on_the_quarantines_disk_is_judged_by_the_disk(vets, name):
    ended, made, out = vets[name]
    assert "Traceback" not in ended.err, ended.err[-400:]
    if CASES[name].code == 2:
        assert (ended.code, made) == (2, []), (ended.code, made, ended.err[-400:])
        assert "overlaps the quarantine" in ended.err and "filesystem UUID" in ended.err, ended.err[-400:]
    else:
        want = {rel.removeprefix("q/"): data for rel, data in SOURCE.items()}
        assert (ended.code, out) == (0, want), (ended.code, sorted(out), ended.err[-400:])
