"""What vmguard learns from inside a guest, each fact with the place it was read.

Paths in these facts are paths inside the guest's file system, never on the host.
This module must not import vmguard.facts.vm (which imports it), so it has its own
GuestSource rather than facts.Source.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class GuestSource:
    """Where a guest fact was read: a package database, a file and line, an agent call."""

    where: str  # "dpkg status", "rpm database (sqlite)", "sshd_config", "guest agent"
    path: str = ""  # inside the guest
    line: int | None = None

    def __str__(self) -> str:
        if not self.path:
            return self.where
        pos = f":{self.line}" if self.line else ""
        return f"{self.path}{pos} ({self.where})"


class PasswordState(StrEnum):
    SET = "set"  # a hash: the account can log in with a password
    EMPTY = "empty"  # no password at all: login without one (worst case)
    LOCKED = "locked"  # "!", "*", "!!" or a "!"-prefixed hash
    UNKNOWN = "unknown"  # no shadow entry and "x" in passwd


class LoginMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 (a login method, not a password)
    NO_PASSWORD = "no-password"  # noqa: S105
    SSH_KEY = "ssh-key"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    source: GuestSource
    # Files the package database says are installed setuid or setgid (rpm records every
    # file's mode; dpkg records none, so this stays empty on dpkg guests).
    setid_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    login_shell: str
    home: str
    password: PasswordState
    authorized_keys: int  # usable key lines found in the account's authorized_keys files
    interactive_shell: bool
    source: GuestSource  # the passwd line
    password_source: GuestSource | None = None  # the shadow line, when there is one
    keys_source: GuestSource | None = None  # the first authorized_keys file with keys
    gid: int | None = None  # the primary group from /etc/passwd
    shadowed: bool = True  # passwd's field is "x" (or a lock): the hash is not world-readable

    @property
    def login_methods(self) -> tuple[LoginMethod, ...]:
        if not self.interactive_shell:
            return ()
        methods = {
            PasswordState.SET: (LoginMethod.PASSWORD,),
            PasswordState.EMPTY: (LoginMethod.NO_PASSWORD,),
        }.get(self.password, ())
        return methods + ((LoginMethod.SSH_KEY,) if self.authorized_keys else ())


@dataclass(frozen=True)
class SshdSetting:
    keyword: str  # lower case, as sshd compares keywords
    value: str
    match: str  # "" for global settings, else the Match line's criteria
    source: GuestSource


@dataclass(frozen=True)
class SshdConfig:
    settings: tuple[SshdSetting, ...] = ()
    openssh_version: str = ""  # from the package database; decides built-in defaults
    source: GuestSource | None = None  # the main sshd_config; None when it is missing

    def global_line(self, keyword: str) -> SshdSetting | None:
        """The global line that sets keyword (the first wins, as in sshd), or None. What
        sshd then uses, its default included, is vmguard.guest.sshd.effective's answer."""
        return next((s for s in self.settings if s.keyword == keyword and not s.match), None)

    def conditional(self, keyword: str) -> tuple[SshdSetting, ...]:
        """Values set inside Match blocks, which apply to some connections."""
        return tuple(s for s in self.settings if s.keyword == keyword and s.match)


class ServiceKind(StrEnum):
    SYSV = "sysv"  # an S link in /etc/rc.d/rcN.d or /etc/rcN.d
    SYSTEMD = "systemd"  # a link in /etc/systemd/system/*.wants, *.requires or *.upholds
    XINETD = "xinetd"  # a service xinetd starts on connection


@dataclass(frozen=True)
class Service:
    name: str  # "sshd", "telnet"; systemd suffixes (.service, .socket) removed
    kind: ServiceKind
    source: GuestSource
    runlevels: str = ""  # SysV: "2345"
    protocol: str = ""  # xinetd: "tcp" | "udp"
    port: int | None = None  # xinetd: from `port` or /etc/services


@dataclass(frozen=True)
class FileMark:
    """A file found by the permission scan."""

    path: str
    mode: int
    uid: int
    problem: str  # "world-writable" | "setuid" | "setgid"
    # set-id files: the package whose database entry lists this file as set-id (rpm), or
    # owns it (dpkg, which keeps no modes; /var/lib/dpkg/statoverride counts too); "" none.
    package: str = ""


@dataclass(frozen=True)
class FileInfo:
    """Owner and mode of a file whose protection matters (account files, cron files)."""

    path: str
    mode: int
    uid: int
    gid: int
    group: str = ""  # the gid's name in the guest's /etc/group, when it has one


@dataclass(frozen=True)
class ConfigLine:
    """One line of a guest configuration file that matters to a rule (PAM, sudoers)."""

    text: str
    source: GuestSource


@dataclass(frozen=True)
class LoggedInUser:
    name: str
    source: GuestSource


@dataclass(frozen=True)
class ListeningSocket:
    protocol: str  # tcp | tcp6 | udp | udp6
    address: str
    port: int
    source: GuestSource


@dataclass(frozen=True)
class OnlineFacts:
    """What only the running guest shows, read through the QEMU guest agent."""

    users: tuple[LoggedInUser, ...] = ()
    sockets: tuple[ListeningSocket, ...] = ()
    # Agent calls that failed or were refused: reported, never silently dropped.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuestFacts:
    os: str = ""  # e.g. "linux redhat 6.10", "linux debian 12"
    packages: tuple[Package, ...] = ()
    accounts: tuple[Account, ...] = ()
    sshd: SshdConfig = SshdConfig()
    services: tuple[Service, ...] = ()
    # Entries of the well-known program directories (/usr/bin, /opt, /usr/lib64, ...),
    # so software installed by hand, outside any package database, is found too.
    programs: tuple[str, ...] = ()
    file_marks: tuple[FileMark, ...] | None = None  # None: the scan was not run
    file_infos: tuple[FileInfo, ...] = ()  # account files, cron files and folders
    pam_nullok: tuple[ConfigLine, ...] = ()  # PAM lines that accept an empty password
    sudo_nopasswd: tuple[ConfigLine, ...] = ()  # sudoers lines that skip the password
    trust_files: tuple[str, ...] = ()  # .rhosts, .shosts, .netrc, hosts.equiv found
    online: OnlineFacts | None = None  # None: the VM was not inspected online
    # Facts that could not be read (a corrupt database, an oversized file): reported.
    problems: tuple[str, ...] = ()
    seconds: float = 0.0  # how long the inspection took

    def enabled_services(self) -> tuple[Service, ...]:
        """Services that start at boot; xinetd's count only when xinetd itself does."""
        boot = tuple(s for s in self.services if s.kind is not ServiceKind.XINETD)
        if not any(s.name == "xinetd" for s in boot):
            return boot
        return boot + tuple(s for s in self.services if s.kind is ServiceKind.XINETD)
