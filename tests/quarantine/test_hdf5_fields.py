"""Fields a byte-by-byte sweep of h5py's output found free (each byte of the metadata of
a default-libver file flipped, the walk asked again): the empty name a group's local
heap starts with, a version 1 header's blocks filled by messages, a dataset that is not
chunked without larger maximum dimensions, an attribute's name size, a scalar
dataspace's flags (issue #13, attack c). Control: h5py's file passes; each flip refused
naming its rule."""

from __future__ import annotations

import struct

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.quarantine.test_hdf5_msgs import _refused, _vet  # noqa: E402
from tests.support.hdf5_attack_c_bytes import find, h5file, put  # noqa: E402


def _file() -> bytearray:
    def build(f) -> None:  # noqa: ANN001
        f.create_dataset("c", data=np.arange(3, dtype="<i4"))
        f["c"].attrs["a"] = 1.5

    buf = h5file(build)
    _vet(buf)
    return buf


def test_local_heap_starts_with_the_empty_name():
    buf = _file()
    data = struct.unpack_from("<Q", buf, buf.find(b"HEAP") + 24)[0]
    assert buf[data] == 0
    buf[data] = ord("P")
    _refused(buf, "does not start with the empty name")


def test_v1_header_blocks_are_filled_by_messages():
    """A v1 header's size one more than its messages (libhdf5 fills blocks with null
    messages: no tail gap)."""
    buf = _file()
    hdr, _ = find(buf, "c", 0x01)
    size = struct.unpack_from("<I", buf, hdr.start + 8)[0]
    struct.pack_into("<I", buf, hdr.start + 8, size + 1)
    _refused(buf, "or is in a version 1 header")


def test_contiguous_dataset_maximum_dimensions_are_its_own():
    buf = _file()
    hdr, msg = find(buf, "c", 0x01)
    assert buf[msg.body + 2] & 0x01  # h5py stores maximum dimensions = dimensions
    put(buf, hdr, msg.body + 16, b"\x04")
    _refused(buf, "and /c cannot grow")


def test_attribute_name_size_is_the_name_and_its_nul():
    buf = _file()
    hdr, msg = find(buf, "c", 0x0C)
    assert buf[msg.body + 2] == 2  # 'a' and its NUL
    put(buf, hdr, msg.body + 2, b"\x03")
    _refused(buf, "the name of an attribute of /c \\(3 bytes\\) holds a NUL before its end")


def test_scalar_dataspace_has_no_maximum_dimensions_flag():
    buf = _file()
    hdr, msg = find(buf, "c", 0x0C)
    space = msg.body + 8 + 8 + 24  # name 'a' padded to 8, a float datatype (20, padded to 24)
    assert bytes(buf[space : space + 3]) == b"\x01\x00\x00"
    put(buf, hdr, space + 2, b"\x01")
    _refused(buf, "has rank 0 and maximum dimensions")
