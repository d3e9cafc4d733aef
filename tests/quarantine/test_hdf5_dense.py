"""HDF5 dense storage, variable-length chunks and filters, to the last byte (issue #13):
groups of many links and objects of many attributes (a fractal heap indexed by version 2
B-trees, its free-space manager), variable-length strings in resizable datasets, and
the filters the walk can decode. Real h5py output of each kind passes untouched (the
controls); each attack patches one structure's bytes, recomputing the checksums that
would otherwise give it away, and is refused with the rule it breaks."""

from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_exact import RAW, _chunk_refusal
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.hdf5_bytes import fix_v2_checksum, lookup3
from vmguard.quarantine.validators.hdf5 import walk
from vmguard.quarantine.validators.hdf5.elements import Element
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Walker
from vmguard.quarantine.validators.hdf5.vlen import Elements

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

UNDEFINED = 0xFFFFFFFFFFFFFFFF


def _dense(f) -> None:
    g = f.create_group("g")
    for i in range(30):
        g[f"link{i:02d}"] = np.arange(i % 3 + 1)
    for i in range(20):
        g.attrs[f"coef{i}"] = float(i)
    big = f.create_group("big")  # a heap of several direct blocks, B-trees of two levels
    for i in range(1200):
        big[f"a-rather-long-link-name-{i:05d}"] = h5py.SoftLink(f"/target/{i}")


def _ordered(f) -> None:
    g = f.create_group("ordered", track_order=True)
    for i in range(30):
        g[f"d{i}"] = np.arange(i + 1)
        g.attrs[f"a{i}"] = "x" * i


def _strings(f) -> None:
    log = f.create_dataset("log", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
    for i in range(3):
        log.resize((log.shape[0] + 100,))
        log[-100:] = [f"step {i}.{j}: ok" if j % 10 else "" for j in range(100)]
    part = f.create_dataset("part", shape=(250,), maxshape=(None,), chunks=(64,), dtype=h5py.string_dtype())
    part[:200] = [f"entry {j}" for j in range(200)]  # the last chunk partly never written
    f.create_dataset("seq", data=np.array([np.arange(3), np.arange(5)], dtype=object),
                     dtype=h5py.vlen_dtype("i4"), chunks=(1,))  # fmt: skip


def _h5(build, **kw) -> bytes:
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", **kw) as f:
        build(f)
    return tmp.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "dense-latest": _h5(_dense, libver="latest"),
        "dense-v110": _h5(_dense, libver=("v110", "v110")),
        "ordered-earliest": _h5(_ordered),
        "ordered-latest": _h5(_ordered, libver="latest"),
        "strings-earliest": _h5(_strings),
        "strings-latest": _h5(_strings, libver="latest"),
    }


def _reads(data: bytes) -> None:
    """h5py reads every object of the file (the attacks below keep files h5py reads)."""
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda _, obj: (dict(obj.attrs), obj[()] if isinstance(obj, h5py.Dataset) else None))


@pytest.mark.parametrize(
    "name",
    [
        "dense-latest",
        "dense-v110",
        "ordered-earliest",
        "ordered-latest",
        "strings-earliest",
        "strings-latest",
    ],
)
def test_real_h5py_output_passes(files, name):
    assert _refusal(files[name]) == ""


def _extents(data: bytes, prefix: str) -> list[tuple[int, int]]:
    return [(s, e) for s, (e, w) in sorted(walk(data, len(data)).items()) if w.startswith(prefix)]


def _leaf(data: bytes, tree: str) -> tuple[int, int, int]:
    """(address, record size, records) of the first leaf of a version 2 B-tree."""
    header = next(s for s, _ in _extents(data, tree) if data[s : s + 4] == b"BTHD")
    leaf = next(s for s, _ in _extents(data, tree) if data[s : s + 4] == b"BTLF")
    record = struct.unpack_from("<H", data, header + 10)[0]
    nodes = [s for s, _ in _extents(data, tree) if data[s : s + 4] == b"BTLF"]
    nrec = struct.unpack_from("<H", data, header + 24)[0] if len(nodes) == 1 else None
    if nrec is None:  # a leaf below an internal node: count its records by its checksum
        nrec = next(n for n in range(1, 200) if lookup3(data[leaf : leaf + 6 + n * record])
                    == struct.unpack_from("<I", data, leaf + 6 + n * record)[0])  # fmt: skip
    return leaf, record, nrec


def _resum(data: bytearray, start: int, end: int) -> None:
    """The lookup3 checksum of data[start:end] written after it."""
    data[end : end + 4] = struct.pack("<I", lookup3(bytes(data[start:end])))


def _resum_direct(data: bytearray, block: int, size: int) -> None:
    """A direct block's checksum: of the whole block, its checksum field zeroed."""
    at = block + 5 + 8 + 4  # signature, version, heap header, a 4-byte block offset (32-bit heap)
    image = bytearray(data[block : block + size])
    image[at - block : at - block + 4] = bytes(4)
    data[at : at + 4] = struct.pack("<I", lookup3(bytes(image)))


LINKS = "the version 2 B-tree (type 5) of the links of /g"


def test_a_payload_in_a_direct_blocks_free_space_is_refused(files):
    data = bytearray(files["dense-latest"])
    (block, end), *_ = _extents(data, "a direct block of the fractal heap of the links of /g")
    assert not data[end - 16 : end].strip(b"\0")  # the control: the block's free space is zeros
    data[end - 16 : end - 8] = b"\x7fELFELF!"
    _resum_direct(data, block, end - block)
    _reads(bytes(data))
    assert "are no object and not zeros" in _refusal(bytes(data))


def test_a_direct_blocks_checksum_is_recomputed(files):
    data = bytearray(files["dense-latest"])
    (block, end), *_ = _extents(data, "a direct block of the fractal heap of the links of /g")
    data[end - 1] = 1
    assert "checksum of a direct block" in _refusal(bytes(data))


def test_a_heap_object_named_twice_is_refused(files):
    data = bytearray(files["dense-latest"])
    leaf, record, nrec = _leaf(data, LINKS)
    data[leaf + 6 + record + 4 : leaf + 6 + 2 * record] = data[leaf + 6 + 4 : leaf + 6 + record]
    _resum(data, leaf, leaf + 6 + nrec * record)
    assert "names object" in _refusal(bytes(data))


def test_a_heap_object_named_by_no_record_is_refused(files):
    """The last record of the name index dropped (counts lowered): its link stays in the
    heap, named by nothing."""
    data = bytearray(files["dense-latest"])
    header = next(s for s, _ in _extents(data, LINKS) if data[s : s + 4] == b"BTHD")
    heap = next(s for s, _ in _extents(data, "the fractal heap of the links of /g"))
    leaf, record, nrec = _leaf(data, LINKS)
    end = leaf + 6 + (nrec - 1) * record
    data[end : end + record + 4] = bytes(record + 4)
    _resum(data, leaf, end)
    struct.pack_into("<HQ", data, header + 24, nrec - 1, nrec - 1)
    _resum(data, header, header + 34)
    assert "counts 30 objects where 29 are reached" in _refusal(bytes(data))
    struct.pack_into("<Q", data, heap + 70, 29)  # the heap's object count lowered too
    _resum(data, heap, heap + 142)
    assert "are no object and not zeros" in _refusal(bytes(data))


def test_a_records_name_hash_must_be_lookup3_of_the_name(files):
    data = bytearray(files["dense-latest"])
    leaf, record, nrec = _leaf(data, LINKS)
    at = leaf + 6 + 3 * record
    data[at : at + 4] = struct.pack("<I", struct.unpack_from("<I", data, at)[0] + 1)
    _resum(data, leaf, leaf + 6 + nrec * record)
    refusal = _refusal(bytes(data))
    assert "not lookup3 of its name" in refusal or "not in key order" in refusal
    data[leaf + 6 + nrec * record] ^= 1  # the checksum no longer the node's
    assert "checksum of the version 2 B-tree" in _refusal(bytes(data))


def test_a_record_pointing_outside_the_heap_is_refused(files):
    data = bytearray(files["dense-latest"])
    leaf, record, nrec = _leaf(data, LINKS)
    at = leaf + 6 + 4 + 1  # the first record's heap ID: its offset
    data[at : at + 4] = struct.pack("<I", 1 << 30)
    _resum(data, leaf, leaf + 6 + nrec * record)
    assert "which lie in no direct block" in _refusal(bytes(data))


def test_a_free_space_section_that_is_not_the_free_space_is_refused(files):
    data = bytearray(files["dense-latest"])
    (sections, end), *_ = _extents(data, "the free-space section list of the fractal heap of the links of /g")
    offset = next(i for i in range(end - 4 - 1, sections, -1) if data[i])  # the last byte of the last offset
    data[offset] ^= 0x01
    _resum(data, sections, end - 4)
    assert "are not the free space of its direct blocks" in _refusal(bytes(data))


def test_creation_order_records_name_the_same_objects(files):
    data = bytearray(files["ordered-latest"])
    tree = "the version 2 B-tree (type 6) of the links of /ordered"
    leaf, record, nrec = _leaf(data, tree)
    first, last = leaf + 6 + 8, leaf + 6 + (nrec - 1) * record + 8  # the heap IDs of two records
    data[first : first + record - 8], data[last : last + record - 8] = (
        data[last : last + record - 8],
        data[first : first + record - 8],
    )  # fmt: skip: the first and the last link swapped, each record keeping its creation order
    _resum(data, leaf, leaf + 6 + nrec * record)
    assert "does not name the objects its name index names" in _refusal(bytes(data))


def _chunk(data: bytes, name: str) -> int:
    return next(s for s, _ in _extents(data, f"a chunk of /{name}"))


@pytest.mark.parametrize("name", ["strings-earliest", "strings-latest"])
def test_a_variable_length_value_naming_an_object_twice_is_refused(files, name):
    data = bytearray(files[name])
    chunk = _chunk(data, "log")
    data[chunk + 32 : chunk + 48] = data[chunk + 16 : chunk + 32]
    assert "two variable-length values of /log name object" in _refusal(bytes(data))


@pytest.mark.parametrize("name", ["strings-earliest", "strings-latest"])
def test_a_variable_length_value_pointing_outside_is_refused(files, name):
    data = bytearray(files[name])
    chunk = _chunk(data, "log")
    data[chunk + 20 : chunk + 28] = struct.pack("<Q", len(data) + 4096)
    refusal = _refusal(bytes(data))  # whichever collection comes first: the one it left, or none
    assert "does not lie under the end-of-file address" in refusal or "is referred to by nothing" in refusal


@pytest.mark.parametrize("name", ["strings-earliest", "strings-latest"])
def test_a_global_heap_object_no_value_names_is_refused(files, name):
    data = bytearray(files[name])
    chunk = _chunk(data, "log")
    data[chunk + 16 : chunk + 32] = bytes(16)  # a value never written
    assert "is referred to by nothing" in _refusal(bytes(data))
    data = bytearray(files[name])
    data[chunk + 16 + 12 : chunk + 32] = b"\0\0\0\0"  # length and heap kept, index 0
    assert "is referred to by nothing" in _refusal(bytes(data))


def test_an_empty_value_holding_data_is_refused(files):
    """Values never written (element 249 of /part, the last inside its extent of 250) are
    zeros; h5py's empty string "" is a global heap object of 0 bytes. Past the extent
    (elements 250..255 of the last chunk) the rule is the fill value's (test_hdf5_edges.py)."""
    data = bytearray(files["strings-earliest"])
    at = max(e for _, e in _extents(data, "a chunk of /part")) - (256 - 249) * 16
    assert not data[at : at + 16].strip(b"\0")  # the control: a value never written
    data[at + 12 : at + 16] = b"PAY!"
    assert "points nowhere holds data" in _refusal(bytes(data))


def _filtered(**kw) -> bytes:
    return _h5(lambda f: f.create_dataset("d", data=np.arange(1000), chunks=(100,), **kw))


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"compression": "lzf"}, "filter lzf (id 32000) in /d cannot be checked"),
        ({"scaleoffset": 0}, "filter scale-offset (id 6) in /d cannot be checked"),
        ({"compression": "gzip", "scaleoffset": 0}, "filter scale-offset (id 6) in /d cannot be checked"),
    ],
)
def test_filters_the_walk_cannot_decode_are_refused(kw, named):
    refusal = _refusal(_filtered(**kw))
    assert named in refusal and "h5repack -f GZIP=6" in refusal


def test_shuffle_deflate_fletcher32_pass():
    assert _refusal(_filtered(compression="gzip", shuffle=True, fletcher32=True)) == ""
    assert _refusal(_filtered(shuffle=True)) == ""


def test_a_shuffled_chunk_is_exactly_the_chunk():
    """Shuffle without deflate: the chunk is the chunk's size, no byte more."""
    assert _chunk_refusal(RAW, (2,)) == ""  # the control
    assert "is 8004 bytes, not 8000" in _chunk_refusal(RAW + b"PAY!", (2,))


def _huge() -> bytes:
    """An attribute larger than the heap's managed objects (4 KiB) on an object with
    dense attributes: a huge object, an extent of its own indexed by a type 1 B-tree."""

    def build(f) -> None:
        d = f.create_dataset("x", data=[1])
        for i in range(10):
            d.attrs[f"a{i}"] = i
        d.attrs["big"] = np.arange(1000, dtype="f8")

    return _h5(build, libver="latest")


HUGE = "the version 2 B-tree (type 1) of the fractal heap of the attributes of /x"


def test_a_huge_attribute_is_its_own_extent_exactly():
    data = bytearray(_huge())
    assert _refusal(bytes(data)) == ""  # the control
    _reads(bytes(data))
    assert any(
        w == "a huge object of the fractal heap of the attributes of /x"
        for _, w in walk(data, len(data)).values()
    )
    leaf, record, nrec = _leaf(data, HUGE)
    length = leaf + 6 + 8
    struct.pack_into("<Q", data, length, struct.unpack_from("<Q", data, length)[0] + 8)  # 8 bytes more
    _resum(data, leaf, leaf + 6 + nrec * record)
    assert "counts 1 huge objects of 8" in _refusal(bytes(data))


def test_a_b_tree_internal_nodes_child_count_is_the_childs():
    data = bytearray(_h5(_dense, libver="latest"))
    tree = "the version 2 B-tree (type 5) of the links of /big"
    header = next(s for s, _ in _extents(data, tree) if data[s : s + 4] == b"BTHD")
    record, depth = struct.unpack_from("<HH", data, header + 10)
    node, nrec = struct.unpack_from("<QH", data, header + 16)  # the root and its records
    assert depth == 2 and data[node : node + 4] == b"BTIN"  # 1200 links: three levels
    summed = (
        lookup3(bytes(data[node : node + n])) == struct.unpack_from("<I", data, node + n)[0]
        for n in range(4096)
    )
    size = next(n for n, ok in enumerate(summed) if ok)
    pointers = node + 6 + nrec * record
    data[pointers + 8] -= 1  # the first child's record count (1 byte: a leaf holds under 256)
    _resum(data, node, node + size)
    assert "version 2 B-tree (type 5) of the links of /big" in _refusal(bytes(data))


def test_deflate_before_shuffle_is_refused():
    """A pipeline out of order (deflate, then shuffle): the walk could not recompute it."""

    def build(f) -> None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((100,))
        dcpl.set_deflate(6)
        dcpl.set_shuffle()
        space = h5py.h5s.create_simple((1000,))
        h5py.h5d.create(f.id, b"d", h5py.h5t.NATIVE_INT64, space, dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.arange(1000)
        )

    refusal = _refusal(_h5(build))
    assert "the filters of /d (deflate, shuffle) are not shuffle, deflate, fletcher32" in refusal


ATTRIBUTES = "the version 2 B-tree (type 8) of the attributes of /ordered"


def test_an_attribute_records_hash_and_creation_order_are_checked(files):
    data = bytearray(files["ordered-latest"])
    leaf, record, nrec = _leaf(data, ATTRIBUTES)
    hashed = leaf + 6 + 2 * record + record - 4  # type 8: heap ID, flags, creation order, hash
    data[hashed] ^= 0x40
    _resum(data, leaf, leaf + 6 + nrec * record)
    refusal = _refusal(bytes(data))
    assert "not lookup3 of its name" in refusal or "not in key order" in refusal
    data = bytearray(files["ordered-latest"])
    order = leaf + 6 + 2 * record + record - 8
    data[order] ^= 0x40  # the creation order the name index gives: not the other index's
    _resum(data, leaf, leaf + 6 + nrec * record)
    assert "does not name the objects its name index names" in _refusal(bytes(data))


def test_the_next_creation_order_is_one_past_the_last(files):
    data = bytearray(files["ordered-earliest"])
    linfo = data.find(struct.pack("<BBQ", 0, 3, 30))  # link info: version 0, tracked and indexed, next 30
    assert linfo > 0
    data[linfo + 2] = 31
    header = max(
        s
        for s, (_, w) in walk(files["ordered-earliest"], len(data)).items()
        if w == "the object header of /ordered"
    )
    if data[header : header + 4] == b"OHDR":
        fix_v2_checksum(data, header)
    assert "with 30 next" in _refusal(bytes(data)) and "next 31" in _refusal(bytes(data))


@pytest.mark.parametrize("shuffled", [False, True])
def test_values_are_read_across_pieces_and_unshuffled(shuffled):
    """A chunk's values as its inflated pieces stream by (a value cut between two
    pieces), and byte-planed by shuffle: the heap objects they name, with their sizes."""
    values = struct.pack("<IQI", 3, 4096, 1) + struct.pack("<IQI", 5, 4096, 2) + bytes(16)
    stored = b"".join(values[j::16] for j in range(16)) if shuffled else values
    f = File(b"", 0)
    w = Walker(f, Ledger(f))
    item = Element(size=2)
    elements = Elements(w, Element(size=16, vlens=((0, item),)), "/v", (shuffled, len(values)))
    for at in range(0, len(stored), 7):
        elements.feed(stored[at : at + 7])
    elements.close()
    assert w.heap_refs == {4096: {1: (6, item, "/v"), 2: (10, item, "/v")}}


def test_a_heap_with_indirect_blocks_below_its_root_passes_and_counts_its_free_space():
    """12,000 links: the heap's root indirect block holds indirect blocks; HDF5 counts
    the free space of every block they span as the heap's (unallocated included)."""

    def build(f) -> None:
        g = f.create_group("g")
        for i in range(12_000):
            g[f"a-long-link-name-to-fill-the-heap-quickly-{i:06d}"] = h5py.SoftLink(f"/some/target/{i}")

    data = bytearray(_h5(build, libver="latest"))
    extents = walk(data, len(data))  # the control
    assert (
        sum(w == "an indirect block of the fractal heap of the links of /g" for _, w in extents.values()) > 1
    )
    heap = next(s for s, (_, w) in extents.items() if w == "the fractal heap of the links of /g")
    struct.pack_into("<Q", data, heap + 30, struct.unpack_from("<Q", data, heap + 30)[0] + 1)
    _resum(data, heap, heap + 142)
    assert "bytes of free space where its direct blocks hold" in _refusal(bytes(data))


def test_variable_length_values_of_variable_length_values_are_refused_as_not_supported():
    """A variable-length type of variable-length values is not walked: refused up front,
    saying so (not as unreached heap bytes); values inside compounds and arrays are
    walked (test_hdf5_compound.py)."""
    data = _h5(lambda f: f.create_dataset("t", shape=(2,), dtype=h5py.vlen_dtype(h5py.string_dtype())))
    assert "a variable-length type of variable-length values or region references (/t) is not supported" in _refusal(
        data
    )
