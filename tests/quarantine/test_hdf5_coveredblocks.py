"""Freed continuation blocks whose start later structures took, found within the search's
bound (oldblocks.py, oldsearch.py, session 38, issue #13: attack m h5's sweep files
`ctl-m-sw-mix9-def-t` and `ctl-m-sw-mix9-latest-t`, refused before naming the bound).

A tracked group given a dataset and a float attribute a session and a subgroup every
other one: in session 9 its attributes move to dense storage and libhdf5 frees the
continuation block holding the last compact one; the heap's section list and root
indirect block are allocated over its start. What shows: under 'latest', the last 3
bytes of a continuation message (the block it names), the null message after it
holding the tail of the message it displaced, the checksum; under the default libver,
a null message holding what a live header's null may (moved.py) whose header and first
byte are covered, the checksum. Found by: a continuation message whose data is partly
covered (the blocks whose shown bytes fit), a covered null message's header, an
attribute's order field its creation order (libhdf5 writes it), one message of a kind
but links, attributes, nulls and continuations a block, and every start tried with few
hidden choices to checksum and no covered null before any with more (a wrong start's
87,480 spent the bound first). A shown byte changed, a payload in the null, the checksum
changed: refused."""

from __future__ import annotations

import time

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import oldsearch, walk

pytest.importorskip("h5py")
from tests.support.attack_mh5_cases import sweep  # noqa: E402

UNEXPLAINED = "reached from no structure"
BOUND = "stopped after"


@pytest.fixture(scope="module", params=[None, "latest"], ids=["def", "latest"])
def made(request) -> bytes:
    return sweep("mix", 9, request.param, True, 9 * 31 + 3)


def _covered(data: bytes) -> tuple[int, int]:
    """The shown bytes of the freed block: after the heap's root indirect block."""
    extents = walk(data, len(data))
    block = next(s for s, (e, what) in extents.items()
                 if what == "an indirect block of the fractal heap of the attributes of /g" and e not in extents)
    end = extents[block][0]
    return end, min(s for s in extents if s > end)


def test_passes_within_the_bound_in_under_two_seconds(made):
    start = time.process_time()
    walk(made, len(made))
    assert time.process_time() - start < 2  # the worker's limit is 10 s


def test_without_the_cheap_pass_the_bound_is_spent(made, monkeypatch):
    """Session 39: each start's passes (oldsearch.REACH) keep a wrong start from spending
    the bound too; without both, it is spent."""
    monkeypatch.setattr(oldsearch, "CHEAP", 1 << 60)
    monkeypatch.setattr(oldsearch, "REACH", (oldsearch.MAX_WORK,))
    monkeypatch.setattr(oldsearch, "TRY_WORK", oldsearch.MAX_WORK)
    assert BOUND in _refusal(made)


def test_without_the_cheap_pass_the_reach_finds_it(made, monkeypatch):
    monkeypatch.setattr(oldsearch, "CHEAP", 1 << 60)
    assert not _refusal(made)


@pytest.mark.parametrize("where", ["first", "payload", "checksum"])
def test_a_changed_shown_byte_is_refused(made, where):
    start, end = _covered(made)
    data = bytearray(made)
    if where == "first":
        data[start] ^= 0x01
    elif where == "payload":
        data[end - 12 : end - 8] = b"PWND"
    else:
        data[end - 1] ^= 0x01
    assert UNEXPLAINED in _refusal(bytes(data))
