"""ROOT files, record by record to the last byte: the file header ("root", version,
fBEGIN, fEND...), then from fBEGIN a chain of records (a key header naming its own
position, its length, class, name and title, then its payload) or free gaps (a negative
length; zeros or the remains of the record deleted there) that tiles the file exactly
up to fEND, and fEND is the end of the file. The header's pointers to the free-segment
and streamer-info records must land on records. Nothing may come before the header,
between records, or after fEND."""

from __future__ import annotations

import struct

from .stream import Invalid, Stream

FMT = "root"
MAX_RECORDS = 20_000_000
MAX_BEGIN = 4096  # ROOT writes its first record at 100 (kBEGIN)
_WINDOW = 1 << 16  # freed space is skipped this much at a time
_SMALL = struct.Struct(">4siiiiiiiBiii18s")  # fVersion < 1000000: 32-bit seeks
_LARGE = struct.Struct(">4siiqqiiiBiqi18s")
_KEY = struct.Struct(">ihiIhh")  # Nbytes, version, ObjLen, datime, KeyLen, cycle
# A TBasket's key goes on after the title: fVersion (2), fBufferSize, fNevBufSize,
# fNevBuf, fLast (4 each) and a flag byte. Every other class's key ends at the title.
_KEY_TAIL = {b"TBasket": 19}


def validate(stream: Stream) -> str:
    begin, end, seeks = _file_header(stream)
    starts = _records(stream, begin, end)
    for name, seek in seeks.items():
        if seek and seek not in starts:
            raise Invalid(f"root: the header's {name} ({seek}) is not the start of a record")
    stream.expect_end(FMT, "fEND, the end the header declares")
    return FMT


def _file_header(stream: Stream) -> tuple[int, int, dict[str, int]]:
    head = stream.peek(_LARGE.size)
    if not head.startswith(b"root"):
        raise Invalid("root: the file does not start with the ROOT signature")
    version = struct.unpack_from(">i", head, 4)[0]
    layout = _LARGE if version >= 1000000 else _SMALL
    fields = layout.unpack(stream.read(layout.size, "the file header", FMT))
    _, _, begin, end, seek_free, _, _, _, units, _, seek_info, _, _ = fields
    if units not in (4, 8) or not layout.size <= begin <= min(end, MAX_BEGIN):
        raise Invalid("root: the file header's units, fBEGIN or fEND are impossible")
    gap = stream.read(begin - layout.size, "the space between the header and fBEGIN", FMT)
    if gap.strip(b"\0"):
        raise Invalid("root: bytes between the file header and fBEGIN hold data")
    return begin, end, {"fSeekFree": seek_free, "fSeekInfo": seek_info}


def _records(stream: Stream, begin: int, end: int) -> set[int]:
    """The offsets of the records that tile [fBEGIN, fEND)."""
    starts: set[int] = set()
    while stream.pos < end:
        if len(starts) >= MAX_RECORDS:
            raise Invalid(f"root: more than {MAX_RECORDS} records")
        offset = stream.pos
        nbytes = struct.unpack(">i", stream.read(4, "a record's length", FMT))[0]
        if nbytes == 0:  # freed space that uproot left as zeros (ROOT marks it negative)
            _zero_gap(stream, end)
            continue
        if nbytes < 0:  # a free gap: its length, then zeros or the record deleted there
            _inside(offset, -nbytes, end, 4)
            _free_gap(stream, offset, -nbytes)
            continue
        starts.add(offset)
        _inside(offset, nbytes, end, _KEY.size)
        keylen = _key(stream, offset)
        if keylen > nbytes:
            raise Invalid(f"root: the record at {offset} has a key longer than the record")
        stream.skip(nbytes - (stream.pos - offset), "a record", FMT)
    return starts


def _free_gap(stream: Stream, offset: int, length: int) -> None:
    """A gap ROOT marked free (its length negated): what it deleted there stays, so the
    gap holds either the remains of that record (its key still names this offset, its
    key fits in the gap; the payload is a record's, left to the scanners like any
    other) or zeros. Anything else, a payload put in free space, is refused."""
    if _stale_key(stream.peek(_KEY.size + 4), offset, length):
        stream.skip(length - 4, "a free gap", FMT)
        return
    left = length - 4
    while left:
        data = stream.read(min(left, _WINDOW), "a free gap", FMT)
        if data.strip(b"\0"):
            first = stream.pos - len(data.lstrip(b"\0"))
            raise Invalid(
                f"root: the free gap at {offset} holds data that is not the record deleted "
                f"there (a non-zero byte at {first}; freed space is zeros or that record)"
            )
        left -= len(data)


def _stale_key(head: bytes, offset: int, length: int) -> bool:
    """Whether head (a gap's bytes after its length) is the key of the record deleted at
    offset: the key names that offset as its own and fits in the gap."""
    if len(head) < _KEY.size + 4:
        return False
    version, _, _, keylen, _ = struct.unpack_from(">hiIhh", head)
    wide = version > 1000
    if wide and len(head) < _KEY.size + 8:
        return False
    seek = struct.unpack_from(">q" if wide else ">i", head, _KEY.size - 4)[0]
    return seek == offset and _KEY.size <= keylen <= length


def _zero_gap(stream: Stream, end: int) -> None:
    """Skip the zeros of a freed space up to the next record. A record starts with its
    length, whose first bytes may be zero too: it is the first of the (at most 4) offsets
    up to the first non-zero byte whose key names that offset as its own."""
    while stream.pos < end:
        window = stream.peek(min(_WINDOW, end - stream.pos))
        zeros = len(window) - len(window.lstrip(b"\0"))
        if zeros == len(window):
            stream.skip(zeros, "freed space", FMT)
            continue
        stream.skip(max(zeros - 3, 0), "freed space", FMT)
        for _ in range(4):
            if _names_itself(stream):
                return
            if stream.peek(1) != b"\0":
                break
            stream.skip(1, "freed space", FMT)
        raise Invalid(f"root: freed space at {stream.pos} is followed by bytes that are not a record")


def _names_itself(stream: Stream) -> bool:
    """Whether a key header starts here and gives this offset as its own position."""
    head = stream.peek(_KEY.size + 8)
    if len(head) < _KEY.size + 4:
        return False
    nbytes, version = struct.unpack_from(">ih", head)
    if version > 1000:  # 64-bit seeks
        if len(head) < _KEY.size + 8:
            return False
        seek = struct.unpack_from(">q", head, _KEY.size)[0]
    else:
        seek = struct.unpack_from(">i", head, _KEY.size)[0]
    return nbytes > 0 and seek == stream.pos


def _inside(offset: int, length: int, end: int, least: int) -> None:
    if length < least or offset + length > end:
        raise Invalid(f"root: the record at {offset} ({length} bytes) does not fit before fEND ({end})")


def _key(stream: Stream, offset: int) -> int:
    """Read a key header after its Nbytes; returns its declared length (KeyLen)."""
    _, version, _, _, keylen, _ = _KEY.unpack(b"\0\0\0\0" + stream.read(_KEY.size - 4, "a key", FMT))
    wide = version > 1000
    seek_key = struct.unpack(">q" if wide else ">i", stream.read(8 if wide else 4, "a key", FMT))[0]
    stream.skip(8 if wide else 4, "a key", FMT)  # the parent directory's seek
    if seek_key != offset:
        raise Invalid(f"root: the record at {offset} says it is at {seek_key}")
    class_name = _string(stream, "class name", keep=True)
    _string(stream, "name")
    _string(stream, "title")
    stream.skip(_KEY_TAIL.get(class_name, 0), "a basket key", FMT)
    if stream.pos - offset != keylen:
        raise Invalid(f"root: the key at {offset} is {stream.pos - offset} bytes, not its KeyLen {keylen}")
    return keylen


def _string(stream: Stream, field: str, keep: bool = False) -> bytes:
    """A key's length-prefixed string (kept only when asked: class names are short)."""
    length = stream.read(1, f"a key's {field}", FMT)[0]
    if length == 255:
        length = struct.unpack(">i", stream.read(4, f"a key's {field}", FMT))[0]
    if keep and length <= 64:
        return bytes(stream.read(length, f"a key's {field}", FMT))
    stream.skip(length, f"a key's {field}", FMT)
    return b""
