"""The --to is judged by the directory the kernel opens (publicpath.open_public,
mounts.inside), and every write goes through the descriptors judged: overlayfs layers,
nested overlays, other mount namespaces, `..` after a symlink, a mount over vmguard's
own staging; controls that an ordinary --to on an overlay, through /proc/self/root or
with a plain `..` is still published. Real mounts (overlayfs, bind, tmpfs) under
tmp_path, unmounted by each test; the real CLI."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.attack_dfs_tools import published, vet, write_policy
from tests.support.attack_ffs_races import overlay
from tests.support.attack_gfs_cases import TEXT, other_namespace, tree
from tests.support.require import require_root, require_tools

JOB = "r"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    require_root()
    require_tools("mount", "unshare")
    return write_policy(tmp_path / "policy.yaml", "", "text")


@contextlib.contextmanager
def bound(source: Path, at: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(source), str(at)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(at)], check=True)


def _quarantine(q: Path) -> Path:
    q.mkdir(parents=True, exist_ok=True)
    (q / "a.txt").write_bytes(TEXT)
    return q


def _refused(run, q: Path, before: list[str]) -> None:
    assert "Traceback" not in run.err
    assert run.code == 2 and "overlaps the quarantine" in run.err, (run.code, run.err[-400:])
    assert len(run.err.strip().splitlines()) == 1 and tree(q) == before, run.err


@contextlib.contextmanager
def image_overlay(top: Path, lower: str) -> Iterator[Path]:
    """An overlayfs whose lower layer (the VM's image, named `lower`) already holds
    q/a.txt; `:` and `,` in its name escaped for the mount option as overlayfs reads them."""
    _quarantine(top / lower / "q")
    for sub in ("upper", "work", "merged"):
        (top / sub).mkdir()
    escaped = str(top / lower).replace(":", "\\:").replace(",", "\\,")
    opts = f"lowerdir={escaped},upperdir={top / 'upper'},workdir={top / 'work'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(top / "merged")], check=True)
    try:
        yield top / "merged"
    finally:
        subprocess.run(["umount", str(top / "merged")], check=True)


@pytest.mark.parametrize("lower", ["lower", "lo:w,er y"])
def test_to_in_the_lower_layer_of_the_quarantines_overlay_is_refused(tmp_path, policy, lower):
    """The merged quarantine shows its image (the lower layer, also one whose name
    mountinfo escapes twice): a --to in the image's q, in a directory that does not
    exist yet, is refused before it is made, a dry run too."""
    with image_overlay(tmp_path / "ov", lower) as merged:
        q, lower_q = merged / "q", tmp_path / "ov" / lower / "q"
        for extra in ((), ("--dry-run",)):
            run = vet(
                q, policy, tmp_path / "ev.jsonl", "--to", str(lower_q / "new" / JOB), "--job", JOB, *extra
            )
            _refused(run, q, ["a.txt"])
            assert tree(lower_q) == ["a.txt"] and "cannot be told" not in run.err, run.err  # placed


def test_nested_overlays_are_followed_to_the_quarantine(tmp_path, policy):
    """An overlay whose lower layer is another overlay's merged view holding the
    quarantine (a VM layer over a layer): a --to in the outer merged view is in it."""
    with overlay(tmp_path / "in") as inner:
        q = _quarantine(inner / "q")
        with overlay(tmp_path / "out") as outer_top:
            subprocess.run(["umount", str(outer_top)], check=True)  # remount over the inner view
            opts = (
                f"lowerdir={inner},upperdir={tmp_path / 'out' / 'upper'},workdir={tmp_path / 'out' / 'work'}"
            )
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(outer_top)], check=True)
            run = vet(
                q, policy, tmp_path / "ev.jsonl", "--to", str(outer_top / "q" / "pub" / JOB), "--job", JOB
            )
        _refused(run, q, ["a.txt"])


def test_an_overlay_layer_that_cannot_be_opened_fails_closed(tmp_path, policy):
    """The quarantine on an overlay whose lower layer was renamed after the mount: its
    path in mountinfo leads nowhere, so where the quarantine shows cannot be told and a
    --to on another filesystem is refused, not guessed."""
    with overlay(tmp_path / "ov") as merged:
        q = _quarantine(merged / "q")
        os.rename(tmp_path / "ov" / "lower", tmp_path / "ov" / "lower.moved")
        try:
            with tmpfs_at(tmp_path / "pubfs") as pub:
                run = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(pub / JOB), "--job", JOB)
                assert tree(pub) == []
        finally:
            os.rename(tmp_path / "ov" / "lower.moved", tmp_path / "ov" / "lower")
    assert run.code == 2 and "cannot be told" in run.err, (run.code, run.err[-300:])


def test_to_on_the_same_overlay_beside_the_quarantine_is_published(tmp_path, policy):
    """Control: the quarantine and the --to on one overlay (a container's root), apart."""
    with overlay(tmp_path / "ov") as merged:
        q = _quarantine(merged / "q")
        run = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(merged / "pub" / JOB), "--job", JOB)
        out = published(merged / "pub" / JOB)
    assert run.code == 0 and out == {"a.txt": TEXT}, (run.code, run.err[-300:])


@contextlib.contextmanager
def tmpfs_at(path: Path) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_to_through_another_namespace_is_refused_even_outside_the_quarantine(tmp_path, policy):
    """Another mount namespace's mounts are not in our mountinfo: where they lie cannot
    be told, so a --to through /proc/PID/root is refused even when its directory is not
    the quarantine (fail closed, as documented)."""
    q = _quarantine(tmp_path / "q")
    (tmp_path / "pub").mkdir()
    (tmp_path / "at").mkdir()
    with other_namespace(tmp_path / "pub", tmp_path / "at", False) as pid:
        run = vet(
            q, policy, tmp_path / "ev.jsonl", "--to", f"/proc/{pid}/root{tmp_path}/at/{JOB}", "--job", JOB
        )
    assert run.code == 2 and "cannot be told" in run.err, (run.code, run.err[-300:])
    assert tree(tmp_path / "pub") == []


def test_to_through_proc_self_root_is_published(tmp_path, policy):
    """Control: /proc/self/root is this namespace's root: its mounts are ours."""
    q = _quarantine(tmp_path / "q")
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", f"/proc/self/root{tmp_path}/pub/{JOB}", "--job", JOB)
    assert run.code == 0 and published(tmp_path / "pub" / JOB) == {"a.txt": TEXT}, run.err[-300:]


def test_dotdot_is_resolved_as_the_kernel_does(tmp_path, policy):
    """`..` after a symlink is the parent of where it leads (outside the quarantine:
    published there, not beside the link); after a plain directory it is its parent."""
    q = _quarantine(tmp_path / "q")
    (tmp_path / "far" / "x").mkdir(parents=True)
    (tmp_path / "near").mkdir()
    (tmp_path / "near" / "link").symlink_to(tmp_path / "far" / "x")
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", f"{tmp_path}/near/link/../{JOB}", "--job", JOB)
    assert run.code == 0 and published(tmp_path / "far" / JOB) == {"a.txt": TEXT}, run.err[-300:]
    assert not (tmp_path / "near" / JOB).exists()
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", f"{tmp_path}/near/../plain/{JOB}", "--job", JOB)
    assert run.code == 0 and published(tmp_path / "plain" / JOB) == {"a.txt": TEXT}, run.err[-300:]


def test_dotdot_after_a_symlink_deep_in_the_quarantine_is_refused(tmp_path, policy):
    """LINK -> q/d/e: LINK/../../r is q/r to the kernel; refused, nothing made."""
    q = _quarantine(tmp_path / "q")
    (q / "d" / "e").mkdir(parents=True)
    (tmp_path / "link").symlink_to(q / "d" / "e")
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", f"{tmp_path}/link/../../new/{JOB}", "--job", JOB)
    _refused(run, q, ["a.txt", "d", "d/e"])


def test_a_mount_over_vmguards_staging_is_not_written_through(tmp_path, policy):
    """The quarantine bound over the public directory's .vmguard-staging (after the
    public directory was judged, or before): vet writes nothing through it."""
    q = _quarantine(tmp_path / "q")
    (tmp_path / "pub" / ".vmguard-staging").mkdir(parents=True, mode=0o700)
    with bound(q, tmp_path / "pub" / ".vmguard-staging"):
        run = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(tmp_path / "pub" / JOB), "--job", JOB)
        inside = tree(q)
    assert run.code == 2 and "a mount appeared over vmguard's own directory" in run.err, run.err[-300:]
    assert inside == ["a.txt"] and not (tmp_path / "pub" / JOB).exists()


def test_a_removal_record_temporary_left_by_a_kill_is_removed(tmp_path, policy):
    """JOB.removal.tmp left in the staging by a vet killed while it rewrote the record:
    the next vet of the job removes it (under the job's lock)."""
    q = _quarantine(tmp_path / "q")
    pub = tmp_path / "pub"
    assert vet(q, policy, tmp_path / "ev.jsonl", "--to", str(pub / JOB), "--job", JOB).code == 0
    (pub / ".vmguard-staging" / f"{JOB}.removal.tmp").write_bytes(b"half a record")
    again = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(pub / JOB), "--job", JOB)
    assert again.code == 0, again.err[-300:]
    assert sorted(os.listdir(pub / ".vmguard-staging")) == [f"{JOB}.lock"]


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda t: (t / "q").symlink_to(t / "real"), "it is a symlink to"),
        (lambda t: (t / "q").symlink_to("nowhere"), "which loops or leads nowhere"),
        (lambda t: (t / "loop").symlink_to("loop"), "a symlink on the way loops"),
        (lambda t: os.mkfifo(t / "q"), "it is a FIFO"),
    ],
)
def test_a_quarantine_that_is_not_a_directory_says_what_it_is(tmp_path, policy, make, said):
    """Exit 2, one line naming what is there and the remedy; nothing made."""
    (tmp_path / "real").mkdir()
    make(tmp_path)
    q = tmp_path / "loop" / "q" if (tmp_path / "loop").is_symlink() else tmp_path / "q"
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(tmp_path / "pub" / JOB), "--job", JOB)
    assert run.code == 2 and said in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert not (tmp_path / "pub").exists()


def test_a_to_that_passes_through_the_quarantine_is_refused(tmp_path, policy):
    """--to q/sub/../../pub/r, sub a symlink the guest put in its root-owned quarantine
    (to far/x/y): the kernel's walk leaves the quarantine again, to a place the guest
    chose (far/pub); every directory the walk opens is judged, so it is refused."""
    q = _quarantine(tmp_path / "q")
    (tmp_path / "far" / "x" / "y").mkdir(parents=True)
    (q / "sub").symlink_to(tmp_path / "far" / "x" / "y")
    run = vet(q, policy, tmp_path / "ev.jsonl", "--to", f"{q}/sub/../../pub/{JOB}", "--job", JOB)
    _refused(run, q, ["a.txt", "sub"])
    assert tree(tmp_path / "far") == ["x", "x/y"]


def test_a_mount_over_a_left_staging_is_not_removed_through(tmp_path, policy):
    """The quarantine bound over the staging an interrupted vet left (r.staging): the
    next vet removes a left staging, but never through a mount (rmtree would empty the
    quarantine): exit 3, the quarantine whole."""
    q = _quarantine(tmp_path / "q")
    (q / "d").mkdir()
    (q / "d" / "b.txt").write_bytes(TEXT)
    left = tmp_path / "pub" / ".vmguard-staging" / f"{JOB}.staging"
    left.mkdir(parents=True)
    os.chmod(left.parent, 0o700)
    with bound(q, left):
        run = vet(q, policy, tmp_path / "ev.jsonl", "--to", str(tmp_path / "pub" / JOB), "--job", JOB)
        inside = tree(q)
    assert run.code == 3 and "never removed through it" in run.err, (run.code, run.err[-300:])
    assert inside == ["a.txt", "d", "d/b.txt"] and not (tmp_path / "pub" / JOB).exists()
