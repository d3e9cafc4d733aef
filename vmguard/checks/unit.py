"""The shape of a rule: what its predicate yields, and the change that clears it.

A rule is one function in a family module (vmguard/checks/<family>.py), named by its
catalog entry (rules/<ID>.yaml `check: family.function`). It is a pure function of
(policy, facts) that yields a Violation for each thing wrong; where vmguard can fix it,
the Violation carries the fix, and the function is declared `@fixes` (next to it: the one
place that says whether `vmguard apply` clears the rule, the catalog's fixed_by_apply).
The audit stamps the rule id, severity and subject from
the catalog (a rule never spells its own id); `plan` is made of the same Violations'
fixes (vmguard.enforce.plan), so plan proposes exactly what clears the fixable findings.

A guest rule's fix is a change inside the stopped guest, not in the VM's configuration:
it is declared on the rule with `@guest_fix` (vmguard.checks.guest_fix) and the guest
plan (vmguard.guest.fixes) collects it; the VM plan takes only VmFix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from vmguard.facts.vm import HostOnly


class Action(StrEnum):
    """A change to a VM's configuration that a driver can make (or report as manual)."""

    DETACH_NIC = "detach-nic"
    MOVE_NIC = "move-nic"  # onto the connection's host-only network, same MAC and model
    REMOVE_SHARE = "remove-share"
    SET_SHARE_READONLY = "set-share-readonly"
    SET_SHARE_AUTOMOUNT = "set-share-automount"
    DISABLE_SHARE_SYMLINKS = "disable-share-symlinks"
    SET_CLIPBOARD = "set-clipboard"
    SET_DRAG_AND_DROP = "set-drag-and-drop"
    REMOVE_USB = "remove-usb"
    REMOVE_AUDIO = "remove-audio"
    DISABLE_REMOTE_DISPLAY = "disable-remote-display"
    LISTEN_LOCALHOST = "listen-localhost"
    REQUIRE_DISPLAY_AUTH = "require-display-auth"
    REMOVE_SERIAL_PORTS = "remove-serial-ports"
    REMOVE_PARALLEL_PORTS = "remove-parallel-ports"
    REMOVE_HOST_DEVICES = "remove-host-devices"
    REMOVE_GUEST_AGENT = "remove-guest-agent"


@dataclass(frozen=True, kw_only=True)
class VmFix:
    """The change to a VM's configuration that clears a violation."""

    action: Action
    setting: str  # the policy key that wants it, e.g. "spec.devices.clipboard"
    subject: str  # what in the VM, e.g. "clipboard", "nic 0", "share home"
    current: str
    wanted: str
    target: str = ""  # NIC index/MAC, share name or display protocol, for per-item actions
    destination: HostOnly | None = None  # where MOVE_NIC attaches the NIC
    manual: str = ""  # why no driver may make it (vmguard must not guess a destination)

    @property
    def key(self) -> tuple[Action, str]:
        """Two violations with one fix (USB controller and redirection) share this key."""
        return (self.action, self.target)


Fix = VmFix  # a guest rule's fix: vmguard.checks.guest_fix

R = TypeVar("R", bound=Callable[..., Any])
_FIXING: set[Callable[..., Any]] = set()  # the rule functions declared @fixes


def fixes(rule: R) -> R:
    """Declares that this rule's violations carry the fix that clears them (a VmFix that
    `plan` takes, or a guest rule's own fix): the rule is fixed by apply. A test checks
    the declaration against what the rule yields and what apply then clears."""
    _FIXING.add(rule)
    return rule


def declares_fix(rule: Callable[..., Any]) -> bool:
    return rule in _FIXING


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One thing a rule finds wrong; the audit turns it into a Finding."""

    message: str  # what is wrong, concretely: "clipboard is bidirectional"
    evidence: str = ""  # where the fact came from; also the finding's identity across runs
    wanted: str = ""  # what the policy wants, and the policy line that wants it
    subject: str = ""  # "" = the VM (or "host"); inventory rules name the VM or entry
    fix: Fix | None = None
