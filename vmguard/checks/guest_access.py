"""VMG-USR rules on other ways into the guest: account files, unshadowed and empty
passwords, root's group, PAM's nullok, rsh/ftp trust files and sudo without a password.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable

from vmguard.checks.guest_evidence import place
from vmguard.checks.guest_fix import GuestAction, GuestChange, guest_fix, lock, owner_mode
from vmguard.checks.guest_questions import password_weaknesses
from vmguard.checks.unit import Violation
from vmguard.facts.vm import VmFacts
from vmguard.guest.access import pam_fields
from vmguard.guest.edit import COMMENTED, disabled_name
from vmguard.guest.model import FileInfo, GuestSource
from vmguard.policy.model import Policy

# Mode bits each account file must not have, and the groups that may own it: passwd and
# group at most 0644 root:root; shadow and gshadow at most 0640, group root or shadow
# (Debian: 0640 root:shadow; RHEL: 0000 root:root).
ACCOUNT_FILES = {
    "/etc/passwd": (0o133, ("root",)),
    "/etc/group": (0o133, ("root",)),
    "/etc/shadow": (0o137, ("root", "shadow")),
    "/etc/gshadow": (0o137, ("root", "shadow")),
}


ACCOUNT_FILES_WANTED = (
    "passwd and group 0644 root:root; shadow and gshadow 0640 or less, root:root or root:shadow"
)


def _account_file_problems(info: FileInfo) -> list[str]:
    """What is wrong with one account file's type, owner, group and mode."""
    if not stat.S_ISREG(info.mode):
        return ["is not a regular file"]
    forbidden, groups = ACCOUNT_FILES[info.path]
    problems = [f"is owned by uid {info.uid}"] if info.uid else []
    if info.gid and info.group not in groups:
        problems.append(f"has group {info.group or info.gid}")
    if info.mode & forbidden:
        problems.append(f"has mode {stat.S_IMODE(info.mode):04o} (at most {0o777 & ~forbidden:04o})")
    return problems


def _fix_account_files(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Owner root, a group the file may have (else root), the forbidden mode bits off; a
    file that is not a regular one (a link) is left to the admin."""
    for info in facts.guest.file_infos:
        if info.path not in ACCOUNT_FILES or not stat.S_ISREG(info.mode) or not _account_file_problems(info):
            continue
        forbidden, groups = ACCOUNT_FILES[info.path]
        gid = info.gid if not info.gid or info.group in groups else 0
        mode = stat.S_IMODE(info.mode) & ~forbidden
        yield GuestChange(
            action=GuestAction.SET_OWNER_MODE,
            subject=f"account file {info.path}",
            current=owner_mode(info.uid, info.gid, info.mode),
            wanted=owner_mode(0, gid, mode),
            path=info.path,
            target=info.path,
            value=f"0:{gid}:{mode:o}",
        )


@guest_fix(_fix_account_files)
def account_files(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for info in guest.file_infos if guest else ():
        problems = _account_file_problems(info) if info.path in ACCOUNT_FILES else []
        if problems:
            yield Violation(
                message=f"{info.path} {', '.join(problems)}",
                evidence=f"account file {info.path}",
                wanted=ACCOUNT_FILES_WANTED,
            )


def _fix_weak_passwords(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Empty passwords and hashes in /etc/passwd, locked."""
    for account in facts.guest.accounts:
        weak = password_weaknesses(account)
        if weak:
            yield lock(account, " and ".join(weak))


@guest_fix(_fix_weak_passwords)
def weak_passwords(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    """Hashes anyone can read (in /etc/passwd) and empty passwords, whoever the account."""
    guest = facts.guest
    for account in guest.accounts if guest else ():
        what = password_weaknesses(account)
        if what:
            where = "; ".join(str(s) for s in (account.source, account.password_source) if s)
            yield Violation(
                message=f"account {account.name}: {' and '.join(what)} ({where})",
                evidence=place(account.source, f"password of '{account.name}'"),
                wanted="every password hashed in /etc/shadow, none empty",
            )


def root_group(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for account in guest.accounts if guest else ():
        if account.name == "root" and account.gid not in (0, None):
            yield Violation(
                message=f"root's primary group is gid {account.gid}, not 0 ({account.source})",
                evidence=place(account.source, "root's primary group"),
                wanted="root's primary group is 0",
            )


def _line_violation(what: str, label: str, source: GuestSource, want: str) -> Violation:
    return Violation(message=f"{what}: {source}", evidence=place(source, label), wanted=want)


def _fix_nullok(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Each flagged PAM line loses its nullok argument (an empty password no longer passes)."""
    for line in facts.guest.pam_nullok:
        yield GuestChange(
            action=GuestAction.DROP_NULLOK,
            subject=f"PAM {pam_fields(line.text)[2]} nullok",
            current=line.text,
            wanted="the line without nullok",
            path=line.source.path,
            target=pam_fields(line.text)[2],
            line=line.source.line,
        )


@guest_fix(_fix_nullok)
def pam_nullok(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for line in guest.pam_nullok if guest else ():
        module = pam_fields(line.text)[2]
        yield _line_violation(
            f"PAM accepts an empty password ({line.text})",
            f"PAM {module} nullok",
            line.source,
            "no nullok in PAM",
        )


def _fix_trust_files(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Each trust file renamed beside itself (rshd reads .rhosts as root, so chmod 000 would
    not stop it; a rename does, and keeps the content for the admin)."""
    for path in facts.guest.trust_files:
        yield GuestChange(
            action=GuestAction.RENAME_AWAY,
            subject=f"trust file {path}",
            current="present",
            wanted=f"renamed to {disabled_name(path)}",
            path=path,
            target=path,
        )


@guest_fix(_fix_trust_files)
def trust_files(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for path in guest.trust_files if guest else ():
        yield Violation(
            message=f"{path} exists: it lets other hosts or programs log in as its owner without a password",
            evidence=f"trust file {path}",
            wanted="no .rhosts, .shosts, .netrc or hosts.equiv",
        )


def _fix_sudo(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
    """Each rule commented out, every line of it (a rule may span continuation lines)."""
    for line in facts.guest.sudo_nopasswd:
        yield GuestChange(
            action=GuestAction.SUDO_COMMENT_OUT,
            subject=f"sudo rule for {line.text.split()[0]}",
            current=line.text,
            wanted=f"commented out ({COMMENTED.strip()} ...)",
            path=line.source.path,
            target=line.text.split()[0],
            line=line.source.line,
        )


@guest_fix(_fix_sudo)
def sudo_without_password(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for line in guest.sudo_nopasswd if guest else ():
        who = line.text.split()[0]
        yield _line_violation(
            f"sudo runs commands without a password ({line.text})",
            f"sudo rule for {who}",
            line.source,
            "every sudo rule asks for the user's password",
        )
