"""Crash safety: a real `vmguard vet` process SIGKILLed at many points of its run.

After every kill the public area holds none or all of the job's output (never a part),
and the next vet finishes or cleans up; the published bytes then match the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue

import pytest

import vmguard
from tests.quarantine.conftest import published_files, rules, write
from tests.support import forked_cli
from vmguard.quarantine import hooks
from vmguard.quarantine.hooks import KILL_ENV
from vmguard.quarantine.model import Status

POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: crash-test}
spec:
  quarantine:
    allow_types: [text/plain, application/json]
"""
PROMOTION = {"staged", "synced", "committed", "renamed", "published"}
STEP = 10  # and every tenth of the other points (walk, open, copy)
# What a vet imports (the forking servers import it once: forked_cli.py).
PRELOAD = ("vmguard.cli", "vmguard.cli.vet", "vmguard.policy.loader", "vmguard.quarantine.pipeline")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    q = base / "q"
    for d in ("", "a/", "a/b/", "c/"):
        for i in range(10):
            write(q / f"{d}f{i}.txt", f"{d} line {i}\n" * (i * 50 + 1))
    (base / "policy.yaml").write_text(POLICY)
    return base, q, published_files(q)


def run_vet(base: Path, q: Path, target: Path, kill_at: int, forks: Queue | None = None) -> int:
    """A `vmguard vet` process told to kill itself at step `kill_at`: a fresh interpreter,
    or one forked from a server that imported vmguard already (forks)."""
    env = dict(os.environ, **{KILL_ENV: str(kill_at)})
    argv = ["vet", str(q), "--policy", str(base / "policy.yaml"), "--to", str(target), "--job", "crash"]
    if forks is not None:
        return forked_cli.run(forks, argv, env, target.parent.with_suffix(".output"), timeout=60)
    return subprocess.run(
        [sys.executable, "-m", "vmguard", *argv],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    ).returncode


def check_consistent(pub: Path, expected: dict[str, bytes]) -> None:
    names = set(os.listdir(pub)) - {".vmguard-staging"}
    if "job" in names:
        assert published_files(pub / "job") == expected  # all of it
    else:
        assert names == set()  # none of it, and no sidecar before the output


def check_complete(pub: Path, expected: dict[str, bytes]) -> None:
    assert published_files(pub / "job") == expected
    manifest = json.loads((pub / "job.manifest.json").read_text())
    listed = {e["path"]: e["sha256"] for e in manifest["entries"] if e["kind"] == "file"}
    assert listed == {p: hashlib.sha256(d).hexdigest() for p, d in expected.items()}
    assert os.listdir(pub / ".vmguard-staging") == ["job.lock"]


def kill_points(q: Path, pub: Path) -> list[int]:
    """Every promotion step and every tenth other step one vet of this quarantine takes
    (numbered as the killed process, running the same code on the same data, counts)."""
    seen = []
    hooks.set_hook(lambda point, path: seen.append(point))
    try:
        vmguard.vet(q, rules(), pub / "job", job="crash")
    finally:
        hooks.set_hook(None)
    return [n for n, point in enumerate(seen, 1) if point in PROMOTION or n % STEP == 0]


def kill_then_rerun(
    base: Path, q: Path, pub: Path, point: int, expected: dict[str, bytes], forks: Queue | None = None
) -> None:
    pub.mkdir()
    code = run_vet(base, q, pub / "job", point, forks)
    assert code == -signal.SIGKILL, f"kill point {point}: exit {code}"
    check_consistent(pub, expected)
    result = vmguard.vet(q, rules(), pub / "job", job="crash")
    assert result.status in (Status.PROMOTED, Status.ALREADY_PROMOTED), result.rejected
    check_complete(pub, expected)


def test_kill_9_at_many_points_then_rerun(setup, tmp_path):
    base, q, expected = setup
    (tmp_path / "count").mkdir()
    points = kill_points(q, tmp_path / "count")
    assert len(points) >= 50
    # The first and last points in fresh interpreters, as a job runs vet (the control of
    # the forked runs); the others forked from servers that imported vmguard once (about
    # 0.4 s of CPU less each).
    fresh = {points[0], points[-1]}
    with forked_cli.servers(4, PRELOAD) as forks, ThreadPoolExecutor(4) as pool:  # one public area each
        runs = [
            pool.submit(
                kill_then_rerun, base, q, tmp_path / f"pub{p}", p, expected, None if p in fresh else forks
            )
            for p in points
        ]
        for run in runs:
            run.result()
