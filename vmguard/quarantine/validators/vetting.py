"""`vet`: a file's type and its validator, to its last byte (the package's docstring).
Kept apart from the package's own names so that loading them does not load every format
(validators/__init__.py)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from . import HEAD_SIZE, hdf5, libmagic_type, text, validator_for
from .identify import IDENTIFY_SIZE, PAGE_SNIFF_SIZE, executable_format, own_type, page_sniffed
from .inside import TOP, Inside, KnownAs
from .stream import Invalid, Stream
from .terminal import TerminalString

MAX_DEPTH = 3  # a gzip of a tar of a gzip; deeper nesting is refused

# Each format's validator, (its module, its function): the module is imported when a file
# of the format comes (_validator). A worker holds every module's code from its start
# (magic_worker._Held) and runs a format's only then: a job of text runs none of the
# others' (their dataclasses and tables cost a worker about 35 ms of CPU to make).
_SIMPLE = {
    "json": ("jsonfmt", "validate"),
    "fits": ("fits", "validate"),
    "hdf5": ("hdf5", "validate_top"),
    "root": ("root", "validate"),
}
_CONTAINERS = {"gzip": ("gzipfmt", "gzip"), "tar": ("containers", "tar"), "zip": ("ziparchive", "zip_")}

# What vet returns, as containers.Parts: (MIME type, validator) of the file and what it holds.
Parts = list[tuple[str, str | None]]
# Every module a format's validator needs (hdf5's walk loads objects.py on first use too).
FORMATS = (*dict.fromkeys(m for m, _ in (*_SIMPLE.values(), *_CONTAINERS.values())), "hdf5.objects")


def _validator(module: str, function: str) -> Callable:
    """A format's validator function, its module imported on first use."""
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


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
    if known[0] is not None and not known[1]:  # a tar or zip member's own bytes
        inside.begin_member()
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
        return [_json_or_text(stream, mime, inside, known)]
    if name == "hdf5" and depth:  # no copy of its own for the walk: walked in memory
        return [(mime, hdf5.validate_inner(stream))]
    if name == "text":  # text names its encoding ("text:utf-16")
        return [(mime, text.validate(stream, inside.named_by(known)))]
    if name in _SIMPLE:
        return [(mime, _validator(*_SIMPLE[name])(stream))]
    if name in _CONTAINERS:
        if depth >= MAX_DEPTH:
            raise Invalid(f"{name}: nested more than {MAX_DEPTH} containers deep")
        vet_inner = lambda inner, known: vet(inner, mime_of, depth + 1, None, inside, known)  # noqa: E731
        if name == "gzip":
            return _validator(*_CONTAINERS[name])(stream, vet_inner, inside, known)
        return _validator(*_CONTAINERS[name])(stream, vet_inner, inside)
    return [(mime, name)]


def _sniffed(page: str) -> str:
    return (
        f"starts with {page!r}: a browser given it without a type (Apache sends none for a name "
        "outside its table: .dat, .out, none) renders it as a page (HTML, XML or PDF, by WHATWG "
        "MIME sniffing); begin the file otherwise (a line of text first)"
    )


def _json_or_text(stream: Stream, mime: str, inside: Inside, known: KnownAs) -> tuple[str, str]:
    """libmagic judges JSON by its head (application/json, or text/plain for most JSON
    longer than 512 bytes): whatever it says, what starts like JSON is JSON if all of it is
    JSON as serializers write it, else it is held to the text rules like any other text
    (a hand-written config, `[1,2, 3]`: where a .json name announces JSON, served.py
    refuses it; `inside` keeps the JSON rule they break for the parent's detail). Both run
    on the same chunks as they stream."""
    checkers = [_validator("jsonfmt", "JsonChecker")(), text.TextChecker(stream.peek(2))]
    failed: list[Invalid | None] = [None, None]
    said_json = validator_for(mime) == "json"  # neither: the error of what libmagic said
    for chunk in stream.chunks():
        for i, checker in enumerate(checkers):
            if failed[i] is None:
                failed[i] = _fed(checker.feed, bytes(chunk))
        if isinstance(failed[0], TerminalString):
            raise failed[0]  # JSON's strings drive a terminal: as text it is no better
        if failed[0] and failed[1]:
            raise _refusal(failed, said_json)
    names = [failed[i] or _fed(checker.close) for i, checker in enumerate(checkers)]
    if isinstance(names[0], TerminalString):
        raise names[0]
    if isinstance(names[0], str):
        return "application/json", names[0]
    if isinstance(names[1], str):
        if inside.not_json is None:
            inside.not_json = str(names[0])
        inside.named_by(known).update(checkers[1].named.found)  # as JSON, jsonfmt judged them
        return ("text/plain" if said_json else mime), names[1]
    raise _refusal(names, said_json)


def _refusal(failed: list, said_json: bool) -> Invalid:
    """Why what is neither JSON nor text is refused: a string that drives a terminal (text's
    JSON escape: jq reads what strict JSON refuses, textescapes.py), else the error of what
    libmagic said."""
    return next((f for f in failed if isinstance(f, TerminalString)), failed[0 if said_json else 1])


def _fed(step: Callable, *args: bytes) -> Invalid | str | None:
    """A checker's step, its Invalid returned rather than raised."""
    try:
        return step(*args)
    except Invalid as err:
        return err
