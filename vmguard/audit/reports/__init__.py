"""Report formats by --format name."""

from __future__ import annotations

from vmguard.audit.reports import html, json, markdown
from vmguard.audit.reports.interface import Format

FORMATS: dict[str, Format] = {f.name: f for f in (json.FORMAT, markdown.FORMAT, html.FORMAT)}
