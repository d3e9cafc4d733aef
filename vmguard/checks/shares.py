"""VMG-FS: shared folders between host and guest (VM rules over VmFacts)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from vmguard.checks.common import is_under, wanted, where
from vmguard.core.findings import Finding
from vmguard.core.modes import Access, SharePurpose
from vmguard.facts.vm import SharedFolder, VmFacts
from vmguard.policy.model import Policy, ShareRule

READ_ONLY_PURPOSES = frozenset({SharePurpose.INPUT, SharePurpose.SOFTWARE})


def _paths(share: SharedFolder) -> tuple[str, ...]:
    """The configured path and, when the driver resolved it, the real one."""
    return tuple(dict.fromkeys(p for p in (share.host_path, share.real_path) if p))


def _rule_for(policy: Policy, vm: str, share: SharedFolder) -> ShareRule | None:
    """The allow entry with this share's name whose host path is the share's path."""
    for rule in policy.shared_folders.allow:
        allowed = os.path.normpath(rule.host_path_for(vm))
        if rule.name == share.name and allowed in map(os.path.normpath, _paths(share)):
            return rule
    return None


def _finding(rule: str, facts: VmFacts, share: SharedFolder, message: str, want: str) -> Finding:
    evidence = where(share.source, f"shared folder {share.name}")
    return Finding(rule, facts.name, f"share '{share.name}' {message}", evidence, want)


def forbidden_root(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    roots = policy.shared_folders.forbid_host_paths
    for share in facts.shared_folders:
        # A share of /vmdata/../ or / contains a forbidden root as much as /home/x is in one.
        hits = [(p, r) for p in _paths(share) for r in roots if is_under(p, r) or is_under(r, p)]
        if hits:
            path, root = hits[0]
            want = wanted(policy, "spec.shared_folders.forbid_host_paths", ", ".join(roots))
            yield _finding("VMG-FS-001", facts, share, f"exposes {path} (forbidden root {root})", want)


def not_allowed(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    names = ", ".join(r.name for r in policy.shared_folders.allow) or "none"
    for share in facts.shared_folders:
        if _rule_for(policy, facts.name, share) is None:
            want = wanted(policy, "spec.shared_folders.allow", names)
            yield _finding("VMG-FS-002", facts, share, f"({share.host_path}) is not allowed", want)


def writable(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for share in facts.shared_folders:
        rule = _rule_for(policy, facts.name, share)
        if rule is None or share.read_only:
            continue
        if rule.access is Access.READ_ONLY or rule.purpose in READ_ONLY_PURPOSES:
            want = wanted(policy, "spec.shared_folders.allow", f"{rule.name} read-only")
            yield _finding("VMG-FS-003", facts, share, "is writable", want)


def symlinks(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    # Also for the output (quarantine) share: vet rejects symlinks, but backups and
    # admins' tools on the host follow them. A share that cannot stop them (virtiofs)
    # needs a waiver, stated in the policy, like any other accepted risk.
    if policy.shared_folders.allow_symlinks:
        return
    for share in facts.shared_folders:
        if share.symlinks_allowed:
            want = wanted(policy, "spec.shared_folders.allow_symlinks", "false")
            yield _finding("VMG-FS-004", facts, share, "allows the guest to create symlinks", want)


def automount(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.shared_folders.automount:
        return
    for share in facts.shared_folders:
        if share.automount:
            want = wanted(policy, "spec.shared_folders.automount", "false")
            yield _finding("VMG-FS-005", facts, share, "is automounted", want)


CHECKS: dict[str, Callable[[Policy, VmFacts], Iterable[Finding]]] = {
    "VMG-FS-001": forbidden_root,
    "VMG-FS-002": not_allowed,
    "VMG-FS-003": writable,
    "VMG-FS-004": symlinks,
    "VMG-FS-005": automount,
}
