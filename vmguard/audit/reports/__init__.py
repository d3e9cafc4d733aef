"""Report formats by --format name."""

from __future__ import annotations

from vmguard.audit.reports import html, json, markdown
from vmguard.audit.reports.interface import Format

FORMATS: dict[str, Format] = {f.name: f for f in (json.FORMAT, markdown.FORMAT, html.FORMAT)}
ALIASES = {"md": "markdown"}  # the name before the CLI spoke one vocabulary (still accepted)


def format_named(name: str) -> Format | None:
    """The report format --format names (or its old alias); None when there is none."""
    return FORMATS.get(ALIASES.get(name, name))
