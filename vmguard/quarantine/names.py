"""Checks on entry names (vmguard.display.shown is how a name is shown to a human).

Names come from readdir as str with surrogate escapes for undecodable bytes (Python's
filesystem encoding), so every check here works on that form.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable

from vmguard.display import is_plain
from vmguard.quarantine.model import Reason


def _is_utf8(name: str) -> bool:
    if name.isascii():  # most names: no surrogate escape in them
        return True
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_control(name: str) -> bool:
    # Exactly what display.shown() escapes (a backslash is refused as traversal): an
    # accepted name is shown as it is, so its shown form (Entry.path) names the file.
    return not is_plain(name)


def name_reasons(name: str, max_length: int) -> list[Reason]:
    """Every reason a single path component is unsafe to publish."""
    if not name:
        return [Reason.NAME_EMPTY]
    reasons = []
    if name in (".", "..") or "/" in name or "\\" in name:
        reasons.append(Reason.NAME_TRAVERSAL)
    if not _is_utf8(name):
        reasons.append(Reason.NAME_NOT_UTF8)
    elif _has_control(name):
        reasons.append(Reason.NAME_CONTROL)
    if len(os.fsencode(name)) > max_length:
        reasons.append(Reason.NAME_TOO_LONG)
    return reasons


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def colliding(names: Iterable[str]) -> set[str]:
    """Names equal to a sibling once case and Unicode normalisation are ignored.

    Such pairs would overwrite each other on a case-insensitive or normalising
    filesystem (macOS, Windows, some NFS/SMB exports) where the output is read.
    """
    names = [n for n in names if _is_utf8(n)]
    counts = Counter(_fold(n) for n in names)
    return {n for n in names if counts[_fold(n)] > 1}
