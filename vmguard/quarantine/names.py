"""Checks on entry names (vmguard.core.display.shown is how a name is shown to a human).

Names come from readdir as str with surrogate escapes for undecodable bytes (Python's
filesystem encoding), so every check here works on that form. A name is refused when
it holds a character that is not what it looks like: controls, every format character
of the Unicode data (bidi controls, zero-width characters, tags), line and paragraph
separators, private-use and unassigned code points, and the other code points Unicode
says to render as nothing. Siblings collide when a case-insensitive, normalising
filesystem (or a Turkish locale) would take them for one name.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable

from vmguard.core.display import is_plain
from vmguard.quarantine.model import Reason

# Windows: reserved device names (also with an extension) and characters it refuses.
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")]
)
_WINDOWS_CHARS = frozenset(':*?"<>|')
# Turkish and Azeri fold dotless i with i, and dotted capital I (U+0130) with i.
_TURKISH = str.maketrans({"\u0131": "i", "\u0130": "i"})


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


def portable(name: str) -> bool:
    """Whether Windows (and SMB clients) can hold the name as it is."""
    if name.endswith((".", " ")) or not _WINDOWS_CHARS.isdisjoint(name):
        return False
    return name.split(".", 1)[0].rstrip(" ").upper() not in _WINDOWS_DEVICES


def name_reasons(name: str, max_length: int, portable_only: bool = False) -> list[Reason]:
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
    if portable_only and not portable(name):
        reasons.append(Reason.NAME_NOT_PORTABLE)
    return reasons


def collision_key(name: str) -> str:
    """One key for every spelling a case-insensitive, normalising reader would merge:
    Unicode's compatibility caseless match, NFKD(casefold(NFKD(casefold(NFD(name))))),
    plus the Turkish i's (U+0130 and U+0131 fold with i). Full case folding already
    merges final sigma with sigma, sharp s with ss, the Kelvin sign with k."""
    if name.isascii():  # most names; the same key, ten times faster
        return name.lower()
    folded = unicodedata.normalize("NFD", name).translate(_TURKISH).casefold()
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", folded).casefold())
    return folded.replace("i\u0307", "i")  # I with a dot above, decomposed


def colliding(names: Iterable[str]) -> set[str]:
    """Names equal to a sibling once case and Unicode normalisation are ignored.

    Such pairs would overwrite each other on a case-insensitive or normalising
    filesystem (macOS, Windows, some NFS/SMB exports) where the output is read.
    """
    keys = {n: collision_key(n) for n in names if _is_utf8(n)}
    counts = Counter(keys.values())
    return {n for n, key in keys.items() if counts[key] > 1}


def archive_reasons(
    paths: Iterable[str], max_length: int, portable_only: bool = False
) -> dict[str, list[Reason]]:
    """The members of one archive (tar, zip; a directory's path ends in /) held to the
    walk's own rules, as if unpacked: every component by name_reasons, the entries of
    each directory by colliding, and one path listed twice (unpacking keeps only the
    last: the others' bytes would be published but never seen). A leading ./ (GNU tar's
    `tar cf x.tar .`) names the archive's own directory. Only paths with a reason."""
    found: dict[str, list[Reason]] = {}
    listed: Counter[str] = Counter()
    files: set[str] = set()
    children: dict[str, set[str]] = {}
    for path in paths:
        inner = path.removeprefix("./")
        if inner == "":
            continue  # "./": the directory the archive unpacks into
        parts = (inner[:-1] if inner.endswith("/") else inner).split("/")
        reasons = [r for part in parts for r in name_reasons(part, max_length, portable_only)]
        if reasons:
            found[path] = list(dict.fromkeys(reasons))
            continue
        listed["/".join(parts)] += 1
        if not inner.endswith("/"):
            files.add("/".join(parts))
        for depth in range(len(parts)):
            children.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
    clash = {p for p, n in listed.items() if n > 1} | (files & set(children))  # a file as a directory
    for parent, names in children.items():
        clash |= {f"{parent}/{n}".lstrip("/") for n in colliding(names)}
    for path in clash:
        found.setdefault(path, []).append(Reason.NAME_COLLISION)
    return found
