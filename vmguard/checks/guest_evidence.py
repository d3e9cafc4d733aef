"""How guest findings cite the guest: file:line in messages, the file alone in evidence."""

from __future__ import annotations

from vmguard.guest.model import GuestSource


def cite(source: GuestSource | None) -> str:
    return str(source) if source else "built-in default"


def place(source: GuestSource | None, label: str) -> str:
    """Evidence: the label and the file (no line, which moves with edits)."""
    return f"{label} ({source.path or source.where})" if source else label
