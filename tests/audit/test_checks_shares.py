"""VMG-FS rules: one passing and one failing case per rule."""

from __future__ import annotations

import dataclasses

import pytest

from tests.audit.factory import SRC, facts, policy, run
from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import SharedFolder

CHECKS = vm_checks("shares")

INPUT = SharedFolder("input", "/vmdata/input", "/vmdata/input", read_only=True, source=SRC)
OUTPUT = SharedFolder("output", "/vmdata/quarantine/vm1", "/vmdata/quarantine/vm1", False, source=SRC)


def share(base: SharedFolder = INPUT, **kw: object) -> SharedFolder:
    return dataclasses.replace(base, **kw)


def shares(*items: SharedFolder):
    return facts(shared_folders=items)


CASES = [
    ("VMG-FS-001", shares(INPUT, OUTPUT), shares(share(real_path="/home/alice/data"))),
    ("VMG-FS-002", shares(INPUT, OUTPUT), shares(share(name="extra"))),
    ("VMG-FS-003", shares(INPUT, OUTPUT), shares(share(read_only=False))),
    # a read-only share lets the guest create nothing, symlinks included (see below)
    ("VMG-FS-004", shares(INPUT, share(symlinks_allowed=True)), shares(share(OUTPUT, symlinks_allowed=True))),
    ("VMG-FS-005", shares(INPUT), shares(share(automount=True))),
]


@pytest.mark.parametrize(("rule", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule, good, bad):
    assert run(CHECKS, rule, policy(), good) == []
    assert len(run(CHECKS, rule, policy(), bad)) == 1


def test_every_rule_has_a_case():
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize("path", ["/home", "/home/", "/home/x/../y", "/afs/cern.ch", "/", "/vmdata/.."])
def test_forbidden_root_matches_by_component(path):
    # "/" shares the whole host, which contains every forbidden root
    found = run(CHECKS, "VMG-FS-001", policy(), shares(share(host_path=path, real_path="")))
    assert len(found) == 1


@pytest.mark.parametrize("path", ["/homework", "/vmdata/home", "/afsx"])
def test_similar_names_are_not_forbidden(path):
    assert run(CHECKS, "VMG-FS-001", policy(), shares(share(host_path=path, real_path=path))) == []


def test_symlinked_share_is_judged_by_its_real_path():
    sneaky = share(host_path="/vmdata/input", real_path="/home/alice")
    assert len(run(CHECKS, "VMG-FS-001", policy(), shares(sneaky))) == 1


def test_output_share_is_per_vm():
    other_vm = share(OUTPUT, host_path="/vmdata/quarantine/vm2", real_path="/vmdata/quarantine/vm2")
    assert len(run(CHECKS, "VMG-FS-002", policy(), shares(other_vm))) == 1


def test_writable_output_share_is_fine():
    assert run(CHECKS, "VMG-FS-003", policy(), shares(OUTPUT)) == []


def test_output_share_symlinks_count_too():
    """vet rejects symlinks, but other host tools (backups, cp -r) would follow them."""
    writable_output = share(OUTPUT, symlinks_allowed=True)
    assert len(run(CHECKS, "VMG-FS-004", policy(), shares(writable_output))) == 1
    assert run(CHECKS, "VMG-FS-004", policy(), shares(share(OUTPUT))) == []
