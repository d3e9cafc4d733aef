"""Two things libhdf5 leaves that the walk refused (session 39, attack nh5's
FALSE_REJECTIONS), admitted exactly, and bytes chosen in the same places refused.

An attribute written in place (h5py's attrs.modify of a scalar) dirties its message in
libhdf5's cache; when the header's attributes then move to dense storage, the
continuation block that held it is freed before the next flush, so the file keeps the
block's image with the value it last wrote (`ctl-nh5-min9-modify-dense`: the root's float
'fixed' is 1.0 there, 2.0 today). Admitted: ONE attribute a freed block, a scalar number
of at most 8 bytes, its value any, shown (oldmessages.earlier). Refused: two such values
in a block, a changed name, a changed variable-length string's heap ID.

A group's link info message displaced by a continuation message (H5O__alloc_chunk)
leaves its slot; the continuation message is removed when its block empties, a later
link takes the null (H5O__alloc_null), the gap it leaves is eliminated by sliding the
group info message forward (H5O__eliminate_gap) and the link info comes back after the
others (attack nh5's sweep seeds 9 and 1029). Admitted: later messages of at most the
displaced message's bytes in its slot (arrangement._slot_taken). Refused: more bytes
there, the displaced message back before the messages that slid."""

from __future__ import annotations

import struct

import pytest

pytest.importorskip("h5py")

from tests.support import attack_nh5_sweep as sweep  # noqa: E402
from tests.support.attack_nh5_tools import lookup3  # noqa: E402
from tests.support.hdf5_attack_c_bytes import addr_of, header  # noqa: E402
from tests.support.hdf5_attack_d_cases import _reorder  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402

_MISPLACED = "is not where libhdf5 writes it"


@pytest.fixture(scope="module")
def min9() -> tuple[bytes, int, bytes]:
    """(the file, where its freed block starts, the block as session 2 wrote it whole)."""
    seed, lib, track, steps = sweep.MINIMAL["ctl-nh5-min9-modify-dense.h5"]
    before, after = sweep.replay(seed, lib, track, steps[:2]), sweep.replay(seed, lib, track, steps)
    start = before.index(b"OCHK")
    end = next(e for e in range(start + 8, len(before))
               if lookup3(before[start : e - 4]) == int.from_bytes(before[e - 4 : e], "little"))
    block = before[start:end]
    assert b"fixed\0" in block and after[end - 64 : end] == block[-64:] and after[start:end] != block
    return after, start, block


def _attributes(block: bytes) -> dict[bytes, tuple[int, int]]:
    """name -> (where its message's data starts in the block, its size): the block's
    attribute messages (an untracked header: no order field)."""
    out, p = {}, 4
    while p + 4 <= len(block) - 4:
        kind, size, _ = struct.unpack_from("<BHB", block, p)
        if kind == 0x0C:
            name = struct.unpack_from("<H", block, p + 6)[0]
            out[block[p + 13 : p + 13 + name - 1]] = (p + 4, size)
        p += 4 + size
    return out


def _forged(min9: tuple[bytes, int, bytes], edits: dict[int, bytes]) -> bytes:
    """The file with the freed block's bytes at the offsets of `edits` changed, its
    checksum recomputed (only shown bytes are changed)."""
    after, start, block = min9
    forged = bytearray(block)
    for at, raw in edits.items():
        forged[at : at + len(raw)] = raw
    forged[-4:] = lookup3(bytes(forged[:-4])).to_bytes(4, "little")
    data = bytearray(after)
    first = next(i for i in range(len(block)) if after[start + i :].startswith(block[i:]))  # shown from
    assert all(at >= first for at in edits), "edit a shown byte only"
    data[start + first : start + len(block)] = forged[first:]
    return bytes(data)


def _value(min9, name: bytes, raw: bytes) -> dict[int, bytes]:
    at, size = _attributes(min9[2])[name]
    return {at + size - len(raw): raw}


def test_the_modified_attribute_s_earlier_value_is_admitted(min9):
    assert _refusal(min9[0]) == "accepted"
    assert struct.unpack("<d", min9[2][sum(_attributes(min9[2])[b"fixed"]) - 8 :][:8])[0] == 1.0


def test_any_earlier_value_of_one_scalar_is_the_price(min9):
    """What is free: one scalar's value a freed block (64 bits here)."""
    assert _refusal(_forged(min9, _value(min9, b"fixed", bytes(range(17, 25))))) == "accepted"


@pytest.mark.parametrize("case", ["two-values", "name", "string-heap-id", "datatype"])
def test_other_bytes_in_the_freed_block_are_refused(min9, case):
    attrs = _attributes(min9[2])
    edits = {
        "two-values": {**_value(min9, b"fixed", b"\x01" * 8), **_value(min9, b"a1_0", b"\x02" * 8)},
        "name": {attrs[b"fixed"][0] + 9: b"s"},
        "string-heap-id": _value(min9, b"note1_2", b"\x07"),
        "datatype": {attrs[b"fixed"][0] + 9 + 6 + 4: b"\x20"},  # the float's size: 8 -> 32
    }[case]
    refusal = _refusal(_forged(min9, edits))
    assert refusal.startswith("hdf5: bytes ") and "reached from no structure" in refusal, refusal


@pytest.fixture(scope="module")
def slotted() -> dict[int, bytes]:
    return {seed: sweep.workflow(seed) for seed in (9, 1029)}


def _kinds(data: bytes, path: str) -> list[int]:
    return [m.type for m in header(data, addr_of(data, path)).msgs]


def test_a_link_in_the_link_info_s_slot_is_where_libhdf5_leaves_it(slotted):
    assert _kinds(slotted[9], "/") == [6, 0x0A, 6, 0x15, 6, 2, 6, 0]
    assert _kinds(slotted[1029], "/g") == [6, 0x0A, 2, 0x15, 0]
    for data in slotted.values():
        assert _MISPLACED not in _refusal(data)


@pytest.mark.parametrize("order, refused", [
    ((0, 2, 1, 3, 4, 5, 6, 7), True),  # two links before the group info: 35 bytes, a slot of 22
    ((0, 5, 1, 2, 3, 4, 6, 7), True),  # the link info back before the group info slid
    ((2, 4, 1, 0, 3, 5, 6, 7), True),  # two links of 17 bytes: 34 in the slot
    ((1, 0, 2, 3, 4, 5, 6, 7), False),  # no slot taken: the group info slid, the link info after
    ((3, 1, 0, 2, 4, 5, 6, 7), False),  # the attribute info (22 bytes) in the slot (the price)
])
def test_more_than_the_slot_holds_is_refused(slotted, order, refused):
    """sweep 9's root: link 'tab' (18 bytes with its header), group info, link, attribute
    info, link, link info (displaced, 22: the slot), link, null."""
    data = bytearray(slotted[9])
    _reorder(data, "/", list(order))
    assert (_MISPLACED in _refusal(data)) is refused
