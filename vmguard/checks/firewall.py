"""VMG-FW: the host firewall vmguard loaded still matches the compiled policy.

Host rules, the same shape as VM rules: a pure function of (the inventory's firewall
settings, the typed result of vmguard.firewall.service.audit, a FirewallAudit), one
violation per drift; the audit gives them the subject "host". Their fix is `vmguard
firewall apply`, which reloads the whole compiled ruleset.
"""

from __future__ import annotations

from collections.abc import Iterable

from vmguard.checks.unit import Violation
from vmguard.firewall.audit import DriftKind, FirewallAudit, RulesetDrift
from vmguard.inventory.model import FirewallSettings

K = DriftKind
WANTED = "the ruleset compiled from the inventory's policies (vmguard firewall plan)"


def _violations(audit: FirewallAudit, kinds: tuple[DriftKind, ...], what: str) -> Iterable[Violation]:
    for drift in audit.of(*kinds):
        yield Violation(
            message=f"{what}: {_describe(drift)}",
            evidence=f"{audit.backend}: {drift.where}: {drift.detail}"[:300],
            wanted=WANTED,
        )


def _describe(drift: RulesetDrift) -> str:
    return f"{drift.kind.value.replace('-', ' ')} in {drift.where} ({drift.detail[:120]})"


def not_loaded(settings: FirewallSettings, audit: FirewallAudit) -> Iterable[Violation]:
    return _violations(audit, (K.TABLE_MISSING, K.CHAIN_MISSING), "vmguard's firewall rules are not loaded")


def not_reached(settings: FirewallSettings, audit: FirewallAudit) -> Iterable[Violation]:
    return _violations(
        audit,
        (K.JUMP_MISSING, K.JUMP_SHADOWED),
        "VM traffic no longer passes through vmguard's rules",
    )


def rules_differ(settings: FirewallSettings, audit: FirewallAudit) -> Iterable[Violation]:
    kinds = (K.RULE_MISSING, K.RULE_EXTRA, K.RULE_MODIFIED, K.CHAIN_EXTRA)
    return _violations(audit, kinds, "a rule differs from the policy")


def sets_differ(settings: FirewallSettings, audit: FirewallAudit) -> Iterable[Violation]:
    kinds = (K.SET_MISSING, K.SET_ELEMENTS_MISSING, K.SET_ELEMENTS_EXTRA)
    return _violations(audit, kinds, "an address, MAC or endpoint set differs from the policy")


def bridge_unfiltered(settings: FirewallSettings, audit: FirewallAudit) -> Iterable[Violation]:
    for unfiltered in audit.unfiltered_bridges:
        bridge, setting = unfiltered.split(": ", 1)
        yield Violation(
            message=f"bridge {bridge}: bridged VM-to-VM traffic skips netfilter ({setting})",
            evidence=f"/proc/sys/{setting.split()[0].replace('.', '/')} ({bridge})",
            wanted="VM-to-VM traffic filtered like any other VM traffic",
        )
