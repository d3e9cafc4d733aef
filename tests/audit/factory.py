"""Build Policy and VmFacts objects directly: check tests need no loader and no hypervisor."""

from __future__ import annotations

import dataclasses

from vmguard.core.findings import Finding
from vmguard.facts.vm import Source, VmFacts
from vmguard.policy.model import (
    Access,
    DevicesPolicy,
    Metadata,
    NetworkMode,
    NetworkPolicy,
    Policy,
    QuarantinePolicy,
    SharedFoldersPolicy,
    SharePurpose,
    ShareRule,
)

EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - a fact under test; nothing binds to it
SRC = Source("/domain/devices/x")


def policy(**sections: object) -> Policy:
    """A strict host-only policy; keyword arguments replace whole sections."""
    base = Policy(
        metadata=Metadata("test"),
        source="policy/test.yaml",
        network=NetworkPolicy(mode=NetworkMode.HOST_ONLY),
        shared_folders=SharedFoldersPolicy(
            allow=(
                ShareRule("input", "/vmdata/input", Access.READ_ONLY, SharePurpose.INPUT),
                ShareRule("output", "/vmdata/quarantine/{vm}", Access.READ_WRITE, SharePurpose.OUTPUT),
            ),
            forbid_host_paths=("/home", "/afs"),
        ),
        devices=DevicesPolicy(),
        quarantine=QuarantinePolicy(),
        origins={"spec.devices.clipboard": "policy/test.yaml:12:16"},
    )
    return dataclasses.replace(base, **sections)


def devices(**kw: object) -> DevicesPolicy:
    return DevicesPolicy(**kw)


def facts(**kw: object) -> VmFacts:
    return VmFacts(**{"name": "vm1", "driver": "libvirt", **kw})


def run(check_table: dict, rule: str, pol: Policy, fx: VmFacts) -> list[Finding]:
    found = list(check_table[rule](pol, fx))
    assert all(f.rule == rule and f.subject == fx.name for f in found)
    return found
