"""The shape of a guest rule's fix: the change inside a stopped guest that clears it.

A guest rule (checks.guest*) that `apply --guest` can fix carries its fix, declared next
to its predicate with `@guest_fix(fix)`: fix(policy, facts) yields the GuestChange items
that clear what the rule flags, asking the rule's own question (checks.guest_questions).
The guest part of `plan` (vmguard.guest.fixes.guest_plan) is made of the catalog's rules'
fixes, stamped with the rule id, as the VM plan is made of their VmFix; the changes are
made by vmguard.guest.apply, inside libguestfs's appliance.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from vmguard.guest.model import Account, PasswordState

if TYPE_CHECKING:
    from vmguard.facts.vm import VmFacts
    from vmguard.policy.model import Policy


class GuestAction(StrEnum):
    LOCK_PASSWORD = "lock-password"  # noqa: S105 (an action, not a password)
    SET_SHELL = "set-shell"
    SSHD_SETTING = "sshd-setting"  # a line of vmguard's managed block, first in sshd_config
    SSHD_COMMENT_OUT = "sshd-comment-out"  # a Match block's line, which no global line overrides
    DISABLE_SERVICE = "disable-service"  # every start link (SysV, systemd) or xinetd's disable = yes
    DROP_NULLOK = "drop-nullok"  # a PAM line's nullok argument removed, the rest of the line kept
    RENAME_AWAY = "rename-away"  # a trust file renamed beside itself: no program reads it, content kept
    SET_OWNER_MODE = "set-owner-mode"  # an account file's owner, group and mode (chown, chmod)
    SUDO_COMMENT_OUT = "sudo-comment-out"  # every line of a sudo rule commented out, the rest kept


@dataclass(frozen=True, kw_only=True)
class GuestChange:
    action: GuestAction
    subject: str  # "account intruder", "sshd PermitRootLogin", "service telnet (xinetd)"
    current: str
    wanted: str
    path: str  # the guest file (or the first link) it changes
    target: str  # account name, sshd keyword (as written), service name
    value: str = ""  # the shell, the sshd value; SET_OWNER_MODE: "uid:gid:octal mode"
    line: int | None = None  # SSHD_COMMENT_OUT, DROP_NULLOK, SUDO_COMMENT_OUT: the (first) line
    kind: str = ""  # DISABLE_SERVICE: sysv | systemd | xinetd
    rule: str = ""  # the guest rule it clears: stamped by the plan, never by the fix

    def __str__(self) -> str:
        return f"guest {self.subject}: {self.current} -> {self.wanted}  ({self.rule}, {self.path})"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GuestChange:
        return cls(**{**data, "action": GuestAction(data["action"])})


GuestFix = Callable[["Policy", "VmFacts"], Iterable[GuestChange]]
U = TypeVar("U")


def guest_fix(fix: GuestFix) -> Callable[[U], U]:
    """Declare `fix` as the fix of the rule function this decorates."""

    def attach(unit: U) -> U:
        unit.guest_fix = fix  # type: ignore[attr-defined]
        return unit

    return attach


def fix_of(unit: object) -> GuestFix | None:
    return getattr(unit, "guest_fix", None)


def owner_mode(uid: int, gid: int, mode: int) -> str:
    """How a file's owner, group and mode are written in a change (and checked by the worker)."""
    return f"owner {uid}:{gid}, mode {stat.S_IMODE(mode):04o}"


def lockable(account: Account) -> bool:
    """A password field that "!" changes: a hash, an empty one, or an unshadowed one."""
    return account.password in (PasswordState.SET, PasswordState.EMPTY) or not account.shadowed


def lock(account: Account, why: str) -> GuestChange:
    """The account's password locked (! prefix) in the field sshd and login read:
    passwd's own unless it is "x"."""
    return GuestChange(
        action=GuestAction.LOCK_PASSWORD,
        subject=f"account {account.name}",
        current=f"password {account.password.value} ({why})",
        wanted="locked (! prefix)",
        path="/etc/shadow" if account.shadowed else "/etc/passwd",
        target=account.name,
    )
