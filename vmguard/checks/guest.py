"""VMG-USR and VMG-SW: users, logins, software and services inside the guest.

This module holds the login, software and service rules; sshd's rules are in
guest_sshd, other ways in in guest_access, file rules in guest_files. A rule that
`apply --guest` fixes carries its fix (`@guest_fix`, vmguard.checks.guest_fix), written
just above it.

Pure functions of (Policy, VmFacts) over facts.guest, which vmguard.guest.inspect fills
from the VM's disk images (and its guest agent when online). A VM not inspected
(facts.guest is None) yields no finding here. Evidence names the guest file without
its line number (identity across runs); the message carries file:line.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable

from vmguard.checks.common import wanted
from vmguard.checks.guest_evidence import place
from vmguard.checks.guest_fix import GuestAction, GuestChange, guest_fix, lock, lockable
from vmguard.checks.guest_questions import may_not_log_in, services_not_allowed
from vmguard.checks.unit import Violation
from vmguard.facts.vm import VmFacts, is_loopback
from vmguard.guest.model import Account, ServiceKind, SshdConfig
from vmguard.policy.model import Policy

# Characters that may follow a forbidden name in a package or program name and still
# mean the same software: firefox-esr, exim4, thunderbird.bin, seamonkey_2.
_NAME_TAIL = "-._0123456789"


def _fix_logins(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Lock accounts that may not log in, and give them the policy's non-login shell.
    A uid-0 account other than root is a root login: locked too."""
    for account in facts.guest.accounts:
        extra_root = account.uid == 0 and account.name != "root"
        if not (may_not_log_in(policy, account) or extra_root):
            continue
        if lockable(account):
            yield lock(account, "uid 0" if extra_root else "may not log in")
        shell = policy.users.nologin_shell
        if shell and account.interactive_shell and may_not_log_in(policy, account):
            yield GuestChange(
                action=GuestAction.SET_SHELL,
                subject=f"account {account.name} shell",
                current=account.login_shell,
                wanted=shell,
                path=account.source.path,
                target=account.name,
                value=shell,
            )


@guest_fix(_fix_logins)
def unexpected_login_users(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None:
        return
    for account in guest.accounts:
        if may_not_log_in(policy, account):
            yield Violation(
                message=_login_message(account, guest.sshd),
                evidence=place(account.source, f"account '{account.name}'"),
                wanted=wanted(policy, "spec.users.interactive_login", list(policy.users.interactive_login)),
            )


def _login_message(account: Account, config: SshdConfig) -> str:
    how = ", ".join(m.value for m in account.login_methods)
    places = [str(s) for s in (account.source, account.password_source, account.keys_source) if s]
    root = " and has uid 0" if account.uid == 0 else ""
    shell = f"with shell {account.login_shell}{root}{_ssh_excluded(account.name, config)}"
    return f"{account.name} can log in ({how}) {shell}: {'; '.join(places)}"


def _ssh_excluded(name: str, config: SshdConfig) -> str:
    """sshd's AllowUsers (USER or USER@HOST patterns) narrows a login to the console."""
    allow = config.global_line("allowusers")
    if allow is None or any(fnmatch.fnmatchcase(name, p.split("@")[0]) for p in allow.value.split()):
        return ""
    return f" (not in sshd AllowUsers, {allow.source}: console login only)"


def logged_in_users(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None or guest.online is None:
        return
    allowed = set(policy.users.interactive_login) | ({"root"} if policy.users.root_login else set())
    for name in sorted({u.name for u in guest.online.users} - allowed):
        source = next(u.source for u in guest.online.users if u.name == name)
        yield Violation(
            message=f"{name} is logged in ({source})",
            evidence=f"logged-in user '{name}'",
            wanted=wanted(policy, "spec.users.interactive_login", list(policy.users.interactive_login)),
        )


def _same_software(name: str, forbidden: str) -> bool:
    name, forbidden = name.lower(), forbidden.lower()
    return name == forbidden or (name.startswith(forbidden) and name[len(forbidden)] in _NAME_TAIL)


def forbidden_software(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None:
        return
    for forbidden in policy.software.forbid:
        packages = [p for p in guest.packages if _same_software(p.name, forbidden)]
        programs = [p for p in guest.programs if _same_software(posixpath.basename(p), forbidden)]
        if not packages and not programs:
            continue
        found = [f"package {p.name} {p.version} ({p.source})" for p in packages] + [
            f"program {p}" for p in programs
        ]
        places = sorted({p.source.path for p in packages} | set(programs))
        yield Violation(
            message=f"{forbidden} is installed: {'; '.join(found)}",
            evidence=f"software '{forbidden}' ({', '.join(places)})",
            wanted=wanted(policy, "spec.software.forbid", list(policy.software.forbid)),
        )


def _fix_services(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Services the policy does not allow, no longer started."""
    for service in services_not_allowed(policy, facts.guest):
        how = "disable = yes" if service.kind is ServiceKind.XINETD else "no start link in any runlevel"
        yield GuestChange(
            action=GuestAction.DISABLE_SERVICE,
            subject=f"service {service.name} ({service.kind.value})",
            current="enabled",
            wanted=how,
            path=service.source.path,
            target=service.name,
            line=service.source.line,
            kind=service.kind.value,
        )


@guest_fix(_fix_services)
def unexpected_services(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    allowed = policy.software.allowed_services
    if guest is None or allowed is None:
        return
    reported = set()
    for service in services_not_allowed(policy, guest):
        if service.name in reported:
            continue
        reported.add(service.name)
        port = f" on {service.protocol} port {service.port}" if service.port else ""
        yield Violation(
            message=f"service {service.name} is enabled ({service.kind.value}{port}): {service.source}",
            evidence=place(service.source, f"service '{service.name}'"),
            wanted=wanted(policy, "spec.software.allowed_services", list(allowed)),
        )


def unexpected_listeners(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None or guest.online is None:
        return
    open_ports = {
        (i.protocol.value, p)
        for i in policy.network.ingress
        for r in i.ports
        for p in range(r.first, r.last + 1)
    }
    seen = set()
    for socket in guest.online.sockets:
        protocol = socket.protocol.rstrip("6")
        key = (protocol, socket.port)
        if is_loopback(socket.address) or key in open_ports or key in seen:
            continue
        seen.add(key)
        yield Violation(
            message=f"{protocol} port {socket.port} is listening on {socket.address} ({socket.source})",
            evidence=f"listening {protocol} port {socket.port}",
            wanted=wanted(policy, "spec.network.ingress", [i.name for i in policy.network.ingress]),
        )


def inspection_incomplete(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None:
        return
    problems = guest.problems + (guest.online.problems if guest.online else ())
    if problems:
        yield Violation(
            message=f"parts of the guest could not be read: {'; '.join(problems)}",
            evidence="guest inspection",
            wanted="every guest fact readable",
        )
