"""VMG-VET rules (the policy's quarantine settings): one passing and one failing case each."""

from __future__ import annotations

import dataclasses

import pytest

from tests.audit.factory import facts, policy, run
from vmguard.checks.registry import vm_checks
from vmguard.policy.model import FileKind, PromotePolicy, QuarantinePolicy

CHECKS = vm_checks("quarantine")

STRICT = QuarantinePolicy()


def quarantine(**kw: object):
    return policy(quarantine=dataclasses.replace(STRICT, **kw))


CASES = [
    (
        "VMG-VET-001",
        quarantine(forbid=(FileKind.SYMLINKS, FileKind.HARDLINKS, FileKind.SPECIAL_FILES, FileKind.SETUID)),
    ),
    ("VMG-VET-002", quarantine(forbid=(FileKind.EXECUTABLES, FileKind.SETUID))),
    ("VMG-VET-003", quarantine(max_files=10**9)),
    ("VMG-VET-004", quarantine(allow_types=("text/plain", "application/octet-stream"))),
    ("VMG-VET-005", quarantine(promote=PromotePolicy(file_mode=0o4755))),
]


@pytest.mark.parametrize(("rule", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule, bad):
    assert run(CHECKS, rule, policy(), facts()) == []
    assert len(run(CHECKS, rule, bad, facts())) == 1


def test_every_rule_has_a_case():
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize("field", ["max_file_size", "max_total_size", "max_depth"])
def test_each_absurd_limit(field):
    assert len(run(CHECKS, "VMG-VET-003", quarantine(**{field: 2**60}), facts())) == 1


def test_world_writable_directory_mode():
    pol = quarantine(promote=PromotePolicy(dir_mode=0o777))
    assert "dir_mode is 0o777" in run(CHECKS, "VMG-VET-005", pol, facts())[0].message
