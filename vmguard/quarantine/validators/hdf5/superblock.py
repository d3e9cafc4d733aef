"""The superblock (versions 0 to 3): where the walk starts. It claims its bytes, holds
the end-of-file address to the file's size and reaches the root group (and the superblock
extension, whose B-tree K values the walk needs first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from . import fields, symbols
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Walker

SUPERBLOCK_SIZE = {0: 96, 1: 100, 2: 48, 3: 48}


def read(w: Walker, size: int) -> None:
    """Check the superblock at offset 0 and reach what it names."""
    f = w.file
    if f.bytes(0, 8, "the superblock") != b"\x89HDF\r\n\x1a\n":
        raise Invalid("hdf5: the superblock is not at offset 0 (a user block or other bytes come first)")
    version = f.unpack("8xB", 0, "the superblock")[0]
    if version not in SUPERBLOCK_SIZE:
        raise Invalid(f"hdf5: superblock version {version} is unknown")
    w.ledger.claim(0, SUPERBLOCK_SIZE[version], "the superblock")
    if version < 2:
        _superblock_v01(w, version, size)
    else:
        _superblock_v23(w, size)


def _superblock_v01(w: Walker, version: int, size: int) -> None:
    f = w.file
    leaf, group = f.unpack("16xHH", 0, "the superblock")
    at = 24
    if version == 1:  # libhdf5 writes it only to store a chunk K other than its default
        fields.k_values({"chunk": f.unpack("H", 24, "the superblock")[0]}, "the version 1 superblock")
        raise Invalid("hdf5: a version 1 superblock of libhdf5's default K values (libhdf5 writes version 0)")
    _, free, eof, driver = f.unpack("QQQQ", at, "the superblock")
    entry = f.bytes(at + 32, 40, "the superblock")
    name, root, _ = symbols.symbol_entry(w, entry, "the superblock")
    if entry[16] == 0:  # libhdf5 caches the root's symbol table whenever it has one (H5G_mkroot)
        w.cached.setdefault(root, set()).add(None)
    _eof(eof, size)
    raw = f.bytes(0, at, "the superblock")  # versions 0, reserved bytes and flags zero:
    if name or (raw[9:13] + raw[15:16] + raw[20:24] + raw[26:28]).strip(b"\0"):
        raise Invalid("hdf5: the reserved bytes of the superblock hold data")
    if free != UNDEFINED or driver != UNDEFINED:
        raise Invalid("hdf5: a global free-space index or driver information block is not supported")
    fields.k_values({"leaf": leaf, "group": group}, "the superblock")
    w.reach(root, "/")


def _superblock_v23(w: Walker, size: int) -> None:
    w.file.checksummed(0, SUPERBLOCK_SIZE[2], "the superblock")
    if w.file.unpack("11xB", 0, "the superblock")[0]:
        raise Invalid(
            "hdf5: the superblock's file consistency flags are set (libhdf5 clears them when it "
            "closes the file: a writer did not close it; h5clear -s clears them)"
        )
    _, extension, eof, root = w.file.unpack("QQQQ", 12, "the superblock")
    _eof(eof, size)
    if extension != UNDEFINED:  # first: it holds the B-tree K values the walk needs
        w.seen.add(extension)
        w.extension = extension
        w.visit(extension, "the superblock extension")
    w.reach(root, "/")


def _eof(eof: int, size: int) -> None:
    if eof != size:
        raise Invalid(f"hdf5: the end-of-file address ({eof}) is not the end of the file ({size})")
