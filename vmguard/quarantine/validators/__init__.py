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

import importlib

from .identify import IDENTIFY_SIZE, executable_format, own_type
from .inside import Inside
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
    "load_all",
    "own_type",
    "validator_for",
    "vet",
]

HEAD_SIZE = 512  # what libmagic and the identification see

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
_BY_MIME = {mime: v for v, mimes in TYPES.values() for mime in mimes}


# libmagic's guesses from the head that vmguard types otherwise: JSON lines (a JSON
# formatter's log, print(list) lines) are text (each line is not checked as JSON).
_GUESSES = {"application/x-ndjson": "text/plain"}


def libmagic_type(mime: str) -> str:
    """The type vmguard gives a file libmagic typed `mime` from its head."""
    return _GUESSES.get(mime, mime)


def validator_for(mime: str) -> str | None:
    """The validator for a MIME type: every text/* is held to the text rules."""
    return _BY_MIME.get(mime) or ("text" if mime.startswith("text/") else None)


# What vetting.py holds, loaded on first use (PEP 562): the vet process asks only TYPES,
# validator_for and a head's checks, and importing every format cost it about 30 ms of CPU
# per vet. vetting.py imports a format's modules when a file of it comes; a worker holds
# their code from its start (magic_worker._Held).
_VETTING = frozenset(("vet", "Parts", "MAX_DEPTH"))


def __getattr__(name: str):  # noqa: ANN202 - whatever vetting.py's name is
    if name not in _VETTING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.vetting"), name)
    return value


def load_all() -> None:
    """Import every format's validator now (what vet imports on first use)."""
    for module in importlib.import_module(f"{__name__}.vetting").FORMATS:
        importlib.import_module(f"{__name__}.{module}")
