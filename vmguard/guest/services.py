"""Services enabled at boot: SysV runlevel links (RHEL 5/6) and systemd wants links."""

from __future__ import annotations

import re

from vmguard.guest.model import GuestSource, Service, ServiceKind

SYSV_DIRS = ("/etc/rc.d/rc{}.d", "/etc/rc{}.d")  # RHEL, Debian (RHEL links one to the other)
MULTI_USER_RUNLEVELS = "2345"
_START_LINK = re.compile(r"S\d\d(.+)")
_INITDEFAULT = re.compile(r"^[^:#]*:(\d):initdefault:", re.MULTILINE)
SYSTEMD_WANTS = "/etc/systemd/system"
UNIT_SUFFIXES = (".service", ".socket", ".path", ".timer")


def default_runlevel(inittab: str) -> str:
    """The initdefault runlevel of /etc/inittab; every multi-user level when unknown."""
    found = _INITDEFAULT.search(inittab)
    return found.group(1) if found else MULTI_USER_RUNLEVELS


def sysv_services(links: dict[str, list[str]], runlevels: str) -> list[Service]:
    """links: {"/etc/rc.d/rc3.d": ["S55sshd", "K74ntpd"], ...} -> services started there."""
    levels: dict[str, str] = {}
    sources: dict[str, str] = {}
    for folder, names in sorted(links.items()):
        level = folder.rsplit("/rc", 1)[1][:1]
        for link in sorted(names):
            started = _START_LINK.fullmatch(link)
            if level in runlevels and started:
                name = started.group(1)
                levels[name] = "".join(sorted(set(levels.get(name, "") + level)))
                sources.setdefault(name, f"{folder}/{link}")
    return [
        Service(name, ServiceKind.SYSV, GuestSource("SysV init link", sources[name]), levels[name])
        for name in sorted(levels)
    ]


def systemd_services(wants: dict[str, list[str]]) -> list[Service]:
    """wants: {"/etc/systemd/system/multi-user.target.wants": ["sshd.service"], ...}."""
    found: dict[str, Service] = {}
    for folder, names in sorted(wants.items()):
        for unit in sorted(names):
            name = unit_name(unit)
            source = GuestSource("systemd wants link", f"{folder}/{unit}")
            found.setdefault(name, Service(name, ServiceKind.SYSTEMD, source))
    return list(found.values())


def unit_name(unit: str) -> str:
    """ "sshd.service" -> "sshd"; templates keep their instance: "getty@tty1"."""
    for suffix in UNIT_SUFFIXES:
        if unit.endswith(suffix):
            return unit[: -len(suffix)]
    return unit
