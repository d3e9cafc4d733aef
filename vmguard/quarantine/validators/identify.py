"""vmguard's own identification from a file's first bytes: the lab's formats that
libmagic 5.44 calls application/octet-stream (ROOT) or names inconsistently, containers,
and executable signatures, whatever the file is called."""

from __future__ import annotations

import re

_MACHO = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # universal (fat) binary; Java class files share it
)

# A signature at offset 0 -> the MIME type vmguard gives the file (libmagic's names).
_SIGNATURES = (
    (b"SIMPLE  =                    T", "image/fits"),
    (b"\x89HDF\r\n\x1a\n", "application/x-hdf5"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
)
HDF5_USER_BLOCKS = (512, 1024, 2048, 4096)  # where libhdf5 also looks for its superblock
IDENTIFY_SIZE = HDF5_USER_BLOCKS[-1] + 8  # bytes own_type looks at (libmagic: HEAD_SIZE)


def own_type(head: bytes) -> str | None:
    """The MIME type of a format vmguard recognises itself, or None (ask libmagic)."""
    if _root_header(head):
        return "application/x-root"
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[257:262] == b"ustar":
        return "application/x-tar"
    if hdf5_user_block(head):
        return "application/x-hdf5"  # its validator refuses it, naming the user block
    return None


# What a browser renders as a page when the server sends no Content-Type (Apache 2.4 sends
# none for an extension outside its table: .dat, .out, .lhe, none) and it sniffs the first
# bytes (WHATWG MIME Sniffing, "identifying an unknown MIME type", Chrome's mime_sniffer.cc,
# Firefox's nsUnknownDecoder): after white space (Chrome skips VT too), `<!` and `<?`
# (<!DOCTYPE, <!--, <?xml: older Firefox took any `<!` or `<?` for HTML), a tag Chrome
# matches by its prefix alone (`<b` then anything, so <body <br <beam), a tag WHATWG and
# Firefox match before a space or `>`, or PDF's `%PDF-` (rendered with its scripting).
_PAGE_HEAD = re.compile(
    rb"[\t\n\v\f\r ]*(?:<[!?]|<(?:a|b|p|h1|div|font|table|style|title|script|html|head|iframe)"
    rb"|<(?:frameset|img|link|meta|center|form|isindex|h[2-6])[\s/>]|%PDF-)",
    re.IGNORECASE,
)
PAGE_SNIFF_SIZE = 1445  # WHATWG's resource header: no browser sniffs further


def page_sniffed(head: bytes) -> str | None:
    """What a browser given these first bytes and no type takes for a page (HTML, XML or
    PDF, quoted), or None."""
    found = _PAGE_HEAD.match(head, 0, PAGE_SNIFF_SIZE)
    return found.group().lstrip(b"\t\n\v\f\r ").decode("latin-1") if found else None


def hdf5_user_block(head: bytes) -> int:
    """The size of the user block before an HDF5 superblock (0: none found)."""
    return next((n for n in HDF5_USER_BLOCKS if head[n : n + 8] == b"\x89HDF\r\n\x1a\n"), 0)


def _root_header(head: bytes) -> bool:
    """ROOT's binary header: "root", a big-endian version (plus 1000000 in a large file) and
    fBEGIN within the first 4 KiB. The magic alone is not enough: a shadow line or a log
    line that starts with "root" is text, not a broken ROOT file."""
    if not head.startswith(b"root") or len(head) < 12:
        return False
    version, begin = int.from_bytes(head[4:8], "big"), int.from_bytes(head[8:12], "big")
    return version % 1000000 > 0 and version < 2000000 and 0 < begin <= 4096


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
            return "PE" if head[pe_offset : pe_offset + 4] == b"PE\0\0" else None
        # A PE header beyond what we see is still treated as one: refuse, do not guess.
        # (Text that starts with "MZ" gives an offset in the gigabytes.)
        if pe_offset < 0x10000:
            return "PE"
    return None
