"""Decide on a file's bytes: executable signatures, allowed types, broken formats.

A sandboxed worker (detect.py) types each file (vmguard's identification, else libmagic
on its first bytes) and runs that type's validator over every byte (validators/); here
the answer meets the policy. vmguard adds what libmagic alone misses: executable
signatures whatever the name. A type is admitted by a policy type name (validators.TYPES)
or a MIME entry; a type no validator covers only by an entry marked `validate: head-only`.
"""

from __future__ import annotations

import dataclasses

from vmguard.core.display import shown
from vmguard.policy.model import FileKind, NameRules, QuarantinePolicy
from vmguard.quarantine import served
from vmguard.quarantine.answer import Answer
from vmguard.quarantine.copy import Content
from vmguard.quarantine.model import Reason
from vmguard.quarantine.names import archive_reasons, explained
from vmguard.quarantine.validators import TYPES, encoding_of, executable_format

__all__ = [
    "EMPTY_TYPE",
    "admitted",
    "chosen_type",
    "content_reasons",
    "executable_format",
    "script_guess_as_text",
    "type_allowed",
]

EMPTY_TYPE = "inode/x-empty"

# What libmagic calls executables and scripts, for formats the signatures above miss.
EXECUTABLE_TYPES = frozenset(
    {
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-dosexec",
        "application/x-msdownload",
        "application/x-object",
        "application/x-coff",
        "application/x-elc",
        "text/x-shellscript",
        "text/x-perl",
        "text/x-python",
        "text/x-script.python",
        "text/x-ruby",
        "text/x-php",
        "text/x-tcl",
        "text/x-lua",
        "text/x-awk",
        "text/x-msdos-batch",
    }
)


# libmagic 5.44 calls text Python from words in its first 512 bytes (an indented `def
# name():`): pytest's failure report quotes the failing test's source there (session 38,
# attack n text's pytest.log), as every report of its default --tb=auto does. Text without
# `#!` (executable_format: refused whatever the name) runs only where a client picks the
# interpreter by the name (served.py refuses .py .pyw .pyc ... whatever the bytes) or a
# user types `python FILE` (any file). So, named with an extension no client acts on
# (served.acted_on: none; .log .txt .out), such text is text: typed text/plain and held to
# the text rules, which its validator ran. Without an extension it stays refused (no name
# tells a client it is data); libmagic's other script guesses too.
_WORD_GUESSED = frozenset({"text/x-python", "text/x-script.python"})


def script_guess_as_text(answer: Answer | None, executable: str | None, name: str) -> Answer | None:
    """The answer, its libmagic Python guess taken as text/plain where _WORD_GUESSED says."""
    if answer is None or executable is not None or answer.problem is not None or not answer.parts:
        return answer
    mime, validator = answer.parts[0]
    if mime not in _WORD_GUESSED or encoding_of(validator) is None:
        return answer
    if not all(map(any, served.client_extensions(name))) or served.acted_on(name) is not None:
        return answer
    parts = (("text/plain", validator), *answer.parts[1:])
    return dataclasses.replace(answer, mime="text/plain", parts=parts)


def type_allowed(mime: str, allow_types: tuple[str, ...]) -> bool:
    """Exact MIME types, or `major/*` for a whole family."""
    major = mime.partition("/")[0]
    return any(a == mime or (a.endswith("/*") and a[:-2] == major) for a in allow_types)


def admitted(mime: str, validator: str | None, policy: QuarantinePolicy) -> bool:
    """Whether one (inner) file's type passes the policy's allow_types (and, for text,
    its encoding the policy's text_encodings)."""
    if encoding_of(validator) not in (None, *policy.text_encodings):
        return False
    for entry in policy.allow_types:
        if "/" not in entry:
            if mime in TYPES.get(entry, ("", ()))[1]:
                return True
        elif type_allowed(mime, (entry,)) and (validator is not None or entry in policy.head_only):
            return True
    return False


def chosen_type(answer: Answer, policy: QuarantinePolicy) -> str | None:
    """The file's MIME type when no validator checked it and the policy names exactly that
    type as `validate: head-only` (not a `major/*`): the admin chose to publish it."""
    mime, validator = answer.parts[0] if answer.parts else (answer.mime, None)
    return mime if validator is None and mime in policy.head_only else None


_PROBLEMS = {
    "binary-in-text": Reason.BINARY_IN_TEXT,
    "executable-content": Reason.EXECUTABLE_CONTENT,
    "type-unknown": Reason.TYPE_UNKNOWN,
    "detector-timeout": Reason.DETECTOR_TIMEOUT,  # the HDF5 walk ran out of time (structure.py)
}

# Rules on the bytes of a type the policy admits, each named apart from invalid-format.
_BROKEN = {"sniffed-as-page": Reason.SNIFFED_AS_PAGE}


def content_reasons(
    content: Content, answer: Answer | None, executable: str | None, policy: QuarantinePolicy, name: str
) -> list[tuple[Reason, str]]:
    """Every reason the bytes of one file (named `name`) may not be published."""
    if content.size == 0:
        return []  # no bytes, nothing to fear
    found = []
    if FileKind.EXECUTABLES in policy.forbid:
        fmt = executable
        if fmt is None and answer is not None:
            fmt = next((m for m, _ in answer.parts if m in EXECUTABLE_TYPES), None)
        if fmt is not None:
            found.append((Reason.EXECUTABLE_CONTENT, fmt))
    if answer is None:
        found.append((Reason.TYPE_UNKNOWN, "the type detector failed or timed out"))
    elif answer.problem is not None and answer.problem[0] in _PROBLEMS:
        found.append((_PROBLEMS[answer.problem[0]], answer.problem[1]))
    elif refused := [m for m, v in answer.parts if not admitted(m, v, policy)]:
        found.append((Reason.TYPE_NOT_ALLOWED, _not_admitted(answer, refused, policy)))
    elif answer.problem is not None:  # a rule of the admitted type's bytes
        found.append((_BROKEN.get(answer.problem[0], Reason.INVALID_FORMAT), answer.problem[1]))
    if answer is not None and answer.problem is None:
        found += inside_name_reasons(answer, name, policy, admitted=not found)
    return [f for i, f in enumerate(found) if f not in found[:i]]


def inside_name_reasons(
    answer: Answer, name: str, policy: QuarantinePolicy, admitted: bool = True
) -> list[tuple[Reason, str]]:
    """The names a file holds, by the walk's own rules: each archive's member paths as
    if unpacked (names.archive_reasons), what a client makes of each member's name
    (member_served_reasons), and each gzip FNAME one its writer puts there for the name the
    gzip is published as (fname_reasons: `gunzip -N` creates the FNAME's file)."""
    if not answer.members and not answer.fnames:
        return []  # nearly every file: it holds no names
    portable = policy.names is NameRules.PORTABLE
    named: dict[Reason, list[str]] = {}  # one entry per rule, naming every member it refuses
    for archive in dict.fromkeys(a for a, _, _ in answer.members):
        paths = [p for a, p, _ in answer.members if a == archive]
        found_names = archive_reasons(paths, policy.max_name_length, portable, frozenset(policy.dot_names))
        for path, reasons in found_names.items():
            for reason in reasons:
                named.setdefault(reason, []).append(shown(path))
    found = [
        (r, f"archive member names, as unpacked ({r.value}): {_listed(paths)}{_why(r)}")
        for r, paths in named.items()
    ]
    found += member_served_reasons(answer, admitted)
    return found + fname_reasons(answer, name)


def fname_reasons(answer: Answer, name: str) -> list[tuple[Reason, str]]:
    """Each gzip FNAME (of the file, or of a member: its own name) that no writer puts
    in a gzip published under that name (written_fnames); a gzip inside a gzip is named as
    gunzip names the outer one's output (served.unpacked_names: x.csv.gz.gz, x.csv.gz)."""
    found = []
    for known, strips, fname in answer.fnames:
        chain = served.unpacked_names(known if known is not None else name)
        layer = chain[min(strips, len(chain) - 1)]
        written = written_fnames(layer)
        if fname not in {spelling for each in written for spelling in fname_spellings(each)}:
            names = _listed(sorted(map(shown, written)))
            detail = (
                f"gzip: the member header names the file {shown(fname)}, not {names} "
                "(`gunzip -N` would create it): write it without a name (gzip -n, "
                "gzip.GzipFile(filename='')) or under the name it is published as"
            )
            found.append((Reason.INVALID_FORMAT, detail))
    return found


def written_fnames(published: str) -> set[str]:
    """The FNAMEs writers put in a gzip published as `published`: the name gunzip restores
    from it (served.gunzipped: GNU gzip -S .z/_z/-gz and tar's .tgz write the original name,
    x.tgz's x.tar, which gunzip gives back by its suffix rule), and Python's gzip module's
    (the file object's name without a final ".gz", case and all: tarfile's x.tgz keeps its
    .tgz, x.dat keeps its name); each in either encoding (fname_spellings). Both are the
    published name's: an FNAME carries nothing the name does not."""
    names = {published.removesuffix(".gz")}
    if (restored := served.gunzipped(published)) is not None:
        names.add(restored)
    return names


def fname_spellings(expected: str) -> set[str]:
    """The FNAMEs (as gzipfmt decodes the field: UTF-8, other bytes surrogate-escaped) a
    writer puts in a gzip published as `expected` + .gz: its bytes (GNU gzip writes the
    file name's bytes, UTF-8 here), or its Latin-1 bytes when every character has one
    (Python's gzip, as RFC 1952 asks; it writes no FNAME for other names). Not Latin-1
    bytes that are valid UTF-8 of another name (`ï»¿x.csv`'s are U+FEFF x.csv): `gunzip -N`
    creates the FNAME's bytes as they are, so that other name, never judged, would be made."""
    spellings = {expected}
    if all(ord(c) < 256 for c in expected):
        latin = expected.encode("latin-1").decode("utf-8", "surrogateescape")
        if all(c < "\x80" or "\udc80" <= c <= "\udcff" for c in latin):  # no UTF-8 character in it
            spellings.add(latin)
    return spellings


def member_served_reasons(answer: Answer, admitted: bool) -> list[tuple[Reason, str]]:
    """What a client that unpacks the archive makes of each file member's name: the walk's
    question (served.name_reasons) with the validators that admitted that member's bytes,
    and of each directory it is in (served.directory_acted_on), and its text's escapes of
    the format its name announces (served.escape_reasons, session 40).
    A member without bytes gets the names a client runs, as an empty file does. One entry
    per finding, naming the members it refuses."""
    named: dict[tuple[Reason, str], list[str]] = {}
    escapes = {(a, p): n for a, p, n in answer.member_named}  # of the format a name announces
    for archive, path, validators in answer.members:
        for folder in path.split("/")[:-1]:  # IIS 6 runs what is below d.asp/
            if why := served.directory_acted_on(folder):
                named.setdefault((Reason.NAME_TYPE, why), []).append(shown(path))
        if path.endswith("/"):
            continue
        reasons = served.name_reasons(path.rpartition("/")[2], validators, admitted and bool(validators))
        if admitted and not reasons and (finds := escapes.get((archive, path))):
            reasons = served.escape_reasons(path.rpartition("/")[2], finds)
        for found in reasons:
            named.setdefault(found, []).append(shown(path))
    return [(r, f"archive member {_listed(paths)}: {why}") for (r, why), paths in named.items()]


def _why(reason: Reason) -> str:
    """The rule and remedy of a name rule that says more than its code, after a colon."""
    return f": {why}" if (why := explained([reason])) else ""


def _listed(paths: list[str], most: int = 20) -> str:
    more = f" and {len(paths) - most} more" if len(paths) > most else ""
    return ", ".join(paths[:most]) + more


def _not_admitted(answer: Answer, refused: list[str], policy: QuarantinePolicy) -> str:
    inner = "" if refused == [answer.mime] else f" holding {', '.join(dict.fromkeys(refused))}"
    unchecked = [m for m, v in answer.parts if v is None and m in refused]
    why = " (no validator for it; the policy would have to say validate: head-only)" if unchecked else ""
    if answer.not_json is not None:  # admitted as JSON it would have been, but for this rule
        why += f" (it starts like JSON but is text: {answer.not_json})"
    encodings = {encoding_of(v) for _, v in answer.parts} - {None, *policy.text_encodings}
    if encodings:
        why += (
            f" (text in {', '.join(sorted(encodings))}; the policy's text_encodings allows "
            f"{', '.join(policy.text_encodings)})"
        )
    return answer.mime + inner + why
