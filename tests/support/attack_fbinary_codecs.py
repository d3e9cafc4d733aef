"""Codec-level ROOT files for the independent binary attack f (session 33): uproot 5.7
writes every header, key and checksum, handed a codec whose streams carry the payload
where no reader returns it (an instance's `compress` replaced), or a record's block is
patched after writing (tests/support/attack_fbinary_root.py holds the rest)."""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cramjam
import uproot

from tests.support.attack_dcontent_root import _put
from tests.support.attack_econtent_root import _hist_block
from tests.support.attack_fbinary_root import BASKET_X, PAY_INT, PAYLOAD, _codec, _write

HOSTILE_NAMES = (
    "root-xz-bcj-start-offset.root", "root-zl-window-bits.root", "root-zs-window-descriptor.root",
    "root-zs-bad-checksum.root", "root-zl-basket-no-stream.root",
    "root-l4-basket-no-block.root", "root-zs-hist-undecodable.root",
    "root-l4-hist-checksum.root",
)


def _xz_bcj(data: bytes) -> bytes:
    """An xz stream whose filter chain leads with x86 BCJ, its start offset the payload:
    4 bytes in each block header that liblzma reads and no reader returns."""
    filters = [{"id": lzma.FILTER_X86, "start_offset": PAY_INT},
               {"id": lzma.FILTER_LZMA2, "preset": 5}]
    return lzma.compress(bytes(data), format=lzma.FORMAT_XZ, filters=filters)


def _zlib_window(data: bytes) -> bytes:
    """A zlib stream made with a 512-byte window: its header's CINFO (window size) is 1,
    not the 7 of zlib's default: 3 bits of every block's header a writer chooses."""
    c = zlib.compressobj(1, zlib.DEFLATED, 9)
    return c.compress(bytes(data)) + c.flush()


def _zstd_window(data: bytes) -> bytes:
    """uproot's zstd frame without the single-segment flag, so a Window_Descriptor byte
    follows the frame header descriptor: 'P' (a 1 MiB window; any window up to the
    decoder's limit reads the same)."""
    frame = bytes(cramjam.zstd.compress(bytes(data), level=5))
    assert frame[4] & 0x20 and frame[4] >> 6, hex(frame[4])  # single segment, 2+ byte FCS
    return frame[:4] + bytes([frame[4] & ~0x20]) + b"P" + frame[5:]


def _zstd_bad_checksum(data: bytes) -> bytes:
    """uproot's zstd frame with the content-checksum flag set and the payload as checksum."""
    frame = bytearray(cramjam.zstd.compress(bytes(data), level=5))
    frame[4] |= 0x04
    return bytes(frame) + PAYLOAD


def _no_stream(real: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """The int32 branch's baskets get a block of payload instead of a stream (other records
    are compressed as uproot does)."""
    def compress(data: bytes) -> bytes:
        if len(data) == BASKET_X:
            return (PAYLOAD * (BASKET_X // 8))[: BASKET_X // 2]
        return real(data)
    return compress


def _lz4(data: bytes) -> bytes:
    return bytes(cramjam.lz4.compress_block(bytes(data), compression=4, store_size=False))


def _zstd_hist_undecodable(made: Path) -> bytes:
    """The histogram's zstd frame replaced by one whose single compressed block is payload:
    frame header and block header well formed, the content size the object's."""
    d = _write(made / "zs.root", uproot.ZSTD(5))
    at, size = _hist_block(d, b"ZS")
    objlen = int.from_bytes(d[at + 6 : at + 9], "little")
    room = size - 9 - 12
    block_head = (1 | 2 << 1 | room << 3).to_bytes(3, "little")  # last, compressed, size
    frame = b"\x28\xb5\x2f\xfd\xa0" + struct.pack("<I", objlen) + block_head
    return _put(d, at + 9, frame + (PAYLOAD * room)[:room])


def _lz4_hist_checksum(made: Path) -> bytes:
    """The histogram's LZ4 block (not a basket: its XXH64 is checked) with PAYLOAD as its
    checksum."""
    d = _write(made / "l4.root", uproot.LZ4(4))
    at, _ = _hist_block(d, b"L4")
    return _put(d, at + 9, PAYLOAD * 2)


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    return {
        "root-xz-bcj-start-offset.root": _write(made / "bcj.root", _codec(uproot.LZMA(5), _xz_bcj)),
        "root-zl-window-bits.root": _write(
            made / "zlw.root", _codec(uproot.ZLIB(1), _zlib_window)),
        "root-zs-window-descriptor.root": _write(
            made / "zswd.root", _codec(uproot.ZSTD(5), _zstd_window)),
        "root-zs-bad-checksum.root": _write(
            made / "zsck.root", _codec(uproot.ZSTD(5), _zstd_bad_checksum)),
        "root-zl-basket-no-stream.root": _write(
            made / "zlns.root", _codec(uproot.ZLIB(1), _no_stream(lambda b: zlib.compress(b, 1)))),
        "root-l4-basket-no-block.root": _write(
            made / "l4ns.root", _codec(uproot.LZ4(4), _no_stream(_lz4))),
        "root-zs-hist-undecodable.root": _zstd_hist_undecodable(made),
        "root-l4-hist-checksum.root": _lz4_hist_checksum(made),
    }
