"""VMG-FW: the host firewall vmguard loaded still matches the compiled policy.

Host rules over the typed result of vmguard.firewall.service.audit (a FirewallAudit),
one finding per drift, subject "host".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vmguard.core.findings import Finding
from vmguard.firewall.audit import Drift, DriftKind, FirewallAudit

K = DriftKind
WANTED = "the ruleset compiled from the inventory's policies (vmguard firewall plan)"


def _findings(rule: str, audit: FirewallAudit, kinds: tuple[DriftKind, ...], what: str) -> Iterable[Finding]:
    for drift in audit.of(*kinds):
        yield Finding(
            rule,
            "host",
            f"{what}: {_describe(drift)}",
            f"{audit.backend}: {drift.where}: {drift.detail}"[:300],
            WANTED,
        )


def _describe(drift: Drift) -> str:
    return f"{drift.kind.value.replace('-', ' ')} in {drift.where} ({drift.detail[:120]})"


def not_loaded(audit: FirewallAudit) -> Iterable[Finding]:
    return _findings(
        "VMG-FW-001", audit, (K.TABLE_MISSING, K.CHAIN_MISSING), "vmguard's firewall rules are not loaded"
    )


def not_reached(audit: FirewallAudit) -> Iterable[Finding]:
    return _findings(
        "VMG-FW-002",
        audit,
        (K.JUMP_MISSING, K.JUMP_SHADOWED),
        "VM traffic no longer passes through vmguard's rules",
    )


def rules_differ(audit: FirewallAudit) -> Iterable[Finding]:
    kinds = (K.RULE_MISSING, K.RULE_EXTRA, K.RULE_MODIFIED, K.CHAIN_EXTRA)
    return _findings("VMG-FW-003", audit, kinds, "a rule differs from the policy")


def sets_differ(audit: FirewallAudit) -> Iterable[Finding]:
    kinds = (K.SET_MISSING, K.SET_ELEMENTS_MISSING, K.SET_ELEMENTS_EXTRA)
    return _findings("VMG-FW-004", audit, kinds, "an address, MAC or endpoint set differs from the policy")


def bridge_unfiltered(audit: FirewallAudit) -> Iterable[Finding]:
    for unfiltered in audit.unfiltered_bridges:
        bridge, setting = unfiltered.split(": ", 1)
        yield Finding(
            "VMG-FW-005",
            "host",
            f"bridge {bridge}: bridged VM-to-VM traffic skips netfilter ({setting})",
            f"/proc/sys/{setting.split()[0].replace('.', '/')} ({bridge})",
            "VM-to-VM traffic filtered like any other VM traffic",
        )


HOST_CHECKS: dict[str, Callable[[FirewallAudit], Iterable[Finding]]] = {
    "VMG-FW-001": not_loaded,
    "VMG-FW-002": not_reached,
    "VMG-FW-003": rules_differ,
    "VMG-FW-004": sets_differ,
    "VMG-FW-005": bridge_unfiltered,
}
