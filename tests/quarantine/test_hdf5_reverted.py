"""A fractal heap libhdf5 reverted from a root indirect block to its first direct block
(session 37, attack l h5's ctl-l-dense-refit-latest): a deletion that empties every
block but the first makes libhdf5 (H5HF__man_iblock_root_revert) reset the header to an
empty heap and count the first block's span and whole room, not its allocation or its
objects. From then on the header's allocated space lacks that block, its iterator (under
a root direct block) stays after it, and its free space counts the objects the block held
at that moment as free, also once the heap grows again. Real h5py files of such rewrites
pass; the header's counters changed away from what the revert leaves (checksum
recomputed) are refused."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.attack_lh5_ordinary import dense_rewrite
from vmguard.quarantine.validators.hdf5.checksum import lookup3

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

_FREE, _ALLOC, _ITER = 30, 54, 62  # offsets of the FRHP header's counters
_CHECKSUM = 142
_ROOM = 1024 - 22  # the first block's room for objects: 1 KiB less its prefix (40-bit offsets)


def _spec(f: h5py.File) -> None:
    d = f.create_dataset("spec", data=np.arange(100.0))
    d.attrs["response"] = np.sqrt(np.arange(9000.0))  # 72 KB: dense storage at once
    d.attrs["units"] = "counts"
    d.attrs["gain"] = 1.0


def _fit(f: h5py.File) -> None:
    for i in range(12):
        f["spec"].attrs[f"x{i}"] = np.arange(3.0) * i  # x11 alone in the second block


def _step(change: Callable[[h5py.AttributeManager], None]) -> Callable[[h5py.File], None]:
    return lambda f: change(f["spec"].attrs)


def _del(a: h5py.AttributeManager) -> None:
    del a["x11"]


def _set(a: h5py.AttributeManager) -> None:
    a["x11"] = np.arange(3.0) * 11


def _grow(a: h5py.AttributeManager) -> None:
    a["x11"] = np.arange(30.0)


CASES = {
    "refit": None,  # the attack's own: 12 attributes set again in a third session
    "deleted": [_del],  # the root reverted: a root direct block counted empty
    "deleted-set": [_del, _set],  # reverted, then grown again in the next session
    "set-twice": [_set, _set],
    "grown": [_grow],
}


def _file(name: str) -> bytes:
    steps = CASES[name]
    if steps is None:
        return dense_rewrite("latest", False)
    return sessions([_spec, _fit, *map(_step, steps)], libver="latest")


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {name: _file(name) for name in CASES}


def _counters(data: bytes) -> tuple[int, int, int, int]:
    """(FRHP address, free space, allocated space, iterator) of the file's one heap."""
    at = data.index(b"FRHP")
    return at, *(struct.unpack_from("<Q", data, at + o)[0] for o in (_FREE, _ALLOC, _ITER))


def _with(data: bytes, changes: dict[int, int]) -> bytes:
    at = data.index(b"FRHP")
    out = bytearray(data)
    for offset, value in changes.items():
        struct.pack_into("<Q", out, at + offset, value)
    struct.pack_into("<I", out, at + _CHECKSUM, lookup3(bytes(out[at : at + _CHECKSUM])))
    return bytes(out)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reverted_heaps_pass(files, name):
    assert _refusal(files[name]) == ""
    assert "its root block reverted" in _refusal(_with(files[name], {_FREE: 0})), "control"


def _honest_free(data: bytes) -> int:
    """The free space the heap's blocks hold: what the walk's refusal of a reverted
    heap's free count of 0 extra names."""
    probe = _refusal(_with(data, {_FREE: 0})).split("hold ")[1].split(" (")[0]
    held, unallocated = probe.split(" and those not yet allocated ")
    return int(held) + int(unallocated)


@pytest.mark.parametrize("name", ["refit", "deleted"])
def test_free_space_within_the_first_blocks_room(files, name):
    data = files[name]
    honest = _honest_free(data)
    _, free, _, _ = _counters(data)
    assert 0 < free - honest <= _ROOM
    assert _refusal(_with(data, {_FREE: honest + _ROOM})) == ""  # the documented bound
    for wrong in (honest, honest + _ROOM + 1, honest - 1):
        assert "bytes of free space" in _refusal(_with(data, {_FREE: wrong})), wrong


@pytest.mark.parametrize("name", ["refit", "deleted"])
def test_counters_other_than_the_reverts_are_refused(files, name):
    data = files[name]
    _, _, allocated, iterator = _counters(data)
    changes = ({_ALLOC: allocated + 512}, {_ALLOC: allocated - 1024 if allocated else 1},
               {_ITER: iterator + 1024}, {_ITER: 0})
    for change in changes:
        assert "counts managed space" in _refusal(_with(data, change)), change


def test_an_unreverted_heap_counts_its_free_space_exactly():
    data = sessions([_spec, _fit], libver="latest")
    _, free, allocated, _ = _counters(data)
    assert allocated == 2048 and _refusal(data) == ""
    assert "bytes of free space" in _refusal(_with(data, {_FREE: free + 1}))
