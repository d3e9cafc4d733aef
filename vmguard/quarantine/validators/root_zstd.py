"""A ROOT zstd block (ZipZSTD.cxx; uproot through cramjam): one zstd frame as libzstd's
one-shot compressor writes it, and, where it is decoded, exactly its content. The frame
header is pinned, as every field in it is one a writer could fill freely and a decoder
reads without returning: no dictionary, no content checksum (neither writer asks for
one), the unused and reserved bits zero, the content size in the fewest bytes that hold
it (libzstd's rule), and a window that libzstd would choose: a single segment (no window
byte) unless the window is smaller than the content, and then a power of two from 512 KiB
(the smallest window any level's table gives for content over 256 KiB) below the
content size. Block headers are walked to the frame's end; decoding (libzstd through
ctypes, loaded with the validators before the worker confines itself) checks the blocks'
contents and that they make exactly the block's inflated size."""

from __future__ import annotations

import ctypes

from .root_model import FMT
from .stream import Invalid, Stream

_MAGIC = b"\x28\xb5\x2f\xfd"
_FREE_BITS = 0x1F & ~0x20  # unused (0x10), reserved (0x08), checksum (0x04), dictionary (0x03)
_SINGLE = 0x20
_LEAST_WINDOW_LOG = 19  # libzstd's tables: no level has a smaller window for content > 256 KiB
_WINDOW_BASE = 10  # a Window_Descriptor's exponent counts from 2^10


def _load():  # noqa: ANN202 - the library or None
    try:
        lib = ctypes.CDLL("libzstd.so.1")
    except OSError:
        return None
    lib.ZSTD_decompress.restype = ctypes.c_size_t
    lib.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.ZSTD_isError.restype = ctypes.c_uint
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    return lib


_LIB = _load()


def broken(offset: int, rule: str) -> Invalid:
    return Invalid(f"root: a zstd block of the record at {offset} {rule}")


def fcs_code(size: int) -> int:
    """The Frame_Content_Size field's size code libzstd writes for `size` bytes."""
    return (size >= 256) + (size >= 65536 + 256) + (size >= 0xFFFFFFFF)


def walk(stream: Stream, length: int, inflated: int, offset: int) -> None:
    """Pass over one frame of `length` bytes: its header pinned, then blocks to the last,
    ending with the block."""
    end = stream.pos + length
    head = stream.read(min(length, 5), "a zstd frame header", FMT)
    if head[:4] != _MAGIC or len(head) < 5:
        raise broken(offset, "is not a zstd frame")
    _descriptor(head[4], inflated, offset)
    single, code = head[4] & _SINGLE, head[4] >> 6
    fields = stream.read((0 if single else 1) + (1, 2, 4, 8)[code], "a zstd frame header", FMT)
    if not single:
        _window(fields[0], inflated, offset)
    size = int.from_bytes(fields[0 if single else 1 :], "little") + (256 if code == 1 else 0)
    if size != inflated:
        raise broken(offset, f"says it inflates to {size} bytes, not {inflated}")
    _blocks(stream, end, offset)


def _descriptor(descriptor: int, inflated: int, offset: int) -> None:
    if descriptor & _FREE_BITS or descriptor >> 6 != fcs_code(inflated):
        raise broken(
            offset,
            f"has frame header descriptor {descriptor:#04x}: ROOT and uproot (libzstd) write no dictionary, "
            f"checksum or reserved bit, the content size in the fewest bytes (code {fcs_code(inflated)})",
        )


def _window(byte: int, inflated: int, offset: int) -> None:
    """A Window_Descriptor (no single segment): libzstd writes a power of two (mantissa 0)
    and only when that window is smaller than the content."""
    log = (byte >> 3) + _WINDOW_BASE
    if byte & 7 or log < _LEAST_WINDOW_LOG or 1 << log >= inflated:
        raise broken(
            offset,
            f"has Window_Descriptor {byte:#04x}: libzstd writes a power of two from 2^{_LEAST_WINDOW_LOG} "
            "smaller than the content (else a single segment)",
        )


def _blocks(stream: Stream, end: int, offset: int) -> None:
    last = False
    while not last:
        if end - stream.pos < 3:
            raise broken(offset, "ends inside its frame")
        header = int.from_bytes(stream.read(3, "a zstd block header", FMT), "little")
        last, kind, size = bool(header & 1), (header >> 1) & 3, header >> 3
        size = 1 if kind == 1 else size
        if kind == 3 or size > end - stream.pos:
            raise broken(offset, "has a block that is not one or runs past its end")
        stream.skip(size, "a zstd block", FMT)
    if end != stream.pos:
        raise broken(offset, "holds bytes after its frame")


def decode(frame: bytes, inflated: int, offset: int) -> bytes:
    """What the frame (walked: one frame, ending with the block) decodes to: exactly
    `inflated` bytes."""
    if _LIB is None:
        raise broken(offset, "cannot be decoded: libzstd.so.1 is not installed (install libzstd)")
    out = ctypes.create_string_buffer(max(inflated, 1))
    made = _LIB.ZSTD_decompress(out, inflated, frame, len(frame))
    if _LIB.ZSTD_isError(made) or made != inflated:
        raise broken(offset, f"does not decode to its {inflated} bytes")
    return ctypes.string_at(out, inflated)
