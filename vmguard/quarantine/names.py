"""Checks on entry names (vmguard.core.display.shown is how a name is shown to a human).

Names come from readdir as str with surrogate escapes for undecodable bytes (Python's
filesystem encoding), so every check here works on that form. A name is refused when
it holds a character that is not what it looks like: controls, every format character
of the Unicode data (bidi controls, zero-width characters, tags), line and paragraph
separators, private-use and unassigned code points, and the other code points Unicode
says to render as nothing. Siblings collide when a case-insensitive, normalising
filesystem (or a Turkish locale) would take them for one name.

A name is also refused when a program reading the public area acts on it by NAME,
whatever the file holds (one table per question below): a dot file (the hidden
configuration servers, shells, version control and tools read), a name a wildcard turns
into an option, a directory's configuration file, git's repository layout; and a path
longer than open() takes. What a name makes of a file's type is served.py's question.
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

# A leading dot hides a name from ls and a glob, and marks what servers, shells, version
# control and tools read as the configuration of the directory they run in: .htaccess
# (Apache: AddType, AddHandler, ExecCGI), .user.ini (PHP), .git .hg .svn .bzr (a prompt
# that shows the branch runs git on `cd`), .envrc (direnv), .npmrc ... (name-dotfile),
# unless the policy lists that exact name (quarantine.dot_names: [.snakemake]).
DOT = "."
# A leading -, + or @ makes a name an argument of the tool a wildcard hands it to:
# `tar cf x.tar *` takes --checkpoint-action=exec=..., `vi *` runs +cmd, 7z, gcc and
# javac read their arguments from @file (name-option).
OPTION_MARKS = ("-", "+", "@")
# Names a server, a desktop or a runtime reads from the directory holding them,
# compared as Windows and IIS compare: any case, trailing dots and spaces dropped
# (name-config). IIS: web.config maps handlers; PHP's CGI and CLI read php.ini (and
# php-SAPI.ini) from the directory; Explorer reads desktop.ini (an icon on a UNC path
# leaks the reader's NTLM hash); Node's require('x') loads node_modules/x, whose
# package.json names any file as the code to run. Dot names (.htaccess, .user.ini) are
# dot files already. ROOT (system.rootrc: Rint.Logon, Rint.Load, Rint.Logoff, macro path
# `.` first) runs rootlogon.C and rootlogoff.C and loads rootalias.C from the directory
# `root` starts in (`root -l data.root` to look at a job's file); PAW runs pawlogon.kumac.
CONFIG_NAMES = frozenset(
    ["web.config", "php.ini", "php-cgi.ini", "php-cli.ini", "desktop.ini", "node_modules"]
    + ["rootlogon.c", "rootalias.c", "rootlogoff.c", "pawlogon.kumac"]
)
# git takes a directory for a repository when it holds HEAD and either objects and refs
# or a commondir file (a linked worktree's: objects and refs are where it points), and
# with core.worktree in its config `git status` in the work tree runs core.fsmonitor:
# HEAD is refused beside either set.
GIT_HEAD = "HEAD"
GIT_DIR_WITH_HEAD = (frozenset(["objects", "refs"]), frozenset(["commondir"]))
# Linux's PATH_MAX counts the NUL: open() takes a path of at most 4095 bytes, so a
# published file must be reachable by a path that long, the public directory included.
PATH_MAX = 4096
# Why each of these rules refuses a name, and the remedy: the detail of its entry.
RULES: dict[Reason, str] = {
    Reason.NAME_DOTFILE: "a leading dot: a hidden file servers, shells, version control and "
    "tools read as configuration (.htaccess, .user.ini, .git, .envrc); rename it without the dot "
    "(or the policy lists that exact name in quarantine.dot_names)",
    Reason.NAME_OPTION: "a leading -, + or @: a tool given a wildcard there takes it for an "
    "option (`tar cf x.tar *`: --checkpoint-action=exec=..., `vi *`: +cmd, 7z and gcc: @file); "
    "rename it to start with a letter or digit",
    Reason.NAME_CONFIG: "a server or tool reads it as the directory's configuration (IIS: "
    "web.config, PHP: php.ini, Explorer: desktop.ini, Node: node_modules, ROOT: rootlogon.C, "
    "rootalias.C, rootlogoff.C, PAW: pawlogon.kumac; git: HEAD beside "
    "objects/ and refs/, or commondir, makes a repository whose config `git status` runs); "
    "rename it or leave it out",
    Reason.PATH_TOO_LONG: f"the published path (the public directory included) would be over "
    f"{PATH_MAX - 1} bytes, more than open() takes (PATH_MAX): no program could open it by its "
    "name; shorten the names or nest less",
}


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


def name_reasons(
    name: str, max_length: int, portable_only: bool = False, dot_names: frozenset[str] = frozenset()
) -> list[Reason]:
    """Every reason a single path component is unsafe to publish; `dot_names` are the
    policy's exact dot names (quarantine.dot_names)."""
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
    return reasons + acted_on(name, dot_names)


def acted_on(name: str, dot_names: frozenset[str] = frozenset()) -> list[Reason]:
    """Why a program reading the public area would act on this name, whatever its bytes
    (a dot name the policy lists is the admin's choice)."""
    if name.startswith(DOT):
        return [] if name in (".", "..") or name in dot_names else [Reason.NAME_DOTFILE]
    if name.startswith(OPTION_MARKS):
        return [Reason.NAME_OPTION]
    if name.rstrip(". ").lower() in CONFIG_NAMES:
        return [Reason.NAME_CONFIG]
    return []


def explained(reasons: Iterable[Reason]) -> str:
    """The rule and the remedy of each reason RULES explains, for an entry's detail."""
    return "; ".join(RULES[r] for r in dict.fromkeys(reasons) if r in RULES)


def path_fits(path: str, public: str = "") -> bool:
    """Whether open() takes `path` (relative, "/"-separated) below the directory `public`."""
    full = f"{public.rstrip('/')}/{path}" if public else path
    return len(os.fsencode(full)) < PATH_MAX


def sibling_reasons(names: Iterable[str]) -> dict[str, list[Reason]]:
    """The names of one directory refused for their siblings: collisions (colliding),
    and the HEAD that makes the directory a git repository (GIT_DIR_WITH_HEAD)."""
    names = list(names)
    found: dict[str, list[Reason]] = {n: [Reason.NAME_COLLISION] for n in colliding(names)}
    if GIT_HEAD in names and any(signs <= set(names) for signs in GIT_DIR_WITH_HEAD):
        found.setdefault(GIT_HEAD, []).append(Reason.NAME_CONFIG)
    return found


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
    paths: Iterable[str],
    max_length: int,
    portable_only: bool = False,
    dot_names: frozenset[str] = frozenset(),
) -> dict[str, list[Reason]]:
    """The members of one archive (tar, zip; a directory's path ends in /) held to the
    walk's own rules, as if unpacked: every component by name_reasons, the whole path by
    path_fits, the entries of each directory by sibling_reasons, and one path listed
    twice (unpacking keeps only the last: the others' bytes would be published but never
    seen). A leading ./ (GNU tar's `tar cf x.tar .`) names the archive's own directory.
    Only paths with a reason."""
    found: dict[str, list[Reason]] = {}
    listed: Counter[str] = Counter()
    files: set[str] = set()
    children: dict[str, set[str]] = {}
    for path in paths:
        inner = path.removeprefix("./")
        if inner == "":
            continue  # "./": the directory the archive unpacks into
        parts = (inner[:-1] if inner.endswith("/") else inner).split("/")
        reasons = [r for part in parts for r in name_reasons(part, max_length, portable_only, dot_names)]
        if not path_fits(inner):  # wherever it is unpacked, its path is at least this long
            reasons.append(Reason.PATH_TOO_LONG)
        if reasons:
            found[path] = list(dict.fromkeys(reasons))
            continue
        listed["/".join(parts)] += 1
        if not inner.endswith("/"):
            files.add("/".join(parts))
        for depth in range(len(parts)):
            children.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
    clash = {p for p, n in listed.items() if n > 1} | (files & set(children))  # a file as a directory
    for path in clash:
        found.setdefault(path, []).append(Reason.NAME_COLLISION)
    for parent, names in children.items():
        for name, reasons in sibling_reasons(names).items():
            found.setdefault(f"{parent}/{name}".lstrip("/"), []).extend(reasons)
    return {path: list(dict.fromkeys(reasons)) for path, reasons in found.items()}
