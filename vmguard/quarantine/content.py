"""Decide on a file's bytes: executable signatures, allowed MIME types, text that is not.

The MIME type comes from libmagic (in a sandboxed worker, see detect.py) on the file's
first bytes; vmguard adds what libmagic alone misses: executable signatures whatever
the name, and a text type is only believed if the *whole* file has no NUL byte (a text
prefix followed by an ELF image is not text).
"""

from __future__ import annotations

from vmguard.policy.model import FileKind, QuarantinePolicy
from vmguard.quarantine.copy import Content
from vmguard.quarantine.model import Reason

EMPTY_TYPE = "inode/x-empty"

_MACHO = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # universal (fat) binary; Java class files share it
)

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


def executable_format(head: bytes) -> str | None:
    """The executable format a file starts with, or None."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head[:4] in _MACHO:
        return "Mach-O"
    if head.startswith(b"#!"):
        return "script (#!)"
    if head.startswith(b"MZ") and len(head) >= 64:
        pe_offset = int.from_bytes(head[60:64], "little")
        if pe_offset + 4 <= len(head):
            return "PE" if head[pe_offset:pe_offset + 4] == b"PE\0\0" else None
        # A PE header beyond what we see is still treated as one: refuse, do not guess.
        # (Text that starts with "MZ" gives an offset in the gigabytes.)
        if pe_offset < 0x10000:
            return "PE"
    return None


def type_allowed(mime: str, allow_types: tuple[str, ...]) -> bool:
    """Exact MIME types, or `major/*` for a whole family."""
    major = mime.partition("/")[0]
    return any(a == mime or (a.endswith("/*") and a[:-2] == major) for a in allow_types)


def content_reasons(
    content: Content, mime: str | None, executable: str | None, policy: QuarantinePolicy
) -> list[tuple[Reason, str]]:
    """Every reason the bytes of one file may not be published."""
    if content.size == 0:
        return []  # no bytes, nothing to fear
    found = []
    if FileKind.EXECUTABLES in policy.forbid:
        fmt = executable
        if fmt is None and mime in EXECUTABLE_TYPES:
            fmt = mime
        if fmt is not None:
            found.append((Reason.EXECUTABLE_CONTENT, fmt))
    if mime is None:
        found.append((Reason.TYPE_UNKNOWN, "the type detector failed or timed out"))
    elif mime.startswith("text/") and content.has_nul:
        found.append((Reason.BINARY_IN_TEXT, f"starts as {mime} but contains NUL bytes"))
    elif not type_allowed(mime, policy.allow_types):
        found.append((Reason.TYPE_NOT_ALLOWED, mime))
    return found
