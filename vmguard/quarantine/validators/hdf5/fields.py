"""Fields of header messages and heap headers that a reader reads past or never needs,
held to what libhdf5 writes: reserved bytes zero (one rule, reserved() below, wherever
the format has them: local and global heap headers, symbol table nodes, shared and
modification time messages), the B-tree K values libhdf5's defaults, a chunked
layout's index parameters exactly libhdf5's (H5D__layout_set_latest_indexing: the
extensible and fixed array headers hold the same, tuning.py), and a string stored with
its length free of NULs (stored_string)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import terminal
from ..stream import Invalid
from . import tuning

if TYPE_CHECKING:
    from .ledger import File
    from .objects import Message, Walker

# HDF5_BTREE_CHUNK_IK_DEF, HDF5_BTREE_SNODE_IK_DEF, H5F_CRT_SYM_LEAF_DEF
K_DEFAULTS = {"chunk": 32, "group": 16, "leaf": 4}
# The layout's creation parameters of an extensible array (max bits, index elements,
# min pointers, min elements, page bits: its header's, tuning.py, in the layout's order)
# and a fixed array (page bits).
EXTENSIBLE = tuple(tuning.EXTENSIBLE_ARRAY[i] for i in (0, 1, 3, 2, 4))
FIXED = tuning.FIXED_ARRAY


def reserved(raw: bytes | memoryview, name: str) -> None:
    """Reserved bytes are zeros (libhdf5 writes zeros and reads past them)."""
    if bytes(raw).strip(b"\0"):
        raise Invalid(f"hdf5: the reserved bytes of {name} hold data (libhdf5 writes zeros)")


def mtime(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    """The modification time message: version 1, 3 reserved bytes, the time (free: the
    docs list it)."""
    name = f"the modification time of {what}"
    if w.file.unpack("B", m.at, name)[0] != 1:
        raise Invalid(f"hdf5: {name} has a version other than 1")
    reserved(w.file.bytes(m.at + 1, 3, name), name)


def old_mtime(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    """The old modification time message: 14 ASCII digits (YYYYMMDDhhmmss), 2 reserved."""
    name = f"the old modification time of {what}"
    if not w.file.bytes(m.at, 14, name).isdigit():
        raise Invalid(f"hdf5: {name} is not 14 digits")
    reserved(w.file.bytes(m.at + 14, 2, name), name)


def k_values(given: dict[str, int], where: str) -> None:
    """B-tree K values (a version 0 superblock's group leaf and internal node K) are
    libhdf5's defaults, what h5py writes (it has no call for others). Others, set with
    H5Pset_sym_k, size a group's symbol table nodes and B-tree, whose room past their
    entries must be zeros: a few bits no reader returns."""
    if any(K_DEFAULTS[key] != value for key, value in given.items()):
        raise Invalid(
            f"hdf5: {where} gives the B-tree K values {given}, where libhdf5 writes {K_DEFAULTS} (other "
            "values, set with H5Pset_sym_k or H5Pset_istore_k, which h5py cannot call, are not supported)"
        )


def k_message(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    """A B-tree 'K' values message (superblock extension): libhdf5 writes one only for
    values other than its defaults (H5F__super_init), which k_values refuses."""
    version, chunk, group, leaf = w.file.unpack("BHHH", m.at, f"the B-tree K values of {what}")
    k_values({"chunk": chunk, "group": group, "leaf": leaf}, f"the B-tree K values message of {what}")
    raise Invalid(
        f"hdf5: {what} holds a B-tree K values message (version {version}) of libhdf5's defaults "
        "(libhdf5 writes none then)"
    )


def index_params(f: File, pos: int, index: int, name: str) -> None:
    """The parameters after a layout's chunk index type at `pos`: an extensible
    array's five and a fixed array's one, as libhdf5 writes them."""
    wanted = {4: EXTENSIBLE, 3: FIXED}.get(index, ())
    got = tuple(f.bytes(pos, len(wanted), name))
    if got != wanted:
        raise Invalid(
            f"hdf5: {name} gives its chunk index the parameters {got}, where libhdf5 writes {wanted}"
        )


def layout_flags(flags: int, width: int, dims: tuple[int, ...], single: bool, name: str) -> None:
    """A layout version 4's flags (0x01: edge chunks unfiltered, 0x02: a filtered single
    chunk, `single`) and the bytes it stores each chunk dimension in: the fewest that hold
    the largest (H5O__layout_encode)."""
    fewest = 1 + (max(dims, default=1).bit_length() - 1) // 8
    if flags & ~0x03 or bool(flags & 0x02) != single or width != fewest:
        raise Invalid(
            f"hdf5: {name} has flags {flags:#04x} or stores chunk dimensions in {width} bytes "
            f"(libhdf5: {fewest}; flag 0x02 exactly for one filtered chunk)"
        )


def link_flags(f: File, at: int, name: str) -> int:
    """A link message's flags as H5O__link_encode sets them: the name's length in the
    fewest bytes, a link type field only for a link that is not hard, a character set
    field only for UTF-8 (1), no bit above 0x1F. Returns the name's character set."""
    flags = f.unpack("xB", at, name)[0]
    kind = f.unpack("B", at + 2, name)[0] if flags & 0x08 else 0
    pos = at + 2 + (1 if flags & 0x08 else 0) + (8 if flags & 0x04 else 0)
    cset = f.unpack("B", pos, name)[0] if flags & 0x10 else 0
    pos += 1 if flags & 0x10 else 0
    length = int.from_bytes(f.bytes(pos, 1 << (flags & 0x03), name), "little")
    fewest = next(i for i, top in enumerate((0xFF, 0xFFFF, 0xFFFFFFFF, 1 << 64)) if length <= top)
    if flags & ~0x1F or (flags & 0x08 and not kind) or (flags & 0x10 and cset != 1) or flags & 0x03 != fewest:
        raise Invalid(
            f"hdf5: {name} has flags {flags:#04x} (link type {kind}, character set {cset}, name of "
            f"{length} bytes) where libhdf5 sets them from the link"
        )
    return cset


def array_block(f: File, at: int, block: tuple[bytes, int | None, int | None], name: str) -> None:
    """The prefix of a fixed or extensible array's header or block at `at`: its
    signature, version 0, its client (chunks unfiltered 0, filtered 1: a header's is
    tuning.py's, block[1] None) and, in a block (block[2] not None), the address of the
    array's header (H5FA, H5EA: a reader reads past them)."""
    signature, client, header = block
    f.signature(at, signature, name)
    version, got = f.unpack("4xBB", at, name)
    owner = f.unpack("6xQ", at, name)[0] if header is not None else None
    if version or got != (got if client is None else client) or owner != header:
        raise Invalid(
            f"hdf5: {name} at {at} has version {version}, client {got} or header {owner}, where "
            f"libhdf5 writes 0, {client} and {header}"
        )


def super_block(least: int, u: int) -> tuple[int, int]:
    """(its first element, the elements of each of its data blocks) of super block u of
    an extensible array whose data blocks hold at least `least` (H5EA__hdr_init: super
    block v has 2**(v//2) data blocks of 2**((v+1)//2) * least)."""
    start = sum((1 << (v // 2)) * (least << ((v + 1) // 2)) for v in range(u))
    return start, least << ((u + 1) // 2)


def index_block_offsets(least: int, first: int) -> list[int]:
    """The block offsets libhdf5 stores in the data blocks an extensible array's index
    block lists (those of super blocks 0..first-1), slot by slot: the super block's first
    element plus the slot's index (counted over all the index block's slots, as
    H5EA__iblock_protect's caller does) times its data blocks' elements."""
    owners = [u for u in range(first) for _ in range(1 << (u // 2))]
    return [super_block(least, u)[0] + slot * super_block(least, u)[1] for slot, u in enumerate(owners)]


def ea_block(f: File, at: int, block: tuple[bytes, int, int, int, int], name: str) -> None:
    """An extensible array's super or data block at `at`: its prefix (array_block),
    then its block offset in `width` bytes, the one libhdf5 writes (`wanted`); block is
    (signature, client, header, width, wanted)."""
    signature, client, header, width, wanted = block
    array_block(f, at, (signature, client, header), name)
    got = int.from_bytes(f.bytes(at + 14, width, name), "little")
    if got != wanted:
        raise Invalid(f"hdf5: {name} at {at} gives its block offset as {got}, where libhdf5 writes {wanted}")


def charset(value: int, name: str) -> None:
    """A character set field: ASCII (0) or UTF-8 (1), the only ones HDF5 defines."""
    if value not in (0, 1):
        raise Invalid(f"hdf5: {name} has character set {value} (HDF5 knows 0, ASCII, and 1, UTF-8)")


def name_charset(value: int, text: bytes, name: str) -> None:
    """The character set of an attribute's or a link's name, as h5py has libhdf5 write
    it: ASCII (0) for a name of ASCII characters (h5py encodes a str name as ASCII when
    it can, H5Pset_char_encoding(ASCII)); a name with other bytes ASCII or UTF-8 (h5py:
    an attribute's always ASCII, a link's UTF-8 for a str name, ASCII for a bytes one).
    An ASCII name marked UTF-8 reads the same (attack nh5: 1 chosen bit a name)."""
    charset(value, name)
    if value and text.isascii():
        raise Invalid(
            f"hdf5: {name} ({text.decode('ascii')!r}) is marked UTF-8 but is ASCII (h5py, through "
            "libhdf5, marks an ASCII name ASCII)"
        )


def stored_string(raw: bytes, name: str, *, terminated: bool = False) -> bytes:
    """A string the format stores with its length (a link's name, a soft link's value,
    an attribute's name, a variable-length string's heap object): libhdf5 writes its
    characters, and where `terminated` exactly one NUL that the length counts, and
    readers take it as a C string, so whatever lies after a NUL inside the length reaches
    no reader (a link named 'a\\0PWND' is listed and opened as 'a'). Returns the
    characters."""
    text = raw[:-1] if terminated else raw
    unended = terminated and raw[-1:] != b"\0"
    if b"\0" in text or unended:
        wrong = "lacks its final NUL" if unended else "holds a NUL before its end"
        raise Invalid(
            f"hdf5: {name} ({len(raw)} bytes) {wrong} "
            f"(libhdf5 writes the characters{' and one NUL' if terminated else ', no NUL'}; a reader stops "
            "at the first NUL)"
        )
    terminal.check(text, name, "hdf5")  # h5py returns it, `print` hands it to a terminal
    return text
