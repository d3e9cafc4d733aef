"""The event-log runs of the filesystem attack f (session 33): a log disk (a 64 KiB
tmpfs) that fills up exactly when a vet appends, tearing the line of a long event or
failing the head record of a short one, and the vets after it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.attack_dfs_tools import vet, vet_argv, vet_env
from tests.support.attack_ffs_cases import tmpfs


def vet_raw(q: Path, policy: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI without reading the log back (it may hold a line no reader parses)."""
    return subprocess.run(
        vet_argv(q, policy, *args), env=vet_env(log), capture_output=True, text=True, timeout=60
    )


def one_file_quarantine(tmp_path: Path) -> Path:
    q = tmp_path / "q"
    q.mkdir()
    (q / "a.txt").write_text("one\n")
    return q


def vet_after_a_torn_line(tmp_path: Path, policy: Path) -> tuple[subprocess.CompletedProcess, bytes]:
    """s0 logged; the log's disk filled; s1, a vet whose event (40 long rejected names)
    is longer than what is left of the log's last page, tears its own line; space back,
    `vet --job r`: its run and the log's last line."""
    q, pub = one_file_quarantine(tmp_path), tmp_path / "pub"
    bad = tmp_path / "bad"
    bad.mkdir()
    for index in range(40):
        path = bad / f"bad{index}-{'n' * 150}.txt"
        path.write_text("x\n")
        path.chmod(0o755)  # executable-mode: each is a rejection the event names
    with tmpfs(tmp_path / "logfs", "64k") as logfs:
        log = logfs / "events.jsonl"
        assert vet(q, policy, log, "--to", str(pub / "s0"), "--job", "s0").code == 0
        with open(logfs / "fill", "wb") as fh, contextlib.suppress(OSError):
            fh.write(bytes(65536))  # /var/log full, as it gets
        torn = vet_raw(bad, policy, log, "--to", str(pub / "s1"), "--job", "s1", "--per-file")
        assert torn.returncode == 3, torn.stderr[-300:]  # said: not logged (true)
        (logfs / "fill").unlink()
        res = vet_raw(q, policy, log, "--to", str(pub / "r"), "--job", "r", "--format", "json")
        last = [line for line in log.read_bytes().split(b"\n") if line.strip()][-1]
    return res, last


@dataclass(frozen=True)
class FullLog:
    """s0 logged; s1 run with the log's disk full; s2 once space is back; then verify."""

    full: subprocess.CompletedProcess
    after: subprocess.CompletedProcess
    jobs: list[str]
    verify: subprocess.CompletedProcess
    stray: list[str]


def vets_around_a_full_log(tmp_path: Path, policy: Path) -> FullLog:
    q, pub = one_file_quarantine(tmp_path), tmp_path / "pub"
    with tmpfs(tmp_path / "logfs", "64k") as logfs:
        log = logfs / "events.jsonl"
        assert vet(q, policy, log, "--to", str(pub / "s0"), "--job", "s0").code == 0
        with open(logfs / "fill", "wb") as fh, contextlib.suppress(OSError):
            fh.write(bytes(65536))  # /var/log full, as it gets
        full = vet_raw(q, policy, log, "--to", str(pub / "s1"), "--job", "s1")
        (logfs / "fill").unlink()
        after = vet_raw(q, policy, log, "--to", str(pub / "s2"), "--job", "s2")
        jobs = [json.loads(line)["data"].get("job") for line in log.read_text().splitlines()]
        verify = subprocess.run(
            [sys.executable, "-m", "vmguard", "log", "verify"],
            env=vet_env(log),
            capture_output=True,
            text=True,
        )
        stray = sorted(p.name for p in logfs.iterdir())
    return FullLog(full, after, jobs, verify, stray)
