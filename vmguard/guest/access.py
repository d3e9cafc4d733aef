"""Other ways into a guest, read from its files: PAM's nullok, sudo's NOPASSWD, rsh and
ftp trust files, and the owner and mode of account and cron files.

The parsers are pure functions of a file's text; the collectors read through
GuestfsFiles (bounded, read-only, inside the guest's root).
"""

from __future__ import annotations

import posixpath
import re

from vmguard.guest.guestfs_files import GuestfsFiles
from vmguard.guest.model import Account, ConfigLine, FileInfo, GuestSource

ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
CRON_FILES = ("/etc/crontab", "/etc/anacrontab", "/etc/cron.allow", "/etc/cron.deny")
CRON_DIRS = (
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/var/spool/cron",  # RHEL: one crontab per user
    "/var/spool/cron/crontabs",  # Debian
)
TRUST_NAMES = (".rhosts", ".shosts", ".netrc")
TRUST_FILES = ("/etc/hosts.equiv", "/etc/shosts.equiv")
PAM_DIR = "/etc/pam.d"
SUDOERS = "/etc/sudoers"
MAX_INCLUDE_DEPTH = 8  # sudo's own limit is 128; deeper is not a real configuration
_NULLOK = re.compile(r"nullok(_secure)?(=\S*)?")
_SUDO_INCLUDE = re.compile(r"^\s*[#@]include(dir)?\s+(\S+)")
_NO_PASSWORD = re.compile(r"\bNOPASSWD\s*:|!\s*authenticate\b")
_COMMENT = re.compile(r"#(?!\d)")  # "#1000" is a uid in sudoers, not a comment


def pam_fields(line: str) -> list[str]:
    """type, control, module, arguments...: a `[value=action ...]` control is one field."""
    words = line.split("#", 1)[0].split()
    if len(words) > 1 and words[1].startswith("["):
        end = next((i for i, w in enumerate(words) if w.endswith("]")), len(words) - 1)
        words = [words[0], " ".join(words[1 : end + 1]), *words[end + 1 :]]
    return words


def pam_nullok(text: str, path: str) -> list[ConfigLine]:
    """PAM lines with a nullok argument (text: the line's fields, one space apart)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = pam_fields(line)
        if len(fields) > 3 and any(_NULLOK.fullmatch(w) for w in fields[3:]):
            found.append(ConfigLine(" ".join(fields), GuestSource("PAM", path, number)))
    return found


def sudo_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines (backslash continuations joined) with the number of their first line."""
    lines, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        start = start if pending else number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append((start, pending + raw))
        pending = ""
    return lines + ([(start, pending)] if pending else [])


def sudo_nopasswd(text: str, path: str) -> tuple[list[ConfigLine], list[str]]:
    """Rules that run commands without the user's password, and the include patterns."""
    found, includes = [], []
    for number, line in sudo_lines(text):
        include = _SUDO_INCLUDE.match(line)
        if include:
            includes.append(("dir " if include.group(1) else "") + include.group(2))
            continue
        rule = _COMMENT.split(line, 1)[0].strip()
        if _NO_PASSWORD.search(rule):
            found.append(ConfigLine(" ".join(rule.split()), GuestSource("sudoers", path, number)))
    return found, includes


def group_names(text: str) -> dict[int, str]:
    names: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[0])
    return names


def collect_pam(files: GuestfsFiles) -> list[ConfigLine]:
    found = pam_nullok(files.read_text("/etc/pam.conf") or "", "/etc/pam.conf")
    for name in files.listdir(PAM_DIR):
        path = f"{PAM_DIR}/{name}"
        found += pam_nullok(files.read_text(path) or "", path)
    return found


def collect_sudo(files: GuestfsFiles) -> list[ConfigLine]:
    """NOPASSWD lines of /etc/sudoers and what it includes, each file read once (a guest's
    includes may loop or fan out), MAX_INCLUDE_DEPTH deep at most."""
    found: list[ConfigLine] = []
    seen: set[str] = set()
    level = [SUDOERS]
    for _ in range(MAX_INCLUDE_DEPTH + 1):
        below = []
        for path in (p for p in level if p not in seen):
            seen.add(path)
            lines, includes = sudo_nopasswd(files.read_text(path) or "", path)
            found += lines
            below += [t for include in includes for t in _sudo_targets(files, include, path)]
        level = below
    return found


def _sudo_targets(files: GuestfsFiles, include: str, including: str) -> list[str]:
    """sudo reads an included folder's files whose names have no "." and no "~"."""
    name = include.removeprefix("dir ")
    name = name if name.startswith("/") else posixpath.join(posixpath.dirname(including), name)
    if not include.startswith("dir "):
        return [name]
    return [f"{name}/{n}" for n in files.listdir(name) if "." not in n and not n.endswith("~")]


def collect_trust_files(files: GuestfsFiles, accounts: list[Account]) -> list[str]:
    homes = sorted({a.home for a in accounts if a.home.startswith("/")} | {"/root"})
    candidates = [*TRUST_FILES, *(posixpath.join(h, n) for h in homes for n in TRUST_NAMES)]
    return [p for p in candidates if files.is_file(p)]


def collect_file_infos(files: GuestfsFiles) -> list[FileInfo]:
    groups = group_names(files.read_text("/etc/group") or "")
    paths = [*ACCOUNT_FILES, *CRON_FILES]
    for folder in CRON_DIRS:
        paths += [folder, *(f"{folder}/{n}" for n in files.listdir(folder))]
    infos = []
    for path in dict.fromkeys(paths):  # /var/spool/cron/crontabs is listed twice
        found = files.lstat(path)
        if found:
            mode, uid, gid = found
            infos.append(FileInfo(path, mode, uid, gid, groups.get(gid, "")))
    return infos
