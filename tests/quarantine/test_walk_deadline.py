"""The HDF5 structure walk's deadline counts its own CPU time, like the libmagic
workers' (test_detect_deadline.py): a walk the machine does not run (SIGSTOP: a loaded
host) gives no good file away; one that computes or sleeps past its time is stopped and
its file is `detector-timeout`, not invalid-format (no rule of the format was broken)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.quarantine.test_elision import vet
from vmguard.quarantine import pipeline, structure
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators.hdf5 import WALKED_HERE

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

STOPPED = 5.0  # clock seconds the walk is not run: many times its (small) CPU deadline


@pytest.fixture(scope="module")
def large() -> bytes:
    """A good HDF5 file too large for the worker: walked in its own sandbox."""
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=np.arange(1_200_000.0), chunks=(1 << 15,))
        f.attrs["s"] = "a string"
    assert len(tmp.getvalue()) > WALKED_HERE
    return tmp.getvalue()


def _walker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    script = tmp_path / "walker.py"
    script.write_text(body)
    monkeypatch.setattr(structure, "WALKER", script)


def test_a_walk_the_machine_does_not_run_loses_no_file(tmp_path, large, monkeypatch):
    """The real walk, stopped as soon as it starts for STOPPED s (the clock's), more than
    twice its CPU deadline: it finishes once continued and the file is promoted."""
    monkeypatch.setattr(structure, "TIMEOUT", 2.0)
    real, stopped, resume = structure.walk, [], []

    def stopping(own: int, head: bytes, size: int) -> structure.Walking | None:
        walking = real(own, head, size)
        if walking is not None and walking.proc is not None:
            os.kill(walking.proc.pid, signal.SIGSTOP)
            stopped.append(time.monotonic())
            resume.append(threading.Timer(STOPPED, os.kill, (walking.proc.pid, signal.SIGCONT)))
            resume[-1].start()
        return walking

    monkeypatch.setattr(pipeline.structure, "walk", stopping)
    try:
        entries = vet(tmp_path, {"large.h5": large})
    finally:
        for timer in resume:
            timer.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.kill(timer.args[0], signal.SIGCONT)
    assert len(stopped) == 1, "control: the walk ran in its sandbox and was stopped"
    assert entries["large.h5"].verdict is Verdict.ACCEPTED, entries["large.h5"]
    assert time.monotonic() - stopped[0] >= STOPPED - 0.5, "control: the vet waited for it"


def test_a_walk_that_spins_is_stopped_as_detector_timeout(tmp_path, large, monkeypatch):
    monkeypatch.setattr(structure, "TIMEOUT", 1.0)
    _walker(tmp_path, monkeypatch, "while True:\n    pass\n")
    start = time.monotonic()
    entry = vet(tmp_path, {"large.h5": large})["large.h5"]
    assert time.monotonic() - start >= 1.0
    assert entry.verdict is Verdict.REJECTED
    assert entry.reasons == (Reason.DETECTOR_TIMEOUT,), entry
    assert "used 1 s of its CPU time" in entry.detail, entry


def test_a_walk_that_sleeps_cannot_hang_the_vet(tmp_path, large, monkeypatch):
    """It uses no CPU: the clock's BACKSTOP stops it, with the same reason."""
    monkeypatch.setattr(structure, "TIMEOUT", 1.0)
    monkeypatch.setattr(structure, "BACKSTOP", 2.0)
    _walker(tmp_path, monkeypatch, "import time\ntime.sleep(120)\n")
    start = time.monotonic()
    entry = vet(tmp_path, {"large.h5": large})["large.h5"]
    assert 2.0 <= time.monotonic() - start < 60  # the backstop, not the CPU deadline
    assert entry.reasons == (Reason.DETECTOR_TIMEOUT,), entry
    assert "ran 2 s in all" in entry.detail, entry
