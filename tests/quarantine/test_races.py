"""A guest that races the vet: entries swapped, grown, shrunk or rewritten at the exact
moment between check and copy (hooks), and a thread flipping a symlink during the vet."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import published_files, rules, write
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Reason, Status, Verdict

SECRET = b"SECRET-OUTSIDE"
MIB = 1 << 20


@pytest.fixture
def area(tmp_path):
    q, pub, outside = tmp_path / "q", tmp_path / "pub", tmp_path / "outside"
    pub.mkdir()
    write(outside / "secret.txt", SECRET)
    write(outside / "dir" / "secret.txt", SECRET)
    write(q / "a.txt", "first\n")
    write(q / "d" / "inner.txt", "inner\n")
    write(q / "victim.txt", "victim content\n" * 300_000)  # about 4.5 MiB: several chunks
    yield q, pub, outside
    hooks.set_hook(None)


def at(point: str, parts: tuple[str, ...], action):
    """Run action once, the first time the vet reaches (point, parts)."""
    done = []

    def hook(reached: str, path: tuple[str, ...]) -> None:
        if not done and reached == point and path == parts:
            done.append(True)
            action()

    hooks.set_hook(hook)
    return done


def vet(q: Path, pub: Path, **kw):
    return vmguard.vet(q, rules(), pub / "job", per_file=True, **kw)


def entry(result, path):
    return next(e for e in result.entries if e.path == path)


def assert_secret_not_published(pub: Path):
    for data in published_files(pub).values():
        assert SECRET not in data


def swap_for_symlink(path: Path, target: Path):
    def action():
        os.rename(path, path.with_name(path.name + ".orig"))
        os.symlink(target, path)

    return action


def test_file_swapped_for_symlink_between_check_and_copy(area):
    q, pub, outside = area
    done = at("open", ("victim.txt",), swap_for_symlink(q / "victim.txt", outside / "secret.txt"))
    result = vet(q, pub)
    assert done
    victim = entry(result, "victim.txt")
    assert victim.verdict is Verdict.REJECTED and victim.reasons == (Reason.SYMLINK,)
    assert_secret_not_published(pub)
    assert "a.txt" in published_files(pub / "job")


def test_directory_replaced_by_symlink_mid_walk(area):
    q, pub, outside = area
    done = at("walk-dir", ("d",), swap_for_symlink(q / "d", outside / "dir"))
    result = vet(q, pub)
    assert done
    assert entry(result, "d").reasons == (Reason.SYMLINK,)
    assert not any(e.path.startswith("d/") and e.verdict is Verdict.ACCEPTED for e in result.entries)
    assert_secret_not_published(pub)


def test_directory_replaced_by_symlink_between_walk_and_copy(area):
    q, pub, outside = area
    done = at("open", ("a.txt",), swap_for_symlink(q / "d", outside / "dir"))
    result = vet(q, pub)
    assert done
    assert entry(result, "d/inner.txt").reasons == (Reason.SYMLINK,)
    assert "d/inner.txt" not in published_files(pub / "job")
    assert_secret_not_published(pub)


@pytest.mark.parametrize(
    "change, detail",
    [
        (lambda f: f.open("ab").write(b"more" * 1000), "grew"),
        (lambda f: os.truncate(f, MIB), "shrank"),
        (lambda f: f.open("r+b").write(b"X"), "rewritten"),
    ],
)
@pytest.mark.parametrize("size", [1, 4], ids=["hashed-inline", "hashed-on-a-thread"])
def test_file_changed_during_the_copy(area, change, detail, size):
    q, pub, _ = area
    write(q / "victim.txt", "victim content\n" * 300_000 * size)  # 4.5 or 18 MiB
    done = at("copy-chunk", ("victim.txt",), lambda: change(q / "victim.txt"))
    result = vet(q, pub)
    assert done
    victim = entry(result, "victim.txt")
    assert victim.reasons == (Reason.CHANGED_DURING_VET,) and detail in victim.detail
    assert "victim.txt" not in published_files(pub / "job")
    assert not (pub / ".vmguard-staging" / "job.staging").exists()


def rewritten_times_put_back(path: Path) -> None:
    """New bytes of the same size, its mtime set back: only its ctime tells."""
    st = path.stat()
    path.write_bytes(b"X" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda f: (os.unlink(f), os.mkfifo(f)), Reason.CHANGED_DURING_VET),  # must not block
        (lambda f: os.chmod(f, 0o4644), Reason.SETUID),
        (lambda f: os.link(f, f.with_name("second-link")), Reason.HARDLINK),
        (lambda f: os.chmod(f, 0o600), Reason.CHANGED_DURING_VET),
        (rewritten_times_put_back, Reason.CHANGED_DURING_VET),
    ],
)
def test_file_swapped_or_chmodded_after_the_walk(area, change, reason):
    """The copy takes a file only as the walk saw it, ctime and all: the manifest's
    `walked` row of a copied file is the walk's (rerun.py), so it must be what was read."""
    q, pub, _ = area
    done = at("open", ("victim.txt",), lambda: change(q / "victim.txt"))
    result = vet(q, pub)
    assert done
    assert reason in entry(result, "victim.txt").reasons
    assert "victim.txt" not in published_files(pub / "job")


def test_racing_thread_flipping_a_symlink_never_publishes_the_target(area):
    q, pub, outside = area
    for i in range(300):
        write(q / "many" / f"f{i:03}.txt", f"file {i}\n")
    victim, parked = q / "many" / "f150.txt", q / "parked"
    link = q / "link-tmp"
    os.symlink(outside / "secret.txt", link)
    original = victim.read_bytes()
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            os.rename(victim, parked)
            os.symlink(outside / "secret.txt", link)
            os.rename(link, victim)
            os.rename(parked, victim)

    os.unlink(link)
    thread = threading.Thread(target=flip)
    thread.start()
    try:
        results = [vmguard.vet(q / "many", rules(), pub / f"job{n}", per_file=True) for n in range(3)]
    finally:
        stop.set()
        thread.join()
    for n, result in enumerate(results):
        got = next((e for e in result.entries if e.path == "f150.txt"), None)
        if got is None:
            assert not (pub / f"job{n}" / "f150.txt").exists()  # parked outside at readdir
        elif got.verdict is Verdict.ACCEPTED:
            assert (pub / f"job{n}" / "f150.txt").read_bytes() == original
        else:
            assert set(got.reasons) <= {Reason.SYMLINK, Reason.CHANGED_DURING_VET}, got
        assert result.status in (Status.PROMOTED, Status.PARTIAL)
    assert_secret_not_published(pub)
