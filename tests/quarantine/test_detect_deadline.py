"""A worker's deadline counts its own CPU time: one that computes without taking a byte
or answering (a file made to be slow) is stopped and its file is `detector-timeout`;
one the machine does not run (a loaded host) gives no good file away."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, write
from vmguard.quarantine import detect_process
from vmguard.quarantine.detect import Detector
from vmguard.quarantine.model import Reason

_LOOPING = """import os, sys
if os.path.exists({flag!r}):  # the first worker only: a validator caught in a loop
    os.unlink({flag!r})
    sys.stdout.buffer.write({ready!r})
    sys.stdout.flush()
    sys.stdin.buffer.read(1)  # its first file has come
    while True:
        {idle}
os.execv(sys.executable, [sys.executable, "-I", {real!r}])
"""


@pytest.fixture
def looping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first worker started computes forever once a file comes; the next are real."""
    flag, script = tmp_path / "loop-once", tmp_path / "worker.py"
    flag.touch()
    script.write_text(_stuck_worker(flag, "pass"))
    monkeypatch.setattr(detect_process, "WORKER", script)


@pytest.fixture
def sleeping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first worker started sleeps forever once a file comes (an exploited libmagic
    that uses no CPU); the next are real."""
    flag, script = tmp_path / "sleep-once", tmp_path / "worker.py"
    flag.touch()
    script.write_text(_stuck_worker(flag, "__import__('time').sleep(60)"))
    monkeypatch.setattr(detect_process, "WORKER", script)
    monkeypatch.setattr(detect_process, "BACKSTOP", 2.0)


def _stuck_worker(flag: Path, idle: str) -> str:
    return _LOOPING.format(flag=str(flag), ready=detect_process.READY, real=str(detect_process.WORKER), idle=idle)


def test_a_worker_computing_without_progress_is_stopped_and_its_file_timed_out(looping):
    with Detector(workers=1, timeout=0.5) as detector:
        stuck = detector.submit(b"hello\n")
        spinning = detector.workers[0].proc
        later = detector.submit(b"{}")
        assert stuck.result() is None
        assert stuck.timed_out() and "0.5 s of its CPU time" in stuck.why_none()
        assert spinning.poll() is not None  # killed
        assert later.result().mime == "application/json"  # handed on to a real worker
        assert not later.timed_out()


def test_a_worker_that_sleeps_without_progress_cannot_hang_the_vet(sleeping):
    with Detector(workers=1, timeout=0.5) as detector:
        stuck = detector.submit(b"hello\n")
        asleep = detector.workers[0].proc
        start = time.monotonic()
        assert stuck.result() is None
        assert 1.5 <= time.monotonic() - start < 30  # the backstop, not the CPU deadline
        assert stuck.timed_out() and "2 s in all" in stuck.why_none()
        assert asleep.poll() is not None  # killed
        assert detector.submit(b"{}").result().mime == "application/json"


def test_a_worker_the_machine_does_not_run_loses_no_file():
    """SIGSTOP: a worker that gets no core for many times its deadline (the clock's)."""
    with Detector(workers=1, timeout=0.5) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"  # started
        worker = detector.workers[0]
        os.kill(worker.proc.pid, signal.SIGSTOP)
        resume = threading.Timer(3.0, os.kill, (worker.proc.pid, signal.SIGCONT))
        resume.start()
        try:
            start = time.monotonic()
            pending = [detector.submit(b'{"n": %d}' % i) for i in range(3)]
            got = [p.result() for p in pending]
        finally:
            resume.cancel()
            with contextlib.suppress(ProcessLookupError):  # killed (the clock's deadline)
                os.kill(worker.proc.pid, signal.SIGCONT)
        assert time.monotonic() - start >= 2.5  # it did wait for the worker
        assert [a and a.mime for a in got] == ["application/json"] * 3
        assert detector.workers == [worker]


def test_a_file_whose_worker_runs_out_of_time_is_rejected_as_detector_timeout(tmp_path, looping, monkeypatch):
    monkeypatch.setattr(Detector.__init__, "__defaults__", (1, 0.5))  # one worker, 0.5 s
    q = tmp_path / "q"
    write(q / "a-slow.txt", b"made to be slow\n")
    write(q / "b-good.json", b"{}")
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "run1")
    reasons = {e.path: e.reasons for e in result.entries}
    assert reasons == {"a-slow.txt": (Reason.DETECTOR_TIMEOUT,), "b-good.json": ()}, result.entries
