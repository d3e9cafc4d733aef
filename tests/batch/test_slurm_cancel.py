"""A refused job's prolog returns only once the controller shows the job cancelled (then
_KILL_GRACE for the kill to reach slurmd), and never later than TIMEOUT + _KILL_GRACE
after scancel, whatever squeue does (session 38; docs/batch.md gives the bound).
squeue, scontrol and scancel are stubs that log what they were asked and when; the real
cluster is tests/batch/test_slurm.py's."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.batch.test_slurm_unread import ENV
from vmguard.batch import quiet, slurm

REFUSAL = "vmguard: job 4711 refused: no free VM in pool mc"
GRACE = 0.3
HANG = "exec sleep 30"  # longer than any TIMEOUT here: the hook must cut it off
GRANTS = "printf 'physics\\t(null)\\t(null)\\n'"  # squeue -o '%a\t%W\t%f': no pool asked for


def _tools(bin_dir: Path, state: str, grants: str = GRANTS, scontrol: str = "", scancel: str = "") -> Path:
    """Stubs that log "<tool> <unix time> <args>" to bin_dir/calls, then run their body:
    squeue -o %T `state` (its call number in $n), squeue's query of the account, licenses
    and features `grants` (not logged), scontrol `scontrol`, scancel `scancel`."""
    calls = bin_dir / "calls"
    bin_dir.mkdir()
    log = f'echo "${{0##*/}} $(date +%s.%N) $*" >> {calls}'
    count = f"n=$(($(cat {bin_dir}/n 2>/dev/null || echo 0) + 1)); echo $n > {bin_dir}/n"
    bodies = {
        "squeue": f'case "$*" in *%T*) {count}; {log}; {state} ;; *) {grants} ;; esac',
        "scontrol": f"{log}; {scontrol}",
        "scancel": f"{log}; {scancel}",
    }
    for name, body in bodies.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return calls


def _calls(calls: Path) -> list[tuple[str, float, str]]:
    """(tool, time, args) in the order they were made."""
    rows = [line.split(" ", 2) for line in calls.read_text().splitlines()]
    return [(tool, float(at), args) for tool, at, args in rows]


@pytest.fixture
def refused(tmp_path, monkeypatch):
    """The prolog of a job start_of_job refuses, with the stubs first on PATH."""
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(slurm, "_KILL_GRACE", GRACE)
    monkeypatch.setattr(slurm, "start_of_job", lambda *args: REFUSAL)

    def run() -> float:
        assert slurm.prolog(tmp_path / "batch.yaml", ENV) == 0
        return time.time()

    return run


@pytest.mark.parametrize(
    "last",
    [
        "echo CANCELLED",
        "echo COMPLETING",  # cancelled, the kill on its way to the node
        'echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1',  # gone
    ],
)
def test_the_prolog_returns_only_once_squeue_shows_the_job_cancelled(tmp_path, monkeypatch, refused, last):
    calls = _tools(tmp_path / "bin", f'if [ "$n" -le 3 ]; then echo RUNNING; else {last}; fi')
    monkeypatch.setattr(slurm, "TIMEOUT", 60)  # the deadline never decides here
    returned = refused()
    made = _calls(calls)
    tools = [tool for tool, _, _ in made]
    assert tools == ["scontrol", "scontrol", "scancel", "squeue", "squeue", "squeue", "squeue"]
    assert f"Comment={REFUSAL}" in made[1][2] and made[2][2] == "4711"  # show job, update, cancel
    assert (tmp_path / "bin/n").read_text().strip() == "4"  # asked until it said cancelled, not after
    assert returned - made[-1][1] >= GRACE  # and then gave the kill its grace
    assert returned - made[2][1] < 30


@pytest.mark.parametrize(
    "state",
    [
        "echo RUNNING",  # the cancel never shows
        'echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1',
        HANG,
        # answers late once, then hangs: the hung call is cut off at the deadline, not a
        # whole TIMEOUT after it (the wait was up to 2 x TIMEOUT + grace before session 38)
        f'if [ "$n" -eq 1 ]; then sleep 1.2; echo RUNNING; else {HANG}; fi',
    ],
)
def test_the_wait_after_scancel_is_bounded_when_squeue_is_broken(tmp_path, monkeypatch, refused, state):
    calls = _tools(tmp_path / "bin", state)
    monkeypatch.setattr(slurm, "TIMEOUT", 2)
    returned = refused()
    scancel = next(at for tool, at, _ in _calls(calls) if tool == "scancel")
    waited = returned - scancel
    print(f"waited {waited:.2f} s after scancel (TIMEOUT 2 s + grace {GRACE} s)")
    assert 2 + GRACE <= waited < 2 + GRACE + 0.8  # never told cancelled: the whole deadline


def test_a_prolog_whose_every_slurm_command_hangs_is_bounded(tmp_path, monkeypatch, refused):
    """Each command is cut off after TIMEOUT: scontrol show job, squeue (account,
    licenses), then the unread job's cancel: scontrol update, scancel, the wait."""
    calls = _tools(tmp_path / "bin", HANG, grants=HANG, scontrol=HANG, scancel=HANG)
    monkeypatch.setattr(slurm, "TIMEOUT", 1)
    monkeypatch.setattr(quiet, "TIMEOUT", 1)
    started = time.time()
    took = refused() - started
    print(f"the prolog took {took:.2f} s (5 x TIMEOUT 1 s + grace {GRACE} s)")
    assert 5 + GRACE <= took < 5 + GRACE + 1.5
    assert [tool for tool, _, _ in _calls(calls)][-2:] == ["scancel", "squeue"]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["batch-refuse"]
    assert "could not read the job (retry it)" in events[0]["data"]["message"]


def test_the_docs_give_these_bounds():
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs/batch.md").read_text().split())
    timeout, grace = quiet.TIMEOUT, slurm._KILL_GRACE
    assert timeout == slurm.TIMEOUT  # the same timeout for every Slurm command
    assert f"after `scancel` the prolog waits at most {timeout + grace:g} s" in doc
    assert f"returns after at most 5 x {timeout} + {grace:g} = {5 * timeout + grace:g} s" in doc
    assert f"also cancels the job (`scancel`) and waits {timeout + grace:g} s" in doc  # install.py
