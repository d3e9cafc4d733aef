"""Real netCDF-4 and h5py dimension-scale workflows vet admits whole (session 40, helper
ncfr: attack qh5's false rejections), and the bytes newly admitted for them pinned.

h5py under the default libver (version 1 headers) rewrites a scale's REFERENCE_LIST one
entry longer at each attach; a full header holds it in a continuation block of its own,
which libhdf5 frees unrewritten when the next attach deletes the list: the block keeps
the list as it was (oldlists.py). Every such workflow passes; a byte of the kept copy
changed, the copy shifted, two copies, or a byte after it, stay refused."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5.objects import walk


def _sessions(steps, **kw) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.h5"
        for i, step in enumerate(steps):
            with h5py.File(path, "w" if i == 0 else "a", **kw) as f:
                step(f)
        return path.read_bytes()


def _scale(name: str = "t", n: int = 5):
    def step(f: h5py.File) -> None:
        f[name] = np.arange(float(n))
        f[name].make_scale(name)

    return step


def _attach(*names: str, scale: str = "t", n: int = 5):
    def step(f: h5py.File) -> None:
        for name in names:
            f.create_dataset(name, data=np.ones(n)).dims[0].attach_scale(f[scale])

    return step


def _both(*steps):
    def step(f: h5py.File) -> None:
        for s in steps:
            s(f)

    return step


H5PY = {
    "scale-2-sessions": [_both(_scale(), _attach("v0")), _attach("v1")],
    "scale-4-sessions": [_both(_scale(), _attach("v0")), _attach("v1"), _attach("v2"), _attach("v3")],
    "scale-groups-2-sessions": [_both(_scale(), _attach("g/a", "g/b", "g/c")), _attach("h/w")],
    "scale-2-per-session": [_both(_scale(), _attach("v0", "v1")), _attach("v2", "v3"), _attach("v4")],
    "two-scales-3-sessions": [
        _both(_scale("t"), _scale("s", 3), _attach("v0"), _attach("w0", scale="s", n=3)),
        _both(_attach("v1"), _attach("w1", scale="s", n=3)),
        _attach("w2", scale="s", n=3),
    ],
    "scale-then-data-sessions": [_both(_scale(), _attach("v0")), _attach("v1"), lambda f: f.__setitem__("z", [1])],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(H5PY))
def test_h5py_scales_attached_over_sessions_pass(name):
    assert _refusal(_sessions(H5PY[name])) == ""


def _stale(data: bytes) -> tuple[int, int]:
    """(start, end) of the earlier list a freed block keeps: the REFERENCE_LIST message
    outside every structure the walk claims."""
    claimed = sorted(walk(data, len(data)).items())
    at = data.find(b"REFERENCE_LIST")
    while any(s <= at < e for s, (e, _) in claimed):
        at = data.find(b"REFERENCE_LIST", at + 1)
    start = at - 16  # message header (8) and the attribute's fields (8) before the name
    return start, start + 8 + int.from_bytes(data[start + 2 : start + 4], "little")


@pytest.fixture(scope="module")
def two() -> tuple[bytes, int, int]:
    data = _sessions(H5PY["scale-2-sessions"])
    return (data, *_stale(data))


def test_the_copy_is_there(two):
    data, start, end = two
    assert data[start : start + 2] == b"\x0c\x00" and end - start == 192
    assert not data[end : end + 64].strip(b"\0")


@pytest.mark.parametrize("offset", [2, 4, 5, 17, 40, 80, 120, 140, 150, 160, 176, 184, 191])
def test_one_byte_of_the_copy_changed_is_refused(two, offset):
    data, start, _ = two
    at = start + offset
    assert "reached from no structure" in _refusal(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])


def test_a_chosen_byte_after_the_copy_is_refused(two):
    data, _, end = two
    assert "reached from no structure" in _refusal(data[: end + 8] + b"\x41" + data[end + 9 :])


def test_the_copy_shifted_is_refused(two):
    data, start, end = two
    moved = data[:start] + bytes(8) + data[start:end] + data[end + 8 :]
    assert "reached from no structure" in _refusal(moved)


def test_the_copy_twice_is_refused(two):
    data, start, end = two
    copy = data[start:end]
    assert "reached from no structure" in _refusal(data[:end] + copy + data[end + len(copy) :])


def test_the_live_list_s_own_length_is_refused(two):
    """A copy as long as the live list (dimensions 2, its entries) is no earlier state."""
    data, start, end = two
    live = data.find(b"REFERENCE_LIST", end) - 16
    size = 8 + int.from_bytes(data[live + 2 : live + 4], "little")
    forged = data[:start] + data[live : live + size] + data[start + size :]
    assert "reached from no structure" in _refusal(forged)
