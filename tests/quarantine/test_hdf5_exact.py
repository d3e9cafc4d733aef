"""HDF5, every byte inside a counted structure exactly what the structure needs
(issue #13): real h5py output of the kinds the exactness rules touch passes (committed
datatypes, hard and soft links, never-written and resized chunked datasets, multi-level
B-trees written in random order), and a few attacks
of the attacker's kinds (tests/quarantine/test_attack_independent_hdf5.py) on them are
refused with the rule they break."""

from __future__ import annotations

import io
import random
import struct
import time
import tracemalloc
import zlib

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import walk
from vmguard.quarantine.validators.hdf5.chunkdata import Chunking, claim, fletcher32
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Walker

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

UNDEFINED = 0xFFFFFFFFFFFFFFFF


def _links(f) -> None:
    f["t"] = np.dtype("f8")  # a committed datatype, shared by a dataset and an attribute
    f.create_dataset("x", data=np.arange(3.0), dtype=f["t"])
    f["x"].attrs.create("a", 1.0, dtype=f["t"])
    f["y"] = f["x"]  # hard links: the reference count is 2, then 3
    f.create_group("g")["z"] = f["x"]
    f["soft"] = h5py.SoftLink("/does/not/exist")
    f["here"] = h5py.SoftLink("/x")
    d = f.create_group("d")  # under 8 links a group (latest format) keeps them in its header
    d.create_dataset("never", shape=(100,), chunks=(10,), dtype="i4")  # no chunk written
    d.create_dataset("sums", data=np.arange(1000), chunks=(100,), compression="gzip", fletcher32=True)
    grow = d.create_dataset("grow", shape=(100,), maxshape=(None,), chunks=(10,), dtype="i4")
    grow[:] = 1
    grow.resize((1000,))
    grow[900:] = 2
    grow.resize((55,))  # shrunk: HDF5 prunes the chunks outside


def _trees(f) -> None:
    g = f.create_group("many")  # more SNOD nodes than one B-tree node holds: two levels
    for i in range(700):
        g[f"n{i:04d}"] = np.arange(2)
    d = f.create_dataset("r", shape=(300, 300), chunks=(7, 9), dtype="f4", compression="gzip", shuffle=True)
    rnd = random.Random(1)
    for _ in range(1500):  # chunks written in random order: siblings and keys as HDF5 makes them
        d[rnd.randrange(300), rnd.randrange(300)] = 1


def _types(f) -> None:
    """Every datatype class h5py writes, and fill values: each message exactly its content."""
    g, h = f.create_group("a"), f.create_group("b")
    g["cpd"] = np.zeros(3, dtype=[("a", "i4"), ("bb", "f8", (2, 3)), ("c", "S5")])
    g["enum"] = np.array([0, 1, 1], dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i1"))
    g["bool"] = np.array([True, False])
    g["cplx"] = np.arange(4) * 1j
    g["opaque"] = np.void(b"abcdefg")
    g["arr"] = np.zeros(2, dtype=np.dtype(("f4", (2, 2))))
    h.create_dataset("vl", (2,), dtype=h5py.vlen_dtype("i4"))
    h["vl"][0], h["vl"][1] = np.arange(3), np.arange(7)
    h.attrs["cpd"] = np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])
    h.attrs["note"] = "x" * 100
    h["ref"] = f["a"].ref
    h.create_dataset("fill", shape=(5,), dtype="i4", fillvalue=7)
    h.create_dataset("sfill", shape=(5,), dtype="S3", fillvalue=b"ab")


def _h5(build, libver: str) -> bytes:
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", libver=libver) as f:
        build(f)
    return tmp.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "links-v0": _h5(_links, "earliest"),
        "links-v3": _h5(_links, "latest"),
        "trees-v0": _h5(_trees, "earliest"),
        "types-v0": _h5(_types, "earliest"),
        "types-v3": _h5(_types, "latest"),
    }


@pytest.mark.parametrize("name", ["links-v0", "links-v3", "trees-v0", "types-v0", "types-v3"])
def test_real_h5py_output_passes(files, name):
    assert _refusal(files[name]) == ""


def _node(data: bytes, kind: int) -> int:
    """A leaf node of a B-tree of `kind` that has a right sibling."""
    at = 0
    while (at := data.find(b"TREE", at + 1)) > 0:
        if (
            data[at + 4 : at + 6] == bytes([kind, 0])
            and struct.unpack_from("<Q", data, at + 16)[0] != UNDEFINED
        ):
            return at
    raise AssertionError("no such node")


def test_a_chunk_trees_sibling_pointing_elsewhere_is_refused(files):
    data = bytearray(files["trees-v0"])
    leaf = _node(data, 1)
    data[leaf + 16 : leaf + 24] = struct.pack("<Q", leaf)
    assert "are not its neighbours" in _refusal(bytes(data))


def test_a_group_trees_sibling_set_is_refused(files):
    data = bytearray(files["trees-v0"])
    leaf = _node(data, 0)
    data[leaf + 8 : leaf + 16] = b"PAYLOAD!"
    assert "are not its neighbours" in _refusal(bytes(data))


def test_a_reference_count_above_the_links_is_refused(files):
    data = bytearray(files["links-v0"])
    names = {f"the object header of {p}" for p in ("/x", "/y", "/g/z")}  # whichever came first
    x = next(s for s, (_, w) in walk(data, len(data)).items() if w in names)
    assert struct.unpack_from("<I", data, x + 4)[0] == 3  # the control: /x, /y, /g/z
    data[x + 4 : x + 8] = struct.pack("<I", 4)
    assert "counts 4 links where 3 reach it" in _refusal(bytes(data))


def _chunk_refusal(stored: bytes, filters: tuple[int, ...], chunk: tuple[int, ...] = (1000, 8)) -> str:
    """claim() of one chunk holding `stored` (the code every chunk index calls)."""
    f = File(stored, len(stored))
    c = Chunking(what="/d", dims=chunk, extent=(1000, 1), filters=filters)
    try:
        claim(Walker(f, Ledger(f)), c, (0, len(stored), 0), (0,) * len(chunk))
    except Invalid as err:
        return str(err)
    return ""


RAW = bytes(range(256)) * 31 + bytes(64)  # 8000 bytes: a chunk of 1000 8-byte elements


@pytest.mark.parametrize("filters", [(1,), (2, 1)])
def test_a_deflated_chunk_is_exactly_its_stream(filters):
    stream = zlib.compress(RAW)
    assert _chunk_refusal(stream, filters) == ""  # the control
    assert "does not end where its stream ends" in _chunk_refusal(stream + b"PAYLOAD!", filters)
    assert "does not end where its stream ends" in _chunk_refusal(stream[:-3], filters)
    assert "does not inflate to 8000 bytes" in _chunk_refusal(zlib.compress(RAW[:-8]), filters)


def _summed(data: bytes) -> bytes:
    return data + fletcher32(memoryview(data)).to_bytes(4, "little")


def test_a_fletcher32_checksum_ends_the_chunk_and_is_its_data():
    stream = zlib.compress(RAW)
    assert _chunk_refusal(_summed(stream), (1, 3)) == ""  # the control
    assert _chunk_refusal(_summed(RAW), (3,)) == ""
    assert "does not end where its stream ends" in _chunk_refusal(_summed(stream + b"PAYLOAD!"), (1, 3))
    assert "is not its data's" in _chunk_refusal(stream + b"PAY!", (1, 3))
    assert "is 8004 bytes, not 8000" in _chunk_refusal(_summed(RAW + b"PAY!"), (3,))


def test_fletcher32_is_hdf5s():
    """Known values (the C loop's blocks of 360 words, an odd last byte): h5py's own
    checksums are checked by the controls above (gzip, shuffle, fletcher32 datasets)."""
    assert fletcher32(memoryview(b"")) == 0
    assert fletcher32(memoryview(b"\x01\x02")) == (0x0102 << 16) | 0x0102
    assert fletcher32(memoryview(b"\x01\x02\x03")) == (0x0504 << 16) | 0x0402  # s2 = 0x0102 + 0x0402


def test_a_deflate_bomb_stops_at_the_chunks_size():
    """64 MiB of zeros in a chunk of 8000 bytes: refused at once, memory bounded by
    the 64 KiB pieces it is inflated in."""
    bomb = zlib.compress(bytes(64 << 20), 9)
    tracemalloc.start()
    start = time.monotonic()
    refusal = _chunk_refusal(bomb, (1,))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "does not inflate to 8000 bytes" in refusal
    assert time.monotonic() - start < 1 and peak < 1 << 20, (time.monotonic() - start, peak)


def test_a_chunk_named_twice_is_refused():
    f = File(RAW * 2, len(RAW) * 2)
    w, c = Walker(f, Ledger(f)), Chunking(what="/d", dims=(1000, 8), extent=(2000, 1), filters=())
    claim(w, c, (0, 8000, 0), (0, 0))
    with pytest.raises(Invalid, match="named twice"):
        claim(w, c, (0, 8000, 0), (1000, 0))
    with pytest.raises(Invalid, match="outside the dataset"):
        claim(w, c, (8000, 8000, 0), (2000, 0))


def test_an_attribute_names_padding_holding_data_is_refused(files):
    """A v1 attribute message pads its name ("note" + NUL) to 8 bytes: 3 bytes no reader reads."""
    data = bytearray(files["types-v0"])
    at = data.index(b"note\0\0\0\0")
    assert _refusal(bytes(data)) == ""  # the control
    data[at + 5 : at + 8] = b"PAY"
    assert "is not NUL-terminated and padded with zeros" in _refusal(bytes(data))


def _any_node(data: bytes, kind: int, level: int) -> int:
    at = 0
    while (at := data.find(b"TREE", at + 1)) > 0:
        if data[at + 4 : at + 6] == bytes([kind, level]):
            return at
    raise AssertionError("no such node")


def test_a_group_trees_key_that_is_not_the_name_it_bounds_is_refused(files):
    """Group B-tree keys are local heap offsets of the last name under each child: 8 free
    bytes each, were they not checked."""
    data = bytearray(files["trees-v0"])
    leaf = _any_node(data, 0, 0)
    data[leaf + 24 + 16 : leaf + 24 + 24] = struct.pack("<Q", 8)  # the key after the first child
    assert "are not the names they bound" in _refusal(bytes(data))


def test_a_parents_key_that_is_not_its_childs_is_refused(files):
    """An internal chunk B-tree node's key (a chunk's size) differs from its child's first key."""
    data = bytearray(files["trees-v0"])
    node = _any_node(data, 1, 1)
    data[node + 24 : node + 28] = b"PAY!"
    assert "are not those its parent holds" in _refusal(bytes(data))


def test_a_huge_member_count_stops_at_the_messages_end(files):
    """A compound datatype declaring 65535 members (3 present): parsing reads nothing
    past its message, refused at once."""
    data = bytearray(files["types-v0"])
    at = data.index(bytes([0x26, 3, 0, 0]) + struct.pack("<I", 4 + 48 + 5))  # compound v2, 3 members
    data[at + 1 : at + 3] = b"\xff\xff"
    start = time.monotonic()
    refusal = _refusal(bytes(data))  # the 4th member's name runs into the message's end
    assert "has no NUL" in refusal or "does not lie under the end-of-file address" in refusal
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("what", ["the superblock", "the object header of /x"])
def test_a_checksum_that_is_not_its_structures_is_refused(files, what):
    """Newer metadata ends with a lookup3 checksum a reader checks: 4 bytes per
    structure, the structure's own only when they are its checksum."""
    data = bytearray(files["links-v3"])
    names = {what, "the object header of /y", "the object header of /g/z"} if "/x" in what else {what}
    start, end = next((s, e) for s, (e, w) in walk(data, len(data)).items() if w in names)
    data[end - 1] ^= 0xFF
    assert "the checksum of" in _refusal(bytes(data))


def test_a_datatypes_reserved_bits_set_are_refused(files):
    """The compound's class bits above its member count (bits 16-23) are reserved."""
    data = bytearray(files["types-v0"])
    at = data.index(bytes([0x26, 3, 0, 0]) + struct.pack("<I", 4 + 48 + 5))
    data[at + 3] = 0x5A
    assert "the reserved bits of a datatype of /a/cpd are set" in _refusal(bytes(data))
