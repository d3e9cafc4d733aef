"""The guest's part of a plan: one fix per guest rule, each asking that rule's own question.

`FIXES` maps a guest rule id to a pure function (policy, facts) -> GuestChange items that
clear what the rule flags: accounts locked or given a non-login shell (VMG-USR-001,
VMG-USR-011), sshd settings in vmguard's managed block (VMG-USR-002/003/005..009),
services' start entries removed (VMG-SW-002). Forbidden software (VMG-SW-001) is only
reported: removing packages from a guest that cannot be patched is the admin's call.
The changes are made by vmguard.guest.apply, inside libguestfs's appliance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum

from vmguard.checks import guest_sshd
from vmguard.checks.guest import forbidden_software
from vmguard.checks.guest_questions import may_not_log_in, password_weaknesses, services_not_allowed
from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import VmFacts
from vmguard.guest import sshd
from vmguard.guest.model import Account, GuestFacts, PasswordState, ServiceKind
from vmguard.policy.model import Policy

SSHD_CONFIG = "/etc/ssh/sshd_config"
KBD_KEYWORD_SINCE = (8, 7)  # sshd accepts KbdInteractiveAuthentication from OpenSSH 8.7


class GuestAction(StrEnum):
    LOCK_PASSWORD = "lock-password"  # noqa: S105 (an action, not a password)
    SET_SHELL = "set-shell"
    SSHD_SETTING = "sshd-setting"  # a line of vmguard's managed block, first in sshd_config
    SSHD_COMMENT_OUT = "sshd-comment-out"  # a Match block's line, which no global line overrides
    DISABLE_SERVICE = "disable-service"  # every start link (SysV, systemd) or xinetd's disable = yes


@dataclass(frozen=True)
class GuestChange:
    rule: str  # the guest rule it clears
    action: GuestAction
    subject: str  # "account intruder", "sshd PermitRootLogin", "service telnet (xinetd)"
    current: str
    wanted: str
    path: str  # the guest file (or the first link) it changes
    target: str  # account name, sshd keyword (as written), service name
    value: str = ""  # the shell, the sshd value
    line: int | None = None  # SSHD_COMMENT_OUT: the line in sshd_config
    kind: str = ""  # DISABLE_SERVICE: sysv | systemd | xinetd

    def __str__(self) -> str:
        return f"guest {self.subject}: {self.current} -> {self.wanted}  ({self.rule}, {self.path})"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GuestChange:
        return cls(**{**data, "action": GuestAction(data["action"])})


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


Fix = Callable[[Policy, VmFacts], Iterable[GuestChange]]


def _lock(rule: str, account: Account, why: str) -> GuestChange:
    # The field sshd and login read: passwd's own unless it is "x" (or already a lock).
    path = "/etc/shadow" if account.shadowed else "/etc/passwd"
    return GuestChange(
        rule,
        GuestAction.LOCK_PASSWORD,
        f"account {account.name}",
        f"password {account.password.value} ({why})",
        "locked (! prefix)",
        path,
        account.name,
    )


def lockable(account: Account) -> bool:
    """A password field that "!" changes: a hash, an empty one, or an unshadowed one."""
    return account.password in (PasswordState.SET, PasswordState.EMPTY) or not account.shadowed


def fix_logins(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """VMG-USR-001: lock accounts that may not log in, and give them the policy's
    non-login shell. A uid-0 account other than root is a root login: locked too."""
    for account in facts.guest.accounts:
        extra_root = account.uid == 0 and account.name != "root"
        if not (may_not_log_in(policy, account) or extra_root):
            continue
        if lockable(account):
            yield _lock("VMG-USR-001", account, "uid 0" if extra_root else "may not log in")
        shell = policy.users.nologin_shell
        if shell and account.interactive_shell and may_not_log_in(policy, account):
            yield GuestChange(
                "VMG-USR-001",
                GuestAction.SET_SHELL,
                f"account {account.name} shell",
                account.login_shell,
                shell,
                account.source.path,
                account.name,
                shell,
            )


def fix_weak_passwords(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """VMG-USR-011: empty passwords and hashes in /etc/passwd, locked."""
    for account in facts.guest.accounts:
        weak = password_weaknesses(account)
        if weak:
            yield _lock("VMG-USR-011", account, " and ".join(weak))


# sshd settings each rule wants: (keyword as written, value). A keyword is written only
# when its effective global value differs; Match blocks' differing lines are commented out.
SSHD_WANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "VMG-USR-002": (("PermitRootLogin", "no"),),
    "VMG-USR-003": (("PasswordAuthentication", "no"),),
    "VMG-USR-005": (("PermitEmptyPasswords", "no"),),
    "VMG-USR-006": (("X11Forwarding", "no"),),
    "VMG-USR-007": (("AllowTcpForwarding", "no"),),
    "VMG-USR-008": (("PermitUserEnvironment", "no"),),
    "VMG-USR-009": (
        ("IgnoreRhosts", "yes"),
        ("HostbasedAuthentication", "no"),
        ("RhostsRSAAuthentication", "no"),
    ),
}


def _kbd_keyword(guest: GuestFacts) -> str:
    """The keyword VMG-USR-003's PAM question reads, in a spelling the guest's sshd knows."""
    config = guest.sshd
    for keyword in ("KbdInteractiveAuthentication", "ChallengeResponseAuthentication"):
        if config.effective(keyword.lower()):
            return keyword
    known = sshd.version(config.openssh_version)
    new = known is not None and known >= KBD_KEYWORD_SINCE
    return "KbdInteractiveAuthentication" if new else "ChallengeResponseAuthentication"


def _wanted(rule: str, guest: GuestFacts) -> tuple[tuple[str, str], ...]:
    wants = SSHD_WANTS[rule]
    if rule == "VMG-USR-003" and sshd.effective(guest.sshd, "usepam")[0][0] == "yes":
        wants += ((_kbd_keyword(guest), "no"),)
    known = sshd.version(guest.sshd.openssh_version)
    if known is not None and known >= guest_sshd.RHOSTS_RSA_REMOVED:  # sshd would warn on it
        wants = tuple(w for w in wants if w[0] != "RhostsRSAAuthentication")
    return wants


def _sshd_fix(rule: str) -> Fix:
    def fix(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
        if not vm_checks("guest_sshd")[rule](policy, facts):  # the rule's own question
            return
        for keyword, value in _wanted(rule, facts.guest):
            yield from _sshd_changes(rule, facts.guest, keyword, value)

    fix.__doc__ = f"{rule}: the sshd settings it wants, in vmguard's managed block."
    return fix


def _sshd_changes(rule: str, guest: GuestFacts, keyword: str, value: str) -> Iterable[GuestChange]:
    for current, setting in sshd.effective(guest.sshd, keyword.lower()):
        if current == value.lower():
            continue
        if setting is None or not setting.match:
            where = str(setting.source) if setting else "built-in default"
            yield GuestChange(
                rule,
                GuestAction.SSHD_SETTING,
                f"sshd {keyword}",
                f"{current} ({where})",
                value,
                SSHD_CONFIG,
                keyword,
                value,
            )
        else:
            yield _comment_out(rule, keyword, current, setting)


def _comment_out(rule: str, keyword: str, current: str, setting) -> GuestChange:
    return GuestChange(
        rule,
        GuestAction.SSHD_COMMENT_OUT,
        f"sshd {keyword} (Match {setting.match})",
        f"{current} ({setting.source})",
        "line commented out (the global value applies)",
        setting.source.path,
        keyword,
        current,
        setting.source.line,
    )


def fix_services(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """VMG-SW-002: services the policy does not allow, no longer started."""
    for service in services_not_allowed(policy, facts.guest):
        how = "disable = yes" if service.kind is ServiceKind.XINETD else "no start link in any runlevel"
        yield GuestChange(
            "VMG-SW-002",
            GuestAction.DISABLE_SERVICE,
            f"service {service.name} ({service.kind.value})",
            "enabled",
            how,
            service.source.path,
            service.name,
            line=service.source.line,
            kind=service.kind.value,
        )


FIXES: dict[str, Fix] = {
    "VMG-USR-001": fix_logins,
    "VMG-USR-011": fix_weak_passwords,
    **{rule: _sshd_fix(rule) for rule in SSHD_WANTS},
    "VMG-SW-002": fix_services,
}
# Parts of the guest each fix reads: unreadable, the guest is left untouched.
NEEDED_PARTS = ("accounts", "shadow", "sshd", "services", "/etc/passwd")


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
    changes = _unique(c for fix in FIXES.values() for c in fix(policy, facts))
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
