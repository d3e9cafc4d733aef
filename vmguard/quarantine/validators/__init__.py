"""Whole-file validators: each file's bytes, first to last, against its format's rules.

They run inside the sandboxed libmagic workers (magic_worker.py loads this package by
path, so it imports only the standard library and its own modules) on the bytes the
copy hashes and writes, streamed as they are read. `vet` types a file (vmguard's own
identification, else libmagic), picks the validator for that type and returns what the
file is made of: (MIME type, validator) for the file and for each file inside it (gzip,
tar). A type with no validator comes back with None: only a policy that names it with
`validate: head-only` admits it. TYPES is what each policy type name admits.
"""

from __future__ import annotations

from collections.abc import Callable

from . import containers, fits, gzipfmt, hdf5, jsonfmt, root, terminal, text, ziparchive
from .identify import IDENTIFY_SIZE, PAGE_SNIFF_SIZE, executable_format, own_type, page_sniffed
from .inside import TOP, Inside, KnownAs
from .stream import Invalid, Stream
from .text import encoding_of

__all__ = [
    "HEAD_SIZE",
    "IDENTIFY_SIZE",
    "TYPES",
    "Inside",
    "Invalid",
    "Stream",
    "encoding_of",
    "executable_format",
    "libmagic_type",
    "own_type",
    "validator_for",
    "vet",
]

HEAD_SIZE = 512  # what libmagic and the identification see
MAX_DEPTH = 3  # a gzip of a tar of a gzip; deeper nesting is refused

# Policy type name -> (the validator that runs, the MIME types it admits).
_TEXT = (
    "text/plain",
    "text/csv",
    "text/tab-separated-values",
    "text/x-fortran",
    "text/x-c",
    "text/x-c++",
    "text/x-tex",
    "text/x-diff",
    "text/x-asm",
    "text/x-pascal",
    "text/x-java",
    "text/x-makefile",
    "text/x-bibtex",
    "text/x-po",
    "text/x-m4",
    "text/x-Algol68",
    "text/x-objective-c",
    "text/troff",
)
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "text": ("text", _TEXT),
    "csv": ("text", ("text/csv", "text/tab-separated-values", "text/plain")),
    "json": ("json", ("application/json",)),
    "fits": ("fits", ("image/fits", "application/fits")),
    "hdf5": ("hdf5", ("application/x-hdf5", "application/x-hdf")),
    "root": ("root", ("application/x-root",)),
    "gzip": ("gzip", ("application/gzip", "application/x-gzip")),
    "tar": ("tar", ("application/x-tar",)),
    "zip": ("zip", ("application/zip",)),
}
_SIMPLE: dict[str, Callable[[Stream], str]] = {
    "json": jsonfmt.validate,
    "fits": fits.validate,
    "hdf5": hdf5.validate_top,
    "root": root.validate,
}
_CONTAINERS = {"gzip": gzipfmt.gzip, "tar": containers.tar, "zip": ziparchive.zip_}
_BY_MIME = {mime: v for v, mimes in TYPES.values() for mime in mimes}

Parts = containers.Parts


# libmagic's guesses from the head that vmguard types otherwise: JSON lines (a JSON
# formatter's log, print(list) lines) are text (each line is not checked as JSON).
_GUESSES = {"application/x-ndjson": "text/plain"}


def libmagic_type(mime: str) -> str:
    """The type vmguard gives a file libmagic typed `mime` from its head."""
    return _GUESSES.get(mime, mime)


def validator_for(mime: str) -> str | None:
    """The validator for a MIME type: every text/* is held to the text rules."""
    return _BY_MIME.get(mime) or ("text" if mime.startswith("text/") else None)


def vet(
    stream: Stream,
    mime_of: Callable[[bytes], str],
    depth: int = 0,
    mime: str | None = None,
    inside: Inside | None = None,
    known: KnownAs = TOP,
) -> Parts:
    """Type (unless the caller did) and validate one file or inner file to its last
    byte; raises Invalid. `inside` gathers what its containers share (the inflation
    budget, the names they hold); `known` is the name an inner file is known by."""
    inside = inside or Inside(stream)
    if depth and stream.at_end():
        return []  # an empty file inside a container: no bytes, nothing to fear (as outside)
    head = stream.peek(HEAD_SIZE)
    if depth and (exe := executable_format(head)):  # a file's own head: the parent judges it (pipeline)
        raise Invalid(f"{exe} inside a container", "executable-content")
    mime = mime or own_type(stream.peek(IDENTIFY_SIZE)) or libmagic_type(mime_of(head))
    name = validator_for(mime)
    if name is not None and (page := page_sniffed(stream.peek(PAGE_SNIFF_SIZE))):
        raise Invalid(_sniffed(page), "sniffed-as-page")
    if name in ("text", "json") and head.lstrip()[:1] in (b"{", b"["):
        return [_json_or_text(stream, mime, inside)]
    if name == "hdf5" and depth:  # no copy of its own for the walk: walked in memory
        return [(mime, hdf5.validate_inner(stream))]
    if name == "text":  # text names its encoding ("text:utf-16")
        return [(mime, _text(stream, inside))]
    if name in _SIMPLE:
        return [(mime, _SIMPLE[name](stream))]
    if name in _CONTAINERS:
        if depth >= MAX_DEPTH:
            raise Invalid(f"{name}: nested more than {MAX_DEPTH} containers deep")
        vet_inner = lambda inner, known: vet(inner, mime_of, depth + 1, None, inside, known)  # noqa: E731
        if name == "gzip":
            return gzipfmt.gzip(stream, vet_inner, inside, known)
        return _CONTAINERS[name](stream, vet_inner, inside)
    return [(mime, name)]


def _text(stream: Stream, inside: Inside) -> str:
    """Text to its last byte; its lines' cursor-ups beyond their first counted into the
    file's rise (text.MAX_RISE holds for the job: the parent sums every file's)."""
    checker = text.TextChecker(stream.peek(2))
    for chunk in stream.chunks():
        checker.feed(bytes(chunk))
    found = checker.close()
    inside.rise += checker.excess
    return found


def _sniffed(page: str) -> str:
    return (
        f"starts with {page!r}: a browser given it without a type (Apache sends none for a name "
        "outside its table: .dat, .out, none) renders it as a page (HTML, XML or PDF, by WHATWG "
        "MIME sniffing); begin the file otherwise (a line of text first)"
    )


def _json_or_text(stream: Stream, mime: str, inside: Inside) -> tuple[str, str]:
    """libmagic judges JSON by its head (application/json, or text/plain for most JSON
    longer than 512 bytes): whatever it says, what starts like JSON is JSON if all of it is
    JSON as serializers write it, else it is held to the text rules like any other text
    (a hand-written config, `[1,2, 3]`: where a .json name announces JSON, served.py
    refuses it; `inside` keeps the JSON rule they break for the parent's detail). Both run
    on the same chunks as they stream."""
    checkers = [jsonfmt.JsonChecker(), text.TextChecker(stream.peek(2))]
    failed: list[Invalid | None] = [None, None]
    said_json = validator_for(mime) == "json"  # neither: the error of what libmagic said
    for chunk in stream.chunks():
        for i, checker in enumerate(checkers):
            if failed[i] is None:
                failed[i] = _fed(checker.feed, bytes(chunk))
        if isinstance(failed[0], terminal.TerminalString):
            raise failed[0]  # JSON's strings drive a terminal: as text it is no better
        if failed[0] and failed[1]:
            raise failed[0 if said_json else 1]
    names = [failed[i] or _fed(checker.close) for i, checker in enumerate(checkers)]
    if isinstance(names[0], terminal.TerminalString):
        raise names[0]
    if isinstance(names[0], str):
        return "application/json", names[0]
    if isinstance(names[1], str):
        inside.rise += checkers[1].excess
        if inside.not_json is None:
            inside.not_json = str(names[0])
        return ("text/plain" if said_json else mime), names[1]
    raise names[0 if said_json else 1]


def _fed(step: Callable, *args: bytes) -> Invalid | str | None:
    """A checker's step, its Invalid returned rather than raised."""
    try:
        return step(*args)
    except Invalid as err:
        return err
