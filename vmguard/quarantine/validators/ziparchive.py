"""zip, to the last byte, as it streams (only where the policy allows `zip`): local
members one after another from offset 0, each stored or deflated, its sizes and CRC in
its local header (no data descriptor, no zip64), not encrypted, with a relative name
that stays inside and no extra field but the small timestamp and owner ones; each file
member inflated (against bombs: at most RATIO times the bytes read so far plus FLOOR,
in one STEP of memory) and vetted as a file by the same rules; then a central directory
that lists exactly those members, in order, with the same names, sizes, CRCs and
offsets (so no entry overlaps another or points elsewhere), regular files and
directories only (no symlink, no executable or set-id mode), no comments; then the end
record, and nothing after it. A zip that another format carries at its end ("any file
is a zip") is refused by that format's own validator; a zip file holding one is
refused here."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

from .containers import FLOOR, MAX_MEMBERS, RATIO, STEP, Parts, member_allowed_name
from .stream import Invalid, Stream

FMT = "zip"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
LOCAL_SIG, CENTRAL_SIG, END_SIG = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_ENCRYPTED, _DESCRIPTOR = 0x0001 | 0x0040, 0x0008
_EXTRA_OK = {0x5455: 13, 0x7875: 11, 0x000A: 32}  # extended timestamp, Unix owner, NTFS times
_S_IFMT, _S_IFREG, _S_IFDIR = 0o170000, 0o100000, 0o040000

Member = tuple[bytes, int, int, int, int, int, int]  # name, flags, method, crc, csize, usize, offset


def zip_(stream: Stream, inner: Callable[[Stream], Parts]) -> Parts:
    parts: Parts = [("application/zip", "zip")]
    members: list[Member] = []
    while stream.peek(4) == LOCAL_SIG:
        if len(members) >= MAX_MEMBERS:
            raise Invalid(f"zip: more than {MAX_MEMBERS} members")
        members.append(_local(stream, inner, parts, members))
    cd_start = stream.pos
    for member in members:
        _central(stream, member)
    _end(stream, len(members), cd_start)
    return parts


def _local(stream: Stream, inner: Callable[[Stream], Parts], parts: Parts, members: list[Member]) -> Member:
    offset = stream.pos
    _, _, flags, method, _, _, crc, csize, usize, nlen, xlen = _LOCAL.unpack(
        stream.read(_LOCAL.size, "a local header", FMT)
    )
    name = stream.read(nlen, "a member's name", FMT)
    _extra(stream.read(xlen, "a member's extra field", FMT), name)
    _member_rules(name, flags, method, csize, usize)
    data = _data(stream, method, csize, usize, crc, name, offset)
    if name.endswith(b"/"):
        if usize:
            raise Invalid(f"zip: directory member {name!r} holds data")
        for _ in data:
            pass
    else:
        inflated = Stream(data)
        parts += [part for part in inner(inflated) if part not in parts]
        for _ in inflated.chunks():  # to the member's end: its CRC and size
            pass
    return (name, flags, method, crc, csize, usize, offset)


def _member_rules(name: bytes, flags: int, method: int, csize: int, usize: int) -> None:
    if flags & _ENCRYPTED:
        raise Invalid(f"zip: member {name!r} is encrypted (nothing could check it)")
    if flags & _DESCRIPTOR:
        raise Invalid(f"zip: member {name!r} gives its sizes after its data (a data descriptor)")
    if method not in (0, 8):
        raise Invalid(f"zip: member {name!r} uses compression method {method} (only stored and deflate)")
    if 0xFFFFFFFF in (csize, usize):
        raise Invalid(f"zip: member {name!r} is zip64 (not accepted)")
    if method == 0 and csize != usize:
        raise Invalid(f"zip: stored member {name!r} has two sizes")
    try:
        member_allowed_name(name.decode("utf-8"), FMT)
    except UnicodeDecodeError:
        raise Invalid(f"zip: member name {name!r} is not UTF-8") from None


def _extra(extra: bytes, name: bytes) -> None:
    """Only the small, fixed extra fields tools add for times and owners: any other
    extra field is free-form bytes nothing checks."""
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise Invalid(f"zip: member {name!r} has a broken extra field")
        tag, size = struct.unpack_from("<HH", extra, pos)
        if size > _EXTRA_OK.get(tag, -1):
            raise Invalid(
                f"zip: member {name!r} has an extra field (0x{tag:04x}, {size} bytes) nothing checks"
            )
        pos += 4 + size


def _data(
    stream: Stream, method: int, csize: int, usize: int, crc: int, name: bytes, offset: int
) -> Iterator[bytes]:
    """The member's bytes as they are read (inflated if deflated), checked against its
    sizes and CRC at its end."""
    d = zlib.decompressobj(-15) if method == 8 else None
    start, out, check, left = stream.pos, 0, 0, csize
    while left or (d is not None and not d.eof and out < usize):
        piece = stream.read(min(left, STEP), f"member {name!r}", FMT) if left else b""
        left -= len(piece)
        chunk = piece if d is None else _inflate(d, piece)
        out += len(chunk)
        if out > usize or out > RATIO * (stream.pos - start) + FLOOR:
            raise Invalid(f"zip: member {name!r} inflates past its size or {RATIO} times (a bomb)")
        check = zlib.crc32(chunk, check)
        yield chunk
        if not piece and not chunk:
            break
    if out != usize or check != crc or (d is not None and (not d.eof or d.unused_data)):
        raise Invalid(f"zip: member {name!r} at {offset} does not match its size and CRC")


def _inflate(d: zlib._Decompress, piece: bytes) -> bytes:
    try:
        return d.decompress(piece)
    except zlib.error as err:
        raise Invalid(f"zip: a member is not a valid deflate stream ({err})") from None


def _central(stream: Stream, member: Member) -> None:
    name, flags, method, crc, csize, usize, offset = member
    if stream.peek(4) != CENTRAL_SIG:
        raise Invalid(f"zip: bytes that are no member or directory entry (offset {stream.pos})")
    fields = _CENTRAL.unpack(stream.read(_CENTRAL.size, "the central directory", FMT))
    _, _, _, cflags, cmethod, _, _, ccrc, ccsize, cusize, nlen, xlen, clen, disk, _, attrs, coffset = fields
    cname = stream.read(nlen, "the central directory", FMT)
    _extra(stream.read(xlen, "the central directory", FMT), cname)
    if (cname, cflags, cmethod, ccrc, ccsize, cusize, coffset) != (
        name,
        flags,
        method,
        crc,
        csize,
        usize,
        offset,
    ) or disk:
        raise Invalid(
            f"zip: the central directory does not list member {name!r} as its local header does "
            f"(at {stream.pos})"
        )
    if clen:
        raise Invalid(f"zip: member {name!r} has a comment (free bytes nothing checks)")
    mode = attrs >> 16
    kind = mode & _S_IFMT
    if kind not in (0, _S_IFREG, _S_IFDIR) or (kind == _S_IFDIR) != name.endswith(b"/"):
        raise Invalid(f"zip: member {name!r} is a link or special file")
    if mode & (0o7000 if name.endswith(b"/") else 0o7111):
        raise Invalid(f"zip: member {name!r} is executable or set-id")


def _end(stream: Stream, count: int, cd_start: int) -> None:
    if stream.peek(4) != END_SIG:
        raise Invalid(f"zip: bytes that are no member or directory entry (offset {stream.pos})")
    cd_end = stream.pos
    _, disk, cd_disk, here, total, size, start, comment = _END.unpack(
        stream.read(_END.size, "the end of central directory record", FMT)
    )
    if (disk, cd_disk, here, total, size, start) != (0, 0, count, count, cd_end - cd_start, cd_start):
        raise Invalid("zip: the end record does not describe the central directory")
    if comment:
        raise Invalid("zip: the archive has a comment (free bytes nothing checks)")
    stream.expect_end(FMT, "the end of central directory record")
