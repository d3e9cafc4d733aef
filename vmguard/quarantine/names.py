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
into an option, a directory's configuration file (dirconfig.py's table), git's repository layout; under every
name a client gives the file (client_forms.py: Windows', NFKC, best fit, IIS 6's ';' cut)
and as the NTFS 8.3 alias of such a name (short_names); and a path longer than open()
takes. What a name makes of a file's type is served.py's question.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable

from vmguard.core.display import is_plain, shown
from vmguard.quarantine import texjobs
from vmguard.quarantine.client_forms import client_names, windows_name, windows_stream
from vmguard.quarantine.dirconfig import config_why, loaded_by_name, short_names, within_why
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
# git takes a directory for a repository when it holds HEAD and either objects and refs
# or a commondir file (a linked worktree's: objects and refs are where it points), and
# with core.worktree in its config `git status` in the work tree runs core.fsmonitor:
# HEAD is refused beside either set. Compared as a case-insensitive client's filesystem
# finds them (macOS, Windows, a share: git opens `Head` as HEAD), by windows_name first.
GIT_HEAD = "head"
GIT_DIR_WITH_HEAD = (frozenset(["objects", "refs"]), frozenset(["commondir"]))
# The dot names the rules above name, whose NTFS 8.3 aliases (short_names: GIT~1 is .git)
# are refused with them: a Windows client copying the job into a directory that has .git
# or node_modules (a checkout) writes through the alias into it (git refuses `git~1`:
# is_ntfs_dotgit, CVE-2014-9390).
ALIASED_DOT_NAMES = (".git", ".hg", ".svn", ".bzr", ".htaccess", ".user.ini", ".envrc", ".npmrc")
# Linux's PATH_MAX counts the NUL: open() takes a path of at most 4095 bytes, so a
# published file must be reachable by a path that long, the public directory included.
PATH_MAX = 4096
# Why each of these rules refuses a name, and the remedy: the detail of its entry.
RULES: dict[Reason, str] = {
    Reason.NAME_DOTFILE: "a leading dot: a hidden file servers, shells, version control and "
    "tools read as configuration (.htaccess, .user.ini, .git, .envrc), also as a client has the "
    "name (NFKC, Windows' best fit) or as its NTFS 8.3 alias (GIT~1 is .git); rename it without "
    "the dot (or the policy lists that exact name in quarantine.dot_names)",
    Reason.NAME_OPTION: "a leading -, + or @: a tool given a wildcard there takes it for an "
    "option (`tar cf x.tar *`: --checkpoint-action=exec=..., `vi *`: +cmd, 7z and gcc: @file); "
    "rename it to start with a letter or digit",
    Reason.NAME_CONFIG: "a server or tool reads it as the directory's configuration (IIS: "
    "web.config, PHP: php.ini, Explorer: desktop.ini, Node: node_modules, ROOT: rootlogon.C, "
    "rootalias.C, rootlogoff.C, PAW: pawlogon.kumac, Geant4: init_vis.mac, vis.mac, gui.mac, "
    "latexmk: latexmkrc, Octave: PKG_ADD, PKG_DEL, Stata: profile.do, SAS: autoexec.sas, "
    "sasv9.cfg, gnuplot: GNUPLOT.INI, MATLAB: java.opts, javaclasspath.txt, "
    "javalibrarypath.txt, matplotlib: matplotlibrc, biber: biber.conf, tex4ht: tex4ht.env, "
    "arara: araraconfig.yaml, arararc.yaml, uv: uv.toml, pytest and tox: pytest.ini, "
    "pyproject.toml, tox.ini, setup.cfg, TeX (kpathsea searches `.` first): every name the "
    "distribution installs there (tikz.code.tex, graphics.cfg ...) and its NAME.tex, a "
    "package's configuration hyperref.cfg ..., microtype's mt-*.cfg, babel's babel-*.ini, "
    "pdftex.map, LaTeX's \\jobname.aux .toc .bbl .nav ..., and beside a LaTeX job's NAME.tex every "
    "NAME.* and NAME-* but its output (.pdf .log .out .synctex.gz .fls .fdb_latexmk .blg .bib); "
    "LaTeX's caches _minted-*, pythontex-files-*, svg-inkscape; Asymptote: plain.asy, "
    "feynman.asy ...; pylint: pylintrc; pytest 9: pytest.toml; tox: tox.toml; ctest: "
    "CTestCustom.cmake; luaotfload: luaotfload.conf; quarto: _quarto.yml; bun: bunfig.toml; "
    "deno: deno.json; snakemake: profiles/default; CVS: its CVS directory; git: HEAD beside "
    "objects/ and refs/, or commondir, in any case, makes a repository whose config `git status` runs; "
    "nextflow: nextflow.config; "
    "build, task and package tools' files read by name from `.` or a parent (toolnames.py, from "
    "linguist's file names: go.mod, Cargo.toml, package.json, Dockerfile, *.sbt, vite.config.* ...); "
    "as Windows has the name too: `web.config::$DATA` is web.config, `web.cōnfig` best-fits to "
    "it, NODE_M~1 is node_modules's NTFS 8.3 alias); rename it or leave it out",
    Reason.NAME_COLLISION: "another entry of this directory is the same file to a "
    "case-insensitive or normalising reader (Windows, macOS, an SMB share: case, Unicode forms, "
    "trailing dots and spaces, `::$DATA` all merge; an NTFS 8.3 alias, DATAFI~1.CSV, opens its "
    "long sibling): one would overwrite the other there; "
    "rename one of them",
    Reason.PATH_TOO_LONG: f"the published path (the public directory included) would be over "
    f"{PATH_MAX - 1} bytes, more than open() takes (PATH_MAX): no program could open it by its "
    "name; shorten the names or nest less",
}


def _traverses(name: str) -> bool:
    """Whether a name (one client form of it) leaves its directory or names another."""
    return name in (".", "..") or "/" in name or "\\" in name


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


# Each alias of a refused dot name -> the reason that name is refused for (a name read by
# name, its aliases too: dirconfig.config_why).
_ALIASES: dict[str, Reason] = {
    alias.lower(): Reason.NAME_DOTFILE for each in ALIASED_DOT_NAMES for alias in short_names(each)
}


def portable(name: str) -> bool:
    """Whether Windows (and SMB clients) can hold the name as it is."""
    if name.endswith((".", " ")) or not _WINDOWS_CHARS.isdisjoint(name):
        return False
    return name.split(".", 1)[0].rstrip(" ").upper() not in _WINDOWS_DEVICES


def name_reasons(
    name: str,
    max_length: int,
    portable_only: bool = False,
    dot_names: frozenset[str] = frozenset(),
    directory: bool = False,
) -> list[Reason]:
    """Every reason a single path component is unsafe to publish; `dot_names` are the
    policy's exact dot names (quarantine.dot_names); a `directory`'s name is no tool's file
    (_directory_config)."""
    if not name:
        return [Reason.NAME_EMPTY]
    reasons = []
    forms = client_names(name)
    if _traverses(name) or (forms != (name,) and any(map(_traverses, forms))):
        reasons.append(Reason.NAME_TRAVERSAL)
    if not _is_utf8(name):
        reasons.append(Reason.NAME_NOT_UTF8)
    elif _has_control(name):
        reasons.append(Reason.NAME_CONTROL)
    if len(os.fsencode(name)) > max_length:
        reasons.append(Reason.NAME_TOO_LONG)
    if portable_only and not portable(name):
        reasons.append(Reason.NAME_NOT_PORTABLE)
    reasons += _acted_on(name, forms, dot_names)
    if directory and Reason.NAME_CONFIG in reasons and not _directory_config(forms):
        reasons.remove(Reason.NAME_CONFIG)
    return reasons


def _directory_config(forms: tuple[str, ...]) -> bool:
    """Whether a directory of one of these names is read by name: toolnames' files are
    files (a tool opening ./Procfile or ./dune finds a directory and reads nothing), the
    other names of dirconfig are read as directories too (node_modules, CVS, _minted-JOB)
    or were refused so before (session 40)."""
    return any(config_why(each, tool_files=False) is not None for each in forms)


def acted_on(name: str, dot_names: frozenset[str] = frozenset()) -> list[Reason]:
    """Why a program reading the public area would act on this name, whatever its bytes
    (a dot name the policy lists is the admin's choice), under each name a client gives
    it (client_names: `．htaccess`, `−−checkpoint=1`, `desktop.īni`), or as the NTFS 8.3
    alias of a name refused as it is (short_names: GIT~1, NODE_M~1)."""
    return _acted_on(name, client_names(name), dot_names)


def _acted_on(name: str, forms: tuple[str, ...], dot_names: frozenset[str]) -> list[Reason]:
    """acted_on, the name's client forms given (client_names)."""
    if name in (".", "..") or name in dot_names:
        return []
    if forms == (name,):  # most names: each question once, without a generator (a few µs a file)
        if name.startswith(DOT):
            return [Reason.NAME_DOTFILE]
        if name.startswith(OPTION_MARKS):
            return [Reason.NAME_OPTION]
        if loaded_by_name(name):
            return [Reason.NAME_CONFIG]
        alias = _ALIASES.get(name.lower())
        return [] if alias is None else [alias]
    if any(each.startswith(DOT) and each not in dot_names for each in forms):
        return [Reason.NAME_DOTFILE]
    if any(each.startswith(OPTION_MARKS) for each in forms):
        return [Reason.NAME_OPTION]
    if any(loaded_by_name(each) for each in forms):
        return [Reason.NAME_CONFIG]
    return list(dict.fromkeys(_ALIASES[each.lower()] for each in forms if each.lower() in _ALIASES))


def config_note(name: str) -> str:
    """What a name-config refusal says beyond RULES, under the first client form that
    has it (a TeX name's: `graphics.cfg.tex` is read for graphics.cfg), or ''."""
    return next(filter(None, map(config_why, client_names(name))), "")


def explained(reasons: Iterable[Reason]) -> str:
    """The rule and the remedy of each reason RULES explains, for an entry's detail."""
    return "; ".join(RULES[r] for r in dict.fromkeys(reasons) if r in RULES)


def path_fits(path: str, public: str = "") -> bool:
    """Whether open() takes `path` (relative, "/"-separated) below the directory `public`."""
    full = f"{public.rstrip('/')}/{path}" if public else path
    return len(os.fsencode(full)) < PATH_MAX


def sibling_reasons(names: Iterable[str], directory: str = "") -> dict[str, list[Reason]]:
    """The names of one directory (named `directory`, "" for the top) refused for their
    siblings: collisions (colliding), the HEAD that makes the directory a git repository
    (GIT_DIR_WITH_HEAD), and what a tool reads by the name of a sibling or of the
    directory (sibling_notes)."""
    folded = _client_keys(names)  # once for every question: a directory may hold 100,000 names
    found: dict[str, list[Reason]] = {n: [Reason.NAME_COLLISION] for n in _collisions(folded)}
    if any(signs <= set(folded.values()) for signs in GIT_DIR_WITH_HEAD):
        for head in (n for n, key in folded.items() if key == GIT_HEAD):
            found.setdefault(head, []).append(Reason.NAME_CONFIG)
    for name in _read_by_context(folded, directory):
        found.setdefault(name, []).append(Reason.NAME_CONFIG)
    return found


def sibling_notes(names: Iterable[str], directory: str = "") -> dict[str, str]:
    """Why sibling_reasons refuses a name for its siblings or its directory, beyond RULES."""
    return _read_by_context(_client_keys(names), directory)


def _read_by_context(folded: dict[str, str], directory: str) -> dict[str, str]:
    """The names a tool reads by a sibling's name (a LaTeX job's, texjobs.read_back) or
    inside a directory of a name (dirconfig.within_why: snakemake's profiles/default)."""
    found = texjobs.read_back(folded)
    if directory and _is_utf8(directory):
        parent = _client_key(directory)
        for name, key in folded.items():
            if why := within_why(parent, key):
                found.setdefault(name, why)
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
    """Names equal to a sibling once case, Unicode normalisation, trailing dots and
    spaces and NTFS's default stream (`::$DATA`) are ignored, or that are the NTFS 8.3
    alias of a sibling's long name (collisions).

    Such pairs would overwrite each other on a case-insensitive or normalising
    filesystem (macOS, Windows, some NFS/SMB exports) where the output is read.
    """
    return set(collisions(names))


def collisions(names: Iterable[str]) -> dict[str, str]:
    """Each colliding name -> the sibling it merges with and by which rule (its detail):
    case, Unicode forms, Windows' trailing dots, spaces and `::$DATA`, or an 8.3 alias
    (`DATAFI~1.CSV` beside `datafile_long.csv`: Windows opens the long one's file by it)."""
    return _collisions(_client_keys(names))


def _collisions(keys: dict[str, str]) -> dict[str, str]:
    """collisions() of the names keyed by _client_keys."""
    groups: dict[str, list[str]] = {}
    for name, key in keys.items():
        groups.setdefault(key, []).append(name)
    found = {
        name: f"the same file as {shown(other)} to {_merged_by(name, other)}"
        for members in groups.values()
        if len(members) > 1  # nearly every name is alone: no search for another
        for name in members
        if (other := next((m for m in members if m != name), None)) is not None
    }
    if not any("~" in key for key in keys.values()):
        return found  # no name is an 8.3 alias (STEM~N.EXT): no alias of all names made
    aliases = {alias.lower(): name for name in keys for alias in short_names(windows_name(name))}
    for name, key in keys.items():
        if (long := aliases.get(key)) is not None and long != name:
            found.setdefault(name, f"the NTFS 8.3 alias of {shown(long)}: Windows opens that file by it")
            found.setdefault(long, f"a sibling, {shown(name)}, is its NTFS 8.3 alias")
    return found


def _merged_by(name: str, other: str) -> str:
    """Which reader merges two names of one collision_key, for a detail."""
    if name.lower() == other.lower():
        return "a case-insensitive reader (case)"
    if collision_key(name) == collision_key(other):
        return "a normalising reader (Unicode forms, case folding)"
    return "Windows (trailing dots and spaces dropped, `::$DATA` the file itself)"


def _client_keys(names: Iterable[str]) -> dict[str, str]:
    """Each name's collision_key as a client has the name (windows_name: `a.csv.`,
    `a.csv::$DATA` and `a.csv` are one file once unpacked on Windows)."""
    return {n: _client_key(n) for n in names if _is_utf8(n)}


def _client_key(name: str) -> str:
    # Two streams of one file are two files' bytes, kept apart (`run_10:00.dat` and
    # `run_10:30.dat` are streams 00.dat and 30.dat of run_10); the default one is the file.
    # A name NTFS cannot create (a stream type that is not a $ type: `date -Iseconds`'s
    # `T10:00:00.csv`) is no Windows file at all: compared as written.
    if ":" not in name:  # most names: no stream, NTFS creates it (_ntfs_creatable)
        return collision_key(windows_name(name))
    if not _ntfs_creatable(name):
        return collision_key(name)
    stream = windows_stream(name)
    return collision_key(windows_name(name)) + (f":{collision_key(stream)}" if stream else "")


def _ntfs_creatable(name: str) -> bool:
    """Whether NTFS takes the name: no ':', or `file:stream` or `file:stream:$TYPE`."""
    rest = name.partition(":")[2].split(":")
    return len(rest) == 1 or (len(rest) == 2 and rest[1].startswith("$"))


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
        last = len(parts) - 1 if not inner.endswith("/") else len(parts)  # the file's own part
        reasons = [r for i, part in enumerate(parts)
                   for r in name_reasons(part, max_length, portable_only, dot_names, directory=i < last)]
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
        for name, reasons in sibling_reasons(names, parent.rpartition("/")[2]).items():
            found.setdefault(f"{parent}/{name}".lstrip("/"), []).extend(reasons)
    return {path: list(dict.fromkeys(reasons)) for path, reasons in found.items()}
