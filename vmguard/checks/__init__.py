"""Every VM rule family's checks, merged into one table keyed by rule id.

Each family module exposes CHECKS: rule id -> pure function of (Policy, VmFacts). The
guest family belongs to the guest-inspection area and may be absent from a build.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType

from vmguard.checks import devices, network, quarantine, shares
from vmguard.core.findings import Finding
from vmguard.facts.vm import VmFacts
from vmguard.policy.model import Policy

Check = Callable[[Policy, VmFacts], Iterable[Finding]]
OPTIONAL_FAMILIES = ("vmguard.checks.guest",)


def _optional(name: str) -> tuple[ModuleType, ...]:
    try:
        return (importlib.import_module(name),)
    except ModuleNotFoundError as err:
        if err.name != name:  # the module exists but one of its imports is missing: a bug
            raise
        return ()


def vm_checks() -> dict[str, Check]:
    """Rule id -> check, for every VM rule family present."""
    families = (network, shares, devices, quarantine)
    families += tuple(m for name in OPTIONAL_FAMILIES for m in _optional(name))
    merged: dict[str, Check] = {}
    for family in families:
        merged.update(family.CHECKS)
    return merged
