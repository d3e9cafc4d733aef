"""gzip (RFC 1952), member by member, to the last byte, as it streams.

Each member's header is read here, not by zlib, so that its free fields are pinned to
what gzip, zlib and Python's gzip write: FLG may carry only FNAME (no FTEXT, FHCRC,
FEXTRA, FCOMMENT or reserved bit: bytes or bits nothing reads); XFL is 0, 2 or 4 (the
level hint) and OS 3 (Unix) or 255 (unknown); the FNAME, if any, goes to the parent,
which requires it to be the name the gzip is published as without .gz (`gunzip -N`
creates that name). The deflate data is inflated raw and the trailer's CRC-32 and
ISIZE are compared here; the padding bits of stored blocks and after the last block
are zero (deflateblocks.py). A member that inflates to nothing beside others is what
Python's gzip.open(path, "ab") writes for a session that logs nothing: its deflate data
is one of zlib's for nothing (EMPTY_DEFLATE), its header follows every member's rules,
and its MTIME is a session's clock (not before the member before it, not after the vet's
clock and a day: within that, as free as every member's); the file's only member
(an empty file, gzipped) may be any deflate of nothing. Every member names the file as
the first does (the same FNAME, or none): appended sessions of one writer do, and a name
present or not, or spelled another way, member by member would be free bits. Left free:
MTIME (32 bits a member, at most MAX_MEMBERS members), the XFL/OS choice, whether a
member is an empty one and which of EMPTY_DEFLATE it holds, and the deflate encoding
itself (docs/quarantine.md).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Generator, Iterator

from .deflateblocks import inflater
from .inside import MAX_MEMBERS, STEP, TOP, Inside, KnownAs
from .stream import Invalid, Stream
from .writeclock import too_late

Parts = list[tuple[str, str | None]]  # (MIME type, validator) of the file and what it holds
FMT = "gzip"
GZIP_MAGIC = b"\x1f\x8b"
MAGIC = GZIP_MAGIC + b"\x08"  # and CM 8 (deflate), the only method
FNAME = 0x08
_FLAGS = {0x01: "FTEXT", 0x02: "FHCRC", 0x04: "FEXTRA", 0x10: "FCOMMENT"}
XFL_WRITTEN = (0, 2, 4)  # level not given / 9 (best) / 1 (fast): gzip, zlib, Python
OS_WRITTEN = (3, 255)  # Unix (gzip, zlib, pigz), unknown (Python's gzip module)
MAX_FNAME = 4096  # bytes read looking for the NUL (a name longer is refused by the parent anyway)
FEED = 1 << 16
# The deflate data zlib writes for nothing, as Python's gzip.open(path, "ab") (or "at") ends
# a session that wrote nothing: Z_FINISH alone (levels 1-9: an empty fixed block; level 0:
# an empty stored block), or after a Z_SYNC_FLUSH (an empty stored block; TextIOWrapper's
# close flushes). An empty member beside others carries only these (and its header's free
# fields, as every member's: docs/quarantine.md).
EMPTY_DEFLATE = frozenset(
    (
        b"\x03\x00",
        b"\x00\x00\x00\xff\xff\x03\x00",
        b"\x01\x00\x00\xff\xff",
        b"\x00\x00\x00\xff\xff\x01\x00\x00\xff\xff",
    )
)
_EMPTY_MOST = max(map(len, EMPTY_DEFLATE))


def gzip(stream: Stream, inner: Callable[[Stream, KnownAs], Parts], inside: Inside, known: KnownAs) -> Parts:
    inflated = Stream(_inflate(stream, inside, known))
    parts = inner(inflated, (known[0], known[1] + 1))
    for _ in inflated.chunks():  # to the end: the last CRC, and nothing after
        pass
    return [("application/gzip", "gzip"), *parts]


def inflate(stream: Stream, inside: Inside) -> Iterator[bytes]:
    """The inflated bytes of every member, checked as the validator checks them (for the
    scanners, which see what a gzip holds)."""
    return _inflate(stream, inside, TOP)


def _inflate(stream: Stream, inside: Inside, known: KnownAs) -> Iterator[bytes]:
    members, first, before = 0, None, 0
    while True:
        members += 1
        if members > MAX_MEMBERS:
            raise Invalid(f"gzip: more than {MAX_MEMBERS} members")
        fname, mtime = _header(stream, members)
        first = fname if members == 1 else first
        if fname != first:  # appended sessions of one writer name the file alike
            raise Invalid(
                f"gzip: member {members} names the file {_said(fname)}, the first member {_said(first)} "
                "(whether and how each member names it would be free bits): write every member "
                "with the same name, or none (gzip -n)"
            )
        if fname is not None and members == 1:
            inside.fname(known, fname)
        size, raw = yield from _member(stream, inside)
        last = stream.at_end()
        if size == 0 and not (last and members == 1):
            _empty_member(members, raw, mtime, before)
        if last:
            return
        before = mtime


def _empty_member(number: int, raw: bytes | None, mtime: int, before: int) -> None:
    """An empty member beside others is what Python's gzip.open(path, "ab") writes for a
    session that logs nothing: zlib's deflate of nothing, and the session's time, which is
    not earlier than the session before it (the member before) nor later than the vet's
    clock and a day (writeclock.too_late)."""
    if raw not in EMPTY_DEFLATE:
        raise Invalid(
            f"gzip: an empty member (member {number}) whose deflate data is not what zlib writes "
            "for nothing (gzip.open(path, 'ab') in a session that writes nothing: 03 00, after a "
            "flush 00 00 00 ff ff 03 00; level 0 01 00 00 ff ff): bytes no reader returns"
        )
    if mtime < before or too_late(mtime):
        raise Invalid(
            f"gzip: an empty member (member {number}) with MTIME {mtime}: a session that logs nothing "
            f"stamps its own time, not earlier than the member before it ({before}) nor later than "
            "the vet's clock and a day"
        )


def _said(fname: str | None) -> str:
    return "nothing" if fname is None else repr(fname[:64])


def _header(stream: Stream, number: int) -> tuple[str | None, int]:
    """One member's header: its FNAME (decoded as the filesystem would) or None, and its MTIME."""
    where = stream.pos
    if stream.peek(3) != MAGIC:
        if number == 1:
            raise Invalid("gzip: not a gzip member (magic or method)")
        raise Invalid(f"gzip: bytes after the last member (offset {where})")
    head = stream.read(10, "a member header", FMT)
    flg, xfl, os_ = head[3], head[8], head[9]
    bad = [name for bit, name in _FLAGS.items() if flg & bit] + (["a reserved bit"] if flg & 0xE0 else [])
    if bad:
        raise Invalid(
            f"gzip: member at {where} sets {', '.join(bad)} in its header (bytes or bits no reader "
            "returns; gzip, zlib and Python's gzip write none of them)"
        )
    if xfl not in XFL_WRITTEN or os_ not in OS_WRITTEN:
        raise Invalid(
            f"gzip: member at {where} has XFL {xfl} and OS {os_} "
            f"(written: XFL {XFL_WRITTEN}, OS {OS_WRITTEN})"
        )
    return (_fname(stream) if flg & FNAME else None), struct.unpack("<I", head[4:8])[0]


def _fname(stream: Stream) -> str:
    data = stream.peek(MAX_FNAME)
    end = data.find(b"\0")
    if end < 0:
        raise Invalid(f"gzip: a member's FNAME is longer than {MAX_FNAME} bytes or has no end")
    stream.read(end + 1, "a member's FNAME", FMT)
    return data[:end].decode("utf-8", "surrogateescape")


def _member(stream: Stream, inside: Inside) -> Generator[bytes, None, tuple[int, bytes | None]]:
    """The member's deflate data, inflated; then its trailer checked. Returns its size and,
    while it has inflated to nothing, its deflate bytes (None once longer than any of
    EMPTY_DEFLATE)."""
    d, crc, size, raw = inflater(STEP, FMT), 0, 0, b""
    try:
        while not d.eof:
            data = stream.peek(FEED)
            out, consumed = d.decompress(data)  # nothing left to read: what zlib still holds
            if not data and not out:
                raise Invalid("gzip: the file ends inside a member")
            if raw is not None:
                raw = raw + data[:consumed] if len(raw) + consumed <= _EMPTY_MOST and not out else None
            stream.skip(consumed, "", FMT)
            inside.spend(len(out), FMT)
            crc, size = zlib.crc32(out, crc), size + len(out)
            yield out
    finally:
        d.close()
    want_crc, want_size = struct.unpack("<II", stream.read(8, "a member's trailer", FMT))
    if (want_crc, want_size) != (crc, size & 0xFFFFFFFF):
        raise Invalid("gzip: a member's CRC-32 or length does not match its data")
    return size, raw
