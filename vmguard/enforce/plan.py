"""The typed list of changes `vmguard apply` makes: the fixes of the rules that fail.

A plan is built from the same rules the audit runs (vmguard.checks): every violation
that carries a fix contributes it, so a plan proposes exactly what clears the fixable
findings and nothing else. A setting stricter than the policy asks is left alone (no
rule fails on it). Changes the driver cannot make go to `manual`, so the admin sees them
instead of losing them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from vmguard.checks.registry import Unit, units, violations
from vmguard.checks.unit import Action, VmFix
from vmguard.core.errors import ExitCode
from vmguard.facts.vm import HostOnly, PowerState, VmFacts
from vmguard.policy.model import Policy

if TYPE_CHECKING:  # guest.fixes imports the checks, which import this module
    from vmguard.guest.fixes import GuestPlan

__all__ = ["Action", "Capabilities", "Change", "Plan", "fixes", "make_plan", "plan_exit"]


@dataclass(frozen=True)
class Capabilities:
    """What a driver can change, and what it can change while the VM runs."""

    supported: frozenset[Action]
    live: frozenset[Action] = frozenset()


@dataclass(frozen=True)
class Change:
    action: Action
    setting: str  # the policy key that wants it, e.g. "spec.devices.clipboard"
    subject: str  # what in the VM, e.g. "clipboard", "nic 0", "share home"
    current: str
    wanted: str
    origin: str  # the policy's file:line:col for `setting`
    target: str = ""  # NIC index, share name or display protocol, for per-item actions
    needs_poweroff: bool = False
    destination: HostOnly | None = None  # where MOVE_NIC attaches the NIC

    def __str__(self) -> str:
        flag = " [needs power-off]" if self.needs_poweroff else ""
        return f"{self.subject}: {self.current} -> {self.wanted}  ({self.origin}){flag}"


@dataclass(frozen=True)
class Plan:
    vm: str
    policy: str
    changes: tuple[Change, ...] = ()
    manual: tuple[Change, ...] = ()  # differs from the policy; the driver cannot change it
    power_state: PowerState = PowerState.UNKNOWN
    guest: GuestPlan | None = None  # inside the guest (`plan --guest`); None: not inspected

    @property
    def empty(self) -> bool:
        guest = self.guest and (self.guest.changes or self.guest.manual or self.guest.refused)
        return not self.changes and not self.manual and not guest

    @property
    def needs_poweroff(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.needs_poweroff)

    def to_dict(self) -> dict[str, object]:
        return {
            "vm": self.vm,
            "policy": self.policy,
            "power_state": self.power_state.value,
            "changes": [asdict(c) for c in self.changes],
            "manual": [asdict(c) for c in self.manual],
            "guest": self.guest.to_dict() if self.guest else None,
        }


# A share that is removed needs none of its other fixes (and a driver could not make them).
_MOOT_AFTER_REMOVAL = frozenset(
    {Action.SET_SHARE_READONLY, Action.SET_SHARE_AUTOMOUNT, Action.DISABLE_SHARE_SYMLINKS}
)
_ORDER = {action: i for i, action in enumerate(Action)}  # NICs first, then shares, ...


def fixes(policy: Policy, facts: VmFacts, rules: dict[str, Unit] | None = None) -> list[VmFix]:
    """The VM rules' fixes for what they find wrong: one per (action, target), none for a
    share that is removed anyway, in the order apply makes them."""
    found: dict[tuple[Action, str], VmFix] = {}
    for _rule, violation in violations(units() if rules is None else rules, policy, facts):
        if isinstance(violation.fix, VmFix):
            found.setdefault(violation.fix.key, violation.fix)
    removed = {f.target for f in found.values() if f.action is Action.REMOVE_SHARE}
    kept = [f for f in found.values() if not (f.action in _MOOT_AFTER_REMOVAL and f.target in removed)]
    return sorted(kept, key=lambda f: _ORDER[f.action])


def make_plan(policy: Policy, facts: VmFacts, caps: Capabilities) -> Plan:
    """The changes that bring `facts` in line with `policy`, sorted by what the driver can do."""
    running = facts.power_state in (PowerState.RUNNING, PowerState.PAUSED)
    changes, manual = [], []
    for fix in fixes(policy, facts):
        change = Change(
            action=fix.action,
            setting=fix.setting,
            subject=fix.subject,
            current=fix.current,
            wanted=fix.wanted,
            origin=policy.origin(fix.setting),
            target=fix.target,
            needs_poweroff=running and fix.action not in caps.live,
            destination=fix.destination,
        )
        doable = fix.action in caps.supported and not fix.manual
        (changes if doable else manual).append(change)
    return Plan(facts.name, policy.name, tuple(changes), tuple(manual), facts.power_state)


def plan_exit(plans: Iterable[Plan]) -> ExitCode:
    """Like `terraform plan -detailed-exitcode`: 0 nothing differs, 1 apply would change
    something, 4 only changes apply cannot make are left (automation: "changed" only on 1)."""
    plans = list(plans)
    if any(p.guest and p.guest.refused for p in plans):  # fail closed: apply would refuse
        return ExitCode.CANNOT_RUN
    if any(p.changes or (p.guest and p.guest.changes) for p in plans):
        return ExitCode.CHANGES
    return (
        ExitCode.MANUAL_ONLY if any(p.manual or (p.guest and p.guest.manual) for p in plans) else ExitCode.OK
    )
