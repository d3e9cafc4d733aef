"""Compound and array datatypes (issue #13): the lab's tables written by h5py, rows of
(int8, str) and aligned dtypes with padding, their variable-length members walked into
the global heap like plain variable-length values, and every byte no reader returns
pinned: padding between and after members zeros, elements past a chunked dataset's
extent the fill value. Refused: padding that holds data (h5py writes numpy's
uninitialised gaps as they are), a heap object reached only from padding."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from tests.quarantine.test_elision import vet
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.hdf5_bytes import message, put
from vmguard.quarantine.model import Verdict
from vmguard.quarantine.validators.hdf5 import WALKED_HERE, sizes, walk
from vmguard.quarantine.validators.hdf5.ledger import File

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

STR = h5py.string_dtype()
PADDING = "the padding of a compound element of /t holds data"
PACKED = np.dtype([("code", "i1"), ("name", STR)])  # h5py: 17 bytes in the file, no gap
# aligned: code 0, (7 bytes of padding), name 8..24, energy 24..32, tag 32..48, flag 48, (7)
ALIGNED = np.dtype(
    [("code", "i1"), ("name", STR), ("energy", "f8"), ("tag", STR), ("flag", "i1")], align=True
)
FIXED = np.dtype([("code", "i1"), ("energy", "f8"), ("n", "i2")], align=True)  # no vlen, 13 bytes of padding
WITH_ARRAY = np.dtype([("code", "i1"), ("names", STR, (3,)), ("xyz", "f4", (3,))])


def _rows(dtype: np.dtype, n: int = 10) -> np.ndarray:
    rows = np.zeros(n, dtype=dtype)  # zeroed: the padding is zeros, as it must be
    for name in dtype.names:
        for i in range(n):  # a value, repeated over an array member
            rows[name][i] = f"value {i} " * (i % 4) if dtype[name].base == STR else i % 100
    return rows


def _dirty(dtype: np.dtype, n: int = 10) -> np.ndarray:
    """The rows of _rows in memory that held other data before (0xAB): numpy leaves the
    gaps of an aligned dtype as they were, and h5py writes them as they are."""
    rows = np.empty(n, dtype=dtype)
    rows.view(np.uint8)[:] = 0xAB
    rows[:] = _rows(dtype, n)
    return rows


def _compact() -> dict:
    """create_dataset's arguments for the compact layout (the data in the header)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    return {"dcpl": dcpl}


def _h5(build, **kw) -> bytes:
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", **kw) as f:
        build(f)
    return tmp.getvalue()


TABLES = {
    "packed-contiguous": lambda f: f.create_dataset("t", data=_rows(PACKED)),
    "packed-gzip": lambda f: f.create_dataset("t", data=_rows(PACKED, 50), chunks=(8,), compression="gzip"),
    "aligned-contiguous": lambda f: f.create_dataset("t", data=_rows(ALIGNED)),
    "aligned-gzip-shuffle": lambda f: f.create_dataset(
        "t", data=_rows(ALIGNED, 50), chunks=(8,), compression="gzip", shuffle=True, fletcher32=True
    ),
    "aligned-resizable": lambda f: f.create_dataset(
        "t", data=_rows(ALIGNED, 30), chunks=(8,), maxshape=(None,)
    ),
    "aligned-attribute": lambda f: f.attrs.create("t", _rows(ALIGNED, 5)),
    "aligned-compact": lambda f: f.create_dataset("t", data=_rows(ALIGNED, 2), **_compact()),
    "fixed-padded": lambda f: f.create_dataset("t", data=_rows(FIXED, 100)),
    "fixed-padded-gzip": lambda f: f.create_dataset(
        "t", data=_rows(FIXED, 100), chunks=(16,), compression="gzip"
    ),
    "array-members": lambda f: f.create_dataset("t", data=_rows(WITH_ARRAY), chunks=(4,), compression="gzip"),
    "dense-attributes": lambda f: [f.attrs.create(f"t{i}", _rows(ALIGNED, 3)) for i in range(10)],
    "committed": lambda f: (
        f.__setitem__("row", ALIGNED),
        f.create_dataset("t", data=_rows(ALIGNED), dtype=f["row"]),
    ),
    "string-array": lambda f: f.create_dataset(
        "t", data=np.array([["a", "bb"], ["", "ccc"]], dtype=object), dtype=STR
    ),  # fmt: skip
}


@pytest.fixture(scope="module")
def tables() -> dict[str, bytes]:
    return {
        f"{name}-{libver}.h5": _h5(build, libver=libver)
        for name, build in TABLES.items()
        for libver in ("earliest", "latest")
    }


def test_the_tables_pass_and_their_values_are_walked(tables):
    """Every table passes; its variable-length members are followed into the global heap
    (the control: a collection is claimed wherever a table has strings)."""
    for name, data in tables.items():
        extents = walk(data, len(data))
        heaps = [w for _, w in extents.values() if w.startswith("the global heap collection")]
        assert bool(heaps) == (not name.startswith("fixed")), name


def test_the_tables_are_published_byte_identical(tmp_path: Path, tables):
    """Through vet under the shipped batch policy; a table over WALKED_HERE is walked in
    the walk's own sandbox on vmguard's copy (there too, dirty padding is refused)."""
    large = {"large.h5": _h5(lambda f: f.create_dataset("t", data=_rows(ALIGNED, 40_000)))}
    dirty = _h5(lambda f: f.create_dataset("t", data=_dirty(FIXED, 100_000)))
    assert min(len(large["large.h5"]), len(dirty)) > WALKED_HERE
    entries = vet(tmp_path, {**tables, **large, "dirty.h5": dirty})
    assert entries["dirty.h5"].verdict is Verdict.REJECTED
    assert "the padding of a compound element of /t holds data" in entries["dirty.h5"].detail
    for name, data in {**tables, **large}.items():
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == data


@pytest.mark.parametrize(
    ("n", "kw"),
    [
        (10, {}),
        (100, {"chunks": (16,), "compression": "gzip", "shuffle": True}),
        (100, {"chunks": (16,), "compression": "gzip"}),
        (30, {"chunks": (8,), "maxshape": (None,)}),
        (3, "compact"),
        (5, None),
    ],
    ids=["contiguous", "gzip-shuffle", "gzip", "resizable", "compact", "attribute"],
)
def test_padding_as_h5py_writes_it_from_memory_that_held_data_is_refused(n, kw):
    """h5py writes the gaps of an aligned numpy dtype as the writer's memory held them (no
    reader returns them): refused wherever the elements are stored; the same rows from
    zeroed memory pass (the control)."""

    def build(rows):
        if kw is None:
            return lambda f: f.create_group("g").attrs.create("t", rows)
        return lambda f: f.create_dataset("t", data=rows, **(_compact() if kw == "compact" else kw))

    assert _refusal(_h5(build(_rows(FIXED, n)))) == ""
    refused = _refusal(_h5(build(_dirty(FIXED, n))))
    assert "the padding of a compound element of" in refused
    assert "holds data" in refused


def _data(data: bytes, what: str = "the data of /t") -> int:
    return next(s for s, (_, w) in walk(data, len(data)).items() if w == what)


@pytest.mark.parametrize("libver", ["earliest", "latest"])  # compound datatype versions 1 and 3
@pytest.mark.parametrize("byte", [1, 7, 49, 55])  # the gap after code, and after flag (the last member)
def test_one_byte_of_padding_patched_is_refused(byte, libver):
    data = bytearray(_h5(TABLES["aligned-contiguous"], libver=libver))
    at = _data(data) + 56 * 3 + byte  # the fourth row
    assert data[at] == 0
    data[at] = 1
    assert PADDING in _refusal(bytes(data))
    data[at] = 0
    assert _refusal(bytes(data)) == ""  # the control


def test_a_heap_object_reached_only_from_padding_is_refused(tmp_path: Path):
    """The last member of a (name, note) table removed from its datatype message (a null
    message takes its bytes): the notes' references are now padding, which a reader
    never returns (h5py still reads the file), and the heap objects they name are
    reached from nothing a reader follows. Refused with the references in place, and
    with them zeroed."""
    pair = np.dtype([("name", STR), ("note", STR)])
    rows = np.zeros(4, dtype=pair)
    rows["name"], rows["note"] = ["a", "b", "c", "d"], ["payload"] * 4
    data = bytearray(_h5(lambda f: f.create_dataset("t", data=rows)))
    header = next(s for s, (_, w) in walk(data, len(data)).items() if w == "the object header of /t")
    body, size = message(data, header, 0x03)
    start = _data(data)
    f = File(bytes(data), len(data))
    (_, pos, n), _ = sizes.members(f, body, (1, 2, 32), "/t", 0)  # a version 1 compound
    kept = -(-(pos + n - body) // 8) * 8  # the datatype's header and its first member
    assert data[body] >> 4 == 1 and size - kept >= 8
    put(data, body + 1, 1, "<H")  # one member
    data[pos + n : body + kept] = bytes(body + kept - pos - n)  # the message's padding
    put(data, body - 6, kept, "<H")  # the datatype message's size
    _free_at_end(data, header, body + kept, body + size)
    path = tmp_path / "t.h5"
    path.write_bytes(data)
    with h5py.File(path) as f:  # what a reader sees: the names only
        assert f["t"].dtype.names == ("name",) and f["t"][0][0] == b"a"
    assert PADDING in _refusal(bytes(data))
    for row in range(4):
        data[start + row * 32 + 16 : start + row * 32 + 32] = bytes(16)
    assert "is referred to by nothing" in _refusal(bytes(data))


def _free_at_end(data: bytearray, header: int, start: int, freed: int) -> None:
    """The messages of the version 1 header at `header` from `freed` on moved to `start`,
    the bytes left over and its null messages one null message at its end, as libhdf5
    condenses a header (the message count adjusted)."""
    end = header + 16 + struct.unpack_from("<I", data, header + 8)[0]
    kept, pos, nulls = b"", freed, 0
    while pos < end:
        kind, size = struct.unpack_from("<HH", data, pos)
        nulls += kind == 0
        kept += data[pos : pos + 8 + size] if kind else b""
        pos += 8 + size
    rest = end - start - len(kept) - 8
    data[start:end] = kept + struct.pack("<HHB3x", 0, rest, 0) + bytes(rest)
    put(data, header + 2, struct.unpack_from("<H", data, header + 2)[0] + 1 - nulls, "<H")


def test_an_edge_element_of_a_chunked_table_is_the_fill_value():
    """10 rows in chunks of 4: the last chunk's last two elements lie past the extent; a
    variable-length reference copied there is refused (no reader returns it)."""
    data = bytearray(_h5(lambda f: f.create_dataset("t", data=_rows(ALIGNED), chunks=(4,))))
    extents = walk(data, len(data))  # the control
    last = max(s for s, (_, w) in extents.items() if w == "a chunk of /t")
    data[last + 3 * 56 + 8 : last + 3 * 56 + 24] = data[last + 8 : last + 24]
    assert "past the dataset's extent" in _refusal(bytes(data))


def test_a_reference_of_a_member_named_twice_is_refused():
    """Two rows' names pointing at one heap object: each object is one value's."""
    data = bytearray(_h5(TABLES["aligned-contiguous"]))
    start = _data(data)
    data[start + 56 + 8 : start + 56 + 24] = data[start + 2 * 56 + 8 : start + 2 * 56 + 24]
    assert "name object" in _refusal(bytes(data))


def test_the_padding_of_compounds_in_variable_length_sequences_is_checked_in_the_heap():
    """The items of a heap object (a sequence of padded compounds) are elements too: zeroed
    rows pass (the control), a row whose padding holds data in the heap object is refused."""
    dtype = h5py.vlen_dtype(FIXED)
    rows = np.empty(2, dtype=object)
    rows[0], rows[1] = _rows(FIXED, 3), _rows(FIXED, 2)
    data = bytearray(_h5(lambda f: f.create_dataset("t", data=rows, dtype=dtype)))
    assert _refusal(bytes(data)) == ""
    at = bytes(data).index(b"GCOL") + 16 + 16  # the first object's first item
    assert data[at + 1 : at + 8] == bytes(7)  # code at 0, its padding 1..8
    data[at + 3] = 0x50
    assert "the padding of a compound element of /t (object 1 of the global heap collection" in _refusal(
        bytes(data)
    )


@pytest.mark.parametrize("kw", [{}, {"chunks": (4,)}], ids=["contiguous", "chunked"])
def test_the_padding_of_a_fill_value_is_zeros(kw):
    """A fill value is an element too: its padding holds data only from the writer's memory."""
    fill = _dirty(FIXED, 1)
    fill["code"] = 7
    assert (
        _refusal(
            _h5(lambda f: f.create_dataset("t", shape=(10,), dtype=FIXED, fillvalue=_rows(FIXED, 1)[0], **kw))
        )
        == ""
    )
    refused = _refusal(
        _h5(lambda f: f.create_dataset("t", shape=(10,), dtype=FIXED, fillvalue=fill[0], **kw))
    )
    assert "the padding of a compound element of the fill value of /t holds data" in refused


def test_the_padding_of_an_element_larger_than_a_window_is_checked():
    """An element of more than 1 MiB (a row holding a large array) is read a run at a time."""
    big = np.dtype([("code", "i1"), ("x", "f4", (300_000,))], align=True)
    rows = np.zeros(2, dtype=big)
    rows["x"] = 1.5
    data = bytearray(_h5(lambda f: f.create_dataset("t", data=rows)))
    start = _data(data)  # the control: zeroed, it passes
    data[start + big.itemsize + 3] = 1  # the padding of the second row
    assert PADDING in _refusal(bytes(data))


def test_an_element_of_too_many_values_is_refused_before_it_is_built():
    """An array of 5000 strings: more than MAX_PARTS values in one element, refused by
    count (an array of arrays cannot make the walk build billions of them)."""
    many = np.dtype([("code", "i1"), ("names", STR, (5000,))])
    data = _h5(lambda f: f.create_dataset("t", shape=(1,), dtype=many))
    assert "holds more than 4096 values and references" in _refusal(data)


@pytest.mark.parametrize(
    ("offset", "size"), [(0, 16), (48, 16), (8, 8)], ids=["overlap", "overrun", "vlen-size"]
)
def test_a_member_placed_or_sized_wrongly_is_refused(offset, size):
    """The name member (a variable-length string at 8) moved onto code, past the element's
    end, or declared 8 bytes: refused (a value would share bytes with data or padding)."""
    data = bytearray(_h5(TABLES["aligned-contiguous"]))
    header = next(s for s, (_, w) in walk(data, len(data)).items() if w == "the object header of /t")
    body, _ = message(data, header, 0x03)
    _, (_, pos, _), *_ = sizes.members(File(bytes(data), len(data)), body, (1, 5, 56), "/t", 0)
    put(data, pos - 32, offset, "<I")  # a version 1 member: its offset, then 28 bytes
    put(data, pos + 4, size, "<I")  # its datatype's size
    refused = _refusal(bytes(data))
    assert "overlap or overrun" in refused or "is 8 bytes, not 16" in refused


def test_the_compact_tables_are_compact(tables):
    """The control that "compact" means the data in the object header: no extent of its own."""
    for libver in ("earliest", "latest"):
        data = tables[f"aligned-compact-{libver}.h5"]
        whats = [w for _, w in walk(data, len(data)).values()]
        assert "the data of /t" not in whats and any(w.startswith("the global heap") for w in whats)
