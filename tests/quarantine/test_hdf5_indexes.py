"""A chunked layout's index parameters and flags, and the headers and blocks of the
fixed and extensible array chunk indexes, held to what libhdf5 writes (fields.py; issue
#13, attack c): h5py's own output passes, one field changed is refused naming it."""

from __future__ import annotations

import struct

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.quarantine.test_hdf5_msgs import LAYOUT, _refused, _vet  # noqa: E402
from tests.support.hdf5_attack_c_bytes import find, h5file, put  # noqa: E402


def _index(maxshape, libver="latest") -> tuple[bytearray, object, object]:  # noqa: ANN001
    buf = h5file(
        lambda f: f.create_dataset("e", data=np.arange(30, dtype="<i4"), chunks=(10,), maxshape=maxshape),
        libver=libver,
    )
    return (buf, *find(buf, "e", LAYOUT))


@pytest.mark.parametrize(("maxshape", "offset"), [((None,), 8 + i) for i in range(5)] + [((30,), 8)])
def test_layout_index_parameters_pinned(maxshape, offset):
    """The extensible array's five parameters and the fixed array's one (page bits)."""
    buf, hdr, msg = _index(maxshape)
    _vet(buf)
    put(buf, hdr, msg.body + offset, bytes([buf[msg.body + offset] ^ 1]))
    _refused(buf, "gives its chunk index the parameters")


def test_layout_flags_and_dimension_width_pinned():
    """Flag 0x02 only for one filtered chunk; dimensions in the fewest bytes (a 1000
    element chunk: 2)."""
    buf = h5file(
        lambda f: f.create_dataset("c", data=np.arange(3000), chunks=(1000,), maxshape=(None,)),
        libver="latest",
    )
    _vet(buf)
    hdr, msg = find(buf, "c", LAYOUT)
    assert buf[msg.body + 4] == 2
    put(buf, hdr, msg.body + 2, b"\x02")
    _refused(buf, "flag 0x02 exactly for one filtered chunk")
    buf, hdr, msg = _index((None,))
    put(buf, hdr, msg.body + 2, b"\x04")
    _refused(buf, "has flags 0x04")


def _array(kind: str) -> bytearray:
    """3000 one-element chunks: an extensible array (resizable) with an index block,
    data blocks in it and in super blocks; or a fixed array of 30."""
    if kind == "fixed":
        build = lambda f: f.create_dataset("a", data=np.arange(30, dtype="<i4"), chunks=(1,))  # noqa: E731
    else:
        build = lambda f: f.create_dataset(  # noqa: E731
            "e", data=np.arange(3000, dtype="<i4"), chunks=(1,), maxshape=(None,)
        )
    return h5file(build, libver="latest")


# (array, block signature, its size, offset in it, what the refusal names)
BLOCKS = [
    ("extensible", b"EAHD", 72, 4, "has version 1"),
    ("extensible", b"EAIB", 298, 4, "has version 1"),
    ("extensible", b"EAIB", 298, 6, "or header"),
    ("extensible", b"EADB", 150, 5, "client 1"),
    ("extensible", b"EADB", 150, 6, "or header"),
    ("extensible", b"EADB", 150, 14, "gives its block offset as 1"),
    ("extensible", b"EASB", 54, 14, "gives its block offset as 241"),
    ("fixed", b"FAHD", 28, 4, "has version 1"),
    ("fixed", b"FADB", 258, 6, "or header"),
]


@pytest.mark.parametrize(("kind", "signature", "size", "offset", "words"), BLOCKS)
def test_array_block_prefixes_pinned(kind, signature, size, offset, words):
    """Version, client, header address and block offset of every fixed and extensible
    array header and block: what libhdf5 writes (its checksum recomputed: the rule
    refuses, not the checksum)."""
    from tests.support.hdf5_attack_c_bytes import lookup3

    buf = _array(kind)
    _vet(buf)
    at = buf.find(signature)
    assert struct.unpack_from("<I", buf, at + size - 4)[0] == lookup3(bytes(buf[at : at + size - 4]))
    buf[at + offset] ^= 1
    struct.pack_into("<I", buf, at + size - 4, lookup3(bytes(buf[at : at + size - 4])))
    _refused(buf, words)
