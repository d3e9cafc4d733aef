"""A finding: one rule that does not hold for one subject (a VM, or the host firewall)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """Rule severities, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe: critical=4 ... info=0."""
        return len(Level) - 1 - list(Level).index(self)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A rule's violation stamped with its id and subject (vmguard.checks.registry.stamp).
    Severity, title and remediation come from the catalog."""

    rule: str  # catalog id, e.g. "VMG-DEV-001"
    subject: str  # VM name, or "host" for host-wide rules such as the firewall
    message: str  # what is wrong, concretely: "clipboard is bidirectional"
    evidence: str = ""  # where the fact came from (facts Source, file:line)
    wanted: str = ""  # what the policy wants, and the policy line that wants it

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across audit runs (for drift): same rule, subject and evidence."""
        return (self.rule, self.subject, self.evidence)
