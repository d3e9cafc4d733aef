"""Audit-area fixtures: a lab on libvirt's test driver, and an isolated event log."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmguard.demo.build import Lab, write_lab
from vmguard.demo.lab import DomainSpec, Share


def good(name: str, lab_root: Path) -> DomainSpec:
    """A VM that satisfies the demo policy."""
    return DomainSpec(name, shares=(Share("input", f"{lab_root}/vmdata/input"),))


@pytest.fixture(autouse=True)
def event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("VMGUARD_LOG", str(path))
    return path


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    root = tmp_path / "lab"
    root.mkdir()
    return write_lab(root, [good("vm1", root), good("vm2", root)], ["vm1", "vm2"])
