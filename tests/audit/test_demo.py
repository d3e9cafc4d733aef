"""`vmguard demo`: runs with no hypervisor, fits one screen, and leaves the reports."""

from __future__ import annotations

import json

from vmguard.cli import main


def test_demo_fits_one_screen_and_writes_reports(tmp_path, capsys, event_log):
    out = tmp_path / "reports"
    assert main(["demo", "--out", str(out)]) == 0
    screen = capsys.readouterr().out.splitlines()
    assert len(screen) <= 30 and max(map(len, screen)) <= 100
    text = "\n".join(screen)
    for step in ("1. plan", "2. audit", "3. vet", f"reports: {out}/latest/report.html"):
        assert step in text
    assert "VMG-INV-001" in text and "rejected: " in text
    doc = json.loads((out / "latest" / "report.json").read_text())
    rules = {f["rule"] for vm in doc["vms"] for f in vm["findings"]}
    assert {"VMG-DEV-001", "VMG-DEV-006", "VMG-FS-001", "VMG-NET-003", "VMG-INV-001"} <= rules
    clean = next(vm for vm in doc["vms"] if vm["name"] == "gleam-batch-01")
    assert clean["findings"] == []
    kinds = [json.loads(line)["kind"] for line in event_log.read_text().splitlines()]
    assert "audit" in kinds and "vet" in kinds


def test_demo_logs_next_to_its_reports(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VMGUARD_LOG")
    out = tmp_path / "reports"
    assert main(["demo", "--out", str(out)]) == 0
    assert "log:     vmguard log verify --log /" in capsys.readouterr().out
    assert main(["log", "verify", "--log", str(out / "demo-events.jsonl")]) == 0
    assert "VMGUARD_LOG" not in __import__("os").environ
