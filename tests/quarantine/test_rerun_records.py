"""A rerun is `already-promoted` only if the quarantine holds exactly what the manifest's
walked rows record (rerun.first_unvetted, reading the rows one at a time): one row not
as the entry is now (its inode, size, mtime, ctime or path), or an entry changed in
the quarantine, and it is refused (exit 2); an entry gone since hides nothing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, write
from tests.quarantine.test_reruns import FILES, quarantine
from vmguard.core.errors import ExitCode, VetInputError
from vmguard.quarantine.model import Status

NOT_AS = "another inode, size, mtime or ctime of"
FIELDS = {"inode": 1, "size": 2, "mtime": 3, "ctime": 4}


@pytest.fixture
def job(tmp_path: Path) -> tuple[Path, Path]:
    q, to = quarantine(tmp_path / "q"), tmp_path / "pub" / "j"
    assert vmguard.vet(q, policy(), to, job="j").status is Status.PROMOTED
    return q, to


def _rewrite(to: Path, change: Callable[[list[list]], list[list]]) -> None:
    """The manifest with its walked rows changed, written back as vmguard writes it."""
    path = to.parent / "j.manifest.json"
    doc = json.loads(path.read_bytes())
    doc["walked"] = change(doc["walked"])
    path.write_text(json.dumps(doc, sort_keys=True, ensure_ascii=True) + "\n")


def _refused(q: Path, to: Path, match: str) -> None:
    with pytest.raises(VetInputError, match=match) as err:
        vmguard.vet(q, policy(), to, job="j")
    assert err.value.exit_code == ExitCode.BAD_INPUT


def _row(rows: list[list], path: str) -> list:
    return next(row for row in rows if row[0] == path)


def test_the_rows_as_written_are_already_promoted(job):
    """The control for the tests below: the rewrite alone changes nothing."""
    _rewrite(job[1], lambda rows: rows)
    assert vmguard.vet(job[0], policy(), job[1], job="j").status is Status.ALREADY_PROMOTED


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("path", ["d1/f4.txt", "d2/f11.txt"])
def test_one_field_of_one_row_not_as_recorded_is_refused(job, field, path):
    def change(rows):
        _row(rows, path)[FIELDS[field]] += 1
        return rows

    _rewrite(job[1], change)
    _refused(*job, f"{NOT_AS} {path}, which the quarantine holds")


def test_a_directorys_inode_not_as_recorded_is_refused(job):
    def change(rows):
        _row(rows, "d0")[1] += 1
        return rows

    _rewrite(job[1], change)
    _refused(*job, f"{NOT_AS} d0, which")


@pytest.mark.parametrize("how", ["renamed", "dropped"])
def test_an_entry_whose_row_names_another_path_or_none_is_refused(job, how):
    def change(rows):
        if how == "dropped":
            return [row for row in rows if row[0] != "d0/f3.txt"]
        _row(rows, "d0/f3.txt")[0] = "d0/f3.txu"
        return rows

    _rewrite(job[1], change)
    _refused(*job, "records no d0/f3.txt, which the quarantine holds")


@pytest.mark.parametrize("last", ["changed", "as-is"])
def test_a_path_recorded_twice_is_judged_by_its_last_row(job, last):
    """As a dict of the rows by path judged it before the rows were read one by one."""

    def change(rows):
        row = _row(rows, "d1/f7.txt")
        changed = [*row[:4], row[4] + 1]
        return [*rows, changed] if last == "changed" else [changed, *rows]

    _rewrite(job[1], change)
    if last == "changed":
        _refused(*job, f"{NOT_AS} d1/f7.txt")
    else:
        assert vmguard.vet(job[0], policy(), job[1], job="j").status is Status.ALREADY_PROMOTED


def _made_again(q: Path) -> None:
    """Unlinked and written again with the same bytes and mtime (a new inode and ctime)."""
    path = q / "d0" / "f6.txt"
    st, data = path.stat(), path.read_bytes()
    path.unlink()
    write(path, data.decode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "file renamed": (lambda q: os.rename(q / "d0/f3.txt", q / "d0/g3.txt"), "records no d0/g3.txt"),
    "directory renamed": (lambda q: os.rename(q / "d2", q / "d3"), "records no d3,"),
    "file made again": (_made_again, f"{NOT_AS} d0/f6.txt"),
    "mode changed": (lambda q: os.chmod(q / "d1/f1.txt", 0o600), f"{NOT_AS} d1/f1.txt"),
    "file added": (lambda q: write(q / "d2" / "new.txt", "line\n"), "records no d2/new.txt"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_an_entry_changed_in_the_quarantine_is_refused(job, name):
    change, match = CHANGES[name]
    change(job[0])
    _refused(*job, match)


@pytest.mark.parametrize("gone", ["d1/f4.txt", "d2"])
def test_an_entry_gone_since_is_still_already_promoted(job, gone):
    """docs/quarantine.md: an entry gone since hides nothing unvetted."""
    path = job[0] / gone
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = vmguard.vet(job[0], policy(), job[1], job="j")
    assert again.status is Status.ALREADY_PROMOTED and len(again.accepted) == len(FILES) + 3


def test_entries_no_vet_wrote_are_refused_not_a_traceback(job):
    """Read after the walk (published_entries): an entry of no vet's is exit 2, named."""
    path = job[1].parent / "j.manifest.json"
    doc = json.loads(path.read_bytes())
    doc["entries"][-1]["verdict"] = "maybe"
    path.write_text(json.dumps(doc, sort_keys=True))
    _refused(*job, "j.manifest.json: its entries are not a vmguard manifest's")
