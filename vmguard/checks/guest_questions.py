"""The questions the guest rules ask, each answered once: the rule that reports and the
fix `apply --guest` makes (vmguard.guest.fixes) both call these. They hold no rule."""

from __future__ import annotations

from vmguard.guest.model import Account, GuestFacts, PasswordState, Service
from vmguard.policy.model import Policy


def may_not_log_in(policy: Policy, account: Account) -> bool:
    """VMG-USR-001's question (its fix asks it too): the account can log in and the
    policy does not list it."""
    allowed = account.name in policy.users.interactive_login
    return bool(account.login_methods) and not allowed and not_plain_root(account)


def not_plain_root(account: Account) -> bool:
    """root's own logins are VMG-USR-002's (sshd); a root with no password at all is not."""
    return account.name != "root" or account.password is PasswordState.EMPTY


def services_not_allowed(policy: Policy, guest: GuestFacts) -> tuple[Service, ...]:
    """VMG-SW-002's question (its fix asks it too): services enabled at boot that the
    policy's allowed_services does not name; () when the policy does not list services."""
    allowed = policy.software.allowed_services
    if allowed is None:
        return ()
    return tuple(s for s in guest.enabled_services() if s.name not in allowed)


def password_weaknesses(account: Account) -> list[str]:
    """VMG-USR-011's question (its fix asks it too): what is weak in the account's password."""
    what = [] if account.shadowed else ["its password hash is in world-readable /etc/passwd"]
    return what + (["it has an empty password"] if account.password is PasswordState.EMPTY else [])
