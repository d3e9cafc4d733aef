"""Header messages and heap headers held to what libhdf5 writes (issue #13, attack c):
the filter pipeline re-encoded whole (pipeline.py), reserved bytes zero wherever the
format has them, the B-tree K values message only where a structure uses it, link and
attribute name fields (fields.py; chunk indexes: test_hdf5_indexes.py); refusals that name their reason (virtual
datasets, persisted free space, a user block). Each rule: h5py's own output passes (the
control), one field changed is refused naming it."""

from __future__ import annotations

import ctypes
import struct
import tempfile
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support.hdf5_attack_c_bytes import find, h5file, move_into_nil, nil_out, put  # noqa: E402
from vmguard.quarantine.validators.hdf5 import validate, walk  # noqa: E402
from vmguard.quarantine.validators.stream import Invalid, Stream  # noqa: E402

PLINE, LAYOUT, MTIME = 0x0B, 0x08, 0x12
STR = h5py.string_dtype()


def _vet(data: bytes) -> None:
    validate(Stream(iter([bytes(data)])))
    walk(bytes(data), len(data))


def _refused(data: bytes, words: str) -> None:
    with pytest.raises(Invalid, match=words):
        _vet(data)


def _chunked(dtype, **kw):  # noqa: ANN001, ANN202
    def build(f) -> None:  # noqa: ANN001
        d = f.create_dataset("z", shape=(20,), dtype=dtype, chunks=(16,), **kw)
        if d.dtype.kind not in "OV":
            d[:3] = np.ones(3, dtype=d.dtype)

    return build


FILTERS = [
    {"compression": "gzip", "shuffle": True, "fletcher32": True},
    {"compression": "gzip", "compression_opts": 0},
    {"compression": "gzip", "compression_opts": 9, "shuffle": True},
    {"shuffle": True},
    {"fletcher32": True},
]
DTYPES = ["<i4", "<f8", "u1", "S10", STR, np.dtype([("code", "i1"), ("name", STR)])]


@pytest.mark.parametrize("libver", ["earliest", "latest"])
@pytest.mark.parametrize("kw", FILTERS, ids=lambda kw: "+".join(kw))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_h5py_pipelines_pass(dtype, kw, libver):
    """Control: every filter combination the walk decodes, on element sizes 1..17 and
    variable-length types (shuffle without client data), both pipeline versions."""
    if dtype is STR and kw.get("fletcher32"):
        pytest.skip("libhdf5 refuses fletcher32 on variable-length data")
    _vet(h5file(_chunked(dtype, **kw), libver=libver))


def _pline(libver: str = "earliest", dtype="<i4", **kw) -> tuple[bytearray, object, object]:  # noqa: ANN001
    kw = kw or {"compression": "gzip", "shuffle": True, "fletcher32": True}
    buf = h5file(_chunked(dtype, **kw), libver=libver)
    return (buf, *find(buf, "z", PLINE))


# v1 pipeline of shuffle (8), deflate (32), fletcher32 (56): offsets in the message
@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (2, b"\x01"),  # reserved
        (8 + 4, b"\x00"),  # shuffle's flags: optional cleared
        (8 + 5, b"\x02"),  # shuffle's flags: a bit libhdf5 never writes
        (8 + 16, b"\x02"),  # shuffle's element size 2, not 4 (pipeline.py)
        (8 + 20, b"\x01"),  # the padding after shuffle's one value
        (32 + 16, b"\x0a"),  # deflate level 10
        (32 + 8, b"D"),  # deflate's name
        (56 + 4, b"\x01"),  # fletcher32 made optional
        (56 + 8 + 11, b"\x01"),  # fletcher32's name padding
        (8 + 8, b"S"),  # shuffle's name
    ],
)
def test_each_pipeline_field_is_pinned(offset, value):
    buf, hdr, msg = _pline()
    put(buf, hdr, msg.body + offset, value)
    _refused(buf, "the filter pipeline of /z")


def test_deflate_levels_bounded_and_shuffle_agrees_with_the_element_size():
    """The level is the only client data value left to the writer (0..9: 10 values,
    3.3 bits per dataset, docs); shuffle's value is the element size, so the walk
    unshuffles by the size libhdf5 uses."""
    for level in range(10):
        buf, hdr, msg = _pline(compression="gzip")
        put(buf, hdr, msg.body + 8 + 16, bytes([level]))
        _vet(buf)  # a chunk inflated needs no level: any of 0..9 reads back the same
    put(buf, hdr, msg.body + 8 + 16, b"\x0a")
    _refused(buf, "level 10")


def test_pipeline_v2_client_data_refused():
    buf, hdr, msg = _pline("latest", fletcher32=True)
    body = bytes(buf[msg.body : msg.body + msg.size])
    move_into_nil(buf, hdr, msg, body[:6] + b"\x01\x00" + b"ABCD")
    _refused(buf, "the filter pipeline of /z")


def test_pipeline_without_chunks_refused():
    """A pipeline on a contiguous dataset (libhdf5 filters only chunks)."""
    src, _, pmsg = _pline()
    pline = bytes(src[pmsg.body : pmsg.body + pmsg.size])

    def build(f) -> None:  # noqa: ANN001
        d = f.create_dataset("z", data=np.arange(3, dtype="<i4"))
        d.attrs["slack"] = np.zeros(16)

    buf = h5file(build)
    nil_out(buf, *find(buf, "z", 0x0C))
    hdr, msg = find(buf, "z", 0x00)
    struct.pack_into("<HHB", buf, msg.head, PLINE, msg.size, 0x01)
    put(buf, hdr, msg.body, pline + bytes(msg.size - len(pline)))
    with pytest.raises(Invalid, match="filter pipeline|0x000b"):  # refused by one rule or another
        _vet(buf)


@pytest.mark.parametrize("path", ["a", "b"])
def test_mtime_reserved_and_version(path):
    def build(f) -> None:  # noqa: ANN001
        for name in ("a", "b"):
            f.create_dataset(name, data=[1], track_times=True)

    buf = h5file(build)
    _vet(buf)
    hdr, msg = find(buf, path, MTIME)
    put(buf, hdr, msg.body + 3, b"\x01")
    _refused(buf, f"the reserved bytes of the modification time of /{path} hold data")
    put(buf, hdr, msg.body + 3, b"\x00")
    put(buf, hdr, msg.body, b"\x02")
    _refused(buf, "has a version other than 1")


def _vlen_group(f) -> None:  # noqa: ANN001
    f.create_group("g").create_dataset("s", data=["x", "yy"], dtype=STR)


@pytest.mark.parametrize(
    ("signature", "offset", "words"),
    [
        (b"HEAP", 5, "the local heap of / has version 0 or its reserved bytes hold data"),
        (b"HEAP", 7, "the local heap of / has version 0 or its reserved bytes hold data"),
        (b"GCOL", 6, "reserved bytes holding data"),
        (b"SNOD", 5, "reserved byte 80"),
    ],
)
def test_heap_and_node_headers_reserved(signature, offset, words):
    buf = h5file(_vlen_group)
    _vet(buf)
    at = buf.find(signature)
    buf[at + offset] = 0x50
    _refused(buf, words)


def _libhdf5() -> ctypes.CDLL:
    """h5py's own libhdf5 (already loaded): h5py has no call for the B-tree K values."""
    found = sorted(Path(h5py.__file__).parent.parent.glob("h5py.libs/libhdf5-*.so*"))
    if not found:
        pytest.skip("h5py's libhdf5 is not a bundled library here")
    return ctypes.CDLL(str(found[0]))


def _with_k(build, sym_k=(16, 4), istore_k=32, libver=("v18", "latest")) -> bytearray:  # noqa: ANN001
    """A file written through a file creation property list with B-tree K values
    (H5Pset_sym_k, H5Pset_istore_k)."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    lib = _libhdf5()
    assert lib.H5Pset_sym_k(ctypes.c_int64(fcpl.id), *sym_k) >= 0
    assert lib.H5Pset_istore_k(ctypes.c_int64(fcpl.id), istore_k) >= 0
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(*(getattr(h5py.h5f, f"LIBVER_{v.upper()}") for v in libver))
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "k.h5"
        fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
        with h5py.File(fid) as f:
            build(f)
        return bytearray(path.read_bytes())


def _chunks(f) -> None:  # noqa: ANN001
    f.create_dataset("c", data=np.arange(3000, dtype="<i4"), chunks=(100,))


def test_k_values_other_than_libhdf5s_defaults_are_refused():
    """h5py cannot set the B-tree K values (H5Pset_sym_k, H5Pset_istore_k can): a K
    values message (superblock v2), a v1 superblock (a chunk K not the default) and a v0
    superblock of other group K are refused naming them; the defaults set explicitly
    write h5py's ordinary file, which passes."""
    _refused(_with_k(_chunks, istore_k=8), "the B-tree K values message of the superblock extension gives")
    _refused(_with_k(_chunks, sym_k=(8, 2)), r"gives the B-tree K values \{'chunk': 32, 'group': 8, 'leaf': 2\}")
    _refused(_with_k(_chunks, istore_k=8, libver=("earliest", "latest")), "the version 1 superblock gives")
    _refused(_with_k(_chunks, sym_k=(8, 2), libver=("earliest", "latest")), "the superblock gives the B-tree K")
    for libver in (("earliest", "latest"), ("v18", "latest"), ("latest", "latest")):
        _vet(_with_k(_chunks, libver=libver))


def test_refusals_name_their_reason():
    """Ordinary h5py output the docs refuse: the message says which feature."""

    def virtual(f) -> None:  # noqa: ANN001
        layout = h5py.VirtualLayout(shape=(4,), dtype="<i4")
        layout[:] = h5py.VirtualSource("other.h5", "x", shape=(4,))
        f.create_virtual_dataset("v", layout, fillvalue=0)

    _refused(h5file(virtual), "/v is a virtual dataset")
    persisted = h5file(lambda f: f.create_dataset("d", data=[1]), fs_strategy="fsm", fs_persist=True)
    _refused(persisted, r"persisted free-space sections are not supported \(h5py's fs_persist=True\)")
    _refused(
        h5file(lambda f: f.create_dataset("d", data=[1]), userblock_size=1024), "user block \\(1024 bytes"
    )


def test_user_block_identified_as_hdf5():
    from vmguard.quarantine.validators import IDENTIFY_SIZE, own_type

    data = bytes(h5file(lambda f: f.create_dataset("d", data=[1]), userblock_size=512))
    assert own_type(data[:IDENTIFY_SIZE]) == "application/x-hdf5"
    assert own_type(bytes(IDENTIFY_SIZE)) is None  # control: zeros are not HDF5


def _linked() -> tuple[bytearray, object, object]:
    def build(f) -> None:  # noqa: ANN001
        g = f.create_group("g")
        g.create_dataset("d", data=[1])
        g.attrs["slack"] = np.zeros(8)

    buf = h5file(build, libver="latest")
    nil_out(buf, *find(buf, "g", 0x0C))
    return (buf, *find(buf, "g", 0x06))


@pytest.mark.parametrize(
    ("insert", "words"),
    [
        (b"", None),  # control: as h5py wrote it (no type, no character set field)
        (b"\x08\x00", "link type 0"),  # a type field saying "hard"
        (b"\x10\x00", "character set 0"),  # a character set field saying ASCII
        (b"\x10\x02", "character set 2"),
        (b"\x20", "has flags 0x20"),
    ],
)
def test_link_flags_are_libhdf5s(insert, words):
    """H5O__link_encode writes a type field only for a link that is not hard, a
    character set field only for UTF-8, no bit above 0x1F."""
    buf, hdr, msg = _linked()
    body = bytes(buf[msg.body : msg.body + msg.size])
    assert body[1] == 0
    if insert:
        move_into_nil(buf, hdr, msg, bytes([1, insert[0]]) + insert[1:] + body[2:])
    if words is None:
        _vet(buf)
    else:
        _refused(buf, words)


def test_superblock_consistency_flags_zero():
    from tests.support.hdf5_attack_c_bytes import resum_superblock

    buf = h5file(lambda f: f.create_dataset("d", data=[1]), libver="latest")
    _vet(buf)
    buf[11] = 0x04
    resum_superblock(buf)
    _refused(buf, "file consistency flags are set")


def test_attribute_name_charset_known():
    """Attribute message version 3: its name's character set 0 or 1 (h5py writes 0)."""

    def build(f) -> None:  # noqa: ANN001
        f.create_dataset("d", data=[1]).attrs["énergie"] = 1

    buf = h5file(build, libver="latest")
    hdr, msg = find(buf, "d", 0x0C)
    for value, ok in ((0, True), (1, True), (2, False), (0x50, False)):
        put(buf, hdr, msg.body + 8, bytes([value]))
        if ok:
            _vet(buf)
        else:
            _refused(buf, f"has character set {value}")


@pytest.mark.parametrize("kind", [0, 1, 3])
def test_shared_message_type_is_committed(kind):
    """A dataset's reference to a committed datatype (shared message version 2):
    type 2, as libhdf5 writes it; any other refused."""

    def build(f) -> None:  # noqa: ANN001
        f["t"] = np.dtype("<i4")
        f.create_dataset("d", data=[1, 2], dtype=f["t"])

    buf = h5file(build)
    _vet(buf)
    hdr, msg = find(buf, "d", 0x03)
    assert buf[msg.body : msg.body + 2] == b"\x02\x02"
    put(buf, hdr, msg.body + 1, bytes([kind]))
    _refused(buf, f"a shared message of /d has version 2 and type {kind}")


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_shared_message_version_is_2(libver):
    """libhdf5 writes a committed datatype's reference as version 2 under every libver
    (version 3 of type 2 reads alike): version 3 refused."""

    def build(f) -> None:  # noqa: ANN001
        f["t"] = np.dtype("<i4")
        f.create_dataset("d", data=[1, 2], dtype=f["t"])

    buf = h5file(build, libver=libver)
    hdr, msg = find(buf, "d", 0x03)
    assert buf[msg.body : msg.body + 2] == b"\x02\x02"
    put(buf, hdr, msg.body, b"\x03")
    _refused(buf, "a shared message of /d has version 3 and type 2")
