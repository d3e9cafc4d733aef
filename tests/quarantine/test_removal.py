"""--remove-promoted removes exactly what was published, and says what it could not remove.

A file rewritten after its copy, even to the same size with its mtime put back, is kept
(its ctime moved: the guest cannot set that back) and named in the notes; a file the
vet cannot unlink (immutable, or in an append-only directory) is named with its reason,
in the report and the log, and the vet exits 3."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import rules, write
from tests.quarantine.test_races import at
from tests.support.attack_ffs_cases import tmpfs
from tests.support.require import require_root, require_tools
from vmguard.core.errors import ExitCode
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Status


@pytest.fixture
def q(tmp_path):
    yield tmp_path / "q"
    hooks.set_hook(None)


def rewrite_in_place(path: Path) -> None:
    """Same size, same mtime: only the ctime tells."""
    st = os.stat(path)
    data = path.read_bytes()
    path.write_bytes(data.upper())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("size", [100, 3 << 20], ids=["whole", "chunked"])
def test_a_file_rewritten_after_its_copy_is_kept_and_named(q, tmp_path, size):
    write(q / "victim.txt", b"published bytes\n" * (size // 16))
    write(q / "other.txt", "other\n")
    done = at("staged", ("victim.txt",), lambda: rewrite_in_place(q / "victim.txt"))
    result = vmguard.vet(q, rules(), tmp_path / "pub" / "j", remove_promoted=True)
    assert done and result.status is Status.PROMOTED
    assert (q / "victim.txt").read_bytes() == b"PUBLISHED BYTES\n" * (size // 16)  # never published
    assert (tmp_path / "pub" / "j" / "victim.txt").read_bytes() == b"published bytes\n" * (size // 16)
    assert not (q / "other.txt").exists()
    assert any("'victim.txt'" in n and "changed since its copy" in n for n in result.notes), result.notes
    assert result.not_removed == () and result.exit_code is ExitCode.OK  # kept on purpose


def test_control_an_unchanged_file_is_removed(q, tmp_path):
    write(q / "victim.txt", "published bytes\n")
    result = vmguard.vet(q, rules(), tmp_path / "pub" / "j", remove_promoted=True)
    assert result.status is Status.PROMOTED and not (q / "victim.txt").exists()
    assert result.exit_code is ExitCode.OK and not result.notes and not result.not_removed


@pytest.fixture
def locked(q):
    """a.txt immutable, d/ append-only (its files cannot be unlinked); unlocked afterwards."""
    require_root()
    require_tools("chattr")
    write(q / "a.txt", "a\n")
    write(q / "d" / "b.txt", "b\n")
    write(q / "free.txt", "free\n")
    subprocess.run(["chattr", "+i", str(q / "a.txt")], check=True)
    subprocess.run(["chattr", "+a", str(q / "d")], check=True)
    try:
        yield q
    finally:
        subprocess.run(["chattr", "-i", str(q / "a.txt")], check=True)
        subprocess.run(["chattr", "-a", str(q / "d")], check=True)


def test_files_that_cannot_be_removed_are_named_with_exit_3(locked, tmp_path, vet_log):
    result = vmguard.vet(locked, rules(), tmp_path / "pub" / "j", remove_promoted=True)
    assert result.status is Status.PROMOTED and not (locked / "free.txt").exists()
    assert dict(result.not_removed) == {
        "a.txt": "could not be removed: Operation not permitted",
        "d/b.txt": "could not be removed: Operation not permitted",
    }
    assert result.exit_code is ExitCode.CANNOT_RUN
    assert sum("could not be removed" in n for n in result.notes) == 2
    event = json.loads(vet_log.read_text().splitlines()[-1])
    assert {e["path"] for e in event["data"]["not_removed"]} == {"a.txt", "d/b.txt"}
    assert json.loads(json.dumps(result.to_dict()))["not_removed"][0]["path"] == "a.txt"


@pytest.mark.parametrize("store", [b"PUBLISHED", b"published"], ids=["rewritten", "same-bytes"])
def test_a_file_rewritten_through_a_mapping_is_kept_by_its_bytes(q, tmp_path, store):
    """On tmpfs a page already written through a shared mapping takes later stores
    without moving mtime or ctime: only the bytes read again at removal time tell. A
    store of the same bytes leaves the file what was published: removed."""
    require_root()
    with tmpfs(q) as mounted:
        write(mounted / "victim.txt", b"published bytes\n" * 300)
        write(mounted / "other.txt", "other\n")
        fd = os.open(mounted / "victim.txt", os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as mapped:
                mapped[:9] = b"published"  # the first store: the page is writable from now on
                before = os.stat(mounted / "victim.txt")
                done = at("staged", ("victim.txt",), lambda: mapped.__setitem__(slice(0, 9), store))
                result = vmguard.vet(mounted, rules(), tmp_path / "pub" / "j", remove_promoted=True)
        finally:
            os.close(fd)
        after = None if not (mounted / "victim.txt").exists() else os.stat(mounted / "victim.txt")
        kept = (mounted / "victim.txt").exists()
        assert not (mounted / "other.txt").exists()
    assert done and result.status is Status.PROMOTED and result.exit_code is ExitCode.OK
    assert (tmp_path / "pub" / "j" / "victim.txt").read_bytes() == b"published bytes\n" * 300
    if store == b"published":
        assert not kept and not result.notes, result.notes
        return
    assert (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns)
    assert kept and result.not_removed == ()
    assert any("'victim.txt'" in n and "not the published ones" in n for n in result.notes), result.notes
