"""Setting values both a VM's facts and a policy speak of (clipboard directions, toggles,
network modes, ...): shared here so that facts and drivers do not depend on the policy.
"""

from __future__ import annotations

from enum import StrEnum


class NetworkMode(StrEnum):
    NONE = "none"
    HOST_ONLY = "host-only"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class Access(StrEnum):
    READ_ONLY = "read-only"
    READ_WRITE = "read-write"


class SharePurpose(StrEnum):
    INPUT = "input"  # data the job reads: must be read-only
    OUTPUT = "output"  # the job's quarantine: read-write, per VM
    SOFTWARE = "software"  # experiment software releases: read-only
    OTHER = "other"


class TransferMode(StrEnum):
    """Clipboard and drag-and-drop directions (VirtualBox and SPICE both map here)."""

    DISABLED = "disabled"
    HOST_TO_GUEST = "host-to-guest"
    GUEST_TO_HOST = "guest-to-host"
    BIDIRECTIONAL = "bidirectional"

    @property
    def directions(self) -> frozenset[str]:
        """The ways data may flow: "host-to-guest", "guest-to-host", both or none."""
        both = frozenset({TransferMode.HOST_TO_GUEST.value, TransferMode.GUEST_TO_HOST.value})
        return both if self is TransferMode.BIDIRECTIONAL else both & {self.value}

    def extra_directions(self, allowed: TransferMode) -> frozenset[str]:
        """Directions this mode opens that `allowed` does not (empty: compliant). The one
        answer the audit (VMG-DEV-001/002) and so the plan's fix share."""
        return self.directions - allowed.directions


class Toggle(StrEnum):
    DISABLED = "disabled"
    ENABLED = "enabled"


class RemoteDisplay(StrEnum):
    DISABLED = "disabled"
    LOCALHOST = "localhost"  # allowed when listening on loopback only, with authentication
    ENABLED = "enabled"  # allowed anywhere, authentication still required
