"""Raw inflate that stops at every deflate block boundary, so that each stored block's
padding bits (between its 3-bit header and the next byte), and those after the last
block, can be checked: zlib writes
zeros there and ignores them when it reads, so anything else is a free channel (an
empty stored block costs 5 bytes and carries up to 7 bits). Python's zlib does not
expose Z_BLOCK, so this is zlib's own inflate() through ctypes (libz is loaded when
the validators are, before the worker confines itself). Without libz, None: the
caller inflates with Python's zlib and the padding goes unchecked.
"""

from __future__ import annotations

import ctypes
import zlib

from .stream import Invalid

_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR, _Z_BLOCK = 0, 1, -5, 5
_AT_BOUNDARY = 128  # data_type: inflate() stopped right after a block's end-of-block code
_LAST_SEEN = 64  # data_type: that block was marked the last one


class _ZStream(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes' own declaration
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


def _load():  # noqa: ANN202 - the library or None
    try:
        lib = ctypes.CDLL("libz.so.1")
    except OSError:
        return None
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.inflateInit2_.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.inflate.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int]
    lib.inflateEnd.argtypes = [ctypes.POINTER(_ZStream)]
    return lib


_LIB = _load()


def _stored_padding(unused: int, last: int, following: int | None, fmt: str) -> None:
    """The block whose header starts at the top `unused` bits of byte `last` (then in
    `following`): if it is stored, the bits after its header to the byte's end are 0."""
    bits = (last >> (8 - unused) if unused else 0) | ((following or 0) << unused)
    if (bits >> 1) & 3:
        return  # a Huffman block: no padding
    padding = last >> (8 - unused + 3) if unused >= 3 else (following or 0) >> (3 - unused)
    if padding:
        raise Invalid(f"{fmt}: a stored deflate block's padding bits are not zero (zlib writes zeros)")


class Inflater:
    """zlib's raw inflate, one block at a time; decompress() returns (output, consumed)."""

    def __init__(self, step: int, fmt: str) -> None:
        self.z, self.fmt = _ZStream(), fmt
        size = ctypes.sizeof(_ZStream)
        if _LIB.inflateInit2_(ctypes.byref(self.z), -15, _LIB.zlibVersion(), size) != _Z_OK:
            raise MemoryError("inflateInit2 failed")
        self.out = ctypes.create_string_buffer(step)
        self.step = step
        self.eof = False
        self.first = True  # the first block's header is not a boundary inflate() reports
        self.pending: tuple[int, int] | None = None  # a boundary whose header needs the next byte
        self.last = 0  # the last byte inflate() took

    def close(self) -> None:
        _LIB.inflateEnd(ctypes.byref(self.z))

    def decompress(self, data: bytes) -> tuple[bytes, int]:
        if data and (self.first or self.pending is not None):
            unused, last = self.pending or (0, 0)
            _stored_padding(unused, last, data[0], self.fmt)
            self.first, self.pending = False, None
        buf = ctypes.create_string_buffer(data, len(data))  # alive until this call returns
        self.z.next_in, self.z.avail_in = ctypes.addressof(buf), len(data)
        self.z.next_out, self.z.avail_out = ctypes.addressof(self.out), self.step
        while True:
            rc = _LIB.inflate(ctypes.byref(self.z), _Z_BLOCK)
            consumed = len(data) - self.z.avail_in
            if consumed:
                self.last = data[consumed - 1]
            if rc == _Z_STREAM_END:
                self.eof = True
                break
            if rc not in (_Z_OK, _Z_BUF_ERROR):
                why = (self.z.msg or b"").decode(errors="replace")
                raise Invalid(f"{self.fmt}: not a valid deflate stream ({why})")
            if self.z.data_type & _AT_BOUNDARY and rc == _Z_OK:
                self._boundary(data, consumed)
            if rc == _Z_BUF_ERROR or not self.z.avail_out or not self.z.avail_in:
                break  # (no block fits in the fewer than 8 bits inflate() holds)
        produced = self.step - self.z.avail_out
        return ctypes.string_at(self.out, produced), len(data) - self.z.avail_in

    def _boundary(self, data: bytes, consumed: int) -> None:
        unused = self.z.data_type & 7
        if self.z.data_type & _LAST_SEEN:  # no block follows: the bits to the byte's end are padding
            if unused and self.last >> (8 - unused):
                raise Invalid(f"{self.fmt}: the padding bits after the last deflate block are not zero")
        elif unused >= 3:
            _stored_padding(unused, self.last, None, self.fmt)
        elif consumed < len(data):
            _stored_padding(unused, self.last, data[consumed], self.fmt)
        else:
            self.pending = (unused, self.last)


class PythonInflater:
    """The same interface on Python's zlib (no libz to load): padding unchecked."""

    def __init__(self, step: int, fmt: str) -> None:
        self.d, self.step, self.fmt = zlib.decompressobj(-15), step, fmt

    @property
    def eof(self) -> bool:
        return self.d.eof

    def close(self) -> None:
        pass

    def decompress(self, data: bytes) -> tuple[bytes, int]:
        try:
            out = self.d.decompress(data, self.step)
        except zlib.error as err:
            raise Invalid(f"{self.fmt}: not a valid deflate stream ({err})") from None
        left = self.d.unused_data if self.d.eof else self.d.unconsumed_tail  # (the other can be stale)
        return out, len(data) - len(left)


def inflater(step: int, fmt: str) -> Inflater | PythonInflater:
    return Inflater(step, fmt) if available() else PythonInflater(step, fmt)


def available() -> bool:
    return _LIB is not None
