"""A tar member's header blocks, byte by byte, against what tarfile and GNU tar write.

A member is its extended headers (pax `x`, GNU long name `L`), each with its data, then
its ustar or GNU header. In every header: the magic is ustar's or GNU's; text fields
(name, linkname, uname, gname, prefix) hold nothing after their NUL, the owner names no
control a terminal acts on (terminal.py); the numbers are
octal digits of the written width and their NUL (the checksum: six, NUL, space); no
link name; device numbers empty or zero; the bytes after the last field (500-511 of
ustar, 345-511 of GNU) zero. A pax header is named as tarfile or GNU tar names it and
holds only the records they write (path, size, times, owner), each well formed. A member
has at most one extended header; its own fields and those of the header behind it that
it overrides are pinned in tarextended.py. What stays free (times, owner names) is
listed in docs/quarantine.md.
"""

from __future__ import annotations

import os
import re
import tarfile

from . import tarextended, tarnames, terminal
from .stream import Invalid

BLOCK = 512
USTAR, GNU = b"ustar\x0000", b"ustar  \x00"
_TEXT = {"name": (0, 100), "linkname": (157, 257), "uname": (265, 297), "gname": (297, 329)}
# `tar tv` prints the owner names raw (GNU tar quotes a member's name, not its owner's):
# the one rule for a string a reader prints (terminal.py; session 40, attack q content).
# The name (and prefix, long name, pax path) is the walk's (names.py refuses controls);
# a link name is refused outright (no link is admitted); the rest are numbers.
_OWNERS = ("uname", "gname")
_NUMBERS = {"mode": (100, 108), "uid": (108, 116), "gid": (116, 124), "size": (124, 136), "mtime": (136, 148)}
_CHKSUM = re.compile(rb"[0-7]{6}\0 ")
_OCTAL = {8: re.compile(rb"[0-7]{7}\0"), 12: re.compile(rb"[0-7]{11}\0")}  # by the field's width
_DEVICES = (b"\0" * 16, b"0000000\0" * 2)  # GNU format; ustar and pax (tarfile, GNU tar)
_COUNT = re.compile(rb"0|[1-9]\d{0,19}")
# a time as the writers spell it: no trailing zero in the fraction (GNU tar strips them;
# tarfile's repr of a float writes one only in ".0")
_TIME = re.compile(rb"-?(0|[1-9]\d{0,19})(\.0|\.\d{0,8}[1-9])?")
_TEXT_VALUE = re.compile(rb"[^\n]{0,255}")
PAX_VALUES = {  # the records tarfile and GNU tar write, each value as they write it
    "path": re.compile(rb"[^\n]{1,4096}"),
    "size": _COUNT,
    "uid": _COUNT,
    "gid": _COUNT,
    "uname": _TEXT_VALUE,
    "gname": _TEXT_VALUE,
    "mtime": _TIME,
    "atime": _TIME,
    "ctime": _TIME,
}
PAX_KEYS = frozenset(PAX_VALUES)
_RECORD = re.compile(rb"([1-9]\d*) ([^=\n]+)=")


def padded(offset: int) -> int:
    return -(-offset // BLOCK) * BLOCK


def headers_allowed(raw: bytes, member: tarfile.TarInfo, archive: tarextended.Archive) -> bytes:
    """raw: the bytes from the member's first header block to its data; archive: what
    the archive's headers so far share. Returns the name as the headers hold it."""
    pos, extended = 0, []
    while pos + BLOCK < len(raw):  # extended headers, then the member's own
        block = raw[pos : pos + BLOCK]
        _block_allowed(block, member, last=False)
        archive.spelled(block, True, member)
        size = int(block[124:135], 8)
        data = raw[pos + BLOCK : pos + BLOCK + size]
        if raw[pos + BLOCK + size : pos + BLOCK + padded(size)].strip(b"\0"):
            raise Invalid(f"tar: the padding of {member.name!r}'s extended header is not zeros")
        extended.append((block, data))
        pos += BLOCK + padded(size)
    if pos + BLOCK != len(raw):
        raise Invalid(f"tar: {member.name!r}'s headers do not end where its data starts")
    if len(extended) > 1:
        raise Invalid(
            f"tar: {member.name!r} has {len(extended)} extended headers (tarfile and GNU tar write at most "
            "one a member; a reader keeps the last one's values)"
        )
    own = raw[pos:]
    _block_allowed(own, member, last=True)
    archive.spelled(own, False, member)
    pax_path = long_name = None
    for block, data in extended:
        if block[156:157] == tarfile.XHDTYPE:
            records = _pax_records(data, member)
            tarextended.pax_allowed(block, records, own, member, archive)
            pax_path = records.get("path")
        elif data.find(b"\0") != len(data) - 1:  # a GNU long name: the name, one NUL
            raise Invalid(f"tar: {member.name!r}'s long name record holds bytes after the name")
        else:
            long_name = data[:-1]
            tarextended.long_name_allowed(block, long_name, own, member, archive)
    tarextended.split_allowed(own, bool(extended), member, archive)
    return tarnames.written(own, pax_path, long_name)


def _block_allowed(block: bytes, member: tarfile.TarInfo, last: bool) -> None:
    kind, magic = block[156:157], block[257:265]
    allowed = (tarfile.REGTYPE, tarfile.DIRTYPE) if last else (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME)
    if magic not in (USTAR, GNU) or kind not in allowed:
        raise Invalid(f"tar: a header of {member.name!r} has type {kind!r} or magic {magic!r} (not written)")
    for field, (start, end) in _TEXT.items():
        value, _, after = block[start:end].partition(b"\0")
        if after.strip(b"\0") or (field == "linkname" and value):
            raise Invalid(f"tar: bytes after the {field} of {member.name!r} (a field no reader returns)")
        if field in _OWNERS:
            terminal.check(value, f"the {field} of {member.name!r}", "tar")
    for field, (start, end) in _NUMBERS.items():
        if not _number_written(block[start:end], last and magic == GNU, negative=field == "mtime"):
            raise Invalid(f"tar: the {field} of {member.name!r} is not written as tar writes it")
    if not _CHKSUM.fullmatch(block[148:156]) or block[329:345] not in _DEVICES or not _unsigned_sum(block):
        raise Invalid(
            f"tar: the checksum or device fields of {member.name!r} are not as tar writes them (the "
            "checksum: the unsigned sum, six octal digits, NUL, space)"
        )
    rest = block[345:] if magic == GNU else block[500:]
    prefix, _, after = block[345:500].partition(b"\0")
    if rest.strip(b"\0") or after.strip(b"\0"):
        raise Invalid(f"tar: bytes after the last field of {member.name!r}'s header (no reader returns them)")
    if kind == tarfile.XHDTYPE:
        _pax_header_named(block[:100].rstrip(b"\0"), member)


def _number_written(raw: bytes, gnu: bool, negative: bool) -> bool:
    """Octal digits and a NUL; in a GNU header a number octal cannot hold (a uid or gid over
    2097151, as SSSD maps Active Directory users; an mtime before 1970; a size of 8 GiB or
    more) in base-256 as GNU tar and tarfile write it (0x80 then big-endian, or an mtime's
    two's complement from 0xff): exactly their bytes for that number, so nothing is free
    (session 39, attack o content: `tar cf` on such a host was refused)."""
    if _OCTAL[len(raw)].fullmatch(raw):
        return True
    if not gnu or raw[0] not in (0x80, 0xFF if negative else 0x80):
        return False
    value = int.from_bytes(raw[1:], "big") if raw[0] == 0x80 else int.from_bytes(raw, "big", signed=True)
    octal_holds = 0 <= value < 8 ** (len(raw) - 1)
    return not octal_holds and raw == _base256(value, len(raw))


def _base256(value: int, width: int) -> bytes:
    if value >= 0:
        return b"\x80" + value.to_bytes(width - 1, "big")
    return value.to_bytes(width, "big", signed=True)


def _unsigned_sum(block: bytes) -> bool:
    """The checksum is the sum of the block's bytes as unsigned (the field as 8 blanks), as
    tarfile and GNU tar write it; readers also accept the signed sum, which no writer uses."""
    return int(block[148:154], 8) == sum(block[:148]) + 8 * 32 + sum(block[156:])


def _pax_header_named(name: bytes, member: tarfile.TarInfo) -> None:
    """tarfile names a pax header ././@PaxHeader; GNU tar DIR/PaxHeaders[.PID]/BASE."""
    path = member.name.encode("utf-8", "surrogateescape")
    head, base = os.path.split(path)
    gnu = (head or b".") + b"/PaxHeaders/" + base
    with_pid = re.escape(head or b".") + rb"/PaxHeaders\.\d+/" + re.escape(base)
    if name not in (b"././@PaxHeader", gnu[:100]) and not re.fullmatch(with_pid, name):
        raise Invalid(f"tar: {member.name!r}'s pax header is named {name!r} (free bytes)")


def _pax_records(data: bytes, member: tarfile.TarInfo) -> dict[str, bytes]:
    """Records `LEN KEY=VALUE\\n`, each LEN exact, the keys tarfile and GNU tar write; in
    the order they come."""
    pos, records = 0, {}
    while pos < len(data):
        match = _RECORD.match(data, pos)
        length = int(match.group(1)) if match else 0
        key = match.group(2).decode("utf-8", "replace") if match else ""
        value = data[match.end() : pos + length - 1] if match else b""
        written = key in PAX_VALUES and PAX_VALUES[key].fullmatch(value) is not None
        if not match or data[pos + length - 1 : pos + length] != b"\n" or not written or key in records:
            raise Invalid(
                f"tar: {member.name!r} has a pax record {key or 'that is broken'!r} "
                f"(only {', '.join(sorted(PAX_KEYS))}, once each, their values as tar writes them)"
            )
        if key in _OWNERS:
            terminal.check(value, f"the pax {key} record of {member.name!r}", "tar")
        records[key] = value
        pos += length
    return records
