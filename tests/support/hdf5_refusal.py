"""The HDF5 walk's verdict on a file's bytes, for the tests that compare many variants."""

from __future__ import annotations

from vmguard.quarantine.validators.hdf5.objects import walk
from vmguard.quarantine.validators.stream import Invalid


def refusal(data: bytes | bytearray) -> str:
    """The walk's reason for refusing `data`, or "accepted"."""
    try:
        walk(bytes(data), len(data))
    except Invalid as e:
        return str(e)
    return "accepted"
