"""What the ROOT walk collects as the bytes stream by, for the checks at the end, and the
string encoding both read."""

from __future__ import annotations

import datetime
import struct
import sys
from array import array
from dataclasses import dataclass, field

from .stream import Invalid

FMT = "root"

KEY = struct.Struct(">ihiIhh")  # a key's Nbytes, version, ObjLen, datime, KeyLen, cycle


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
class DataKeys:
    """What the walk saw of the data records' keys (root_data): for each (parent, tree,
    branch) of the baskets, how many baskets of each cycle (ROOT numbers them as it
    writes them)."""

    cycles: dict[tuple[int, bytes, bytes], array] = field(default_factory=dict)
    seeks: dict[tuple[int, bytes], array] = field(default_factory=dict)  # (parent, tree) -> baskets
    # (parent, tree) -> for each basket of seeks: its branch's number (in branches), cycle,
    # datime, Nbytes and fNevBuf (what root_data and root_remains ask of baskets no tree lists)
    shapes: dict[tuple[int, bytes], array] = field(default_factory=dict)
    branches: dict[bytes, int] = field(default_factory=dict)
    blobs: array = field(default_factory=lambda: array("q"))  # (record, payload) of each RBlob
    packed: dict[int, bytes] = field(default_factory=dict)  # a compressed tree's blocks


@dataclass
class RootWalk:
    header: Header
    starts: array  # the offset of every record and free stretch, in order
    records: dict[int, Record]
    gaps: dict[int, bytes]  # free stretches (no record starts there): offset -> bytes
    kept: int = 0  # bytes kept in records and gaps
    slack: dict[int, bytes] = field(default_factory=dict)  # a keys list's bytes after its keys
    # each directory's keys list (its position): the directory's position and the list's
    # last key as the list holds it (b"": none), where root_keylists starts its older versions
    lists: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    unlisted: set[int] = field(default_factory=set)  # directories uproot's del freed, walked
    # an RNTuple's uncompressed envelopes: record offset -> (payload offset, payload)
    envelopes: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    inflated: int = 0  # bytes the blocks of records that are no basket or blob inflate to
    data: DataKeys = field(default_factory=DataKeys)  # the keys of baskets and blobs
    # the payloads of records that are no basket or blob and not kept above (compressed, or
    # data), which a deleted record's tail may end as (root_tails), and their bytes
    payloads: dict[int, bytes] = field(default_factory=dict)
    paid: int = 0
    # records whose payload is not streamed as root_strings reads its class: refused if live
    layouts: dict[int, Invalid] = field(default_factory=dict)

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


def strings_at(key: bytes) -> int:
    """Where a key's strings (class, name, title) start: after its fSeekKey and fSeekPdir,
    4 bytes each, or 8 in version 1004 (64-bit seeks)."""
    return KEY.size + (16 if struct.unpack_from(">h", key, 4)[0] == 1004 else 8)


def key_fields(key: bytes) -> tuple[int, int, int]:
    """(fSeekKey, fSeekPdir, fCycle) of a key."""
    version, cycle = struct.unpack_from(">h", key, 4)[0], struct.unpack_from(">h", key, 16)[0]
    seek, parent = struct.unpack_from(">qq" if version == 1004 else ">ii", key, 18)
    return seek, parent, cycle


def windows(data: bytes, big: bool) -> set[int]:
    """Every 8-byte window of data as an unsigned integer (big- or little-endian): where a
    structure may give a record's position."""
    out: set[int] = set()
    for shift in range(8):  # the windows at each alignment, read as a C array
        values = array("Q", data[shift : shift + (len(data) - shift) // 8 * 8])
        if big == (sys.byteorder == "little"):
            values.byteswap()
        out.update(values)
    return out


def decode_datime(value: int) -> datetime.datetime | None:
    """The calendar date-time a packed TDatime stands for (TDatime::Set, uproot's
    datetime_to_code: year - 1995 in 6 bits, month 4, day 5, hour 5, minute 6, second 6),
    or None where the fields are no date a clock gives (month 0 or 13-15, a day past the
    month's, hour 24-31, minute or second 60-63; session 38, attack n root: such a number
    lies between two dates and widens what "an earlier datime" may choose)."""
    try:
        date = datetime.date((value >> 26) + 1995, value >> 22 & 15, value >> 17 & 31)
        return datetime.datetime.combine(date, datetime.time(value >> 12 & 31, value >> 6 & 63, value & 63))
    except ValueError:
        return None


# How far apart two jobs' datimes may lie from their true times: uproot and ROOT date keys
# with the host's local time (datetime.now(), TDatime), so the largest difference of two
# hosts' local clocks, 26 h between UTC-12 and UTC+14 (every zone's offset lies there) and
# 5 min of skew (the difference Kerberos' default clockskew lets a host's clock have from
# its KDC's: a lab's hosts keep that close or fail to log in). Session 38, attack n root:
# a job an hour west, or 30 s behind, that deleted what it wrote was refused.
CLOCKS = 26 * 3600 + 300
_EPOCH = datetime.datetime(1995, 1, 1)


def seconds(value: int) -> int | None:
    """A packed TDatime as seconds on its own clock (decode_datime), or None where its
    fields are no date-time."""
    when = decode_datime(value)
    return None if when is None else int((when - _EPOCH).total_seconds())


def written_by(value: int, bound: int) -> bool:
    """Whether a key dated `value` may have been written no later (in true time) than the
    one dated `bound`, by jobs on hosts of other clocks: both date-times, value at most
    CLOCKS after bound (session 39: a tree's orphans a job ahead wrote, dated after the tree
    a job behind made again, were refused)."""
    at, by = seconds(value), seconds(bound)
    return at is not None and by is not None and at <= by + CLOCKS


def check_datime(value: int, where: str) -> int:
    """value, a datime (of a key, a directory's fDatimeC or fDatimeM), if it is a date-time
    (decode_datime); else Invalid. Every rule that compares datimes reads checked ones."""
    if decode_datime(value) is None:
        raise Invalid(
            f"root: {where} has datime {value:#010x}, which is no date-time (ROOT and uproot pack "
            "a clock's: month 1-12, a day of the month, hour 0-23, minute and second 0-59)"
        )
    return value
