"""What the ROOT walk collects as the bytes stream by, for the checks at the end, and the
string encoding both read."""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field

from .stream import Invalid

FMT = "root"


@dataclass(frozen=True)
class Header:
    begin: int
    end: int
    seek_free: int
    nbytes_free: int
    nfree: int
    nbytes_name: int
    compress: int
    seek_info: int
    nbytes_info: int
    uuid: bytes  # TUUID: version (2 bytes), then the UUID's 16


@dataclass(frozen=True)
class Record:
    """A record that is no basket: its key's bytes and, for uncompressed metadata (root.KEPT),
    its payload."""

    offset: int
    nbytes: int
    key: bytes
    klass: bytes
    body: bytes | None  # None: compressed, or data (a payload like a basket's)


@dataclass
class RootWalk:
    header: Header
    starts: array  # the offset of every record and free stretch, in order
    records: dict[int, Record]
    gaps: dict[int, bytes]  # free stretches (no record starts there): offset -> bytes
    kept: int = 0  # bytes kept in records and gaps
    slack: dict[int, bytes] = field(default_factory=dict)  # a keys list's bytes after its keys
    # an RNTuple's uncompressed envelopes: record offset -> (payload offset, payload)
    envelopes: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    inflated: int = 0  # bytes the blocks of records that are no basket or blob inflate to

    def record_at(self, offset: int, what: str) -> Record:
        """The record a field (`what`) points to, or Invalid."""
        record = self.records.get(offset)
        if record is None:
            raise Invalid(f"root: {what} ({offset}) is not the start of a record")
        return record


def read_string(data: bytes, at: int, where: str) -> tuple[bytes, int]:
    """A length-prefixed string of ROOT's (a byte, or 255 and a 4-byte length) at `at`;
    returns it and the offset after it."""
    if at >= len(data):
        raise Invalid(f"root: {where} ends inside a string")
    length, at = data[at], at + 1
    if length == 255:
        if at + 4 > len(data):
            raise Invalid(f"root: {where} ends inside a string")
        length, at = struct.unpack_from(">i", data, at)[0], at + 4
    if at + length > len(data):
        raise Invalid(f"root: {where} ends inside a string")
    return data[at : at + length], at + length
