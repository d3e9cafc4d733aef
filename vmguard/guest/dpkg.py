"""Parse dpkg's status file (/var/lib/dpkg/status): which packages are on disk."""

from __future__ import annotations

from vmguard.guest.model import GuestSource, Package

# Package states whose files are (at least partly) on disk; "config-files" and
# "not-installed" leave no programs behind.
ON_DISK = {
    "installed",
    "half-installed",
    "unpacked",
    "half-configured",
    "triggers-awaited",
    "triggers-pending",
}


def parse_status(text: str, path: str) -> list[Package]:
    """One Package per stanza whose Status says its files are on disk."""
    packages = []
    for start, fields in _stanzas(text):
        state = fields.get("status", "").split()
        if len(state) == 3 and state[2] in ON_DISK and fields.get("package"):
            source = GuestSource("dpkg status", path, start)
            packages.append(Package(fields["package"], fields.get("version", ""), source))
    return packages


def _stanzas(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line of the stanza's first field, {lower-case field: value}); continuations skipped."""
    stanzas: list[tuple[int, dict[str, str]]] = []
    fields: dict[str, str] = {}
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                stanzas.append((start, fields))
            fields = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            start = start if fields else number
            fields.setdefault(key.strip().lower(), value.strip())
    if fields:
        stanzas.append((start, fields))
    return stanzas
