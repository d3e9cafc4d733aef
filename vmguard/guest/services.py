"""Services enabled at boot: SysV runlevel links (RHEL 5/6) and systemd wants/requires/upholds links.

A start entry is judged by what it runs, not by its name: `/etc/rc2.d/S21sshd ->
../init.d/telnetd` starts telnetd. `entry_runs` is the one answer to "which service does
this entry start", asked by the inspection (the audit) and by `apply --guest` alike.
"""

from __future__ import annotations

import posixpath
import re
import stat
from typing import Protocol

from vmguard.guest.model import GuestSource, Service, ServiceKind

SYSV_DIRS = ("/etc/rc.d/rc{}.d", "/etc/rc{}.d")  # RHEL, Debian (RHEL links one to the other)
MULTI_USER_RUNLEVELS = "2345"
_START_LINK = re.compile(r"S\d\d(.+)")
_INITDEFAULT = re.compile(r"^[^:#]*:(\d):initdefault:", re.MULTILINE)
SYSTEMD_WANTS = "/etc/systemd/system"
# Folders whose links start their units with the target at boot (Requires=, Wants=,
# Upholds= of the target): each is a way in, as `wants` is.
SYSTEMD_LINK_FOLDERS = ("*.wants", "*.requires", "*.upholds")
UNIT_SUFFIXES = (".service", ".socket", ".path", ".timer")


def default_runlevel(inittab: str) -> str:
    """The initdefault runlevel of /etc/inittab; every multi-user level when unknown."""
    found = _INITDEFAULT.search(inittab)
    return found.group(1) if found else MULTI_USER_RUNLEVELS


class GuestTree(Protocol):
    """What entry_runs needs of the guest's files (vmguard.guest.guestfs_files)."""

    def lstat(self, path: str) -> tuple[int, int, int] | None: ...

    def resolve(self, path: str) -> str: ...

    def glob(self, pattern: str) -> list[str]: ...


def is_start_entry(name: str) -> bool:
    """SysV init runs every S<nn>* entry of a runlevel folder."""
    return _START_LINK.fullmatch(name) is not None


def entry_runs(files: GuestTree, entry: str, kind: ServiceKind) -> tuple[str, ...]:
    """The service(s) the start entry at `entry` starts. SysV: what the link resolves to
    inside the guest (init runs that script), or the entry's own name when it is a file
    itself. systemd: the link's unit name and its target's (fail closed: either one)."""
    name = posixpath.basename(entry)
    own = _START_LINK.fullmatch(name).group(1) if kind is ServiceKind.SYSV else unit_name(name)  # type: ignore[union-attr]
    found = files.lstat(entry)
    if found is None or not stat.S_ISLNK(found[0]):
        return (own,)
    target = posixpath.basename(files.resolve(entry)) or own  # a link to "/" runs nothing named
    if kind is ServiceKind.SYSV:
        return (target,)
    return tuple(dict.fromkeys((own, unit_name(target))))


def entries_run(
    files: GuestTree, listing: dict[str, list[str]], kind: ServiceKind
) -> dict[str, tuple[str, ...]]:
    """{entry path: entry_runs(...)} of every start entry in listing ({folder: names})."""
    sysv = kind is ServiceKind.SYSV
    return {
        f"{d}/{n}": entry_runs(files, f"{d}/{n}", kind)
        for d, names in listing.items()
        for n in names
        if not sysv or is_start_entry(n)
    }


def systemd_folders(files: GuestTree) -> list[str]:
    """Every folder of /etc/systemd/system whose links start units at boot."""
    found = [d for pattern in SYSTEMD_LINK_FOLDERS for d in files.glob(f"{SYSTEMD_WANTS}/{pattern}")]
    return sorted({d.rstrip("/") for d in found})


def sysv_services(
    links: dict[str, list[str]], runlevels: str, runs: dict[str, tuple[str, ...]] | None = None
) -> list[Service]:
    """links: {"/etc/rc.d/rc3.d": ["S55sshd", "K74ntpd"], ...} -> services started there;
    runs: {entry path: entry_runs(...)} (without it, an entry runs what its name says)."""
    levels: dict[str, str] = {}
    sources: dict[str, str] = {}
    for folder, names in sorted(links.items()):
        level = folder.rsplit("/rc", 1)[1][:1]
        for link in sorted(names):
            path = f"{folder}/{link}"
            if level not in runlevels or not is_start_entry(link):
                continue
            for name in (runs or {}).get(path) or (_START_LINK.fullmatch(link).group(1),):  # type: ignore[union-attr]
                levels[name] = "".join(sorted(set(levels.get(name, "") + level)))
                sources.setdefault(name, path)
    return [
        Service(name, ServiceKind.SYSV, GuestSource("SysV init link", sources[name]), levels[name])
        for name in sorted(levels)
    ]


def systemd_services(
    wants: dict[str, list[str]], runs: dict[str, tuple[str, ...]] | None = None
) -> list[Service]:
    """wants: {"/etc/systemd/system/multi-user.target.wants": ["sshd.service"], ...}
    (requires and upholds folders too); runs: {link path: entry_runs(...)}."""
    found: dict[str, Service] = {}
    for folder, names in sorted(wants.items()):
        what = f"systemd {folder.rsplit('.', 1)[-1]} link"
        for unit in sorted(names):
            path = f"{folder}/{unit}"
            for name in (runs or {}).get(path) or (unit_name(unit),):
                found.setdefault(name, Service(name, ServiceKind.SYSTEMD, GuestSource(what, path)))
    return list(found.values())


def unit_name(unit: str) -> str:
    """ "sshd.service" -> "sshd"; templates keep their instance: "getty@tty1"."""
    for suffix in UNIT_SUFFIXES:
        if unit.endswith(suffix):
            return unit[: -len(suffix)]
    return unit
