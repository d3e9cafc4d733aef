"""HDF5, structurally: the superblock at offset 0 (no user block: nothing prepended),
a known version with 8-byte addresses, base address 0, the root group's object header
inside the file and starting as an object header does, and an end-of-file address that
is the end of the file (nothing appended). The check reads the file once, in order; the
objects' own B-trees and heaps are not walked (see docs/quarantine.md)."""

from __future__ import annotations

import struct

from .stream import Invalid, Stream

FMT = "hdf5"
SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEFINED = 0xFFFFFFFFFFFFFFFF


def validate(stream: Stream) -> str:
    if stream.peek(8) != SIGNATURE:
        raise Invalid("hdf5: the superblock is not at offset 0 (a user block or other bytes come first)")
    version = stream.peek(9)[8]
    if version in (0, 1):
        eof, root = _superblock_v01(stream, version)
    elif version in (2, 3):
        eof, root = _superblock_v23(stream)
    else:
        raise Invalid(f"hdf5: superblock version {version} is unknown")
    if not stream.pos <= root < eof:
        raise Invalid(f"hdf5: the root group's object header ({root}) is outside the file")
    stream.skip(root - stream.pos, "the data before the root group's object header", FMT)
    head = stream.read(4, "the root group's object header", FMT)
    if head != b"OHDR" and head[0] != 1:
        raise Invalid(f"hdf5: no object header at the root group's address {root}")
    stream.skip(eof - stream.pos, "the data up to the end-of-file address", FMT)
    stream.expect_end(FMT, "the superblock's end-of-file address")
    return FMT


def _sizes(offsets: int, lengths: int) -> None:
    if offsets != 8 or lengths != 8:
        raise Invalid(f"hdf5: {offsets}-byte addresses and {lengths}-byte lengths (only 8 are accepted)")


def _superblock_v01(stream: Stream, version: int) -> tuple[int, int]:
    fixed = stream.read(24, "the superblock", FMT)
    _sizes(fixed[13], fixed[14])
    if version == 1:
        stream.skip(4, "the superblock", FMT)
    base, _free, eof, driver = struct.unpack("<4Q", stream.read(32, "the superblock", FMT))
    entry = stream.read(40, "the root group's symbol table entry", FMT)
    root = struct.unpack_from("<Q", entry, 8)[0]
    _addresses(base, eof, stream.pos, driver)
    return eof, root


def _superblock_v23(stream: Stream) -> tuple[int, int]:
    fixed = stream.read(12, "the superblock", FMT)
    _sizes(fixed[9], fixed[10])
    base, extension, eof, root = struct.unpack("<4Q", stream.read(32, "the superblock", FMT))
    stream.skip(4, "the superblock's checksum", FMT)
    _addresses(base, eof, stream.pos, extension)
    return eof, root


def _addresses(base: int, eof: int, end_of_superblock: int, optional: int) -> None:
    if base != 0:
        raise Invalid(f"hdf5: base address {base} (the file must start with its superblock)")
    if not end_of_superblock < eof < UNDEFINED:
        raise Invalid(f"hdf5: end-of-file address {eof} is impossible")
    if optional != UNDEFINED and not end_of_superblock <= optional < eof:
        raise Invalid("hdf5: the superblock points outside the file")
