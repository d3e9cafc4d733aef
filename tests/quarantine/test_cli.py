"""`vmguard vet` as a job runner calls it: exit codes, one-line errors, the JSON report."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import ELF, policy, write
from vmguard.quarantine.model import Status, VetResult

ROOT = Path(__file__).parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: cli-test}
spec:
  quarantine:
    allow_types: [text/plain]
"""
NO_QUARANTINE = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: cli-test}
spec:
  network: {mode: none}
"""


@pytest.fixture
def area(tmp_path):
    write(tmp_path / "q" / "a.txt", "alpha\n")
    (tmp_path / "pub").mkdir()
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path


def vet(area: Path, *args: str, quarantine: str = "q") -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-m",
        "vmguard",
        "vet",
        str(area / quarantine),
        "--policy",
        str(area / "policy.yaml"),
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_exit_0_and_json_report(area):
    proc = vet(area, "--to", str(area / "pub" / "run1"), "--job", "run1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "promoted" and report["promoted"] == 1
    assert report["rejected"] == [] and report["job"] == "run1"
    assert (area / "pub" / "run1" / "a.txt").read_text() == "alpha\n"


def test_exit_1_when_something_is_rejected(area):
    write(area / "q" / "tool.txt", ELF)
    proc = vet(area, "--to", str(area / "pub" / "run1"))
    assert proc.returncode == 1
    assert "tool.txt: executable-content" in proc.stdout
    assert "nothing promoted" in proc.stdout


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda a: None, ["--to", "{pub}/r"], "cannot open the quarantine"),
        (
            lambda a: (a / "policy.yaml").write_text(NO_QUARANTINE),
            ["--to", "{pub}/r"],
            "no quarantine section",
        ),
        (lambda a: (a / "pub" / "r").mkdir(), ["--to", "{pub}/r"], "already exists"),
        (lambda a: None, ["--to", "{pub}/r", "--job", "../evil"], "job id"),
        (lambda a: None, [], "no destination"),
        (lambda a: (a / "policy.yaml").write_text("spec: [\n"), ["--to", "{pub}/r"], "policy.yaml"),
        (lambda a: None, ["--to", "{q}/out"], "overlaps the quarantine"),
        (lambda a: (a / "pub" / "q").symlink_to(a / "q"), ["--to", "{pub}/q/out"], "overlaps the quarantine"),
        (lambda a: None, ["--to", "{q}/out", "--dry-run"], "overlaps the quarantine"),
    ],
)
def test_exit_2_bad_input_with_one_line_and_a_failed_event(area, vet_log, setup, args, message):
    """The docs: every exit 2 prints one line and appends a `failed` event to the log,
    the policy's own errors too (the log is $VMGUARD_LOG's, or the documented default)."""
    setup(area)
    quarantine = "missing" if message.startswith("cannot open") else "q"
    logged = len(vet_log.read_text().splitlines()) if vet_log.exists() else 0
    proc = vet(area, *[a.format(pub=area / "pub", q=area / "q") for a in args], quarantine=quarantine)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    events = [json.loads(line) for line in vet_log.read_text().splitlines()[logged:]]
    assert [(e["kind"], e["data"]["status"]) for e in events] == [("vet", "failed")], events
    assert message in events[0]["data"]["error"]
    assert sorted(os.listdir(area / "q")) == ["a.txt"]  # nothing made in the quarantine


@pytest.mark.parametrize("bound", ["q", "."])  # the quarantine itself, or a directory holding it
def test_exit_2_when_to_reaches_the_quarantine_through_a_bind_mount(area, bound):
    """A bind mount shows the quarantine (or a parent) under another path on the same
    filesystem: the paths differ, the directory is the same one."""
    mountpoint = area / "pub" / "mnt"
    mountpoint.mkdir()
    subprocess.run(["mount", "--bind", str(area / bound), str(mountpoint)], check=True)
    try:
        inside = mountpoint / ("out" if bound == "q" else "q/out")
        proc = vet(area, "--to", str(inside))
        assert proc.returncode == 2 and "overlaps the quarantine" in proc.stderr, proc.stderr
        assert not inside.exists()
        beside = vet(area, "--to", str(area / "pub" / "run1"))  # the mount alone is no reason
        assert beside.returncode == 0, beside.stderr
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_exit_3_when_another_vet_holds_the_lock(area):
    assert vet(area, "--to", str(area / "pub" / "other")).returncode == 0
    fd = os.open(area / "pub" / ".vmguard-staging" / "r.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = vet(area, "--to", str(area / "pub" / "r"))
    finally:
        os.close(fd)
    assert proc.returncode == 3 and "another vet" in proc.stderr


def test_library_entry_point_returns_a_typed_result(area):
    result = vmguard.vet(area / "q", policy(), area / "pub" / "lib", dry_run=True)
    assert isinstance(result, VetResult) and result.status is Status.DRY_RUN
