"""HDF5 files cut short and chunked datasets shrunk (session 33, attack f).

Every truncation point of a real file is refused with an `hdf5:` reason, never a
validator failure (the superblock's version byte is read like every other field). A
chunk B-tree keeps its final key when a shrink prunes chunks (H5B_remove slides it down
onto the last removed chunk's): h5py's resize() passes, under any libver; a final key
off the chunk grid, holding a size or mask, or past the maximum dimensions is refused.
Pruned chunks that are not the file's last keep their old data: refused, naming the
shrink and h5repack."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import h5file
from tests.support.hdf5_bytes import put
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import validate_top
from vmguard.quarantine.validators.stream import Stream

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")


def _names(f) -> None:
    for name in ("a", "bb", "run1"):
        f.create_group(name)
    f["x"] = np.arange(5.0)


def _reason(data: bytes) -> str:
    """What the worker's validator says of `data` ("" when it passes)."""
    try:
        validate_top(Stream(iter([data])))
    except Invalid as err:
        return str(err)
    return ""


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_every_truncation_point_gets_an_hdf5_reason(libver):
    whole = bytes(h5file(_names, libver=libver))
    assert _reason(whole) == ""  # control
    reasons = {n: _reason(whole[:n]) for n in range(len(whole))}
    assert all(r.startswith("hdf5: ") for r in reasons.values()), reasons
    assert "ends inside the superblock (offset 8)" in reasons[8]


def _series(n: int = 1000, maxshape: int | None = None):
    def step(f) -> None:
        f.create_dataset("s", data=np.arange(float(n)), maxshape=(maxshape,), chunks=(100,))
    return step


def _shrink(n: int):
    def step(f) -> None:
        f["s"].resize((n,))
    return step


def _final_key(data: bytes) -> int:
    """The address of the offsets of the final key of the (one-node) chunk B-tree."""
    tree = data.index(b"TREE\x01")
    used = struct.unpack_from("<H", data, tree + 6)[0]
    return tree + 24 + used * 32 + 8


@pytest.mark.parametrize("libver", ["earliest", "latest"])
@pytest.mark.parametrize("n", [700, 450, 100, 1, 0, 999])
@pytest.mark.parametrize("reopened", [False, True])
def test_a_series_shrunk_at_the_files_end_passes(libver, n, reopened):
    """The pruned chunks are the file's last: freed, the file ends before them."""
    steps = [_series(), _shrink(n)] if reopened else [lambda f: (_series()(f), _shrink(n)(f))]
    assert _refusal(sessions(steps, libver=libver)) == ""


def test_the_final_key_keeps_the_largest_extent():
    data = bytearray(sessions([_series(), _shrink(300)]))
    assert struct.unpack_from("<QQ", data, _final_key(data)) == (900, 8)  # libhdf5's, not 300
    assert _refusal(bytes(data)) == ""


@pytest.mark.parametrize(("offset", "maxshape", "passes"), [
    (900, 1000, True), (1100, 1000, True),  # one chunk past the maximum, as before a shrink
    (1200, 1000, False), (950, None, False),  # past it; off the grid
    (100 * 2**40, None, True),  # unlimited: any offset on the grid (64 - log2(100) bits)
])
def test_a_final_key_past_the_maximum_or_off_the_grid_is_refused(offset, maxshape, passes):
    data = bytearray(sessions([_series(maxshape=maxshape), _shrink(300)]))
    put(data, _final_key(data), offset)
    assert (_refusal(bytes(data)) == "") == passes, _refusal(bytes(data))


def test_a_final_key_holding_a_size_is_refused():
    data = bytearray(sessions([_series(), _shrink(300)]))
    put(data, _final_key(data) - 8, 0x4C495645, "<I")
    assert "final key of a chunk B-tree node of /s holds data" in _refusal(bytes(data))


def _image(f) -> None:
    f.create_dataset("m", data=np.arange(400.0).reshape(20, 20), maxshape=(None, None), chunks=(5, 5))


def _two_series(f) -> None:
    _series()(f)
    f.create_dataset("b", data=np.arange(300.0), maxshape=(None,), chunks=(100,))


@pytest.mark.parametrize(("case", "libver"), [  # (latest: two unlimited dimensions: a v2 B-tree)
    ("image", "earliest"), ("first-of-two", "earliest"), ("first-of-two", "latest")])
def test_pruned_chunks_inside_the_file_are_refused_naming_the_shrink(libver, case):
    """Their bytes are data the dataset no longer holds: no rule recomputes them."""
    steps = {"image": [_image, lambda f: f["m"].resize((12, 13))],
             "first-of-two": [_two_series, _shrink(450)]}[case]
    reason = _refusal(sessions(steps, libver=libver))
    assert "chunks a shrink (resize()) pruned" in reason and "h5repack" in reason, reason
