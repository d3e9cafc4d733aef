"""Structure HDF5 keeps for itself, recomputed or pinned to what libhdf5 writes (issue
#13): an extensible array header's statistics (its blocks, their bytes, the last chunk
set, its elements), the deprecated fill value message (a copy of the fill value, only
where libhdf5 writes one), the reference counts of global heap objects, the padding of
a local heap's link names and a fractal heap's next huge object ID. Ordinary h5py output
is the control; each field changed is refused with a reason naming its rule."""

from __future__ import annotations

import io
import random
import struct

import pytest

from tests.quarantine.test_hdf5_dense import _h5
from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from tests.support.hdf5_attack_b_bytes import _craft, _oh, _v1_messages
from tests.support.hdf5_attack_b_fields import _nil_as
from tests.support.hdf5_bytes import fix_v2_checksum, lookup3, put
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Walker, header

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

EAHD_STATS = ("supers", "super_bytes", "datas", "data_bytes", "last", "elements")  # at 12, 20, ...


def _resizable(seed: int):
    """Chunks written sparsely, grown and shrunk: the shapes an extensible array takes."""
    rng = random.Random(seed)

    def build(f):
        n = rng.choice([0, 1, 5, 17, 100, 700, 3000])
        e = f.create_dataset("e", shape=(n,), maxshape=(None,), chunks=(rng.choice([1, 2, 7]),), dtype="u1")
        for _ in range(rng.randint(0, 5) if n else 0):
            e[rng.randrange(n)] = 1
        if rng.random() < 0.5:
            e.resize((rng.randint(1, 4000),))
            e[rng.randrange(e.shape[0])] = 2
        if rng.random() < 0.5:
            e.resize((rng.randint(0, 3000),))

    return build


@pytest.mark.parametrize("seed", range(12))
def test_extensible_arrays_h5py_writes_pass(seed):
    assert _refusal(_h5(_resizable(seed), libver="latest")) == ""


@pytest.fixture(scope="module")
def many() -> bytes:
    """1000 chunks: super blocks and data blocks of several sizes."""
    def build(f):
        d = f.create_dataset("d", shape=(0,), maxshape=(None,), chunks=(1,), dtype="u1")
        d.resize((1000,))
        d[:] = 1

    return _h5(build, libver="latest")


def test_the_statistics_count_what_the_walk_reaches(many):
    at = many.index(b"EAHD")
    assert struct.unpack_from("<6Q", many, at + 12)[0] >= 2, "control: super blocks"
    assert _refusal(many) == ""


def _with_stat(many: bytes, field: str, value) -> bytes:
    data = bytearray(many)
    at = many.index(b"EAHD") + 12 + 8 * EAHD_STATS.index(field)
    put(data, at, value(struct.unpack_from("<Q", data, at)[0]))
    hd.fix_after(data, many.index(b"EAHD"), 68)
    return bytes(data)


EXACT = [s for s in EAHD_STATS if s != "last"]


@pytest.mark.parametrize("field", EXACT)
@pytest.mark.parametrize("delta", [1, -1, 1 << 32])
def test_each_statistic_changed_is_refused(many, field, delta):
    assert "where its blocks make them" in _refusal(_with_stat(many, field, lambda v: v + delta))


def test_the_last_chunk_set_is_a_high_water_mark(many):
    """libhdf5 never lowers it (a shrunk dataset keeps the count from before): from the
    last chunk set now up to the elements its blocks hold, nothing else."""
    elements = struct.unpack_from("<6Q", many, many.index(b"EAHD") + 12)[5]
    last = struct.unpack_from("<6Q", many, many.index(b"EAHD") + 12)[4]
    assert last < elements, "control: room above the last chunk set"
    assert _refusal(_with_stat(many, "last", lambda v: elements)) == ""
    for value in (last - 1, elements + 1, 1 << 32):
        assert "where its blocks make them" in _refusal(_with_stat(many, "last", lambda v, x=value: x)), value


@pytest.mark.parametrize("libver", ["v110", "latest"])
def test_a_dataset_shrunk_after_a_flush_passes(tmp_path, libver):
    """Attack e: written, flushed, cut back, in a file (libhdf5 gives the freed chunks at
    its end back when it closes it)."""
    with h5py.File(tmp_path / "log.h5", "w", libver=libver) as f:
        d = f.create_dataset("e", data=list(range(1000)), maxshape=(None,), chunks=(100,))
        d.flush()
        d.resize((350,))
    data = (tmp_path / "log.h5").read_bytes()
    assert struct.unpack_from("<6Q", data, data.index(b"EAHD") + 12)[4] == 10, "control: the old count kept"
    assert _refusal(data) == ""


# ------------------------------------------------------------------ the old fill value message


def _dataset(**kw):
    return lambda f: f.create_dataset("d", shape=(4,), dtype="<i4", **kw)


def _kinds(data: bytes) -> set[int]:
    """The message types of dataset /d's header (v1; a v2 header: none read)."""
    with h5py.File(io.BytesIO(data), "r") as f:
        at = h5py.h5o.get_info(f["d"].id).addr
    return set() if data[at : at + 4] == b"OHDR" else {t for t, _, _ in _v1_messages(data, at)}


@pytest.mark.parametrize(
    ("kw", "libver", "old"),
    [({"fillvalue": 42}, "earliest", True), ({}, "earliest", False), ({"fillvalue": 42}, "latest", False),
     ({"chunks": (2,), "fillvalue": 7}, "earliest", True), ({"fillvalue": 0}, "earliest", True)],
)
def test_libhdf5_writes_the_old_message_only_beside_a_set_fill_value(kw, libver, old):
    """The control of what is pinned: the earliest format with a value set writes both
    messages; without a value or under libver='latest', only the new one."""
    data = _h5(_dataset(**kw), libver=libver)
    assert (4 in _kinds(data)) is old
    assert _refusal(data) == ""


def _added_old(buf: bytearray, at: int) -> None:
    """An old fill value message of zeros, constant (flags 0x01) as libhdf5 writes one."""
    _nil_as(0x04, struct.pack("<I", 4) + bytes(4))(buf, at)
    for mtype, pos, _ in _v1_messages(bytes(buf), at):
        if mtype == 4:
            buf[pos - 4] = 0x01


def _old_value(buf: bytearray, at: int) -> None:
    for mtype, pos, _ in _v1_messages(bytes(buf), at):
        if mtype == 4:
            buf[pos + 4] ^= 0x01


@pytest.mark.parametrize(
    ("kw", "apply", "named"),
    [
        ({}, _added_old, "an old fill value message (type 4) where libhdf5 writes none"),
        ({"fillvalue": 42}, _old_value, "is not the value of its fill value message"),
    ],
    ids=["none-expected", "another-value"],
)
def test_an_old_fill_value_message_libhdf5_would_not_write_is_refused(tmp_path, kw, apply, named):
    data = _craft(tmp_path / "f.h5", _dataset(**kw), _oh("d"), apply, libver="earliest")
    assert named in _refusal(data)


# ------------------------------------------------------------------ refusals that name their rule


def test_a_global_heap_objects_reference_count_is_named(tmp_path):
    def strings(f):
        f["v"] = np.array(["a", "b"], dtype=h5py.string_dtype())

    clean = _h5(strings)
    at = clean.index(b"GCOL") + 16
    for index in (1, 0):  # an object, the free space object
        data = bytearray(clean)
        while struct.unpack_from("<H", data, at)[0] != index:
            at += 16 + -(-struct.unpack_from("<Q", data, at + 8)[0] // 8) * 8
        put(data, at + 2, 0x4E57, "<H")
        assert f"object {index} of the global heap collection at" in _refusal(bytes(data))
        assert "has reference count 20055" in _refusal(bytes(data))
    assert _refusal(clean) == ""


def test_a_local_heap_names_padding_is_named():
    clean = _h5(lambda f: (f.create_group("abc"), f.create_group("zz")))
    data = bytearray(clean)
    at = clean.index(b"abc\0") + 4
    assert clean[at : at + 4] == bytes(4), "control: names padded to 8 with zeros"
    data[at : at + 4] = b"PWND"
    assert "the padding after the link name at" in _refusal(bytes(data))
    assert "names are padded to 8 bytes with zeros" in _refusal(bytes(data))


def _dense_links(f) -> None:
    """12 groups in a group tracking creation order: links in a fractal heap."""
    g = f.create_group("g", track_order=True)
    for i in range(12):
        g.create_group(f"n{i:02d}")


def test_a_fractal_heaps_next_huge_id_is_named():
    data = bytearray(_h5(_dense_links, libver="latest"))
    at = data.index(b"FRHP")
    put(data, at + 14, 5)
    hd.fix_after(data, at, hd.FRHP_LEN)
    assert "gives 5 as its next huge object ID but holds no huge objects" in _refusal(bytes(data))


# ------------------------------------------------------------------ header message flags


@pytest.mark.parametrize("kind", [0x01, 0x03, 0x05, 0x08])
@pytest.mark.parametrize("bit", [0, 2, 3, 4, 6, 7])
def test_a_message_flag_libhdf5_does_not_write_is_refused(kind, bit):
    """libhdf5 reads a known message whatever these bits say (found: 5-6 bits of every
    message published); each type's flags are pinned (tuning.MESSAGE_FLAGS)."""
    clean = _h5(_dataset(fillvalue=3), libver="earliest")
    with h5py.File(io.BytesIO(clean), "r") as f:
        at = h5py.h5o.get_info(f["d"].id).addr
    data = bytearray(clean)
    ((pos, _),) = [(p, s) for t, p, s in _v1_messages(clean, at) if t == kind]
    data[pos - 4] ^= 1 << bit
    if (kind, bit) == (0x08, 0):  # constant: libhdf5's layout when allocated early (free: 1 bit)
        assert _refusal(bytes(data)) == ""
        return
    named = "datatype message of /d has flags" if (kind, bit) == (0x03, 2) else "in the object header of /d has"
    assert named in _refusal(bytes(data))
    assert _refusal(clean) == ""


def test_a_v2_message_flag_is_refused():
    clean = _h5(_dataset(), libver="latest")
    with h5py.File(io.BytesIO(clean), "r") as f:
        at = h5py.h5o.get_info(f["d"].id).addr
    data = bytearray(clean)
    ((pos, _),) = [m for m in hd.messages(clean, at, 0x08)]
    data[pos - 4 - (2 if data[at + 5] & 0x04 else 0) + 3] ^= 0x80  # type, size (2), flags
    fix_v2_checksum(data, at)
    assert "a message of type 0x0008 in the object header of /d has flags 0x80" in _refusal(bytes(data))


def test_a_committed_datatypes_own_message_is_not_shareable():
    def named(f):
        f["t"] = np.dtype("<f8")
        f.create_dataset("d", data=np.arange(2.0), dtype=f["t"])

    clean = _h5(named, libver="earliest")
    with h5py.File(io.BytesIO(clean), "r") as f:
        at = h5py.h5o.get_info(f["t"].id).addr
    data = bytearray(clean)
    ((pos, _),) = [(p, s) for t, p, s in _v1_messages(clean, at) if t == 0x03]
    assert data[pos - 4] == 0x05, "control: constant, not shareable"
    data[pos - 4] = 0x01
    assert "has flags 0x01, where libhdf5 writes 0x05 in a committed datatype" in _refusal(bytes(data))
    assert _refusal(clean) == ""


# ------------------------------------------------------------------ chunk index and heap parameters


def _indexed(f):
    f.create_dataset("ea", data=np.arange(100), chunks=(10,), maxshape=(None,), compression="gzip")
    f.create_dataset("fa", data=np.arange(100), chunks=(10,))


@pytest.mark.parametrize(("sig", "length", "field"), [(b"EAHD", 68, i) for i in range(7)] + [(b"FAHD", 24, i) for i in range(3)])
def test_a_chunk_index_parameter_libhdf5_does_not_write_is_refused(sig, length, field):
    clean = _h5(_indexed, libver="latest")
    data = bytearray(clean)
    at = clean.index(sig)
    data[at + 5 + field] += 1
    hd.fix_after(data, at, length)
    assert "has the parameters (client, element size...)" in _refusal(bytes(data))
    assert _refusal(clean) == ""


@pytest.mark.parametrize("flags", [0x00, 0x01, 0x03])
def test_a_fractal_heaps_flags_are_libhdf5s(flags):
    data = bytearray(_h5(_dense_links, libver="latest"))
    at = data.index(b"FRHP")
    assert data[at + 9] == 0x02, "control: direct blocks checksummed"
    data[at + 9] = flags
    hd.fix_after(data, at, hd.FRHP_LEN)
    assert f"has flags {flags:#04x}, where libhdf5 writes 0x02" in _refusal(bytes(data))


@pytest.mark.parametrize(("flags", "size", "refused"), [(0x01, 200, True), (0x01, 256, False), (0x02, 65535, True),
                                                        (0x03, 1 << 20, True), (0x00, 200, False)])
def test_an_object_headers_size_is_given_in_the_fewest_bytes(flags, size, refused):
    """libhdf5 gives a v2 header's first chunk size in 1, 2, 4 or 8 bytes, the fewest
    that hold it (a wider field is a choice no writer makes)."""
    width = 1 << flags
    raw = b"OHDR" + bytes([2, flags]) + size.to_bytes(width, "little") + bytes(size) + bytes(4)
    f = File(raw, len(raw))
    try:
        header(Walker(f, Ledger(f)), 0, "/x")
        reason = ""
    except Invalid as err:
        reason = str(err)
    assert ("(libhdf5: fewer)" in reason) is refused, reason


@pytest.mark.parametrize("flags", [0x01, 0x02, 0x04, 0x05])
def test_superblock_consistency_flags_are_cleared(flags):
    """libhdf5 reads a file whatever bits 0-2 say and clears them on close: any set is a
    writer that did not close the file, or bits of another's choice."""
    clean = _h5(_dataset(), libver="latest")
    data = bytearray(clean)
    data[11] = flags
    put(data, 44, lookup3(bytes(data[:44])), "<I")
    assert "file consistency flags are set" in _refusal(bytes(data))
    assert clean[11] == 0 and _refusal(clean) == ""


# ------------------------------------------------------------------ found by flipping bits of h5py's files


def _groups(f):
    for name in ("c", "kk", "zzz", "g"):
        f.create_group(name)


def _flipped(at_of, delta: int = 1) -> str:
    clean = _h5(_groups)
    data = bytearray(clean)
    at = at_of(clean)
    data[at] = (data[at] + delta) & 0xFF
    assert _refusal(clean) == ""
    return _refusal(bytes(data))


@pytest.mark.parametrize("offset", [5, 6, 7])
def test_a_local_heaps_reserved_bytes_are_zeros(offset):
    assert "or its reserved bytes hold data" in _flipped(lambda d: d.index(b"HEAP") + offset)


def test_a_symbol_table_nodes_reserved_byte_is_zero():
    assert "has version 1, reserved byte 1 or" in _flipped(lambda d: d.index(b"SNOD") + 5)


def test_a_local_heap_starts_with_the_empty_name():
    def segment(d):
        return struct.unpack_from("<Q", d, d.index(b"HEAP") + 24)[0]

    assert "does not start with the empty name" in _flipped(segment)


def test_a_local_heap_free_block_is_libhdf5s():
    """A free block shrunk by 8 (its zeros then listed by no block) or made unaligned."""
    def free_size(d):
        heap = d.index(b"HEAP")
        free, segment = struct.unpack_from("<QQ", d, heap + 16)
        return segment + free + 8

    assert "are free space no free block lists" in _flipped(free_size, -8)
    assert "is not aligned to 8 bytes" in _flipped(free_size, -1)


@pytest.mark.parametrize(("libver", "offset", "value", "named"), [
    ("earliest", 1, 0, "allocation time 0"), ("earliest", 1, 0x82, "allocation time 130"),
    ("earliest", 2, 3, "fill time 3"), ("earliest", 3, 2, "defined 2"),
    ("latest", 1, 0x0A | 0x40, "reserved flags"), ("latest", 1, 0x08, "allocation time 0"),
    ("latest", 1, 0x0E, "fill time 3"),
])
def test_a_fill_value_messages_settings_are_values_libhdf5_defines(libver, offset, value, named):
    clean = _h5(_dataset(), libver=libver)
    with h5py.File(io.BytesIO(clean), "r") as f:
        at = h5py.h5o.get_info(f["d"].id).addr
    data = bytearray(clean)
    if libver == "earliest":
        ((pos, _),) = [(p, s) for t, p, s in _v1_messages(clean, at) if t == 0x05]
    else:
        ((pos, _),) = hd.messages(clean, at, 0x05)
    data[pos + offset] = value
    if libver == "latest":
        fix_v2_checksum(data, at)
    assert named in _refusal(bytes(data))
    assert _refusal(clean) == ""


@pytest.mark.parametrize(("offset", "value", "named"), [
    (3, 1, "or its reserved bytes hold data"),  # a v1 pipeline's reserved bytes
    (12, 0x0101, "gives filter deflate flags 0x0101"),  # the filter's flags
    (16, ord("D"), "names filter 1 other than libhdf5 (deflate and a NUL"),  # its name
    (24, 10, "or level 10"),  # its client value: a deflate level
    (28, 7, "or pads with data"),  # the padding after an odd number of values
])
def test_a_filter_pipeline_is_libhdf5s(offset, value, named):
    clean = _h5(lambda f: f.create_dataset("d", data=np.arange(20.0), chunks=(8,), compression="gzip"),
                libver="earliest")
    with h5py.File(io.BytesIO(clean), "r") as f:
        at = h5py.h5o.get_info(f["d"].id).addr
    ((pos, size),) = [(p, s) for t, p, s in _v1_messages(clean, at) if t == 0x0B]
    data = bytearray(clean)
    assert clean[pos + 16 : pos + 24] == b"deflate\0", "control: one named filter, one value, padded"
    fmt = "<H" if offset == 12 else "<B"
    put(data, pos + offset, value, fmt)
    assert named in _refusal(bytes(data))
    assert _refusal(clean) == ""


def test_a_global_heap_collections_reserved_bytes_are_zeros():
    clean = _h5(lambda f: f.create_dataset("v", data=np.array(["a", "b"], dtype=h5py.string_dtype())))
    data = bytearray(clean)
    data[clean.index(b"GCOL") + 6] = 1
    assert "reserved bytes holding data" in _refusal(bytes(data))
