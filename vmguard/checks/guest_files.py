"""VMG-SW rules on the guest's files: the permission scan (world-writable files, set-id
programs no package accounts for), cron files others can change, and the legacy
remote-login services (telnet, rsh, rlogin, rexec, NIS) installed or enabled.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable

from vmguard.checks.guest_evidence import place
from vmguard.checks.unit import Violation
from vmguard.facts.vm import VmFacts
from vmguard.guest.model import FileInfo, ServiceKind
from vmguard.policy.model import Policy

CRON_SYSTEM = ("/etc/cron", "/etc/anacrontab")  # /etc/crontab, /etc/cron.d/..., /etc/cron.daily/...
# Packages of the cleartext remote-login servers and NIS (RHEL and Debian names).
LEGACY_PACKAGES = frozenset(
    {
        "telnet-server",
        "telnetd",
        "inetutils-telnetd",
        "telnetd-ssl",
        "rsh-server",
        "rsh-redone-server",
        "ypbind",
        "ypserv",
        "nis",
    }
)
LEGACY_SERVICES = frozenset({"telnet", "telnetd", "rsh", "rlogin", "rexec", "ypbind", "ypserv", "nis"})
# xinetd names rsh, rlogin and rexec after their /etc/services entries.
LEGACY_XINETD = frozenset({"shell", "login", "exec"})


def world_writable(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for mark in (guest.file_marks or ()) if guest else ():
        if mark.problem == "world-writable":
            kind = "folder" if stat.S_ISDIR(mark.mode) else "file"
            mode = f"mode {stat.S_IMODE(mark.mode):04o}, uid {mark.uid}"
            yield Violation(
                message=f"{mark.path} is a world-writable {kind} ({mode})",
                evidence=f"world-writable {mark.path}",
                wanted="no world-writable file or folder outside sticky folders such as /tmp",
            )


def stray_setuid(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for mark in (guest.file_marks or ()) if guest else ():
        if mark.problem in ("setuid", "setgid") and not mark.package:
            yield Violation(
                message=f"{mark.path} is {mark.problem} (mode {stat.S_IMODE(mark.mode):04o}, uid {mark.uid}) "
                "and no package of the guest's package database installs it so",
                evidence=f"{mark.problem} {mark.path}",
                wanted="set-id programs only as the guest's packages install them",
            )


def _cron_problems(info: FileInfo) -> list[str]:
    """Who besides root could change what cron runs as root."""
    if stat.S_ISLNK(info.mode):
        return []
    if not info.path.startswith(CRON_SYSTEM):  # /var/spool/cron: users own their crontabs
        return ["is world-writable"] if info.mode & stat.S_IWOTH else []
    found = [f"is owned by uid {info.uid}"] if info.uid else []
    if info.mode & (stat.S_IWGRP | stat.S_IWOTH):
        found.append(
            f"is writable by {'others' if info.mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(info.mode):04o})"
        )
    return found


def cron_writable(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    for info in guest.file_infos if guest else ():
        problems = _cron_problems(info) if info.path.startswith((*CRON_SYSTEM, "/var/spool/cron")) else []
        if problems:
            kind = "folder" if stat.S_ISDIR(info.mode) else "file"
            yield Violation(
                message=f"cron {kind} {info.path} {', '.join(problems)}",
                evidence=f"cron {info.path}",
                wanted="cron files and folders owned by root and writable only by root",
            )


def legacy_remote_login(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    guest = facts.guest
    if guest is None:
        return
    for package in guest.packages:
        if package.name in LEGACY_PACKAGES:
            yield Violation(
                message=f"package {package.name} {package.version} is installed ({package.source})",
                evidence=place(package.source, f"package '{package.name}'"),
                wanted="no telnet, rsh, rlogin, rexec or NIS server or client daemon",
            )
    for service in guest.enabled_services():
        xinetd = service.kind is ServiceKind.XINETD and service.name in LEGACY_XINETD
        if service.name in LEGACY_SERVICES or xinetd:
            yield Violation(
                message=f"service {service.name} is enabled ({service.kind.value}): {service.source}",
                evidence=place(service.source, f"service '{service.name}'"),
                wanted="no telnet, rsh, rlogin, rexec or NIS server or client daemon",
            )
