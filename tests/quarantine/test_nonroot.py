"""vet run as a user that is not root (setpriv to nobody): an entry whose mode shuts that
user out is refused on its own, and the access times are kept where O_NOATIME is
allowed (the files vet's user owns) and reported as moved where it is not."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.attack_dfs_static import entry
from tests.support.attack_dfs_tools import published
from tests.support.attack_efs_cases import (
    JOB,
    NOBODY,
    give_to_guest,
    quarantine_of,
    shared_top,
    vet_as_nobody,
)
from tests.support.require import require_root, require_tools

OLD = 10**18  # an atime in 2001, older than every mtime: relatime would move it


@pytest.fixture(autouse=True)
def _needs() -> None:
    require_root()
    require_tools("setpriv")


def _age(*paths: Path) -> None:
    for path in paths:
        os.utime(path, ns=(OLD, 1_700_000_000 * 10**9))


@pytest.mark.parametrize(("locked", "mode"), [("f.txt", 0o000), ("d", 0o300), ("d", 0o000)])
def test_all_or_nothing_with_an_unreadable_entry_publishes_nothing(locked, mode):
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n", "f.txt": "two\n"})
        (q / "d").mkdir()
        (q / "d" / "in.txt").write_text("three\n")
        give_to_guest(q)
        (q / locked).chmod(mode)
        run = vet_as_nobody(base, q)
        out = published(base / "pub" / JOB)
    assert run.code == 1 and out == {}, (run.code, run.err)
    refused = entry(run, locked)
    assert refused["reasons"] == ["unreadable"], refused
    assert run.report()["status"] == "rejected"


def test_files_vet_owns_keep_their_atimes_and_no_note():
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n", "b.txt": "two\n"})
        for path in (q, q / "a.txt", q / "b.txt"):
            os.chown(path, NOBODY, NOBODY)
        _age(q / "a.txt", q / "b.txt", q)
        run = vet_as_nobody(base, q)
        atimes = {os.stat(p).st_atime_ns for p in (q, q / "a.txt", q / "b.txt")}
    assert run.code == 0, run.err
    assert atimes == {OLD}
    assert not [n for n in run.report()["notes"] if n.startswith("access times")]


def test_the_note_counts_the_entries_whose_atime_moved():
    """The quarantine and one file are vet's user's, two files the guest's: 2 moved."""
    with shared_top() as base:
        q = quarantine_of(base / "q", {"mine.txt": "one\n", "g1.txt": "two\n", "g2.txt": "three\n"})
        give_to_guest(q)
        os.chown(q, NOBODY, NOBODY)
        os.chown(q / "mine.txt", NOBODY, NOBODY)
        _age(q, q / "mine.txt", q / "g1.txt", q / "g2.txt")
        run = vet_as_nobody(base, q)
        kept = {
            p.name: os.stat(p).st_atime_ns == OLD for p in (q, q / "mine.txt", q / "g1.txt", q / "g2.txt")
        }
    assert run.code == 0, run.err
    assert kept == {"q": True, "mine.txt": True, "g1.txt": False, "g2.txt": False}, kept
    notes = [n for n in run.report()["notes"] if n.startswith("access times")]
    assert len(notes) == 1 and re.match(rf"access times: 2 quarantine entries .* uid {NOBODY}", notes[0]), (
        notes
    )


def test_a_directory_listed_but_not_searchable_refuses_its_entries_by_name():
    """d is 0644: its names can be read, not looked up: each is `unreadable`, named."""
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n"})
        (q / "d").mkdir()
        (q / "d" / "in.txt").write_text("two\n")
        give_to_guest(q)
        (q / "d").chmod(0o644)
        run = vet_as_nobody(base, q, "--per-file")
        out = published(base / "pub" / JOB)
    assert run.code == 1 and out == {"a.txt": b"one\n"}, (run.code, run.err, out)
    refused = entry(run, "d/in.txt")
    assert refused["reasons"] == ["unreadable"] and "may not reach it" in refused["detail"], refused


def test_a_quarantine_vets_user_may_not_enter_says_so():
    """Root's 0700 quarantine, vet run as nobody: exit 2 naming the permission and the
    remedy, not a claim that it is a symlink."""
    with shared_top() as base:
        q = quarantine_of(base / "q", {"a.txt": "one\n"})
        q.chmod(0o700)
        run = vet_as_nobody(base, q)
    assert run.code == 2 and "vet's user must be able to read and enter it" in run.err, (run.code, run.err)
    assert "symlink" not in run.err
