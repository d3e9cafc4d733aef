"""`vmguard audit` as cron runs it: exit codes a monitor reads, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.audit.conftest import good
from vmguard.cli import main
from vmguard.demo.lab import DomainSpec


def audit(lab, out, *extra: str) -> int:
    return main(["audit", "--inventory", str(lab.inventory), "--out", str(out), *extra])


def test_exit_0_when_clean(lab, tmp_path, capsys):
    assert audit(lab, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "2 VMs, 0 failing findings" in out and f"reports: {tmp_path}/out/" in out


def test_exit_1_at_threshold_and_0_below(lab, tmp_path, capsys):
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", audio=True)])  # low
    assert audit(lab, tmp_path / "out", "--fail-on", "high") == 0
    assert audit(lab, tmp_path / "out", "--fail-on", "low") == 1
    assert "low      VMG-DEV-005  vm2" in capsys.readouterr().out


def test_exit_2_for_bad_input(lab, tmp_path, capsys):
    lab.inventory.write_text(lab.inventory.read_text().replace("policy: batch.yaml", "policy: 7"))
    assert audit(lab, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "inventory.yaml:" in err and "Traceback" not in err


def test_exit_2_for_bad_format(lab, tmp_path, capsys):
    assert audit(lab, tmp_path / "out", "--format", "json,pdf") == 2
    assert "unknown pdf" in capsys.readouterr().err


def test_exit_3_when_the_hypervisor_is_unreachable(lab, tmp_path, capsys):
    lab.node.unlink()
    assert audit(lab, tmp_path / "out") == 3
    err = capsys.readouterr().err
    assert "not audited" in err and "Traceback" not in err
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    assert doc["summary"]["unreachable"]


def test_exit_3_when_another_run_holds_the_lock(lab, tmp_path, capsys):
    from vmguard.audit.lock import run_lock

    (tmp_path / "out").mkdir()
    with run_lock(tmp_path / "out"):
        assert audit(lab, tmp_path / "out") == 3
    assert "another audit is running" in capsys.readouterr().err


def test_console_script_runs(lab, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmguard",
            "audit",
            "-i",
            str(lab.inventory),
            "--out",
            str(tmp_path / "out"),
            "--format",
            "md",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "latest" / "report.md").exists()


def test_exit_3_when_the_report_folder_is_unusable(lab, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert audit(lab, blocker / "out") == 3
    err = capsys.readouterr().err
    assert "cannot create report folder" in err and "Traceback" not in err
