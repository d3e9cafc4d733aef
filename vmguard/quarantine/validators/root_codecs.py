"""A ROOT block's compressed bytes are the codec's stream exactly, its headers pinned to
what ROOT and uproot write: a zlib stream's header 0x78 (a 32 KiB window, no dictionary;
the level bits are the level's), an xz stream's check CRC32 (ROOT) or CRC64 (Python's
lzma, cramjam), one block whose header lists LZMA2 alone (no BCJ, no delta filter, no
sizes, its padding zero), whose header, index and footer account for every byte (the
index names its block's sizes), a zstd frame as libzstd writes it (root_zstd). Every
block of every record, baskets and blobs too, is inflated to its last byte: only
inflating finds where a zlib or LZ4 stream ends (a block could hold bytes after it, or
no stream at all), and only decoding checks an xz or zstd block's content (docs: what
exactness leaves, for the cost)."""

from __future__ import annotations

import lzma
import struct
import zlib

from . import root_lz4, root_zstd
from .deflateblocks import inflater
from .root_model import FMT
from .stream import Invalid, Stream

_XZ_MAGIC = b"\xfd7zXZ\0"
_XZ_CHECKS = (b"\0\x01", b"\0\x04")  # a stream's check: CRC32 (ROOT), CRC64 (Python)
_XZ_LZMA2 = b"\x02\x00\x21\x01"  # block header: 12 bytes, one filter, no sizes; LZMA2, 1 property byte
# LZMA2's dictionary byte for the presets 0-9 (256 KiB to 64 MiB): liblzma's easy
# encoder (Python's lzma, cramjam, ROOT before 6.16 or so) writes the level's.
_XZ_PRESET_DICTIONARIES = frozenset((12, 16, 18, 20, 22, 24, 26, 28))
_XZ_LEAST_DICTIONARY = 4096  # LZMA_DICT_SIZE_MIN
_ZLIB_CMF = 0x78  # deflate with a 32 KiB window: zlib's deflateInit and compress, any level
_TAIL = 4096  # the bytes an xz stream's index and footer are read from
_PIECE = 1 << 20
ALGORITHMS = {b"ZL": 1, b"XZ": 2, b"L4": 4, b"ZS": 5}  # a block's tag -> ROOT's algorithm number
# A block's method byte as ROOT (RZip.cxx, ZipLZMA.c, ZipLZ4.cxx, ZipZSTD.cxx) and uproot
# write it: zlib's Z_DEFLATED, 0, the LZ4 and zstd major versions (ROOT's reader refuses
# another for LZ4 and zstd; no reader reads it for zlib and xz).
METHODS = {b"ZL": 8, b"XZ": 0, b"L4": 1, b"ZS": 1}
# ROOT (kMAXZIPBUF: TKey, TBasket, RNTuple's R__zipMultipleAlgorithm) and uproot
# (compression.compress: _3BYTE_MAX) cut a payload into blocks of 16 MiB - 1 bytes, the
# last shorter: where blocks end is no choice (session 37, attack m root: an older copy cut
# into blocks of chosen lengths carried 6 bits a block).
FULL_BLOCK = (1 << 24) - 1


def split_as_written(sizes: list[int], offset: int) -> None:
    """Refuse blocks whose inflated sizes are not ROOT's split: all but the last full, none
    empty (a payload of k x 16 MiB - 1 bytes ends with a full block: an empty block after it
    is one no reader reads, its header and stream free; session 38, attack n root)."""
    if any(size != FULL_BLOCK for size in sizes[:-1]) or 0 in sizes[-1:]:
        raise Invalid(
            f"root: the blocks of the record at {offset} inflate to {sizes[:4]}... bytes: ROOT and "
            f"uproot cut a payload into blocks of {FULL_BLOCK} bytes, only the last shorter, none empty"
        )


def check(stream: Stream, tag: bytes, length: int, inflated: int, offset: int) -> bytes:
    """Take one block's `length` compressed bytes: its codec's stream exactly, decoded to
    its `inflated` bytes (returned)."""
    block = _take(stream, length)
    if tag == b"XZ":
        _xz(block, inflated, offset)
        return _xz_decoded(block, inflated, offset)
    if tag == b"ZS":
        root_zstd.walk(Stream(iter((block,))), length, inflated, offset)
        return root_zstd.decode(block, inflated, offset)
    if tag == b"ZL":
        _zlib_header(block[:2], offset)
        return _zlib(block, inflated, offset)
    return root_lz4.check(block, inflated, offset)


def _take(stream: Stream, length: int) -> bytes:
    """`length` bytes (a block: at most 16 MiB), read a MiB at a time: a peek of all of
    them would join the chunks so far again at each chunk."""
    parts = []
    while length > 0:
        parts.append(stream.read(min(length, _PIECE), "a compressed block", FMT))
        length -= len(parts[-1])
    return b"".join(parts)


def _broken(offset: int, codec: str, rule: str) -> Invalid:
    article = "an" if codec == "xz" else "a"
    return Invalid(f"root: {article} {codec} block of the record at {offset} {rule}")


def _zlib_header(head: bytes, offset: int) -> None:
    """RFC 1950's two bytes as zlib writes them at any level: 0x78 (deflate, a 32 KiB
    window: the 3 bits of another are free), no preset dictionary, the check bits right
    (the 2 level bits are left: docs, what exactness leaves)."""
    if len(head) < 2 or head[0] != _ZLIB_CMF or head[1] & 0x20 or (head[0] << 8 | head[1]) % 31:
        raise _broken(
            offset,
            "zlib",
            f"does not start as zlib writes a stream ({head.hex()}: 0x78, a 32 KiB window, no dictionary)",
        )


def _zlib(block: bytes, inflated: int, offset: int) -> bytes:
    """One zlib stream (RFC 1950: no preset dictionary) that inflates to `inflated` bytes
    (returned) and ends, its Adler-32 the data's, at the block's end (the deflate padding
    bits zero, deflateblocks)."""
    if len(block) < 6:
        raise _broken(offset, "zlib", "is shorter than a zlib stream")
    unpack = inflater(inflated + 1, FMT)
    try:
        data, used = unpack.decompress(block[2:])
        ended = unpack.eof
    finally:
        unpack.close()
    if not ended or len(data) != inflated or 2 + used + 4 != len(block):
        raise _broken(offset, "zlib", f"is not one zlib stream of {inflated} bytes ending at the block's end")
    if zlib.adler32(data) != struct.unpack_from(">I", block, len(block) - 4)[0]:
        raise _broken(offset, "zlib", "has an Adler-32 that is not its data's")
    return data


def _xz_decoded(block: bytes, inflated: int, offset: int) -> bytes:
    """What an xz stream decodes to (its blocks' data and checks): exactly `inflated` bytes."""
    decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    try:
        data = decoder.decompress(block, inflated + 1)
    except lzma.LZMAError as err:
        raise _broken(offset, "xz", f"does not decode ({err})") from None
    if not decoder.eof or decoder.unused_data or len(data) != inflated:
        raise _broken(offset, "xz", f"does not decode to its {inflated} bytes and end")
    return data


def _xz(block: bytes, inflated: int, offset: int) -> None:
    """The stream's header, its block's header, index and footer account for each byte."""
    length = len(block)
    if length < 32:
        raise _broken(offset, "xz", "is shorter than an xz stream")
    _xz_block_header(block[:24], inflated, offset)
    head, tail = block[:12], block[max(12, length - _TAIL) :]
    footer = tail[-12:]
    if head[:6] != _XZ_MAGIC or footer[10:] != b"YZ" or head[6:8] != footer[8:10]:
        raise _broken(offset, "xz", "does not start and end as an xz stream")
    if (
        zlib.crc32(head[6:8]) != struct.unpack_from("<I", head, 8)[0]
        or zlib.crc32(footer[4:10]) != struct.unpack_from("<I", footer)[0]
    ):
        raise _broken(offset, "xz", "has an xz header or footer whose CRC32 is not theirs")
    index_size = (struct.unpack_from("<I", footer, 4)[0] + 1) * 4
    if index_size > len(tail) - 12:
        raise _broken(offset, "xz", f"has an index of more than {_TAIL} bytes (not supported)")
    index = tail[-12 - index_size : -12]
    blocks, total = _xz_index(index, offset)
    if 12 + blocks + index_size + 12 != length or total != inflated:
        raise _broken(
            offset, "xz", "is not its stream exactly (its index, header and footer account for each byte)"
        )


def _xz_block_header(head: bytes, inflated: int, offset: int) -> None:
    """The stream's check and its block header as liblzma writes them for ROOT (CRC32)
    and Python's lzma.compress (CRC64): LZMA2 alone (a BCJ or delta filter's properties
    would be bytes no reader returns), no sizes, a dictionary byte of a preset or ROOT's
    (ZipLZMA.c: a quarter of the input, at least 4 KiB, when that is less than the
    preset's), zero padding, the header's CRC32."""
    check, block = head[6:8], head[12:24]
    reduced = _dictionary_byte(max(inflated // 4, _XZ_LEAST_DICTIONARY))
    if (
        check not in _XZ_CHECKS
        or block[:4] != _XZ_LZMA2
        or block[4] not in _XZ_PRESET_DICTIONARIES | {reduced}
        or block[5:8] != b"\0\0\0"
        or zlib.crc32(block[:8]) != struct.unpack_from("<I", block, 8)[0]
    ):
        raise _broken(
            offset,
            "xz",
            f"has stream flags {check.hex()} and block header {block.hex()}: ROOT and uproot write a "
            f"CRC32 or CRC64 check and one LZMA2 filter alone, no sizes, a preset's dictionary or {reduced}",
        )


def _dictionary_byte(size: int) -> int:
    """LZMA2's property byte for a dictionary of `size` bytes, as liblzma rounds it up:
    byte b stands for 2^(b/2 + 12), or 3 x 2^(b/2 + 11) when b is odd."""
    byte = 0
    while (2 | byte & 1) << (byte // 2 + 11) < size and byte < 40:
        byte += 1
    return byte


def _xz_index(index: bytes, offset: int) -> tuple[int, int]:
    """(the bytes of the blocks, their inflated size) an xz index lists."""
    if index[:1] != b"\0" or zlib.crc32(index[:-4]) != struct.unpack_from("<I", index, len(index) - 4)[0]:
        raise _broken(offset, "xz", "has an index that is not one (indicator, CRC32)")
    count, at = _varint(index, 1, offset)
    if count != 1:
        raise _broken(offset, "xz", f"has {count} blocks in its stream: ROOT and uproot write one")
    blocks = total = 0
    for _ in range(count):
        unpadded, at = _varint(index, at, offset)
        size, at = _varint(index, at, offset)
        blocks, total = blocks + (unpadded + 3) // 4 * 4, total + size
    if index[at:-4].strip(b"\0") or len(index[at:-4]) > 3:  # zeros up to a multiple of 4
        raise _broken(offset, "xz", "has bytes in its index after its records that are not its padding")
    return blocks, total


def _varint(data: bytes, at: int, offset: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 63:
        byte, at = data[at], at + 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise _broken(offset, "xz", "has an index number that does not end")


def inflated(packed: bytes, offset: int, limit: int) -> bytes | None:
    """A payload of blocks (ROOT's 9-byte headers, each method byte its codec's, one
    algorithm) that fill it exactly, each its codec's stream exactly (check), inflated;
    None for anything else or past `limit` bytes."""
    at, out, tags, sizes = 0, [], set(), []
    while at < len(packed):
        tag, method = packed[at : at + 2], packed[at + 2 : at + 3]
        length = int.from_bytes(packed[at + 3 : at + 6], "little")
        size = int.from_bytes(packed[at + 6 : at + 9], "little")
        limit -= size
        tags.add(tag)
        sizes.append(size)
        if tag not in METHODS or method[0] != METHODS[tag] or len(tags) > 1:
            return None
        if at + 9 + length > len(packed) or limit < 0:
            return None
        try:
            out.append(check(Stream(iter((packed[at + 9 : at + 9 + length],))), tag, length, size, offset))
        except Invalid:
            return None
        at += 9 + length
    try:
        split_as_written(sizes, offset)
    except Invalid:
        return None
    return b"".join(out) if out else None
