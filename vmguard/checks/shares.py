"""VMG-FS: shared folders between host and guest (VM rules over VmFacts).

A share that must go (forbidden root, not allowed) is fixed by removing it; plan drops
the other fixes of a share it removes (vmguard.enforce.plan).
"""

from __future__ import annotations

from collections.abc import Iterable

from vmguard.checks.common import wanted, where
from vmguard.checks.unit import Action, Violation, VmFix, fixes
from vmguard.core.modes import Access, SharePurpose
from vmguard.core.paths import forms, overlaps
from vmguard.facts.vm import SharedFolder, VmFacts
from vmguard.policy.model import Policy, ShareRule

READ_ONLY_PURPOSES = frozenset({SharePurpose.INPUT, SharePurpose.SOFTWARE})


def _paths(share: SharedFolder) -> tuple[str, ...]:
    """The configured path and, when the driver resolved it, the real one."""
    return forms((share.host_path, share.real_path))


def _overlap(path: str, root: str) -> bool:
    return any(overlaps(p, f) for p in forms((path,)) for f in forms((root,)))


def _rule_for(policy: Policy, vm: str, share: SharedFolder) -> ShareRule | None:
    """The allow entry with this share's name whose host path is the share's path."""
    paths = set(_paths(share))
    for rule in policy.shared_folders.allow:
        if rule.name == share.name and paths & set(forms((rule.host_path_for(vm),))):
            return rule
    return None


def _fix(share: SharedFolder, action: Action, key: str, what: str, current: str, want: str) -> VmFix:
    subject = f"share {share.name}" + (f" {what}" if what else "")
    setting = f"spec.shared_folders.{key}"
    return VmFix(
        action=action, setting=setting, subject=subject, current=current, wanted=want, target=share.name
    )


def _removal(share: SharedFolder, key: str, why: str) -> VmFix:
    return _fix(share, Action.REMOVE_SHARE, key, "", share.real_path or share.host_path, f"absent ({why})")


def _violation(share: SharedFolder, message: str, want: str, fix: VmFix) -> Violation:
    evidence = where(share.source, f"shared folder {share.name}")
    return Violation(message=f"share '{share.name}' {message}", evidence=evidence, wanted=want, fix=fix)


@fixes
def forbidden_root(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    roots = policy.shared_folders.forbid_host_paths
    for share in facts.shared_folders:
        # Each path as the VM's configuration writes it (the report quotes it exactly),
        # judged in every form: as written and with its symlinks resolved.
        written = [p for p in (share.host_path, share.real_path) if p]
        hits = [(p, r) for p in written for r in roots if _overlap(p, r)]
        if hits:
            path, root = hits[0]
            want = wanted(policy, "spec.shared_folders.forbid_host_paths", ", ".join(roots))
            fix = _removal(share, "forbid_host_paths", f"under forbidden {root}")
            yield _violation(share, f"exposes {path} (forbidden root {root})", want, fix)


def _not_allowed_why(policy: Policy, vm: str, share: SharedFolder) -> str:
    paths = [r.host_path_for(vm) for r in policy.shared_folders.allow if r.name == share.name]
    return f"policy allows {', '.join(paths)} only" if paths else "not in the allow list"


@fixes
def not_allowed(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    names = ", ".join(r.name for r in policy.shared_folders.allow) or "none"
    for share in facts.shared_folders:
        if _rule_for(policy, facts.name, share) is None:
            want = wanted(policy, "spec.shared_folders.allow", names)
            fix = _removal(share, "allow", _not_allowed_why(policy, facts.name, share))
            yield _violation(share, f"({share.host_path}) is not allowed", want, fix)


@fixes
def writable(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for share in facts.shared_folders:
        rule = _rule_for(policy, facts.name, share)
        if rule is None or share.read_only:
            continue
        if rule.access is Access.READ_ONLY or rule.purpose in READ_ONLY_PURPOSES:
            want = wanted(policy, "spec.shared_folders.allow", f"{rule.name} read-only")
            fix = _fix(share, Action.SET_SHARE_READONLY, "allow", "", "read-write", "read-only")
            yield _violation(share, "is writable", want, fix)


@fixes
def symlinks(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    # Also for the output (quarantine) share: vet rejects symlinks, but backups and
    # admins' tools on the host follow them. A share that cannot stop them (virtiofs)
    # needs a waiver, stated in the policy, like any other accepted risk. A read-only
    # share lets the guest create nothing, symlinks included.
    if policy.shared_folders.allow_symlinks:
        return
    for share in facts.shared_folders:
        if share.symlinks_allowed and not share.read_only:
            want = wanted(policy, "spec.shared_folders.allow_symlinks", "false")
            fix = _fix(
                share,
                Action.DISABLE_SHARE_SYMLINKS,
                "allow_symlinks",
                "symlinks",
                "guest may create symlinks",
                "no symlinks",
            )
            yield _violation(share, "allows the guest to create symlinks", want, fix)


@fixes
def automount(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.shared_folders.automount:
        return
    for share in facts.shared_folders:
        if share.automount:
            want = wanted(policy, "spec.shared_folders.automount", "false")
            fix = _fix(share, Action.SET_SHARE_AUTOMOUNT, "automount", "automount", "true", "false")
            yield _violation(share, "is automounted", want, fix)
