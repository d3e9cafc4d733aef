"""HDF5 files written in steps under libver='latest' whose root's links moved to dense
storage after a flush or a reopen (issue #13): libhdf5 frees the root's continuation
blocks without clearing them, and later structures take their start
(validators/hdf5/oldblocks.py). What is left of them is recomputed, checksum included:
h5py's files pass; a payload in a freed block or after it, a changed name or address,
a wrong checksum, a null message holding data, or a block of messages no header holds,
is refused."""

from __future__ import annotations

import random
import struct
from itertools import product

import pytest

from tests.quarantine.test_hdf5_append import _check, _refusal
from tests.quarantine.test_hdf5_moved import LONG, _stepped
from vmguard.quarantine.validators.hdf5 import heldblocks, oldblocks, oldsearch, walk
from vmguard.quarantine.validators.hdf5.checksum import any_lookup3, lookup3

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

UNREACHED = "are reached from no structure of the file"


def _gaps(data: bytes | bytearray, zeros: bool = False) -> list[tuple[int, int]]:
    """The unclaimed ranges of the file that hold data, or (zeros) only zeros."""
    extents = walk(bytes(data), len(data))
    gaps, pos = [], 0
    for start in sorted(extents):
        if start > pos and bool(bytes(data[pos:start]).strip(b"\0")) != zeros:
            gaps.append((pos, start))
        pos = max(pos, extents[start][0])
    return gaps


@pytest.mark.parametrize(
    ("mode", "what", "order"),
    [(m, w, o) for m in ("flush", "reopen", "every") for w in ("datasets", "groups") for o in (False, True)][
        :-1
    ],  # every, groups, tracked: still refused (docs/quarantine.md)
)
def test_freed_continuation_blocks_pass(mode, what, order, monkeypatch):
    """The sweep's refused corner (3 long names before, then more: the root had
    continuation blocks when it was flushed): every such file passes now, its freed
    blocks explained by oldblocks (counted: the rule is what admits them)."""
    explained, explains = [], oldblocks.Blocks.explains

    def counted(self, buf, gap, reused) -> bool:  # noqa: ANN001
        ok = explains(self, buf, gap, reused)
        explained.append(ok)
        return ok

    monkeypatch.setattr(oldblocks.Blocks, "explains", counted)
    for after in (6, 9, 20):
        _check(_stepped(mode, what, 3, after, LONG, track_order=order))
    assert explained and all(explained)


def _freed() -> tuple[bytearray, tuple[int, int], tuple[int, int]]:
    """A file with a freed block whose start a later structure took, and one whole:
    (bytes, the first's visible tail, the whole one)."""
    data = _stepped("flush", "datasets", 3, 6, LONG)
    gaps = _gaps(data)
    whole = next(g for g in gaps if bytes(data[g[0] : g[0] + 4]) == b"OCHK")
    tail = next(g for g in gaps if bytes(data[g[0] : g[0] + 4]) != b"OCHK")
    return data, tail, whole


def test_the_control_has_both_kinds_of_freed_block():
    data, tail, whole = _freed()
    assert tail[1] - tail[0] < whole[1] - whole[0]
    _check(data)


@pytest.mark.parametrize("where", ["tail", "whole"])
@pytest.mark.parametrize("what", ["name", "address", "checksum"])
def test_a_changed_byte_of_a_freed_block_is_refused(where, what):
    """Every byte the file shows of a freed block is recomputed: a link name's byte, the
    link's address, the checksum, and the zeros after the block."""
    data, tail, whole = _freed()
    start, end = tail if where == "tail" else whole
    block = bytes(data[start:end]).rstrip(b"\0")
    at = {
        "name": start + block.index(b"session"),
        "address": start + block.index(b"session") + 7,
        "checksum": start + len(block) - 1,
    }[what]
    bad = bytearray(data)
    bad[at] ^= 0x41
    assert UNREACHED in _refusal(bad)


def _sealed(messages: bytes) -> bytes:
    """An OCHK block of these messages, its checksum right."""
    image = b"OCHK" + messages
    return image + lookup3(image).to_bytes(4, "little")


def test_a_payload_block_with_a_right_checksum_is_refused():
    """A block with a right checksum is not enough: its messages must be the header's."""
    data, _, (start, end) = _freed()
    payload = b"\x7fELF" + b"PAYLOAD!" * 4
    fake = _sealed(struct.pack("<BHB", 0x06, len(payload), 0) + payload)
    assert len(fake) <= end - start
    bad = bytearray(data)
    bad[start:end] = fake + bytes(end - start - len(fake))
    assert UNREACHED in _refusal(bad)


def _placed(data: bytearray, raw: bytes, into: int = 0) -> bytearray:
    """The file with `raw` `into` bytes into its largest unclaimed run of zeros (0: where
    the structure before it ends, where libhdf5 allocates the next block)."""
    start, end = max(_gaps(data, zeros=True), key=lambda g: g[1] - g[0])
    assert end - start >= len(raw) + 64
    at = start + into
    changed = bytearray(data)
    changed[at : at + len(raw)] = raw
    return changed


def test_a_block_of_the_headers_messages_passes_and_data_in_it_or_after_it_does_not():
    """A freed block where the unclaimed zeros start (libhdf5 allocated it right after the
    structure before) holding the root's link and a null message of zeros passes; the same
    32 bytes into the zeros (a chosen place: attack m h5), with data in its null message,
    or followed by a payload, is refused."""
    data, _, (start, end) = _freed()
    link = bytes(data[start + 4 : end]).rstrip(b"\0")[:-4]  # the block's one message
    good = _sealed(struct.pack("<BHB", 0, 8, 0) + bytes(8) + link)
    _check(_placed(data, good))
    assert UNREACHED in _refusal(_placed(data, good, into=32))
    bad = _sealed(struct.pack("<BHB", 0, 8, 0) + b"PAYLOAD!" + link)
    assert UNREACHED in _refusal(_placed(data, bad))
    assert UNREACHED in _refusal(_placed(data, good + b"\x7fELF"))


def test_a_link_copied_with_another_address_is_refused():
    """The block's link pointing elsewhere, its checksum recomputed: no header holds it."""
    data, _, (start, end) = _freed()
    block = bytearray(bytes(data[start:end]).rstrip(b"\0")[:-4])
    at = block.index(b"session") + 7
    block[at : at + 8] = struct.pack("<Q", 48)
    bad = bytearray(data)
    bad[start : start + len(block) + 4] = _sealed(bytes(block[4:]))
    assert UNREACHED in _refusal(bad)


def test_matching_is_bounded(monkeypatch):
    data, _, _ = _freed()
    monkeypatch.setattr(oldsearch, "MAX_WORK", 10)
    monkeypatch.setattr(heldblocks, "MAX_WORK", 0)  # its blocks are also a run of /'s links
    refusal = _refusal(data)
    assert "matching the continuation blocks libhdf5 freed stopped after 10 bytes" in refusal
    assert "h5repack the file" in refusal


def test_the_bound_holds_where_later_structures_cover_a_block(monkeypatch):
    """Session 36: comparing bytes that all lie under a later structure counted negative
    work, so six tracked groups written side by side in 2 sessions (47 KB) took 13 s of
    CPU. Every step now counts, and the search stops at the bound."""
    from tests.support.attack_jh5_ordinary import detectors

    data = detectors(6, 2, "latest")
    spent: list[int] = []
    real = oldblocks.Blocks._spend

    def spend(self: oldblocks.Blocks, n: int) -> None:
        spent.append(n)
        real(self, n)

    monkeypatch.setattr(oldblocks.Blocks, "_spend", spend)
    assert UNREACHED in _refusal(data)
    assert min(spent) > 0
    assert oldsearch.MAX_WORK < sum(spent) <= oldsearch.MAX_WORK + max(spent)


def test_more_freed_blocks_than_the_header_has_messages_are_refused():
    """Each block held one message at least: copies of one block beyond that are a
    channel, not what libhdf5 leaves."""
    data, _, (start, end) = _freed()
    block = bytes(data[start:end]).rstrip(b"\0")
    _check(_placed(data, block * 2))
    assert "more freed continuation blocks of one object header" in _refusal(_placed(data, block * 24))


def test_an_older_free_space_section_list_passes():
    """Attributes flushed after each addition past 8: libhdf5 leaves older section lists
    of the dense storage's heap, recomputed as its earlier states (oldsections.py)."""
    _check(_stepped("every", "attributes", 4, 9, LONG))


def test_a_block_naming_a_block_freed_later_in_the_file_passes(monkeypatch):
    """A freed block under a later structure whose continuation message names a freed
    block further on, itself under a later structure: found once that one is (the gaps
    not explained are tried again)."""
    tries: list[bool] = []
    explains = oldblocks.Blocks.explains

    def counted(self, buf, gap, reused) -> bool:  # noqa: ANN001
        tries.append(explains(self, buf, gap, reused))
        return tries[-1]

    monkeypatch.setattr(oldblocks.Blocks, "explains", counted)
    _check(_stepped("reopen", "groups", 8, 2, "r{}"))
    assert False in tries and tries[-1]  # refused at first, explained when tried again


def test_choices_checksummed_depth_first_are_those_of_every_choice():
    """Session 37 (attack l h5's ctl-l-tracked-runs3x3-latest spent the bound on a 7 KB
    file): the hidden parts' choices are checksummed depth first, each prefix mixed once.
    The same choices match as checksumming each whole choice, a shown part of the
    checksum alike, and the work is the walk's, not choices x bytes."""
    rng = random.Random(37)
    for _ in range(200):
        parts = [tuple(rng.randbytes(n) for _ in range(rng.randrange(1, 5))) for n in (4, 2, 13, 2, 30, 3)]
        sums = {lookup3(b"".join(choice)) for choice in product(*parts)}
        want = lookup3(b"".join(rng.choice(p) for p in parts)) ^ rng.choice((0, 0x100))
        for mask in (0xFFFFFFFF, 0xFFFFFF00, 0xFF000000):
            spent: list[int] = []
            got = any_lookup3(parts, (want, mask), spent.append)
            assert got == any(s & mask == want & mask for s in sums)
            assert min(spent) > 0
    parts = [tuple(bytes([i]) * 20 for i in range(8))] * 4  # 4096 choices of 80 bytes
    spent = []
    assert not any_lookup3(parts, (lookup3(b"x" * 80), 0xFFFFFFFF), spent.append)
    assert sum(spent) < 4096 * 80 // 2
