"""Read the header blobs out of an rpm database copied out of a guest, without rpm.

Two formats: the Berkeley DB hash file `Packages` of RHEL 5/6/7-era systems (read
here page by page, in pure Python, every page number and length checked), and the
`rpmdb.sqlite` of current systems (read with SQLite, which is hardened against hostile
database files, with its untrusted-schema features off). Blobs go to rpmheader.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

from vmguard.guest.rpmheader import HeaderError, RpmPackage, parse_header

HASH_MAGIC = 0x061561
HASH_VERSIONS = (8, 9)  # Berkeley DB 4.x and 5.x hash files (RHEL 5, 6, 7)
PAGE_TYPES_HASH = (2, 13)  # P_HASH_UNSORTED, P_HASH
PAGE_OVERFLOW = 7
H_KEYDATA, H_OFFPAGE = 1, 3
PAGE_HEADER = 26
MAX_PACKAGES = 200_000
MAX_BLOB = 64 * 1024 * 1024


class RpmDbError(ValueError):
    """The database is not one this reader accepts; the message says why."""


def read_packages(path: Path, *, sqlite: bool) -> tuple[list[RpmPackage], list[str]]:
    """Packages in a copied-out database (rpmdb.sqlite, or a Berkeley DB Packages), and
    per-entry problems. The sqlite copy must be a private one: SQLite may apply its
    write-ahead log (a `-wal` file beside it) to it."""
    blobs = _sqlite_blobs(path) if sqlite else _bdb_blobs(path)
    packages, problems = [], []
    for key, blob in blobs:
        try:
            packages.append(parse_header(blob))
        except HeaderError as err:
            problems.append(f"{path.name} entry {key}: {err}")
    return packages, problems


def _sqlite_blobs(path: Path) -> list[tuple[int, bytes]]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True)  # rw: no file is created
    except sqlite3.Error as err:
        raise RpmDbError(f"not an SQLite database: {err}") from err
    try:
        con.execute("PRAGMA trusted_schema=OFF")
        con.execute("PRAGMA cell_size_check=ON")
        rows = con.execute(
            "SELECT hnum, blob FROM Packages WHERE length(blob) <= ? LIMIT ?",
            (MAX_BLOB, MAX_PACKAGES + 1),
        ).fetchall()
    except sqlite3.Error as err:
        raise RpmDbError(f"unreadable rpmdb.sqlite: {err}") from err
    finally:
        con.close()
    if len(rows) > MAX_PACKAGES:
        raise RpmDbError(f"more than {MAX_PACKAGES} packages")
    return [(int(h), bytes(b)) for h, b in rows if isinstance(b, bytes | memoryview)]


def _bdb_blobs(path: Path) -> Iterator[tuple[int, bytes]]:
    data = path.read_bytes()
    order, page_size = _bdb_meta(data)
    pages = len(data) // page_size
    for pgno in range(1, pages):
        page = data[pgno * page_size : (pgno + 1) * page_size]
        if page[25] in PAGE_TYPES_HASH:
            yield from _hash_page_pairs(data, page, order, page_size)


def _bdb_meta(data: bytes) -> tuple[str, int]:
    if len(data) < 512:
        raise RpmDbError("too short for a Berkeley DB file")
    for order in "<>":
        magic, version, page_size = struct.unpack_from(order + "III", data, 12)
        if magic == HASH_MAGIC:
            break
    else:
        raise RpmDbError("not a Berkeley DB hash file (bad magic)")
    if version not in HASH_VERSIONS:
        raise RpmDbError(f"Berkeley DB hash version {version} is not supported")
    if page_size not in (512 << n for n in range(8)) or len(data) % page_size:
        raise RpmDbError(f"bad page size {page_size} for a file of {len(data)} bytes")
    if data[24] or data[26]:  # encrypt_alg, metaflags (checksums change the page layout)
        raise RpmDbError("encrypted or checksummed Berkeley DB files are not supported")
    return order, page_size


def _hash_page_pairs(data: bytes, page: bytes, order: str, page_size: int) -> Iterator[tuple[int, bytes]]:
    entries = struct.unpack_from(order + "H", page, 20)[0]
    if entries % 2 or PAGE_HEADER + 2 * entries > page_size:
        raise RpmDbError(f"hash page with a bad item count {entries}")
    offsets = struct.unpack_from(f"{order}{entries}H", page, PAGE_HEADER)
    items = [_item(data, page, offsets, i, order, page_size) for i in range(entries)]
    for key, value in zip(items[::2], items[1::2], strict=True):
        if len(key) == 4 and key != b"\0\0\0\0":  # record 0 holds rpm's next instance number
            yield struct.unpack(order + "I", key)[0], value


def _item(data: bytes, page: bytes, offsets: tuple, i: int, order: str, page_size: int) -> bytes:
    start, end = offsets[i], (offsets[i - 1] if i else page_size)
    if not PAGE_HEADER <= start < end <= page_size:
        raise RpmDbError(f"hash item {i} at {start}..{end} outside its page")
    if page[start] == H_KEYDATA:
        return page[start + 1 : end]
    if page[start] == H_OFFPAGE and end - start >= 12:
        pgno, length = struct.unpack_from(order + "II", page, start + 4)
        return _overflow(data, pgno, length, order, page_size)
    raise RpmDbError(f"hash item {i} has unsupported type {page[start]}")


def _overflow(data: bytes, pgno: int, length: int, order: str, page_size: int) -> bytes:
    if length > MAX_BLOB:
        raise RpmDbError(f"overflow item of {length} bytes")
    chunks, total, seen = [], 0, set()
    while pgno and total < length:
        if pgno in seen or pgno * page_size >= len(data):
            raise RpmDbError(f"overflow chain loops or leaves the file at page {pgno}")
        seen.add(pgno)
        page = data[pgno * page_size : (pgno + 1) * page_size]
        next_pgno, used = struct.unpack_from(order + "I", page, 16)[0], _hoffset(page, order)
        if page[25] != PAGE_OVERFLOW or used > page_size - PAGE_HEADER:
            raise RpmDbError(f"page {pgno} is not a valid overflow page")
        chunks.append(page[PAGE_HEADER : PAGE_HEADER + used])
        total += used
        pgno = next_pgno
    if total != length:
        raise RpmDbError(f"overflow item is {total} bytes, its entry says {length}")
    return b"".join(chunks)


def _hoffset(page: bytes, order: str) -> int:
    """On overflow pages, hf_offset holds the number of data bytes on the page."""
    return struct.unpack_from(order + "H", page, 22)[0]
