"""Independent black-box attack i on `vmguard vet` (session 35, issue #13): what session
34 fixed after rounds g and h and nobody attacked since: the entries beside vmguard's
own event log (the lock file and head record), the --to judged by the superblock's
device, and reruns judged by the manifest's walked rows. Each test passes while the
documented claim holds; a hit is a strict xfail whose reason says what got out.

- The log's directory: a user who can write it (the job user's own
  ~/.local/state/vmguard, or a $VMGUARD_LOG the job runner points into a shared
  directory) plants symlinks and FIFOs at the names vet opens there. The lock refuses a
  symlink (exit 3, "not logged"); its siblings are looked at here. Whatever is planted,
  vet must end, leave the host's file the symlink names untouched, and publish the job.
- One ext4 image attached through two loop devices: the same disk, two superblocks.
- A quarantine on tmpfs rewritten through a shared mapping (no ctime moves), between a
  vet and its rerun and while --remove-promoted runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.attack_dfs_tools import JSON, PER_FILE_JSON, published, write_policy
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
PAYLOAD = b"PAYLD 7f3a hidden track\n"  # same size as TEXT
VICTIM = b"host file: root's, outside everything vet may write\n"
SOURCE = {"a.txt": TEXT, "b.csv": b"run,tracks\n1,3\n2,5\n"}


def _policy(tmp_path: Path) -> Path:
    require_root()
    return write_policy(tmp_path / "policy.yaml", "", "text, json, csv")


def _quarantine(path: Path, files: dict[str, bytes] = SOURCE) -> Path:
    path.mkdir(parents=True)
    for rel, data in files.items():
        (path / rel).write_bytes(data)
    return path


TMP_CLOBBER = (
    "HOLE: events.jsonl.tmp (the head record's temporary) planted as a symlink to a host "
    "file: vet opens it O_CREAT|O_TRUNC without O_NOFOLLOW or O_EXCL, as root, so the host "
    "file is truncated and overwritten with the head record ('2 <sha256>'), and the rename "
    "leaves events.jsonl.head a symlink to it (the lock next to it refuses a symlink)"
)
LOG_FOLLOWED = (
    "HOLE: $VMGUARD_LOG itself a symlink to a host file: vet opens it O_RDWR|O_CREAT|"
    "O_APPEND, following the link, and appends its vet event (a JSON line) to the host "
    "file, exit 0 (the lock beside it is refused when it is a symlink)"
)
FIFO_HANG = (
    "HIT (hang): {0} planted as a FIFO: vet publishes the job, then blocks for ever in "
    "open() of the FIFO (no O_NONBLOCK, no check of its kind) and never exits: the job "
    "runner's epilog waits with it (seen by hand: events.jsonl.head, once the log exists, "
    "a FIFO or a symlink to /dev/zero or /dev/urandom, hangs the same way, the device read)"
)
NONE_REASON = (
    "HIT (report): $VMGUARD_LOG a FIFO: exit 3 is right, but the stderr line says "
    "'cannot append to log ...: None: this vet ...': the reason printed is None"
)
LOG_CASES = [
    pytest.param("plain", id="control-plain"),
    pytest.param("events.jsonl.lock-symlink", id="lock-symlink"),
    pytest.param(
        "events.jsonl.tmp-symlink", id="tmp-symlink", marks=pytest.mark.xfail(strict=True, reason=TMP_CLOBBER)
    ),
    pytest.param(
        "events.jsonl-symlink", id="log-symlink", marks=pytest.mark.xfail(strict=True, reason=LOG_FOLLOWED)
    ),
    pytest.param(
        "events.jsonl.lock-fifo",
        id="lock-fifo",
        marks=pytest.mark.xfail(strict=True, reason=FIFO_HANG.format("events.jsonl.lock")),
    ),
    pytest.param(
        "events.jsonl-fifo", id="log-fifo", marks=pytest.mark.xfail(strict=True, reason=NONE_REASON)
    ),
]
KINDS = [param.values[0] for param in LOG_CASES]


def _log(base: Path, kind: str) -> Path:
    return base / f"log{KINDS.index(kind)}" / "events.jsonl"


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
        jobs.append(Job(q, base / "pub" / f"r{n}", "r", base / f"log{n}" / "events.jsonl", JSON))
    ended = run_side_by_side(policy, jobs, grace=3.0)
    return {
        kind: (ended[n], published(jobs[n].to), (base / "host" / f"victim{n}").read_bytes())
        for n, kind in enumerate(KINDS)
    }


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
