"""A killed test run's scratch folder and daemons are reaped by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.batch.scratch import reap

CHILD = """
import subprocess, sys, time
from tests.batch.scratch import note_pid, scratch
root = scratch("vmg-reaptest-")
daemon = subprocess.Popen(["sleep", "300"], env={"SLURM_CONF": f"{root}/slurm.conf"})
note_pid(root, daemon.pid)
print(root, daemon.pid, flush=True)
time.sleep(300)
"""


def test_dead_runs_folder_and_daemon_are_reaped() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    root, daemon = child.stdout.readline().split()
    os.kill(child.pid, signal.SIGKILL)  # no finally, no cleanup: like a timeout's kill
    child.wait(timeout=10)
    assert Path(root).exists() and Path(f"/proc/{daemon}").exists()
    reap("vmg-reaptest-")
    for _ in range(50):  # the killed sleep is a zombie of init until reaped: check state
        status = Path(f"/proc/{daemon}/status")
        if not status.exists() or "zombie" in status.read_text():
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"daemon {daemon} of the dead run still runs")
    assert not Path(root).exists()
