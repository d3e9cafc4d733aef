"""A null message grown backwards over gaps (session 38, attack nh5's false rejections
ctl-nh5-min0-g-attrs, -min205-strings-table, -sweep0, 76, 80, 2, 205: 18 of the 32
refusals of its 360-seed sweep, refused before as 'holds data, and no message of it
moved').

A 'latest' group given two messages that need new continuation blocks in one session:
each time libhdf5 displaces an 18-byte message (link or attribute info) and the 16-byte
continuation message in its slot leaves a 2-byte gap, which H5O__add_gap merges into
the chunk's null after it (H5O__eliminate_gap: the messages between slide forward, the
null's start moves back 2 bytes). Its header is encoded only at a flush, so after 2 + 2
bytes its body starts with its old header, 00 09 00 00 in a 13-byte null. A tracked
root (6-byte message headers) displacing two 21-byte links merges 5 + 5 bytes: its body
starts with the last 4 bytes of the continuation message before it and its old header.
Admitted exactly that (slid.grown); other sizes, flags or bytes, data after the pieces,
or more merged bytes than the block's messages could leave gaps are refused."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("h5py")

from tests.quarantine.test_hdf5_append import _check, _refusal  # noqa: E402
from tests.support import attack_nh5_sweep as sweep  # noqa: E402
from tests.support.hdf5_attack_c_bytes import readable  # noqa: E402
from tests.support.hdf5_bytes import fix_v2_checksum, sig_at, v2_header  # noqa: E402
from vmguard.quarantine.validators.hdf5 import slid  # noqa: E402

NOT_MOVED = "holds data, and no message of it moved"
FILES = {
    "min0": bytes.fromhex("00090000") + bytes(9),  # /g, 13 bytes: 2 + 2 merged, header of 9
    "min205": bytes.fromhex("000a0000") + bytes(10),  # the root, 14 bytes
    "sweep2": bytes.fromhex("00000000" "000200000000") + bytes(2),  # tracked root, 5 + 5
}


@functools.cache
def _file(name: str) -> bytes:
    if name == "sweep2":
        return sweep.workflow(2)
    return sweep.replay(*sweep.MINIMAL[f"ctl-nh5-{name}-{'g-attrs' if name == 'min0' else 'strings-table'}.h5"])


def _grown(data: bytes) -> tuple[int, int, int]:
    """(header address, data address, size) of chunk 0's non-zero null."""
    for addr in sig_at(data, b"OHDR"):
        _, _, msgs = v2_header(data, addr)
        for kind, size, body in msgs:
            if kind == 0 and data[body : body + size].strip(b"\0"):
                return addr, body, size
    raise AssertionError("no non-zero null in a chunk 0")


def _patched(name: str, offset: int, raw: bytes) -> bytearray:
    data = bytearray(_file(name))
    addr, at, _ = _grown(data)
    data[at + offset : at + offset + len(raw)] = raw
    fix_v2_checksum(data, addr)
    return data


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_null_libhdf5_grew_passes(name):
    data = _file(name)
    _, at, size = _grown(data)
    assert data[at : at + size] == FILES[name]  # what libhdf5 left
    _check(data)


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("byte", [0x01, 0x09, 0xFF])
def test_a_byte_in_the_zeros_after_the_pieces_is_refused(name, byte):
    size = len(FILES[name])
    for offset in (size - 1, size - 3, 7):
        bad = _patched(name, offset, bytes([byte]))
        assert readable(bad)
        assert NOT_MOVED in _refusal(bad)


@pytest.mark.parametrize(("name", "offset", "raw"), [
    ("min0", 0, b"\0\x0a"),  # the header of a null of another size
    ("min0", 0, b"\0\x08"),
    ("min0", 0, b"\x01\x09"),  # a header of another type
    ("min0", 3, b"\x01"),  # of other flags
    ("min0", 2, b"\x01"),  # a size of 265
    ("min205", 1, b"\x09"),
    ("min205", 0, b"\0\x0a\0\0\0\x0a"),  # the old header twice
    ("sweep2", 5, b"\x03"),  # the tracked null's old size
    ("sweep2", 3, b"\x01"),  # not the continuation message's last bytes
    ("sweep2", 6, b"\x01"),  # the old header's flags
    ("sweep2", 8, b"\x01"),  # its order
])
def test_other_bytes_where_the_old_header_was_are_refused(name, offset, raw):
    bad = _patched(name, offset, raw)
    assert NOT_MOVED in _refusal(bad)


def test_the_old_header_shifted_is_refused():
    """The pieces start at the null's start (its start moved back over them)."""
    data = _patched("min0", 0, bytes(1) + bytes.fromhex("00090000"))
    assert NOT_MOVED in _refusal(data)


def test_pieces_bounded_by_the_gaps_the_block_s_messages_could_leave():
    header = bytes.fromhex("00140000")  # a null of 20 bytes, 4-byte message headers
    before = bytes(range(1, 21))  # the message before it, header and data
    one = bytes.fromhex("00100000") + bytes(16)  # 4 merged: its header of 16
    assert slid._pieces(one, before, header, 4)
    assert not slid._pieces(one, before, header, 3)
    later = bytes(2) + bytes.fromhex("000e0000") + bytes(14)  # 4 merged, a flush, 2 merged
    assert slid._pieces(later, before, header, 6)
    assert not slid._pieces(later, before, header, 5)
    two = bytes.fromhex("110000") + bytes.fromhex("0e0000") + bytes(14)  # two flushes of 3
    assert not slid._pieces(two, before, header, 20)  # two pieces with data: never seen
    longer = before[-2:] + bytes.fromhex("000e0000") + bytes(14)  # 6 merged: 2 bytes before
    assert slid._pieces(longer, before, header, 6)
    assert not slid._pieces(bytes([0x7F]) + longer[1:], before, header, 6)
    assert slid._pieces(bytes(20), before, header, 0)
