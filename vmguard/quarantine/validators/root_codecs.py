"""A ROOT block's compressed bytes are the codec's stream exactly: an xz stream's header,
index and footer account for every byte (the index names its blocks' sizes), a zstd
frame's block headers lead to its end. Bytes after a codec's own end, inside the block,
would be read by no decoder (Python's lzma ignores what follows a stream). zlib and LZ4
streams end where only inflating finds: the blocks of a record that is no basket or blob
(a histogram's, a TTree's: small) are inflated, a zlib stream to its Adler-32 at the
block's end, an LZ4 block (root_lz4) to its end; a basket's or blob's are not (docs:
what exactness leaves)."""

from __future__ import annotations

import lzma
import struct
import zlib

from . import root_lz4
from .deflateblocks import inflater
from .root_model import FMT
from .stream import Invalid, Stream

_XZ_MAGIC = b"\xfd7zXZ\0"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_TAIL = 4096  # the bytes an xz stream's index and footer are read from


def check(stream: Stream, tag: bytes, length: int, inflated: int, offset: int, whole: bool) -> None:
    """Pass over one block's `length` compressed bytes, checked as its codec's stream;
    a zlib, LZ4 or xz block is inflated when `whole` (a record that is no basket or blob)."""
    if tag == b"XZ":
        block = stream.peek(length) if whole else b""
        _xz(stream, length, inflated, offset)
        if whole:
            _xz_decoded(block, inflated, offset)
    elif tag == b"ZS":
        _zstd(stream, length, inflated, offset)
    elif whole and tag == b"ZL":
        _zlib(stream.read(length, "a zlib stream", FMT), inflated, offset)
    elif whole and tag == b"L4":
        root_lz4.check(stream.read(length, "an LZ4 block", FMT), inflated, offset)
    else:
        stream.skip(length, "a compressed block", FMT)


def _broken(offset: int, codec: str, rule: str) -> Invalid:
    article = "an" if codec == "xz" else "a"
    return Invalid(f"root: {article} {codec} block of the record at {offset} {rule}")


def _zlib(block: bytes, inflated: int, offset: int) -> None:
    """One zlib stream (RFC 1950: no preset dictionary) that inflates to `inflated` bytes
    and ends, its Adler-32 the data's, at the block's end (the deflate padding bits zero,
    deflateblocks)."""
    if (
        len(block) < 6
        or block[0] & 0x0F != 8
        or block[0] >> 4 > 7
        or block[1] & 0x20
        or (block[0] << 8 | block[1]) % 31
    ):
        raise _broken(offset, "zlib", "does not start as a zlib stream without a dictionary")
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


def _xz_decoded(block: bytes, inflated: int, offset: int) -> None:
    """An xz stream decodes (its blocks' data and checks) to exactly `inflated` bytes."""
    decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    try:
        data = decoder.decompress(block, inflated + 1)
    except lzma.LZMAError as err:
        raise _broken(offset, "xz", f"does not decode ({err})") from None
    if not decoder.eof or decoder.unused_data or len(data) != inflated:
        raise _broken(offset, "xz", f"does not decode to its {inflated} bytes and end")


def _xz(stream: Stream, length: int, inflated: int, offset: int) -> None:
    if length < 32:
        raise _broken(offset, "xz", "is shorter than an xz stream")
    head = stream.read(12, "an xz stream header", FMT)
    stream.skip(max(length - 12 - _TAIL, 0), "an xz stream", FMT)
    tail = stream.read(min(length - 12, _TAIL), "an xz stream's index", FMT)
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


def _xz_index(index: bytes, offset: int) -> tuple[int, int]:
    """(the bytes of the blocks, their inflated size) an xz index lists."""
    if index[:1] != b"\0" or zlib.crc32(index[:-4]) != struct.unpack_from("<I", index, len(index) - 4)[0]:
        raise _broken(offset, "xz", "has an index that is not one (indicator, CRC32)")
    count, at = _varint(index, 1, offset)
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


def _zstd(stream: Stream, length: int, inflated: int, offset: int) -> None:
    """One zstd frame, no dictionary: its header, then blocks to the last, then its
    checksum if it has one, ending with the block."""
    end = stream.pos + length
    head = stream.read(min(length, 5), "a zstd frame header", FMT)
    if head[:4] != _ZSTD_MAGIC or len(head) < 5 or head[4] & 0x0B:  # reserved bit, a dictionary
        raise _broken(offset, "zstd", "is not one zstd frame without a dictionary")
    descriptor = head[4]
    single, checksum = descriptor & 0x20, descriptor & 0x04
    fcs = (1 if single else 0, 2, 4, 8)[descriptor >> 6]
    fields = stream.read((0 if single else 1) + fcs, "a zstd frame header", FMT)
    if fcs:
        size = int.from_bytes(fields[len(fields) - fcs :], "little") + (256 if fcs == 2 else 0)
        if size != inflated:
            raise _broken(offset, "zstd", f"says it inflates to {size} bytes, not {inflated}")
    last = False
    while not last:
        if end - stream.pos < 3:
            raise _broken(offset, "zstd", "ends inside its frame")
        header = int.from_bytes(stream.read(3, "a zstd block header", FMT), "little")
        last, kind, size = bool(header & 1), (header >> 1) & 3, header >> 3
        size = 1 if kind == 1 else size
        if kind == 3 or size > end - stream.pos:
            raise _broken(offset, "zstd", "has a block that is not one or runs past its end")
        stream.skip(size, "a zstd block", FMT)
    if end - stream.pos != (4 if checksum else 0):
        raise _broken(offset, "zstd", "holds bytes after its frame")
    stream.skip(end - stream.pos, "a zstd checksum", FMT)
