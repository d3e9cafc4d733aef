"""The guest's part of a plan, made of the guest rules' own fixes.

Each guest rule that `apply --guest` can fix declares its fix next to its predicate
(`@guest_fix` in vmguard/checks/guest*.py; the shape in vmguard.checks.guest_fix):
accounts locked or given a non-login shell (VMG-USR-001, VMG-USR-011), sshd settings in
vmguard's managed block (VMG-USR-002/003/005..009), PAM's nullok removed (VMG-USR-013),
trust files renamed away (VMG-USR-014), services' start entries removed (VMG-SW-002).
`guest_plan` runs the catalog's rules' fixes and stamps each change with its rule's id.
Forbidden software (VMG-SW-001) is only reported: removing packages from a guest that
cannot be patched is the admin's call. The changes are made by
vmguard.guest.apply, inside libguestfs's appliance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from vmguard.checks.guest import forbidden_software
from vmguard.checks.guest_fix import GuestAction, GuestChange, GuestFix, fix_of
from vmguard.checks.guest_questions import may_not_log_in
from vmguard.checks.registry import units
from vmguard.facts.vm import VmFacts
from vmguard.guest.model import GuestFacts
from vmguard.policy.model import Policy

__all__ = ["GuestAction", "GuestChange", "GuestPlan", "guest_plan", "refusal", "rule_fixes"]


@dataclass(frozen=True)
class GuestPlan:
    changes: tuple[GuestChange, ...] = ()
    report_only: tuple[str, ...] = ()  # found, not changed by apply (packages)
    manual: tuple[str, ...] = ()  # flagged, but no fix of vmguard's clears it
    refused: str = ""  # why apply must not touch this guest (unreadable parts)
    backup: str = ""  # what the backup before apply costs

    def to_dict(self) -> dict[str, object]:
        return {
            "changes": [c.to_dict() for c in self.changes],
            "report_only": list(self.report_only),
            "manual": list(self.manual),
            "refused": self.refused,
            "backup": self.backup,
        }


# Parts of the guest each fix reads: unreadable, the guest is left untouched.
NEEDED_PARTS = ("accounts", "shadow", "sshd", "services", "/etc/passwd")


def rule_fixes() -> dict[str, GuestFix]:
    """Rule id -> its fix, for every guest rule of the catalog that has one."""
    return {rule: fix for rule, unit in units().items() if (fix := fix_of(unit)) is not None}


def _unique(changes: Iterable[GuestChange]) -> tuple[GuestChange, ...]:
    """One change per (action, target, path, line): two rules may want the same one."""
    seen: dict[tuple, GuestChange] = {}
    for change in changes:
        seen.setdefault((change.action, change.target, change.path, change.line, change.kind), change)
    return tuple(seen.values())


def refusal(guest: GuestFacts) -> str:
    """Why apply must leave this guest alone: a part its fixes read could not be parsed."""
    bad = [p for p in guest.problems if p.startswith(NEEDED_PARTS)]
    return f"parts of the guest could not be parsed: {'; '.join(bad)}" if bad else ""


def guest_plan(policy: Policy, facts: VmFacts) -> GuestPlan:
    """What `apply --guest` changes in facts.guest (which must be set), and what it leaves."""
    guest = facts.guest
    report = tuple(
        f"{f.message} (report only: packages are not removed)" for f in forbidden_software(policy, facts)
    )
    why = refusal(guest)
    if why:
        return GuestPlan(report_only=report, refused=why)
    changes = _unique(replace(c, rule=rule) for rule, fix in rule_fixes().items() for c in fix(policy, facts))
    return GuestPlan(changes, report, _keys_left(policy, guest))


def _keys_left(policy: Policy, guest: GuestFacts) -> tuple[str, ...]:
    """Accounts whose SSH keys still let them in once their password is locked."""
    if policy.users.nologin_shell:
        return ()
    return tuple(
        f"account {a.name}: {a.authorized_keys} SSH key(s) still let it log in "
        "(set spec.users.nologin_shell, or remove the keys)"
        for a in guest.accounts
        if may_not_log_in(policy, a) and a.authorized_keys
    )
