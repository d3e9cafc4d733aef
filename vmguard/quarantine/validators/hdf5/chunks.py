"""The chunk indexes of layout versions 4 and 5 (HDF5 1.10 and later, libver='latest'):
one chunk, a fixed array (FAHD, FADB) or an extensible array (EAHD, EAIB, EASB, EADB).
Every block is claimed; every chunk it lists is claimed with its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from .chunkdata import Chunking, claim
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Message, Walker
    from .shapes import Space


def index(w: Walker, m: Message, what: str, desc: tuple[Space, int, tuple[int, ...], int]) -> None:
    """Layout version 4 (5 differs only in how filtered sizes are kept): a single chunk,
    a fixed array or an extensible array; the implicit and v2 B-tree indexes are refused."""
    f = w.file
    space, item, pipeline, base = desc
    flags, ndims, width = f.unpack("BBB", m.at + 2, what)
    pos = m.at + 5
    dims = tuple(int.from_bytes(f.bytes(pos + i * width, width, what), "little") for i in range(ndims))
    if ndims != len(space.dims) + 1 or dims[-1] != item:
        raise Invalid(f"hdf5: the chunk dimensions of {what} do not match its dataspace and datatype")
    c = Chunking(what=what, dims=dims, extent=(*space.dims, 1), filters=pipeline, vlen=base)
    pos += ndims * width
    index = f.unpack("B", pos, what)[0]
    if index == 1:
        if flags & 0x02:
            size, mask, address = f.unpack("QIQ", pos + 1, what)
        else:
            address = f.unpack("Q", pos + 1, what)[0]
            size, mask = (0 if address == UNDEFINED else c.size), 0
        claim(w, c, (address, size, mask))
    elif index == 3:
        _fixed_array(w, f.unpack("xQ", pos + 1, what)[0], c, what)
    elif index == 4:
        _extensible_array(w, f.unpack("5xQ", pos + 1, what)[0], c, what)
    else:
        names = {2: "an implicit", 5: "a version 2 B-tree"}
        raise Invalid(f"hdf5: {names.get(index, 'an unknown')} chunk index ({what}) is not supported")


def _fixed_array(w: Walker, address: int, chunk: Chunking, what: str) -> None:
    f, name = w.file, f"the fixed array chunk index of {what}"
    if address == UNDEFINED:
        return
    w.ledger.claim_checked(address, 28, name)
    f.signature(address, b"FAHD", name)
    client, width, bits, count, block = f.unpack("5xBBBQQ", address, name)
    if count > 1 << bits:
        raise Invalid(f"hdf5: a paged fixed array chunk index ({what}) is not supported")
    if block == UNDEFINED:
        return
    w.ledger.claim_checked(block, 18 + count * width, f"the data block of {name}")
    f.signature(block, b"FADB", name)
    _chunks(w, block + 14, count, width, client, chunk, what)


def _chunks(w: Walker, at: int, count: int, width: int, client: int, c: Chunking, what: str) -> None:
    """Claim the chunks an index block lists: (address, [filtered size, filter mask])."""
    f = w.file
    raw = f.bytes(at, count * width, what)
    for i in range(0, count * width, width):
        address = int.from_bytes(raw[i : i + 8], "little")
        if client:
            size = int.from_bytes(raw[i + 8 : i + width - 4], "little")
            mask = int.from_bytes(raw[i + width - 4 : i + width], "little")
        else:
            size, mask = (0 if address == UNDEFINED else c.size), 0
        claim(w, c, (address, size, mask))


def _extensible_array(w: Walker, address: int, chunk: Chunking, what: str) -> None:
    """An extensible array: its header, index block, super blocks and data blocks, each
    holding chunk addresses (H5EA: super block u has 2**(u//2) data blocks of
    2**((u+1)//2) * the minimum elements each)."""
    f, name = w.file, f"the extensible array chunk index of {what}"
    if address == UNDEFINED:
        return
    w.ledger.claim_checked(address, 72, name)
    f.signature(address, b"EAHD", name)
    client, width, bits, inline, least, pointers, page_bits = f.unpack("5x7B", address, name)
    index = f.unpack("Q", address + 60, name)[0]
    if not (least > 0 and least & (least - 1) == 0 and pointers > 0 and pointers & (pointers - 1) == 0):
        raise Invalid(f"hdf5: {name} has impossible block parameters")
    if index == UNDEFINED:
        return
    blocks = 1 + bits - (least.bit_length() - 1)  # super block sizes, as H5EA__hdr_init
    first = 2 * (pointers.bit_length() - 1)  # super blocks whose data blocks the index block lists
    offset = (bits + 7) // 8
    direct = [(least << ((u + 1) // 2)) for u in range(first) for _ in range(1 << (u // 2))]
    supers = blocks - first
    size = 14 + inline * width + (len(direct) + supers) * 8 + 4
    w.ledger.claim_checked(index, size, f"the index block of {name}")
    f.signature(index, b"EAIB", name)
    _chunks(w, index + 14, inline, width, client, chunk, what)
    at = index + 14 + inline * width
    for i, count in enumerate(direct):
        _data_block(
            w, f.unpack("Q", at + 8 * i, name)[0], count, (width, client, chunk, offset, page_bits), what
        )
    at += 8 * len(direct)
    for u in range(first, blocks):
        sblock = f.unpack("Q", at + 8 * (u - first), name)[0]
        if sblock == UNDEFINED:
            continue
        count, elements = 1 << (u // 2), least << ((u + 1) // 2)
        if elements > 1 << page_bits:
            raise Invalid(f"hdf5: a paged extensible array chunk index ({what}) is not supported")
        w.ledger.claim_checked(sblock, 14 + offset + 8 * count + 4, f"a super block of {name}")
        f.signature(sblock, b"EASB", name)
        for i in range(count):
            address = f.unpack("Q", sblock + 14 + offset + 8 * i, name)[0]
            _data_block(w, address, elements, (width, client, chunk, offset, page_bits), what)


def _data_block(w: Walker, address: int, count: int, shape: tuple[int, ...], what: str) -> None:
    width, client, chunk, offset, page_bits = shape
    if address == UNDEFINED:
        return
    name = f"a data block of the extensible array chunk index of {what}"
    if count > 1 << page_bits:
        raise Invalid(f"hdf5: a paged extensible array chunk index ({what}) is not supported")
    w.ledger.claim_checked(address, 14 + offset + count * width + 4, name)
    w.file.signature(address, b"EADB", name)
    _chunks(w, address + 14 + offset, count, width, client, chunk, what)
