"""Shared pieces of the driver tests: a policy that forbids everything, test:/// URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmguard.policy.model import (
    Access,
    DevicesPolicy,
    Metadata,
    NetworkMode,
    NetworkPolicy,
    Policy,
    SharedFoldersPolicy,
    ShareRule,
    Toggle,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
TESTNODE = FIXTURES / "libvirt" / "testnode.xml"


def batch_policy(input_path: str = "/srv/vmdata/input", **devices: object) -> Policy:
    """Host-only network, one read-only input share, every device off but the agent."""
    return Policy(
        metadata=Metadata("batch"),
        source="policy/batch.yaml",
        network=NetworkPolicy(mode=NetworkMode.HOST_ONLY),
        shared_folders=SharedFoldersPolicy(
            allow=(ShareRule("input", input_path, Access.READ_ONLY),),
            forbid_host_paths=("/home",),
        ),
        devices=DevicesPolicy(host_devices=Toggle.DISABLED, **devices),
        origins={"spec.devices.clipboard": "policy/batch.yaml:12:16"},
    )


@pytest.fixture
def log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("VMGUARD_LOG", str(path))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    return path


@pytest.fixture
def testnode_uri() -> str:
    """A fresh test-driver host per open: every connection starts from the file."""
    return f"test://{TESTNODE}"
