"""ROOT files, every byte accounted for. As the bytes stream by: the file header ("root",
version, fBEGIN, fEND...; its fields pinned to what the writer writes), then from fBEGIN
records (a key header naming its own position, its length, class, name and title, then
its payload) and the free space between them, up to fEND, the end of the file. A
compressed payload is its blocks exactly (each block's header gives its size; the blocks
fill the payload and inflate to the key's object length, all but the last block 16 MiB - 1
bytes: root_codecs.split_as_written); a basket's and a blob's key
fields, and an uncompressed basket's offsets array, are the writers' (root_data.py). The
directory structure is resolved at the end (root_tables.py): the FreeSegments record
lists the free space exactly, every live record is in its directory's keys list with a
key equal byte for byte to its own, the directories' UUIDs and reserved bytes are
pinned, and what lies in free space is zeros, a whole record the file's history explains,
the remains of the metadata the writer moved (root_remains.py) or the tail of a deleted
record written over, the end of a live one (root_tails.py); then each basket
belongs to its tree (root_data.py) and each RNTuple's anchor, envelopes and blobs are
checked (root_rntuple.py)."""

from __future__ import annotations

import re
import struct
from array import array

from . import (
    inside,
    root_codecs,
    root_data,
    root_dates,
    root_free,
    root_remains,
    root_rntuple,
    root_slots,
    root_strings,
    root_tables,
    root_tails,
    terminal,
)
from .root_codecs import ALGORITHMS, METHODS
from .root_model import FMT, KEY, Header, Record, RootWalk, check_datime, key_fields, read_string
from .stream import Invalid, Stream

MAX_RECORDS = 20_000_000
MAX_BEGIN = 4096  # ROOT writes its first record at 100 (kBEGIN)
MAX_KEPT = 64 << 20  # metadata and free space kept for the end's checks
_WINDOW = 1 << 16  # free space is searched this much at a time
_SMALL = struct.Struct(">4siiiiiiiBiii18s")  # fVersion < 1000000: 32-bit seeks
_LARGE = struct.Struct(">4siiqqiiiBiqi18s")
_BLOCK = struct.Struct("<2sB3s3s")  # algorithm, method, compressed and inflated size (24-bit)
# A TBasket's key goes on after the title: fVersion (2), fBufferSize, fNevBufSize,
# fNevBuf, fLast (4 each) and a flag byte. Every other class's key ends at the title.
_BASKET = struct.Struct(">hiiiiB")
_BASKET_IO = struct.Struct(">hiiBiiB")  # fNevBufSize negated, then the fIOBits byte
_GENERATE_OFFSET_MAP = 1  # TBasket::EIOBits::kGenerateOffsetMap, the only bit ROOT reads
_OFFSETS_GENERATED = 80  # the key's flag when the reader rebuilds the offsets array
# Records of data that no keys list names: a TTree's baskets, an RNTuple's blobs (its
# pages, header and footer; uproot writes an RNTuple for f[name] = {...}).
DATA = (b"TBasket", b"RBlob")
# The metadata whose payload the end's checks read (directories, keys lists, FreeSegments,
# the StreamerInfo) or free space may be the remains of (those, RNTuple anchors, a TTree
# uproot moved when its basket arrays filled: uproot writes a TTree uncompressed).
KEPT = (b"TFile", b"TDirectory", b"TDirectoryFile", b"TList", b"ROOT::RNTuple", b"TTree")
# An RNTuple envelope's preamble (little-endian): its type (header 1, footer 2, page list
# 3) in 16 bits, its length in 48.
_ENVELOPE_TYPES = (1, 2, 3)
_ENVELOPE_LEAST = 16  # its preamble and its checksum
_MAX_BUFFER = 1 << 30  # a basket's fBufferSize: ROOT's buffers stop at 1 GiB
_MAX_COUNTS = 1 << 28  # an offsets array's capacity in a basket of at most 1 GiB
_KEY_VERSION = re.compile(b"\x00\x04|\x03\xec")  # a key's version: 4, or 1004 (64-bit seeks)


def validate(stream: Stream) -> str:
    walk = RootWalk(_file_header(stream), array("q"), {}, {})
    _records(stream, walk)
    beyond = stream.peek(root_free.BEYOND_END + 1)
    if len(beyond) <= root_free.BEYOND_END:  # what a FreeSegments record may leave: checked below
        stream.skip(len(beyond), "bytes after fEND", FMT)
    stream.expect_end(FMT, "fEND, the end the header declares")
    free = root_tables.resolve(walk)
    for offset, error in walk.layouts.items():
        if offset not in free:
            raise error
    root_dates.check(walk, free)  # before any rule dates the file by them
    root_free.beyond_end(walk, beyond)
    baskets = root_data.check(walk, free)  # a basket's own rules first (its key, its tree)
    root_slots.check(walk, free)  # then a live tree's basket arrays, every slot
    root_remains.check(walk, free, baskets)
    root_rntuple.check(walk, free)
    return FMT


def _file_header(stream: Stream) -> Header:
    head = stream.peek(_LARGE.size)
    if not head.startswith(b"root"):
        raise Invalid("root: the file does not start with the ROOT signature")
    version = struct.unpack_from(">i", head, 4)[0]
    layout = _LARGE if version >= 1000000 else _SMALL
    fields = layout.unpack(stream.read(layout.size, "the file header", FMT))
    (
        _,
        _,
        begin,
        end,
        seek_free,
        nbytes_free,
        nfree,
        nbytes_name,
        units,
        compress,
        seek_info,
        nbytes_info,
        uuid,
    ) = fields
    if units != (8 if layout is _LARGE else 4) or not layout.size <= begin <= min(end, MAX_BEGIN):
        raise Invalid("root: the file header's units, fBEGIN or fEND are impossible")
    gap = stream.read(begin - layout.size, "the space between the header and fBEGIN", FMT)
    if gap.strip(b"\0"):
        raise Invalid("root: bytes between the file header and fBEGIN hold data")
    return Header(
        begin, end, seek_free, nbytes_free, nfree, nbytes_name, compress, seek_info, nbytes_info, uuid
    )


def _records(stream: Stream, walk: RootWalk) -> None:
    """The records and free space that tile [fBEGIN, fEND), each start kept in order."""
    end = walk.header.end
    while stream.pos < end:
        if len(walk.starts) >= MAX_RECORDS:
            raise Invalid(f"root: more than {MAX_RECORDS} records")
        walk.starts.append(stream.pos)
        if _names_itself(stream.peek(KEY.size + 8), stream.pos, end):
            _record(stream, walk)
        elif stream.pos == walk.header.begin:
            raise Invalid(f"root: the record at fBEGIN ({stream.pos}) is no key naming its own position")
        else:
            _free(stream, walk)
        if walk.kept > MAX_KEPT:
            raise Invalid(f"root: more than {MAX_KEPT >> 20} MiB of metadata and free space (not supported)")


def _names_itself(head: bytes, offset: int, end: int) -> bool:
    """Whether a key starts here: a positive length that fits before fEND, version 4 or
    1004, a key length at least the header's, and this offset as its own position."""
    if len(head) < KEY.size + 4:
        return False
    nbytes, version, _, _, keylen, _ = KEY.unpack_from(head)
    wide = version == 1004
    if version not in (4, 1004) or (wide and len(head) < KEY.size + 8):
        return False
    seek = struct.unpack_from(">q" if wide else ">i", head, KEY.size)[0]
    least = KEY.size + (16 if wide else 8) + 3
    return seek == offset and 0 < nbytes <= end - offset and least <= keylen <= nbytes


def _free(stream: Stream, walk: RootWalk) -> None:
    """Bytes that are no record, up to the next record or fEND: free space, which the
    FreeSegments record must list (kept for root_tables and root_remains). uproot writes
    nothing in the space it frees; ROOT negates the length of a record it deletes (so
    that record's key does not start a record here)."""
    start, end = stream.pos, walk.header.end
    parts: list[bytes] = []
    while stream.pos < end:
        window = stream.peek(min(_WINDOW, end - stream.pos) + KEY.size + 8)
        found = _next_key(window, stream.pos, end, first=0 if parts else 1)
        take = found if found is not None else min(_WINDOW, end - stream.pos)
        parts.append(stream.read(take, "free space", FMT))
        walk.kept += take
        if found is not None or walk.kept > MAX_KEPT:
            break
    walk.gaps[start] = b"".join(parts)


def _next_key(window: bytes, base: int, end: int, first: int) -> int | None:
    """The first offset in window (from first, before _WINDOW) where a key starts."""
    for match in _KEY_VERSION.finditer(window, first + 4):
        at = match.start() - 4
        if at >= _WINDOW:
            return None
        if at >= first and _names_itself(window[at : at + KEY.size + 8], base + at, end):
            return at
    return None


def _record(stream: Stream, walk: RootWalk) -> None:
    offset = stream.pos
    nbytes, version, objlen, datime, keylen, _ = KEY.unpack(stream.peek(KEY.size))
    check_datime(datime, f"the key at {offset}")  # live or in free space: every rule reads a date
    key = stream.read(keylen, "a key", FMT)
    klass, names, tail = _key_strings(key, offset, version == 1004)
    last = _data_key(walk, key, klass, names, tail)
    size = nbytes - keylen
    if klass not in DATA and (size != objlen or klass not in KEPT):
        root_tails.keep(walk, offset, stream, size)  # what a deleted record's tail may be the end of
    if size != objlen:
        _spend(walk, objlen, stream.pos)
        if klass in root_data.TREES:  # kept: its branches and baskets are checked at the end
            walk.data.packed[offset] = stream.peek(size)
            walk.kept += size
        first = _blocks(stream, offset, size, objlen)
        _strings(walk, key, klass, names, first)
        body = None
    elif last is not None:  # an uncompressed basket's entries and offsets array
        stream.skip(last[1] - keylen, "a basket's entries", FMT)
        root_data.offsets(stream, offset, keylen, *last)
        body = None
    elif klass == b"RBlob" and _envelope(stream.peek(8), size):
        walk.envelopes[offset] = (stream.pos, stream.read(size, "an RNTuple envelope", FMT))
        walk.kept += size
        body = None
    elif klass not in KEPT:  # data: a basket's, a histogram's...
        if root_strings.reads(klass, names[0]):
            _strings(walk, key, klass, names, stream.peek(min(size, root_codecs.FULL_BLOCK)))
        stream.skip(size, "a record's payload", FMT)
        body = None
    else:  # uncompressed metadata: kept for the directory checks and the free space's
        body = stream.read(size, "a record", FMT)
        walk.kept += size
        _strings(walk, key, klass, names, body)
    if klass not in DATA:
        walk.records[offset] = Record(offset, nbytes, key, klass, body)
        walk.kept += keylen


def _data_key(
    walk: RootWalk, key: bytes, klass: bytes, names: tuple[bytes, bytes], tail: bytes
) -> tuple[int, int] | None:
    """A key's bytes after its title, and a basket's or blob's identity (root_data);
    returns (fNevBuf, fLast) of a basket followed by an offsets array."""
    offset, keylen = walk.starts[-1], len(key)
    if klass != b"TBasket" and tail:
        raise Invalid(f"root: the key at {offset} is {keylen - len(tail)} bytes, not its KeyLen {keylen}")
    _, parent, cycle = key_fields(key)
    fields = (cycle, parent)
    if klass == b"RBlob":
        root_data.blob_key(offset, fields, names)
        walk.data.blobs.extend((offset, offset + keylen))
    if klass != b"TBasket":
        return None
    count, last, offsets = _basket_tail(tail, offset, keylen, struct.unpack_from(">i", key, 6)[0])
    nbytes, _, _, datime = KEY.unpack_from(key)[:4]
    root_data.basket_key(walk.data, offset, fields, names, walk.header.begin, (datime, nbytes, count))
    return (count, last) if offsets else None


def _strings(walk: RootWalk, key: bytes, klass: bytes, names: tuple[bytes, bytes], payload: bytes) -> None:
    """The strings a reader prints from the payload of the record just read (its first
    block's, where it is compressed; root_strings)."""
    offset, objlen = walk.starts[-1], KEY.unpack_from(key)[2]
    if offset == walk.header.begin:
        root_strings.top_directory(payload, offset)
    elif root_strings.reads(klass, names[0]):
        try:
            root_strings.check(klass, names, payload, (offset, len(key)), whole=len(payload) == objlen)
        except root_strings.ObjectLayout as error:  # refused if live (a deleted record's is free space's)
            walk.layouts[offset] = error


def _spend(walk: RootWalk, objlen: int, pos: int) -> None:
    """Count an object the walk inflates (every compressed record, baskets and blobs
    too): all of them at most inside.RATIO times the bytes read so far, plus
    inside.FLOOR (a bomb stops before it is inflated)."""
    walk.inflated += objlen
    if walk.inflated > inside.RATIO * pos + inside.FLOOR:
        raise Invalid(
            f"root: its objects inflate to more than {inside.RATIO} times the file's size "
            "(a compression bomb)"
        )


def _envelope(head: bytes, size: int) -> bool:
    """Whether an uncompressed blob of `size` bytes starting with head is an RNTuple
    envelope (uproot writes them uncompressed): kept, as free space may hold the remains of
    an older one (uproot moves the footer on each extend)."""
    preamble = int.from_bytes(head[:8], "little")
    return size >= _ENVELOPE_LEAST and preamble & 0xFFFF in _ENVELOPE_TYPES and preamble >> 16 == size


def _key_strings(key: bytes, offset: int, wide: bool) -> tuple[bytes, tuple[bytes, bytes], bytes]:
    """A key's class name, (name, title) and the bytes after its title."""
    at = KEY.size + (16 if wide else 8)
    strings = []
    for part in ("class name", "name", "title"):
        text, at = read_string(key, at, f"the key at {offset}")
        terminal.check(text, f"the {part} of the key at {offset}", "root")  # f->ls() prints them raw
        strings.append(text)
    return strings[0], (strings[1], strings[2]), key[at:]


def _basket_tail(tail: bytes, offset: int, keylen: int, objlen: int) -> tuple[int, int, bool]:
    """A basket key's 19 or 20 bytes after its title (no reader uses its buffer size, flag
    or counts), as TBasket::Streamer writes them: version 2 (ROOT 5) or 3, fBufferSize,
    fNevBufSize (negated and followed by the fIOBits byte when the branch has I/O bits:
    ROOT 6.12+, kGenerateOffsetMap the only one), fNevBuf, fLast where the entries end
    (after the key), a flag byte: 0, or 80 when the reader regenerates the offsets (no
    array). The counts are the entries': fixed-size entries fill the object (fNevBuf x
    fNevBufSize); else an offsets array of fNevBuf + 1 follows them, fNevBufSize its
    capacity (uproot: fNevBuf + 2, or 1000 for strings; ROOT: at least fNevBuf + 1, doubled
    as it grows, from a length the job may set), or with flag 80 nothing follows them.
    fBufferSize is the branch's basket size, which the job sets (uproot: 32000): bounded,
    not pinned ("what exactness leaves"). Returns fNevBuf, fLast and whether an offsets
    array follows the entries."""
    version, buffer_size, size, count, last, flag, io = _basket_fields(tail, offset)
    fixed = last == keylen + objlen and count * size == objlen and flag == 0
    capacity = size == 1000 or count + 1 <= size <= _MAX_COUNTS
    offsets = objlen == last - keylen + 4 + 4 * (count + 1) and capacity and flag == 0
    generated = io and objlen == last - keylen and count > 0 and capacity and flag == _OFFSETS_GENERATED
    if version not in (2, 3) or not 0 < buffer_size <= _MAX_BUFFER or not (fixed or offsets or generated):
        raise Invalid(
            f"root: the basket at {offset} has fVersion {version}, fBufferSize {buffer_size}, flag {flag}, "
            f"fNevBufSize {size}, fNevBuf {count}, fLast {last}: ROOT and uproot write 2 or 3, a basket "
            f"size up to {_MAX_BUFFER}, 0 (80: offsets regenerated) and the counts of its entries"
        )
    return count, last, offsets


def _basket_fields(tail: bytes, offset: int) -> tuple[int, int, int, int, int, int, bool]:
    """(fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast, flag, whether it has I/O bits)
    of either form; the I/O bits form is version 3 with kGenerateOffsetMap set."""
    if len(tail) == _BASKET_IO.size:
        version, buffer_size, negated, io_bits, count, last, flag = _BASKET_IO.unpack(tail)
        if io_bits == _GENERATE_OFFSET_MAP and negated < 0 and version == 3:
            return version, buffer_size, -negated, count, last, flag, True
        raise Invalid(
            f"root: the basket at {offset} has fIOBits {io_bits} after fNevBufSize {negated}, fVersion "
            f"{version}: ROOT writes kGenerateOffsetMap (1) after a negated size, in version 3"
        )
    if len(tail) == _BASKET.size:
        version, buffer_size, size, count, last, flag = _BASKET.unpack(tail)
        return version, buffer_size, size, count, last, flag, False
    sizes = f"{_BASKET.size} or {_BASKET_IO.size}"
    raise Invalid(f"root: the basket key at {offset} is not {sizes} bytes after its title")


def _blocks(stream: Stream, offset: int, size: int, objlen: int) -> bytes:
    """A compressed payload: blocks, each a 9-byte header and the bytes it declares, that
    fill the payload exactly and inflate to objlen, in one algorithm; each block is its
    codec's stream exactly, inflated (root_codecs). Returns the first block inflated."""
    end, inflated, algorithm, sizes, first = stream.pos + size, 0, None, [], b""
    while stream.pos < end:
        if end - stream.pos < _BLOCK.size:
            raise Invalid(f"root: the record at {offset} ends inside a block header")
        tag, method, packed, full = _BLOCK.unpack(stream.read(_BLOCK.size, "a block header", FMT))
        if tag not in ALGORITHMS or algorithm not in (None, ALGORITHMS[tag]):
            raise Invalid(f"root: the record at {offset} has a block of algorithm {tag!r}")
        if method != METHODS[tag]:
            raise Invalid(
                f"root: a {tag.decode()} block of the record at {offset} has method byte {method}, "
                f"not {METHODS[tag]} as ROOT and uproot write it"
            )
        algorithm = ALGORITHMS[tag]
        length = int.from_bytes(packed, "little")
        if length > end - stream.pos:
            raise Invalid(f"root: a block of the record at {offset} runs past the record's end")
        sizes.append(int.from_bytes(full, "little"))
        block = root_codecs.check(stream, tag, length, sizes[-1], offset)
        first = first or block
        inflated += sizes[-1]
    root_codecs.split_as_written(sizes, offset)
    if inflated != objlen or algorithm is None:
        raise Invalid(
            f"root: the blocks of the record at {offset} inflate to {inflated} bytes, "
            f"not its object length {objlen}"
        )
    return first
