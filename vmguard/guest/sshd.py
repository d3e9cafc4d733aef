"""Parse sshd_config the way sshd reads it: first value wins, Match blocks conditional."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from vmguard.guest.model import GuestSource, SshdConfig, SshdSetting

_KEYWORD_VALUE = re.compile(r"(\S+?)\s*(?:=|\s)\s*(.*)$")  # `Key value`, `Key=value`
MAX_INCLUDE_DEPTH = 8  # sshd's own limit is 16; deeper nesting is not a real config

# Include patterns -> [(path, text)] of the files they name, read by the caller.
Includer = Callable[[str], list[tuple[str, str]]]


def parse_sshd_config(text: str, path: str, include: Includer, depth: int = 0) -> list[SshdSetting]:
    """Every setting with its file:line; `Include` (OpenSSH 8.2+) followed in place."""
    settings: list[SshdSetting] = []
    match = ""
    for number, line in enumerate(text.splitlines(), 1):
        keyword, value = _split(line)
        if not keyword:
            continue
        if keyword == "match":
            match = "" if value.lower() == "all" else value
        elif keyword == "include":
            for pattern in value.split() if depth < MAX_INCLUDE_DEPTH else ():  # loops end here
                settings += _included(pattern, include, depth, match)
        else:
            settings.append(SshdSetting(keyword, value, match, GuestSource("sshd_config", path, number)))
    return settings


def _included(pattern: str, include: Includer, depth: int, match: str) -> list[SshdSetting]:
    pattern = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
    found = []
    for path, text in include(pattern):
        for s in parse_sshd_config(text, path, include, depth + 1):
            found.append(SshdSetting(s.keyword, s.value, s.match or match, s.source))
    return found


def keyword_of(line: str) -> str:
    """The lower-case keyword a line sets; "" for blanks and comments."""
    return _split(line)[0]


def _split(line: str) -> tuple[str, str]:
    """(lower-case keyword, value); ("", "") for blanks and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return "", ""
    found = _KEYWORD_VALUE.match(line)
    keyword, rest = found.groups() if found else (line, "")
    try:
        value = " ".join(shlex.split(rest, comments=True))
    except ValueError:  # an unbalanced quote: sshd refuses it too; keep the raw text
        value = rest.strip()
    return keyword.strip().lower(), value


# OpenSSH's built-in values (sshd_config(5)) of the keywords vmguard checks, for those
# that did not change between the versions legacy guests run (3.9 to 9.x).
DEFAULTS = {
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "challengeresponseauthentication": "yes",
    "usepam": "no",
    "permitemptypasswords": "no",
    "x11forwarding": "no",
    "allowtcpforwarding": "yes",
    "disableforwarding": "no",
    "permituserenvironment": "no",
    "ignorerhosts": "yes",
    "hostbasedauthentication": "no",
    "rhostsrsaauthentication": "no",
}


def version(openssh_version: str) -> tuple[int, int] | None:
    """(major, minor) of a package version: "1:9.2p1-2" -> (9, 2); None when unknown."""
    found = re.match(r"(\d+)\.(\d+)", openssh_version.split(":")[-1])
    return (int(found.group(1)), int(found.group(2))) if found else None


def default(keyword: str, openssh_version: str) -> str:
    """What sshd uses when no line sets the keyword."""
    if keyword == "permitrootlogin":
        return default_permit_root_login(openssh_version)
    return DEFAULTS[keyword]


def default_permit_root_login(openssh_version: str) -> str:
    """OpenSSH before 7.0 (RHEL 5/6/7) allowed root password logins by default."""
    found = version(openssh_version)
    return "prohibit-password" if found and found >= (7, 0) else "yes"


KBD_KEYWORDS = ("KbdInteractiveAuthentication", "ChallengeResponseAuthentication")
KBD_KEYWORD_SINCE = (8, 7)  # sshd accepts KbdInteractiveAuthentication from OpenSSH 8.7


def pam_keyword(config: SshdConfig) -> str:
    """The keyword (as sshd_config spells it) that decides keyboard-interactive, i.e. PAM,
    passwords: the one of the two aliases a global line sets first (sshd takes the first
    value), else the spelling the guest's sshd knows. Asked by the rule and by its fix."""
    first = next((s for s in config.settings if not s.match and s.keyword in _KBD_LOWER), None)
    if first is not None:
        return _KBD_LOWER[first.keyword]
    known = version(config.openssh_version)
    return KBD_KEYWORDS[0] if known is not None and known >= KBD_KEYWORD_SINCE else KBD_KEYWORDS[1]


_KBD_LOWER = {k.lower(): k for k in KBD_KEYWORDS}


def effective(config: SshdConfig, keyword: str) -> list[tuple[str, SshdSetting | None]]:
    """Every value of a keyword some connection gets, lower case: the global one (first
    wins; the built-in default, with None, when no line sets it), then each Match block's."""
    found = config.global_line(keyword)
    first = (found.value.lower(), found) if found else (default(keyword, config.openssh_version), None)
    return [first] + [(s.value.lower(), s) for s in config.conditional(keyword)]
