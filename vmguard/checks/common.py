"""Small helpers every rule family shares: locating evidence and stating what is wanted.

The shared questions have one answer each, elsewhere: a path under a root
(vmguard.core.paths.is_under), clipboard directions (TransferMode.extra_directions),
loopback and local-only displays (vmguard.facts.vm.is_loopback, Display.local_only),
sshd's effective settings (vmguard.guest.sshd.effective), a VM's inventory entry
(Inventory.entry_on).
"""

from __future__ import annotations

from vmguard.facts.vm import Source
from vmguard.policy.model import Policy


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
