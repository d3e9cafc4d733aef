"""Two marks of a name or a block that no reader shows, pinned (session 38, attack nh5's
HOLES): the character set of an attribute's or a link's name (fields.name_charset: an
ASCII name ASCII, as h5py has libhdf5 write it; a name with other bytes either, as
h5py writes both) and the block a stale continuation message in a null names
(oldblocks.Blocks.names: one the file shows freed, never the superblock's place nor the
header's own). h5py's own output passes (the controls); a mark changed is refused."""

from __future__ import annotations

import struct

import pytest

h5py = pytest.importorskip("h5py")

from tests.support.attack_nh5_nulls import headers  # noqa: E402
from tests.support.hdf5_attack_c_bytes import find, h5file, move_into_nil, nil_out, put, resum  # noqa: E402
from vmguard.quarantine.validators.hdf5 import fields, validate, walk  # noqa: E402
from vmguard.quarantine.validators.hdf5.checksum import lookup3  # noqa: E402
from vmguard.quarantine.validators.hdf5.oldblocks import Blocks  # noqa: E402
from vmguard.quarantine.validators.stream import Invalid, Stream  # noqa: E402

ATTRIBUTE, LINK = 0x0C, 0x06


def _vet(data: bytes) -> None:
    validate(Stream(iter([bytes(data)])))
    walk(bytes(data), len(data))


def _refused(data: bytes, words: str) -> None:
    with pytest.raises(Invalid, match=words):
        _vet(data)


def test_name_charset_rule():
    fields.name_charset(0, b"abc", "x")
    fields.name_charset(0, "é".encode(), "x")  # h5py: any attribute name, a bytes link name
    fields.name_charset(1, "é".encode(), "x")  # h5py: a str link name that is not ASCII
    with pytest.raises(Invalid, match="marked UTF-8 but is ASCII"):
        fields.name_charset(1, b"abc", "x")
    with pytest.raises(Invalid, match="character set 2"):
        fields.name_charset(2, "é".encode(), "x")


def test_h5py_writes_these_character_sets():
    """What the rule admits is what h5py 3.x writes: attributes ASCII whatever the name,
    links UTF-8 for a str name that is not ASCII, ASCII otherwise."""

    def build(f) -> None:  # noqa: ANN001
        f.attrs["plain"] = 1
        f.attrs["énergie"] = 2
        f["d"] = 1
        f["dé"] = 2
        f["é".encode() + b"b"] = 3

    buf = h5file(build, libver="latest")
    _vet(buf)
    hdr, msg = find(buf, "/", ATTRIBUTE)
    assert buf[msg.body] == 3 and buf[msg.body + 8] == 0


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_an_ascii_attribute_name_marked_utf8_is_refused(libver):
    def build(f) -> None:  # noqa: ANN001
        f.create_dataset("d", data=[1]).attrs["gain"] = 1.5

    buf = h5file(build, libver=libver)
    hdr, msg = find(buf, "d", ATTRIBUTE)
    if buf[msg.body] != 3:
        pytest.skip("a version 1 attribute has no character set field")
    _vet(buf)
    put(buf, hdr, msg.body + 8, b"\x01")
    _refused(buf, "attribute of /d .'gain'. is marked UTF-8 but is ASCII")


def test_an_ascii_link_name_marked_utf8_is_refused():
    def build(f) -> None:  # noqa: ANN001
        g = f.create_group("g")
        g.create_dataset("data", data=[1])
        g.attrs["slack"] = [0.0] * 8  # made a null below: room for the field's byte

    buf = h5file(build, libver="latest")
    nil_out(buf, *find(buf, "g", ATTRIBUTE))
    hdr, msg = find(buf, "g", LINK)
    body = bytes(buf[msg.body : msg.body + msg.size])
    assert body[1] == 0
    _vet(buf)
    move_into_nil(buf, hdr, msg, body[:1] + b"\x10\x01" + body[2:])
    _refused(buf, "link of /g .'data'. is marked UTF-8 but is ASCII")


def _blocks(buf: bytes, chunks: set[tuple[int, int]], starts: set[int]) -> Blocks:
    blocks = Blocks()
    blocks.prepare(buf, [], sorted(chunks), frozenset(starts))
    return blocks


def test_a_stale_continuation_message_names_a_block_the_file_shows():
    """Blocks.names: a continuation block (live or found freed), an OCHK block with its
    checksum, a block whose start a later structure took; not the superblock's place,
    not the header's own, not a place where nothing starts."""
    body = b"OCHK" + bytes(12)
    block = body + struct.pack("<I", lookup3(body))
    buf = bytes(100) + block + bytes(100)
    blocks = _blocks(buf, {(300, 40)}, {0, 48, 200})
    assert blocks.names(buf, 300, 40, 48)  # a continuation block of the file
    assert blocks.names(buf, 100, len(block), 48)  # an OCHK block, its checksum right
    assert not blocks.names(buf, 100, len(block) + 1, 48)
    assert blocks.names(buf, 200, 16, 48)  # a later structure took its start
    assert not blocks.names(buf, 0, 48, 48)  # the superblock: nothing is freed there
    assert not blocks.names(buf, 48, 86, 48)  # the header itself: there before any block of it
    assert not blocks.names(buf, 1, 1, 48)
    assert not blocks.names(buf, 201, 16, 48)
    assert not blocks.names(buf, 200, 16, 48, reused=False)  # a live header's null: shown blocks only


def _grown() -> tuple[bytes, int]:
    """A dataset given one longer float array attribute a session, 10 sessions under
    'latest' (attack nh5's ctl-nh5-grow-3-7-1x10-d-u-latest): /d's null holds a stale
    continuation message naming (2128, 2171), a freed block whose start an older
    free-space section list took; and where that pair lies."""
    from tests.support.attack_nh5_ordinary import grow

    buf = grow(3, 7, 1, 10, "latest", False, True)
    at = buf.find(struct.pack("<QQ", 2128, 2171))
    assert at > 0
    return buf, at


def test_a_stale_continuation_message_in_a_live_null_names_a_freed_block():
    """The pair changed to name no block the file shows: a length off by one, the
    header itself, the start of a heap block (a later structure's: a block freed there
    would pass in a freed block's null, not in a live one's). Before session 38 any
    in-bounds pair passed. (A pair whose bytes also read as stale null message headers,
    a small length after a zero byte, passes as those, priced as their sizes.)"""
    buf, at = _grown()
    _vet(buf)
    hdr = headers(buf)["d"]
    for address, length in ((2128, 2170), (2128, 2172), (hdr.start, 2171), (2165, 2171), (3189, 2171)):
        forged = bytearray(buf)
        forged[at : at + 16] = struct.pack("<QQ", address, length)
        resum(forged, hdr)
        _refused(forged, "a null message in the object header of /d .* holds bytes that are not")
