"""What the ROOT walk collects as the bytes stream by, for the checks at the end."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

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
    algorithms: set[int]  # of the compressed blocks (fCompress // 100)
    kept: int = 0  # bytes kept in records and gaps
    slack: dict[int, bytes] = field(default_factory=dict)  # a keys list's bytes after its keys
    # an RNTuple's uncompressed envelopes: record offset -> (payload offset, payload)
    envelopes: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    inflated: int = 0  # bytes the blocks of records that are no basket or blob inflate to
