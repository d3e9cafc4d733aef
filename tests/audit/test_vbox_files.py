"""The audit over real VirtualBox settings files (.vbox, read offline): the same rules
hold for VirtualBox facts, and evidence names the file and element."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from vmguard.audit.engine import audit
from vmguard.inventory.loader import load_inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vbox"


def test_audit_of_real_vbox_files(lab, tmp_path):
    inventory = tmp_path / "vbox.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: vbox}\n"
        f'connections:\n  - {{name: files, driver: vbox-file, path: "{FIXTURES}/*.vbox"}}\n'
        f'vms:\n  - {{name: "*", connection: files, policy: {lab.policy}}}\n'
    )
    result = audit(load_inventory(inventory))
    assert len(result.vms) == len(list(FIXTURES.glob("*.vbox")))
    assert not result.unreachable
    rules = Counter(o.finding.rule for o in result.outcomes)
    # VirtualBox NAT (default LocalhostReachable before 7.0) reaches the host's loopback
    assert rules["VMG-NET-003"] == rules["VMG-NET-002"] > 0
    nat = next(o.finding for o in result.outcomes if o.finding.rule == "VMG-NET-003")
    assert ".vbox /VirtualBox/Machine/Hardware/Network/Adapter[" in nat.evidence
    assert rules["VMG-DEV-001"] and rules["VMG-DEV-015"]  # clipboards; snapshots' own settings


def test_guest_inspection_asked_for_vbox_vms_is_incomplete(lab, tmp_path, monkeypatch, capsys):
    """The VirtualBox drivers report no disk images: with guest inspection on (the CLI's
    default) the audit says so and exits 3; with --guest off the same audit is complete."""
    from vmguard.cli import main

    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    inventory = tmp_path / "vbox.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: vbox}\n"
        f'connections:\n  - {{name: files, driver: vbox-file, path: "{FIXTURES}/*.vbox"}}\n'
        f'vms:\n  - {{name: "*", connection: files, policy: {lab.policy}}}\n'
    )
    argv = ["audit", "-i", str(inventory), "--out", str(tmp_path / "r"), "--fail-on", "critical"]
    assert main(argv) == 3
    assert "vbox-file driver does not report the VM's disk images" in capsys.readouterr().err
    assert main([*argv, "--guest", "off"]) != 3
