"""Small helpers every check family shares: locating evidence and stating what is wanted."""

from __future__ import annotations

import os

from vmguard.core.modes import TransferMode
from vmguard.facts.vm import Source, is_loopback
from vmguard.policy.model import Policy

__all__ = ["extra_directions", "is_loopback", "is_under", "wanted", "where"]


def where(source: Source, label: str) -> str:
    """Evidence for a finding, which is also its identity across runs (drift).

    `label` names the device uniquely within the VM ("nic[1]", "share 'input'"); the
    source's line number is left out because it moves whenever the XML above it changes.
    """
    place = " ".join(p for p in (source.file, source.where) if p)
    return f"{label} ({place})" if place else label


def wanted(policy: Policy, dotted: str, value: object) -> str:
    """`spec.devices.clipboard: disabled (policy/base.yaml:31:16)`."""
    shown = value.value if hasattr(value, "value") else value
    return f"{dotted}: {shown} ({policy.origin(dotted)})"


def is_under(path: str, root: str) -> bool:
    """Path-component containment: /home/x is under /home, /homework is not."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return root == "/" or path == root or path.startswith(root + "/")


_DIRECTIONS = {
    TransferMode.DISABLED: frozenset(),
    TransferMode.HOST_TO_GUEST: frozenset({"host-to-guest"}),
    TransferMode.GUEST_TO_HOST: frozenset({"guest-to-host"}),
    TransferMode.BIDIRECTIONAL: frozenset({"host-to-guest", "guest-to-host"}),
}


def extra_directions(actual: TransferMode, allowed: TransferMode) -> frozenset[str]:
    """Directions the VM allows that the policy does not (empty when compliant)."""
    return _DIRECTIONS[actual] - _DIRECTIONS[allowed]
