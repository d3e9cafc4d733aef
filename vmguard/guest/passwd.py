"""Parse /etc/passwd, /etc/shadow and authorized_keys files into login facts."""

from __future__ import annotations

from dataclasses import dataclass

from vmguard.guest.model import GuestSource, PasswordState

# Shells that give no interactive session (login refused or the session ends at once).
SHADOW_MARK = "x"  # noqa: S105 (not a password: the pointer to /etc/shadow)
NON_INTERACTIVE = {"nologin", "false", "true", "sync", "shutdown", "halt", ""}


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    password_field: str
    uid: int
    home: str
    shell: str
    line: int
    gid: int | None = None


@dataclass(frozen=True)
class ShadowEntry:
    state: PasswordState
    line: int


def parse_passwd(text: str) -> tuple[list[PasswdEntry], list[str]]:
    """Entries, and one problem per malformed line (NIS "+" lines are skipped)."""
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) != 7 or not parts[0] or not parts[2].isdigit():
            problems.append(f"/etc/passwd:{number}: malformed entry")
            continue
        name, pw, uid, gid, _gecos, home, shell = parts
        group = int(gid) if gid.isdigit() else None
        entries.append(PasswdEntry(name, pw, int(uid), home, shell.strip(), number, group))
    return entries, problems


def parse_shadow(text: str) -> dict[str, ShadowEntry]:
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(":")
        if len(parts) >= 2 and parts[0] and not line.startswith("#"):
            entries.setdefault(parts[0], ShadowEntry(password_state(parts[1]), number))
    return entries


def password_state(field: str) -> PasswordState:
    """What a password field (shadow's, or passwd's on systems without shadow) allows."""
    if field == "":
        return PasswordState.EMPTY
    if field.startswith(("!", "*")) or len(field) < 13:
        return PasswordState.LOCKED  # also "x" met where a hash should be, and "NP"
    return PasswordState.SET


def account_password(entry: PasswdEntry, shadow: ShadowEntry | None) -> PasswordState:
    """ "x" in passwd means "see shadow"; anything else is the password field itself."""
    if entry.password_field != SHADOW_MARK:
        return password_state(entry.password_field)
    return shadow.state if shadow else PasswordState.UNKNOWN


def shadowed(entry: PasswdEntry) -> bool:
    """The password is kept in /etc/shadow ("x"), or the passwd field only locks the account."""
    return entry.password_field == SHADOW_MARK or password_state(entry.password_field) is PasswordState.LOCKED


def interactive(shell: str) -> bool:
    return shell.rstrip("/").rpartition("/")[2] not in NON_INTERACTIVE


def count_keys(text: str) -> int:
    """Lines that can authorize a key: not blank, not comments."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def shadow_source(entry: ShadowEntry | None) -> GuestSource | None:
    return GuestSource("shadow", "/etc/shadow", entry.line) if entry else None
