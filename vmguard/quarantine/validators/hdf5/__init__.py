"""HDF5, to the last byte, in two passes.

In the worker, as the bytes stream by (validate): the superblock at offset 0 (no user
block: nothing prepended), a known version with 8-byte addresses, base address 0, the
root group's header inside the file, and an end-of-file address that is the end of the
file (nothing appended). Then, with random access to vmguard's own copy of the bytes
(walk, objects.py): every byte between the superblock and the end-of-file address
belongs to exactly one structure reached from the root group, or is zero. A file of up
to WALKED_HERE bytes is walked here, in the worker, on the bytes it holds; a larger one
by the pipeline on vmguard's own copy (never the guest's) in a sandbox of its own
(quarantine/structure.py); a file inside a container here, up to MAX_INNER bytes."""

from __future__ import annotations

import importlib
import struct

from ..identify import IDENTIFY_SIZE, hdf5_user_block
from ..stream import Invalid, Stream

__all__ = ["FMT", "SIGNATURE", "validate", "validate_inner", "validate_top", "walk", "walked_elsewhere"]

FMT = "hdf5"
SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_INNER = 64 << 20  # an HDF5 file inside a gzip or tar is walked in the worker's memory
WALKED_HERE = 1 << 20  # smaller files are walked in the worker (more would cost the pipe elision)
UNDEFINED = 0xFFFFFFFFFFFFFFFF  # an address that points nowhere (ledger.py's, for every module)


def walk(buf: bytes | bytearray | memoryview, size: int) -> dict[int, tuple[int, str]]:
    """objects.walk, its modules loaded on first use: the vet process asks this package only
    walked_elsewhere (quarantine/structure.py); a worker loads them first (load_all)."""
    return importlib.import_module(f"{__name__}.objects").walk(buf, size)


def validate(stream: Stream) -> str:
    if stream.peek(8) != SIGNATURE:
        raise Invalid(_not_at_start(stream.peek(IDENTIFY_SIZE)))
    # the version byte is read like every other field (a file may end right before it)
    head = stream.read(9, "the superblock", FMT)
    version = head[8]
    if version in (0, 1):
        eof, targets = _superblock_v01(stream, head, version)
    elif version in (2, 3):
        eof, targets = _superblock_v23(stream, head)
    else:
        raise Invalid(f"hdf5: superblock version {version} is unknown")
    for address, what, starts in sorted(targets):
        if not stream.pos <= address < eof:
            raise Invalid(f"hdf5: {what} ({address}) is outside the file or overlaps another structure")
        stream.skip(address - stream.pos, f"the data before {what}", FMT)
        if not stream.read(4, what, FMT).startswith(starts):
            raise Invalid(f"hdf5: {what} at {address} does not start as one")
    stream.skip(eof - stream.pos, "the data up to the end-of-file address", FMT)
    stream.expect_end(FMT, "the superblock's end-of-file address")
    return FMT


def _not_at_start(head: bytes) -> str:
    block = hdf5_user_block(head)
    if block:
        return (
            f"hdf5: HDF5 with a user block ({block} bytes before the superblock): not supported "
            "(h5py's userblock_size; the bytes of a user block are the writer's own, unchecked)"
        )
    return "hdf5: the superblock is not at offset 0 (a user block or other bytes come first)"


def _sizes(offsets: int, lengths: int) -> None:
    if offsets != 8 or lengths != 8:
        raise Invalid(f"hdf5: {offsets}-byte addresses and {lengths}-byte lengths (only 8 are accepted)")


Targets = list[tuple[int, str, tuple[bytes, ...]]]  # (address, what, how it may start)


def _superblock_v01(stream: Stream, head: bytes, version: int) -> tuple[int, Targets]:
    fixed = head + stream.read(24 - len(head), "the superblock", FMT)
    _sizes(fixed[13], fixed[14])
    if version == 1:
        stream.skip(4, "the superblock", FMT)
    base, _free, eof, driver = struct.unpack("<4Q", stream.read(32, "the superblock", FMT))
    entry = stream.read(40, "the root group's symbol table entry", FMT)
    root, cache = struct.unpack_from("<QI", entry, 8)
    _addresses(base, eof, stream.pos, driver)
    # a root group that tracks link order (track_order=True) is a v2 header with nothing
    # cached in its entry; one with a symbol table a v1 header with it cached (objects.py)
    targets = [(root, "the root group's object header", (b"\x01",) if cache else (b"\x01", b"OHDR"))]
    if cache == 1:  # the root group's B-tree and local heap, cached in the entry
        btree, heap = struct.unpack_from("<QQ", entry, 24)
        targets += [
            (btree, "the root group's B-tree", (b"TREE",)),
            (heap, "the root group's heap", (b"HEAP",)),
        ]
    return eof, targets


def _superblock_v23(stream: Stream, head: bytes) -> tuple[int, Targets]:
    fixed = head + stream.read(12 - len(head), "the superblock", FMT)
    _sizes(fixed[9], fixed[10])
    base, extension, eof, root = struct.unpack("<4Q", stream.read(32, "the superblock", FMT))
    stream.skip(4, "the superblock's checksum", FMT)
    _addresses(base, eof, stream.pos, extension)
    return eof, [(root, "the root group's object header", (b"OHDR", b"\x01"))]


def _addresses(base: int, eof: int, end_of_superblock: int, optional: int) -> None:
    if base != 0:
        raise Invalid(f"hdf5: base address {base} (the file must start with its superblock)")
    if not end_of_superblock < eof < UNDEFINED:
        raise Invalid(f"hdf5: end-of-file address {eof} is impossible")
    if optional != UNDEFINED and not end_of_superblock <= optional < eof:
        raise Invalid("hdf5: the superblock points outside the file")


def validate_inner(stream: Stream) -> str:
    """A file inside a container has no copy of its own to walk: its bytes are
    gathered (up to MAX_INNER) and walked here."""
    data = bytearray()
    for chunk in stream.chunks():
        data += chunk
        if len(data) > MAX_INNER:
            raise Invalid(f"hdf5: a file inside a container is walked only up to {MAX_INNER >> 20} MiB")
    validate(Stream(iter([data])))
    walk(data, len(data))
    return FMT


def validate_top(stream: Stream) -> str:
    """A file of its own: if all of it fits in WALKED_HERE it is walked here, on the
    bytes the worker holds (before any skip, so none was left out of the pipe); a larger
    one is walked on vmguard's own copy (walked_elsewhere; quarantine/structure.py)."""
    data = stream.peek(WALKED_HERE + 1)
    if len(data) <= WALKED_HERE:
        validate(Stream(iter([data])))  # the stream's rules first, as for a large file
        walk(data, len(data))
    return validate(stream)


def walked_elsewhere(size: int) -> bool:
    """Whether a file of `size` bytes is too large for validate_top to walk it."""
    return size > WALKED_HERE
