"""A report format: a name, a file name and a function from the report document to text.

Every format renders the same document (reports.json.document), so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]


class Render(Protocol):
    def __call__(self, document: Document) -> str: ...


@dataclass(frozen=True)
class Format:
    name: str  # as given to --format
    filename: str  # inside the run folder
    render: Render
