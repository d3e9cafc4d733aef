"""Freed continuation blocks whose hidden part holds continuation messages, each with the
null after it (oldblocks.py, session 39): a header that outgrew its block again and again
displaced the block's messages one at a time (H5O__alloc_chunk: a continuation message
takes the start of the displaced message's slot, a null the rest), so a block freed when
the header went dense may hold only continuation and null messages, and later structures
cover all of it but a few bytes. The search's first round tries what libhdf5 writes
alone (hidden order fields 0, a hidden null the rest of one of the header's messages'
slots, a continuation message naming one of its header's blocks) and counts a pair as
one hidden message; each start is tried in passes of growing reach. Real h5py files of
attacks j and k h5, refused before, pass; a changed shown byte, or the shown checksum
bytes chosen, are refused"""

from __future__ import annotations

import random
import re

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import oldblocks, oldsearch

pytest.importorskip("h5py")
from tests.support import attack_jh5_ordinary as jo  # noqa: E402
from tests.support.attack_kh5_ordinary import members  # noqa: E402

UNREACHED = "reached from no structure"
CASES = {  # attack j h5 and k h5's, refused before session 39
    "k-members4-t-def-str": lambda: members(4, True, None, "str"),  # a pair, a link: 4 bytes shown
    "j-runs-10-def-t": lambda: jo._runs(10, None, True),  # two pairs: 8 shown
    "j-s5-l2-a2-t-latest-short": lambda: jo.Shape(5, 2, 2, True, "latest", False).bytes(),
    "j-s5-l2-a2-t-def-long": lambda: jo.Shape(5, 2, 2, True, None, True).bytes(),
    "j-s3-l7-a4-t-def-long": lambda: jo.Shape(3, 7, 4, True, None, True).bytes(),  # a chain of blocks
}


def _without(data: bytes) -> str:
    """The refusal without session 39's first round (what libhdf5 writes first, pairs as one)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(oldblocks, "SLOTS", False)
        mp.setattr(oldsearch, "FIRST", False)
        return _refusal(data)


@pytest.fixture(scope="module", params=sorted(CASES))
def made(request) -> tuple[bytes, str, tuple[int, int]]:
    """The file, its refusal without the rule, and the gap it names (oldblocks
    explains it now)."""
    data = CASES[request.param]()
    assert not _refusal(data)
    refusal = _without(data)
    start, end = map(int, re.search(r"bytes (\d+)\.\.(\d+)", refusal).groups())
    return data, refusal, (start, end)


def test_refused_without_the_rule(made):
    _, refusal, _ = made
    assert UNREACHED in refusal


def _shown(data: bytes, gap: tuple[int, int]) -> list[int]:
    return [i for i in range(*gap) if data[i]]


@pytest.mark.parametrize("where", [0, -1])  # the first shown non-zero byte, the last (the checksum's)
def test_a_changed_byte_is_refused(made, where):
    data, _, gap = made
    buf = bytearray(data)
    buf[_shown(data, gap)[where]] ^= 0x01
    assert UNREACHED in _refusal(bytes(buf))


@pytest.mark.parametrize("seed", [1, 2])
def test_chosen_checksum_bytes_are_refused(made, seed):
    """The block's last 4 shown bytes (its checksum: what a hidden choice would carry)
    set to chosen values."""
    data, _, gap = made
    last = _shown(data, gap)[-1] + 1
    buf = bytearray(data)
    buf[last - 4 : last] = random.Random(seed).randbytes(4)
    assert UNREACHED in _refusal(bytes(buf))
