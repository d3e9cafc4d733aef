"""A displaced message's tail with its block's gap merged into it (issue #13, session 38:
attack m h5's ctl-m-vlen-root3, -group3 and -pair2, refused before).

A tracked root or group given a variable-length string attribute a session: the second
attribute leaves chunk 0 a 2-byte gap (fewer bytes than a 6-byte message header); the
third needs a continuation block, so libhdf5 displaces the attribute info message (28
bytes) to it, the continuation message takes its slot's head and a null its last 6
bytes (H5O__alloc_chunk), and H5O__alloc_null, finding the chunk's gap, calls
H5O__eliminate_gap: the attributes after the null slide 2 bytes down, the 2 bytes at
the null's end are zeroed, the null grows to 8 and the chunk keeps no gap. The null
holds ff ff ff ff ff ff 00 00. Admitted exactly that (moved._gap_merged): the tail of
the named block's first message, then 1 to 5 zeros, in a block its messages fill;
other bytes there, a tail that is not the displaced message's, as many zeros as a
message header, or a gap still at the block's end are refused. A session later the
attribute info message is displaced again, from its block to a new one: the null in
chunk 0 is the tail of the message displaced to the block the continuation message of
the block it names names (arrangement.py's slot too)."""

from __future__ import annotations

import functools
import struct

import pytest

pytest.importorskip("h5py")

from tests.quarantine.test_hdf5_append import _check, _refusal  # noqa: E402
from tests.support import attack_mh5_cases as cases  # noqa: E402
from tests.support.hdf5_attack_c_bytes import readable  # noqa: E402
from tests.support.hdf5_bytes import fix_v2_checksum, lookup3, sig_at, v2_header  # noqa: E402

NOT_MOVED = "holds data, and no message of it moved"
HEAD = 6  # a tracked header's message header: type, size, flags, creation order
# root4, group4: a session later the attribute info message is displaced again, from the
# continuation block to a new one; the null in chunk 0 is still its tail (moved._displaced)
FILES = {"root3": ("root", 3), "group3": ("group", 3), "pair2": ("pair", 2), "root4": ("root", 4),
         "group4": ("group", 4)}


@functools.cache
def _file(name: str) -> bytes:
    return cases.vlen_notes(*FILES[name])


def _tail_null(data: bytes) -> tuple[int, int, int]:
    """(header address, data address, size) of the non-zero null right after a
    continuation message."""
    for addr in sig_at(data, b"OHDR"):
        _, _, msgs = v2_header(data, addr)
        for (kind, _, _), (nxt, size, body) in zip(msgs, msgs[1:], strict=False):
            if kind == 0x10 and nxt == 0 and data[body : body + size].strip(b"\0"):
                return addr, body, size
    raise AssertionError("no non-zero null after a continuation message")


def _patched(data: bytes, at: int, raw: bytes) -> bytearray:
    out = bytearray(data)
    out[at : at + len(raw)] = raw
    fix_v2_checksum(out, _tail_null(data)[0])
    return out


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_gap_merged_tail_libhdf5_leaves_passes(name):
    data = _file(name)
    _, at, size = _tail_null(data)
    assert (size, data[at : at + size]) == (8, b"\xff" * 6 + b"\0\0")  # what libhdf5 left (H5O__eliminate_gap)
    _check(data)


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("offset", [6, 7])
@pytest.mark.parametrize("byte", [0x01, 0x80, 0xFF])
def test_a_byte_where_the_gap_was_zeroed_is_refused(name, offset, byte):
    data = _file(name)
    _, at, _ = _tail_null(data)
    bad = _patched(data, at + offset, bytes([byte]))
    assert readable(bad)
    assert NOT_MOVED in _refusal(bad)


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("raw", [b"ab", b"\x7fE", b"\0\x01"])
def test_chosen_bytes_in_the_gap_are_refused(name, raw):
    data = _file(name)
    _, at, _ = _tail_null(data)
    assert NOT_MOVED in _refusal(_patched(data, at + 6, raw))


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("offset", range(6))
def test_a_tail_that_is_not_the_displaced_message_s_is_refused(name, offset):
    data = _file(name)
    _, at, _ = _tail_null(data)
    assert NOT_MOVED in _refusal(_patched(data, at + offset, b"\xfe"))


def test_the_tail_shifted_into_the_gap_is_refused():
    """The zeros come after the tail (memset at the null's old end), never before it."""
    data = _file("root3")
    _, at, _ = _tail_null(data)
    assert NOT_MOVED in _refusal(_patched(data, at, b"\0\0" + b"\xff" * 6))


def _relocated(zeros: int, gap: int = 0) -> bytearray:
    """root3 with its last chunk-0 attribute moved to the continuation block (grown into
    the zeros after it), the tail null given `zeros` zeros and what is left of chunk 0 a
    null message of zeros, then a `gap` of zeros: a layout arrangement.py admits (a null
    after a continuation message grown by up to 5 bytes for each later message), so only
    the null's content decides."""
    data = bytearray(_file("root3"))
    addr, at, size = _tail_null(data)
    start, end, msgs = v2_header(data, addr)
    cont = next(body for kind, _, body in msgs if kind == 0x10)
    block, length = struct.unpack_from("<QQ", data, cont)
    attrs = [(body, size) for kind, size, body in msgs if kind == 0x0C]
    (first, first_size), (last, last_size) = attrs[0], attrs[-1]
    moving = bytes(data[last - HEAD : last + last_size])
    assert not data[block + length : block + length + len(moving)].strip(b"\0")
    grown = bytes(data[block : block + length - 4]) + moving
    data[block : block + len(grown) + 4] = grown + struct.pack("<I", lookup3(grown))
    struct.pack_into("<QQ", data, cont, block, len(grown) + 4)
    tail = bytes(data[at : at + size - 2])
    null = struct.pack("<BHBH", 0, len(tail) + zeros, 0, 0) + tail + bytes(zeros)
    kept = bytes(data[first - HEAD : first + first_size])
    rest = end - (at - HEAD) - len(null) - len(kept) - gap
    body = null + kept + struct.pack("<BHBH", 0, rest - HEAD, 0, 0) + bytes(rest - HEAD + gap)
    data[at - HEAD : end] = body
    fix_v2_checksum(data, addr)
    return data


def test_the_relocated_layout_passes_with_the_gap_s_zeros():
    data = _relocated(2)
    assert readable(data)
    _check(data)


def test_as_many_zeros_as_a_message_header_are_refused():
    """A gap is fewer bytes than a message header (H5O__alloc_null: more makes a null)."""
    data = _relocated(HEAD)
    assert readable(data)
    assert NOT_MOVED in _refusal(data)


def test_a_gap_left_at_the_block_s_end_is_refused():
    """H5O__eliminate_gap leaves the block no gap: zeros merged into the tail null and a
    gap still after the block's last message are not what libhdf5 writes (libhdf5 does
    not even open a block holding both a null message and a gap: H5O__chunk_deserialize)."""
    data = _relocated(2, gap=2)
    assert not readable(data)
    assert NOT_MOVED in _refusal(data)
