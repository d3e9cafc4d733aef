"""Pure edits of guest files for `apply --guest`: each changes only the lines it must.

Texts are decoded with surrogateescape, so bytes that are not UTF-8 go back unchanged.
Every edit checks that the file still says what the plan saw and raises EditError
otherwise (the guest changed since the plan): the caller then writes nothing at all.
"""

from __future__ import annotations

import re

from vmguard.guest import access, sshd
from vmguard.guest.model import PasswordState
from vmguard.guest.passwd import password_state

BLOCK_BEGIN = "# BEGIN vmguard managed block"
BLOCK_END = "# END vmguard managed block"
BLOCK_NOTE = " (`vmguard apply --guest` rewrites it; sshd takes the first value it reads)"
COMMENTED = "# vmguard apply --guest: "
PASSWORD_FIELD = 1
SHELL_FIELD = 6


class EditError(Exception):
    """A guest file is not as the plan saw it; the message says where."""


def _account_line(lines: list[str], name: str, path: str) -> int:
    found = [i for i, line in enumerate(lines) if line.split(":", 1)[0] == name]
    if len(found) != 1:
        raise EditError(f"{path}: {len(found)} entries for account {name}, the plan saw one")
    return found[0]


def _set_field(text: str, name: str, path: str, index: int, edit) -> tuple[str, str, str]:
    lines = text.splitlines(keepends=True)
    at = _account_line(lines, name, path)
    body = lines[at].rstrip("\r\n")
    fields = body.split(":")
    if len(fields) <= index:
        raise EditError(f"{path}:{at + 1}: account {name} has {len(fields)} fields")
    before = fields[index]
    fields[index] = edit(before)
    lines[at] = ":".join(fields) + lines[at][len(body) :]
    return "".join(lines), before, fields[index]


def lock_password(text: str, name: str, path: str) -> tuple[str, str, str]:
    """ "!" before the password field of `name` in passwd or shadow: (text, state before,
    state after); the hash itself is never returned (it goes to the event log)."""

    def lock(field: str) -> str:
        if password_state(field) is PasswordState.LOCKED and field != "x":
            raise EditError(f"{path}: account {name} is already locked")
        if field == "x":
            raise EditError(f"{path}: account {name}'s password is no longer in this file")
        return "!" + field

    new, before, after = _set_field(text, name, path, PASSWORD_FIELD, lock)
    return new, password_state(before).value, password_state(after).value


def set_shell(text: str, name: str, shell: str, path: str = "/etc/passwd") -> tuple[str, str, str]:
    return _set_field(text, name, path, SHELL_FIELD, lambda _old: shell)


def _block_span(lines: list[str]) -> tuple[int, int] | None:
    starts = [i for i, line in enumerate(lines) if line.startswith(BLOCK_BEGIN)]
    if not starts:
        return None
    ends = [i for i, line in enumerate(lines) if line.startswith(BLOCK_END) and i > starts[0]]
    if len(starts) > 1 or not ends:
        raise EditError("sshd_config: vmguard's managed block is damaged (edit it by hand)")
    return starts[0], ends[0]


def managed_settings(text: str) -> dict[str, tuple[str, str]]:
    """{lower keyword: (keyword, value)} of the managed block already in sshd_config."""
    lines = text.splitlines(keepends=True)
    span = _block_span(lines)
    found: dict[str, tuple[str, str]] = {}
    for line in lines[span[0] + 1 : span[1]] if span else ():
        keyword, value = line.split(None, 1) if line.strip() and not line.startswith("#") else ("", "")
        if keyword:
            found[keyword.lower()] = (keyword, value.strip())
    return found


def with_managed_block(text: str, wanted: list[tuple[str, str]]) -> str:
    """sshd_config with vmguard's block first (sshd takes the first value of a keyword):
    the block's earlier settings kept, `wanted` added or updated; every other line of the
    file stays byte for byte."""
    lines = text.splitlines(keepends=True)
    span = _block_span(lines)
    settings = managed_settings(text)
    for keyword, value in wanted:
        settings[keyword.lower()] = (keyword, value)
    rest = lines[: span[0]] + lines[span[1] + 1 :] if span else lines
    block = (
        [BLOCK_BEGIN + BLOCK_NOTE + "\n"] + [f"{k} {v}\n" for k, v in settings.values()] + [BLOCK_END + "\n"]
    )
    return "".join(block + rest)


def comment_out(text: str, line: int, keyword: str, path: str) -> tuple[str, str]:
    """The `line` (1-based) that sets `keyword` in a Match block, commented out: (text, line)."""
    lines = text.splitlines(keepends=True)
    if not 0 < line <= len(lines) or sshd.keyword_of(lines[line - 1]) != keyword.lower():
        raise EditError(f"{path}:{line}: no longer sets {keyword}")
    before = lines[line - 1]
    indent = before[: len(before) - len(before.lstrip())]
    lines[line - 1] = indent + COMMENTED + before.lstrip()
    return "".join(lines), before.rstrip("\r\n")


def comment_out_sudo(text: str, line: int, rule: str, path: str) -> tuple[str, list[str]]:
    """The sudo rule that starts at `line` (1-based), every line of it commented out in
    vmguard's way (no line added or removed): (text, the lines as they were). EditError
    when that line no longer starts that rule."""
    found, _ = access.sudo_nopasswd(text, path)
    if not any(f.source.line == line and f.text == rule for f in found):
        raise EditError(f"{path}:{line}: no longer the sudo rule {rule!r}")
    lines = text.splitlines(keepends=True)
    end = line
    while end < len(lines) and lines[end - 1].rstrip("\r\n").endswith("\\"):
        end += 1
    before = [lines[i].rstrip("\r\n") for i in range(line - 1, end)]
    for i in range(line - 1, end):
        lines[i] = COMMENTED + lines[i]
    return "".join(lines), before


_DISABLE = re.compile(r"^(\s*disable\s*=\s*)(\S*)(.*)$", re.DOTALL)


def xinetd_disable(text: str, service: str, path: str) -> tuple[str, list[str]]:
    """`disable = yes` in every `service NAME` block of an xinetd file: (text, old values)."""
    lines = text.splitlines(keepends=True)
    starts = [
        i for i, line in enumerate(lines) if re.match(rf"^\s*service\s+{re.escape(service)}\s*(#.*)?$", line)
    ]
    if not starts:
        raise EditError(f"{path}: no `service {service}` block any more")
    before = []
    for start in reversed(starts):
        before.append(_disable_block(lines, start, path))
    return "".join(lines), before


def _disable_block(lines: list[str], start: int, path: str) -> str:
    for i in range(start + 1, len(lines)):
        body = lines[i].split("#", 1)[0]
        if body.strip() == "}":
            lines.insert(i, "\tdisable\t\t= yes\n")
            return "(none)"
        found = _DISABLE.match(lines[i])
        if found:
            lines[i] = f"{found.group(1)}yes{found.group(3)}"
            return found.group(2)
    raise EditError(f"{path}:{start + 1}: the block of this service is not closed")


def start_links(runs: dict[str, tuple[str, ...]], service: str) -> list[str]:
    """The entries that start `service` at boot. runs: {entry path: the services it runs}
    (vmguard.guest.services.entry_runs: by what the entry runs, not by its name)."""
    return sorted(path for path, names in runs.items() if service in names)


_CHKCONFIG = re.compile(r"^#\s*chkconfig:\s*\S+\s+(\d+)\s+(\d+)\s*$", re.MULTILINE)


def stop_priority(script: str, start_link: str) -> int:
    """The number `chkconfig NAME off` gives the K links: the init script's
    `# chkconfig: <levels> <start> <stop>` stop value, else 100 minus the S link's (the
    rule RHEL's scripts follow, and what Debian's update-rc.d uses)."""
    found = _CHKCONFIG.search(script)
    if found:
        return int(found.group(2))
    start = re.match(r"S(\d\d)", start_link.rsplit("/", 1)[-1])
    return min(99, max(1, 100 - int(start.group(1)))) if start else 99


def kill_links(listing: dict[str, list[str]], service: str, stop: int) -> list[str]:
    """The K links `chkconfig SERVICE off` (and `update-rc.d SERVICE disable`) leave: one
    in every runlevel folder that has none. Removing the S links alone is not off for
    chkconfig: a level with neither link is unconfigured, and `chkconfig --add` (run by
    the package's scriptlets on an update) recreates its default S links there."""
    found = []
    for folder, names in sorted(listing.items()):
        if not any(re.fullmatch(rf"K\d\d{re.escape(service)}", n) for n in names):
            found.append(f"{folder}/K{stop:02d}{service}")
    return found


_NULLOK_ARG = re.compile(r"[ \t]+nullok(?:_secure)?(?:=\S*)?(?=[ \t]|$)")
DISABLED_SUFFIX = ".disabled-by-vmguard"


def drop_nullok(text: str, number: int, path: str) -> tuple[str, str, str]:
    """Line `number` without its nullok argument(s) (a comment after it untouched); the
    text, the line before and after. EditError when the line has none any more."""
    lines = text.splitlines(keepends=True)
    if not 0 < number <= len(lines):
        raise EditError(f"{path}:{number}: no such line (the plan saw a nullok there)")
    raw = lines[number - 1]
    body, end = raw.rstrip("\r\n"), raw[len(raw.rstrip("\r\n")) :]
    code, hash_, comment = body.partition("#")
    changed = _NULLOK_ARG.sub("", code)
    if changed == code:
        raise EditError(f"{path}:{number}: no nullok argument any more (the plan saw one)")
    lines[number - 1] = changed + hash_ + comment + end
    return "".join(lines), body.strip(), (changed + hash_ + comment).strip()


def disabled_name(path: str) -> str:
    """Where a trust file goes: beside itself, under a name no program reads."""
    return path + DISABLED_SUFFIX
