"""A REFERENCE_LIST's deleted copies in the other libver bound's encoding (session 40,
scalelists._reencoded, emptiedblocks._named): h5netcdf (h5py, libver 'earliest')
appending to netCDF4-python's file has H5DSattach_scale write the list as a version 1
attribute message with a version 1 dataspace (the datatype, netCDF-C's version 3, kept),
where netCDF-C's deleted copies are version 3 messages with a version 2 dataspace; and
the block its second session emptied lies right before the root indirect block the
revert freed, which names it. Admitted: each deleted copy in either encoding, recomputed
from the live list, each once; an emptied block's end up to where an old root of its
heap that names it starts. A byte of either copy changed, the old root's entry changed,
are refused."""

from __future__ import annotations

import pytest

from tests.quarantine.test_hdf5_revertedroots import UNCLAIMED, WORKFLOWS, _nc
from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5.objects import walk

EMPTIED = "the end of an emptied direct block of the fractal heap of the attributes of /x"
VERSION_2_SPACE = b"\x02\x01\x01\x01"  # a version 2 simple dataspace of rank 1 with maxima


@pytest.fixture(scope="module")
def appended() -> tuple[bytes, list[tuple[int, int]]]:
    """The file, and where the ends of its two emptied blocks lie."""
    data = _nc(WORKFLOWS["h5netcdf-appends-to-netcdf4"])
    ends = sorted((s, e) for s, (e, what) in walk(data, len(data)).items() if what == EMPTIED)
    assert len(ends) == 2, "control: two emptied blocks"
    return data, ends


def _changed(data: bytes, at: int, value: int) -> bytes:
    out = bytearray(data)
    out[at] = value
    return bytes(out)


def test_control_the_first_copy_is_netcdf_c_s(appended):
    data, ends = appended
    (start, end), _ = ends
    assert VERSION_2_SPACE in data[start:end], "a version 3 message's dataspace"
    assert data.count(b"REFERENCE_LIST") == 1 and data[data.find(b"REFERENCE_LIST") - 8] == 1, "live: version 1"


def test_control_the_second_ends_at_the_old_root_naming_it(appended):
    data, ends = appended
    _, (start, end) = ends
    assert data[end : end + 4] == b"FHIB"
    assert (end - 1024).to_bytes(8, "little") in data[end : end + 64]


@pytest.mark.parametrize("which", [0, 1])
def test_a_byte_of_a_copy_changed_is_refused(appended, which):
    data, ends = appended
    start, end = ends[which]
    at = start + len(data[start:end].rstrip(b"\0")) - 1  # the copy's last non-zero byte
    assert UNCLAIMED in _refusal(_changed(data, at, data[at] ^ 0x40))


def test_the_version_2_dataspace_changed_is_refused(appended):
    data, ends = appended
    start, end = ends[0]
    at = data.find(VERSION_2_SPACE, start, end)
    assert UNCLAIMED in _refusal(_changed(data, at, 1))


def test_the_old_root_naming_another_place_is_refused(appended):
    """The old root's entry moved by a block: it names no emptied block (nor is its
    checksum right): neither is claimed."""
    data, ends = appended
    _, (start, end) = ends
    at = data.find((end - 1024).to_bytes(8, "little"), end, end + 64)
    assert UNCLAIMED in _refusal(_changed(data, at + 1, data[at + 1] ^ 0x04))
