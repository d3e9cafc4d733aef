"""The tail of a freed continuation block that held a header's attributes one after the
other (heldblocks.py, session 37): a dataset or group given one attribute (or a few) a
session keeps them in one block libhdf5 extends at the end of the file; when they move
to dense storage the block is freed and the heap is allocated over its start. Real h5py
files pass; a changed byte, or data after the block, is refused."""

from __future__ import annotations

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import heldblocks, walk

pytest.importorskip("h5py")
from tests.support.attack_kh5_ordinary import big, calib, numbers  # noqa: E402

UNREACHED = "reached from no structure"
CASES = {
    "calib12-latest": lambda: calib(12, 5, 17, "latest"),  # untracked: no order field
    "calib9-displaced": lambda: calib(9, 50, 0, "latest"),  # the layout message leads the block
    "numbers3-tracked-def": lambda: numbers(3, True, None),  # order fields: creation order
    "big9-tracked-def": lambda: big(9, 500, True, None),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def made(request) -> tuple[bytes, list[tuple[int, int]]]:
    """The file and the gaps heldblocks explained in it."""
    data, found = CASES[request.param](), []
    real = heldblocks.HeldBlocks.explains

    def explains(self, buf, gap, reused) -> bool:  # noqa: ANN001
        ok = real(self, buf, gap, reused)
        if ok:
            found.append(gap)
        return ok

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(heldblocks.HeldBlocks, "explains", explains)
        walk(data, len(data))
    return data, found


def test_the_tail_is_explained_by_the_rule(made, monkeypatch):
    data, found = made
    assert found
    monkeypatch.setattr(heldblocks, "MAX_WORK", 0)  # without the rule: refused
    assert UNREACHED in _refusal(data)


@pytest.mark.parametrize("where", [0, 1, 2])  # the first shown byte, the middle, the checksum's last
def test_a_changed_byte_is_refused(made, where):
    data, found = made
    start, end = found[0]
    last = start + len(bytes(data[start:end]).rstrip(b"\0")) - 1
    at = (start, (start + last) // 2, last)[where]
    buf = bytearray(data)
    buf[at] ^= 0x01
    assert UNREACHED in _refusal(buf)


def test_data_after_the_block_is_refused(made):
    data, found = made
    start, end = max(found, key=lambda g: g[1] - g[0] - len(bytes(data[g[0] : g[1]]).rstrip(b"\0")))
    last = start + len(bytes(data[start:end]).rstrip(b"\0"))
    if last + 4 >= end:
        pytest.skip("the block ends where the next structure starts")
    buf = bytearray(data)
    buf[end - 1] = 0x41
    assert UNREACHED in _refusal(buf)
