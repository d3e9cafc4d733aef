"""Edge chunks (issue #13): a chunk's elements past the dataset's extent are bytes no
reader returns, so they must hold what libhdf5 writes there: the fill value when one is
defined and the fill time is not "never", else zeros. Real h5py output of every chunk
index (v1 B-tree, fixed array, extensible array with the unlimited
dimension first or not), shuffled, with a fill value, shrunk: passes untouched; one
byte changed past the extent is refused naming the rule, one changed inside it (the
control: data a reader returns) passes."""

from __future__ import annotations

import io
from math import prod

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from vmguard.quarantine.validators.hdf5 import walk
from vmguard.quarantine.validators.hdf5.edges import outside

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

PAST = "past the dataset's extent"
BASE = 0x5A5A_0000_0000  # the first element's value: each element tells where it lies


def _shape(shape, chunks, maxshape=None, **kw):
    def build(f):
        d = f.create_dataset("d", shape=shape, chunks=chunks, maxshape=maxshape, dtype="i8", **kw)
        d[...] = np.arange(BASE, BASE + prod(shape)).reshape(shape)

    return build


def _shrunk(f):
    d = f.create_dataset("d", data=np.arange(BASE, BASE + 100), chunks=(64,), maxshape=(None,), fillvalue=-1)
    d.resize((70,))


CASES = {  # name: (builder, libver)
    "btree-1d": (_shape((100,), (64,)), "earliest"),
    "btree-2d": (_shape((5, 7), (4, 4)), "earliest"),
    "btree-fill": (_shape((100,), (64,), fillvalue=7), "earliest"),
    "btree-shuffle": (_shape((100,), (64,), shuffle=True), "earliest"),
    "btree-shrunk": (_shrunk, "earliest"),
    "fixed-array-1d": (_shape((100,), (64,), maxshape=(128,)), "latest"),
    "fixed-array-2d": (_shape((5, 7), (4, 4)), "latest"),
    "fixed-array-max": (_shape((5, 7), (4, 4), maxshape=(9, 9)), "latest"),
    "earray-first": (_shape((5, 7), (4, 4), maxshape=(None, 7)), "latest"),
    "earray-second": (_shape((5, 7), (4, 4), maxshape=(5, None)), "latest"),
    "earray-fill-shuffle": (_shape((9, 5), (4, 4), maxshape=(9, None), fillvalue=-3, shuffle=True), "latest"),
}


def _file(name):
    build, libver = CASES[name]
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", libver=libver) as f:
        build(f)
    return tmp.getvalue()


def _edge_positions(path):
    """(the chunk's file offset, shuffled, element count, item, the chunk's element index
    of one element past the extent and of one inside) of each edge chunk of /d. Chunks are
    found by the walk and placed by their first element (value BASE + its index):
    libhdf5 2.0's H5Dget_chunk_info misplaces those of an extensible array whose
    unlimited dimension is not the first."""
    data = path.read_bytes()
    with h5py.File(path) as f:
        dims, shape, item, shuffled = f["d"].chunks, f["d"].shape, 8, f["d"].shuffle
    count, out = prod(dims), []
    for at in (s for s, (_, w) in walk(data, len(data)).items() if w == "a chunk of /d"):
        first = bytes(data[at + j * count] for j in range(item)) if shuffled else data[at : at + item]
        offset = np.unravel_index(int.from_bytes(first, "little") - BASE, shape)
        valid = tuple(int(min(c, n - o)) for c, n, o in zip(dims, shape, offset, strict=True))
        runs = list(outside(dims, valid))
        if runs:
            inside = next(e for e in range(count) if not any(a <= e < b for a, b in runs))
            out.append((at, shuffled, count, item, runs[-1][1] - 1, inside))
    return out


def _patched(data, at, element, shape):
    shuffled, count, item = shape
    data = bytearray(data)
    data[at + (count * (item - 1) + element if shuffled else element * item + item - 1)] ^= 0x40
    return bytes(data)


@pytest.mark.parametrize("name", CASES)
def test_edge_chunks_hold_the_fill_value_past_the_extent(tmp_path, name):
    data = _file(name)
    assert _refusal(data) == ""  # h5py's own output passes
    (tmp_path / "f.h5").write_bytes(data)
    edges = _edge_positions(tmp_path / "f.h5")
    assert edges, "the case has no edge chunk: it could not fail"
    for at, shuffled, count, item, past, inside in edges:
        assert _refusal(_patched(data, at, inside, (shuffled, count, item))) == ""  # the control
        assert PAST in _refusal(_patched(data, at, past, (shuffled, count, item)))


def test_a_deflated_edge_chunk_is_read_past_the_extent(tmp_path):
    path = tmp_path / "z.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("z", data=np.arange(100, dtype="i8"), chunks=(64,), compression="gzip", fillvalue=5)
    data = bytearray(path.read_bytes())
    assert _refusal(bytes(data)) == ""
    chunk = max(hd.chunks(path, "z"), key=lambda c: c.chunk_offset)
    raw = bytearray(hd.inflate(data, chunk))
    assert raw[36 * 8 :] == (5).to_bytes(8, "little") * 28  # libhdf5 wrote the fill value there
    raw[63 * 8] = 6
    assert PAST in _refusal(bytes(hd.replace_chunk(bytearray(data), chunk, bytes(raw))))


def test_the_fill_time_never_leaves_zeros(tmp_path):
    """A fill value with fill time "never": libhdf5 zeros a new chunk (H5D__chunk_lock)."""
    path = tmp_path / "n.h5"
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((64,))
        dcpl.set_fill_value(np.array(9, dtype="i8"))
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        space = h5py.h5s.create_simple((100,))
        dset = h5py.h5d.create(f.id, b"d", h5py.h5t.STD_I64LE, space, dcpl=dcpl)
        dset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(BASE, BASE + 100, dtype="i8"))
    data = path.read_bytes()
    assert _refusal(data) == ""
    ((at, shuffled, count, item, past, _),) = _edge_positions(path)
    assert not data[at + 100 * 8 : at + 128 * 8].strip(b"\0")
    assert PAST in _refusal(_patched(data, at, past, (shuffled, count, item)))


def test_variable_length_values_past_the_extent_are_not_values():
    """A string chunk's elements past the extent (250..255 of /part) are the fill (zeros),
    never read as references: one naming a real heap object (a copy of element 0's)
    is refused as data past the extent, not counted as a value."""
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        part = f.create_dataset("part", shape=(250,), chunks=(64,), dtype=h5py.string_dtype())
        part[...] = [f"entry {j}" for j in range(250)]
    data = bytearray(tmp.getvalue())
    assert _refusal(bytes(data)) == ""
    chunks = sorted(s for s, (_, w) in walk(data, len(data)).items() if w == "a chunk of /part")
    end = chunks[-1] + 64 * 16
    data[end - 16 : end] = data[chunks[-1] : chunks[-1] + 16]
    assert PAST in _refusal(bytes(data))
