"""Checks on entry names, and the one safe way to show a hostile name to a human.

Names come from readdir as str with surrogate escapes for undecodable bytes (Python's
filesystem encoding), so every check here works on that form.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable

from vmguard.quarantine.model import Reason

# Bidirectional overrides and isolates make a name display differently from its bytes.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _is_utf8(name: str) -> bool:
    if name.isascii():  # most names: no surrogate escape in them
        return True
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_control(name: str) -> bool:
    if name.isascii():  # the ASCII controls (Cc) are exactly its unprintable characters
        return not name.isprintable()
    return any(unicodedata.category(c) == "Cc" or c in _BIDI for c in name)


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


def shown(path: str) -> str:
    r"""A printable, unambiguous form of a path: control and undecodable bytes escaped.

    A backslash is doubled, so "\n" in the output is never a real newline and a
    name cannot forge a line of a text report.
    """
    out = []
    for char in path:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # surrogate escape of an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
