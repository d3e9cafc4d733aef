"""The chunk indexes of layout versions 4 and 5 (HDF5 1.10 and later, libver='latest'):
one chunk, a fixed array (FAHD, FADB) or an extensible array (EAHD, EAIB, EASB, EADB).
Every block is claimed; every chunk it lists is claimed with its size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import fields, tuning
from .chunkdata import Chunking, claim
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .elements import Element
    from .objects import Message, Walker
    from .shapes import Space


def index(
    w: Walker,
    m: Message,
    what: str,
    desc: tuple[Space, int, tuple[tuple[int, ...], int], Element | None, bytes],  # level with the filters
) -> None:
    """Layout version 4 (5 differs only in how filtered sizes are kept): a single chunk,
    a fixed array or an extensible array; the implicit and v2 B-tree indexes are refused."""
    f = w.file
    space, item, (pipeline, level), values, fill = desc
    flags, ndims, width = f.unpack("BBB", m.at + 2, what)
    pos = m.at + 5
    dims = tuple(int.from_bytes(f.bytes(pos + i * width, width, what), "little") for i in range(ndims))
    if ndims != len(space.dims) + 1 or dims[-1] != item:
        raise Invalid(f"hdf5: the chunk dimensions of {what} do not match its dataspace and datatype")
    c = Chunking(
        what=what, dims=dims, extent=(*space.dims, 1), filters=pipeline, values=values, fill=fill,
        maxdims=space.maxdims, level=level,
    )
    w.ledger.chunks.add(c)  # its chunks' earlier versions may remain (oldchunks.py)
    grid = Grid(dims[:-1], space.maxdims)
    pos += ndims * width
    index = f.unpack("B", pos, what)[0]
    name = f"the layout of {what}"
    fields.layout_flags(flags, width, dims, index == 1 and bool(pipeline), name)
    fields.index_params(f, pos + 1, index, name)
    if index == 1:
        if flags & 0x02:
            size, mask, address = f.unpack("QIQ", pos + 1, what)
        else:
            address = f.unpack("Q", pos + 1, what)[0]
            size, mask = (0 if address == UNDEFINED else c.size), 0
        claim(w, c, (address, size, mask), (0,) * ndims)
    elif index == 3:
        _fixed_array(w, f.unpack("xQ", pos + 1, what)[0], (c, grid), what)
    elif index == 4:
        _extensible_array(w, f.unpack("5xQ", pos + 1, what)[0], (c, grid), what)
    else:
        names = {2: "an implicit", 5: "a version 2 B-tree"}
        raise Invalid(f"hdf5: {names.get(index, 'an unknown')} chunk index ({what}) is not supported")


@dataclass(frozen=True, slots=True)
class Grid:
    """Where the chunk at position i of a fixed or extensible array lies (H5Dfarray.c,
    H5Dearray.c): positions count chunks in row-major order over the chunk grid of the
    maximum dimensions, an unlimited dimension moved first (swizzled)."""

    dims: tuple[int, ...]  # a chunk's dimensions (elements)
    maxdims: tuple[int, ...]

    def offsets(self, i: int) -> tuple[int, ...]:
        """The chunk's offsets (elements, the element size's 0 last)."""
        unlimited = [d for d, n in enumerate(self.maxdims) if n == UNDEFINED][:1]
        order = unlimited + [d for d in range(len(self.dims)) if d not in unlimited]
        at = [0] * len(self.dims)
        for d in reversed(order[1:]):
            i, at[d] = divmod(i, -(-self.maxdims[d] // self.dims[d]))
        if order:
            at[order[0]] = i
        return (*(n * step for n, step in zip(at, self.dims, strict=True)), 0)


def _fixed_array(w: Walker, address: int, chunk: tuple[Chunking, Grid], what: str) -> None:
    f, name = w.file, f"the fixed array chunk index of {what}"
    if address == UNDEFINED:
        return
    w.ledger.claim_checked(address, 28, name)
    fields.array_block(f, address, (b"FAHD", None, None), name)
    client, width, bits, count, block = f.unpack("5xBBBQQ", address, name)
    tuning.chunk_index((client, width, bits), [(*e, *tuning.FIXED_ARRAY) for e in _element(chunk[0])], name)
    if count > 1 << bits:
        raise Invalid(f"hdf5: a paged fixed array chunk index ({what}) is not supported")
    if block == UNDEFINED:
        return
    w.ledger.claim_checked(block, 18 + count * width, f"the data block of {name}")
    fields.array_block(f, block, (b"FADB", client, address), name)
    _chunks(w, (block + 14, 0), (count, width, client), chunk, what)


def _element(c: Chunking) -> list[tuple[int, int]]:
    """(client, bytes of one entry) of the fixed or extensible array indexing the chunks
    of `c` (H5D__farray_idx_create, H5D__earray_idx_create): a chunk's address, and when
    filtered its stored size and its filter mask; the size in one byte more than the
    chunk's unfiltered size needs (at most 8: HDF5 1.10 to 1.14) or in 8 (HDF5 2.0)."""
    if not c.filters:
        return [(0, 8)]
    return sorted({(1, 8 + min(8, 1 + (c.size.bit_length() - 1 + 8) // 8) + 4), (1, 20)})


def _chunks(
    w: Walker,
    at: tuple[int, int],
    shape: tuple[int, int, int],
    chunk: tuple[Chunking, Grid],
    what: str,
    stats: Stats | None = None,
) -> int:
    """Claim the chunks an index block at at[0] lists, the first at position at[1]:
    (address, [filtered size, filter mask]). Returns the position after them; counts
    the elements and the last chunk in `stats`."""
    f, (c, grid), (count, width, client) = w.file, chunk, shape
    raw = f.bytes(at[0], count * width, what)
    for n, i in enumerate(range(0, count * width, width)):
        address = int.from_bytes(raw[i : i + 8], "little")
        if client:
            size = int.from_bytes(raw[i + 8 : i + width - 4], "little")
            mask = int.from_bytes(raw[i + width - 4 : i + width], "little")
        else:
            size, mask = (0 if address == UNDEFINED else c.size), 0
        if address != UNDEFINED or size or mask:
            claim(w, c, (address, size, mask), grid.offsets(at[1] + n))
            if stats is not None:
                stats.last = at[1] + n + 1
    if stats is not None:
        stats.elements += count
    return at[1] + count


@dataclass(slots=True)
class Stats:
    """What an extensible array's header counts (H5EA_hdr_t stats.stored): its super
    blocks and their bytes, its data blocks and their bytes, the last chunk set (+1),
    the elements of its index and data blocks."""

    supers: int = 0
    super_bytes: int = 0
    datas: int = 0
    data_bytes: int = 0
    last: int = 0
    elements: int = 0

    def check(self, got: tuple[int, ...], name: str) -> None:
        """All exact but the last chunk set: libhdf5 keeps it as a high-water mark (a
        dataset shrunk keeps the count from before: H5EA never lowers max_idx_set), so
        it lies from the last chunk set now up to the elements the blocks hold."""
        want = (self.supers, self.super_bytes, self.datas, self.data_bytes, self.last, self.elements)
        if self.last <= got[4] <= self.elements:
            want = (*want[:4], got[4], want[5])
        if got != want:
            raise Invalid(
                f"hdf5: {name} counts super blocks, their bytes, data blocks, their bytes, the "
                f"chunks set and the elements as {got}, where its blocks make them {want}"
            )


def _extensible_array(w: Walker, address: int, chunk: tuple[Chunking, Grid], what: str) -> None:
    """An extensible array: its header, index block, super blocks and data blocks, each
    holding chunk addresses (H5EA: super block u has 2**(u//2) data blocks of
    2**((u+1)//2) * the minimum elements each); positions run through them in order."""
    f, name = w.file, f"the extensible array chunk index of {what}"
    if address == UNDEFINED:
        return
    w.ledger.claim_checked(address, 72, name)
    fields.array_block(f, address, (b"EAHD", None, None), name)
    params = f.unpack("5x7B", address, name)  # client, width, bits, inline, least, pointers, page bits
    *counted, index = f.unpack("6QQ", address + 12, name)
    tuning.chunk_index(params, [(*e, *tuning.EXTENSIBLE_ARRAY) for e in _element(chunk[0])], name)
    stats = Stats()
    if index != UNDEFINED:
        _array_blocks(w, (index, params, address), chunk, stats, what)
    stats.check(tuple(counted), f"{name} at {address}")


def _array_blocks(
    w: Walker, where: tuple[int, tuple[int, ...], int], chunk: tuple[Chunking, Grid], stats: Stats, what: str
) -> None:
    """The index block at where[0] of the extensible array of parameters where[1] whose
    header is at where[2], the
    super and data blocks it reaches (counted in `stats`)."""
    f, name = w.file, f"the extensible array chunk index of {what}"
    index, (client, width, bits, inline, least, pointers, page_bits), address = where
    blocks = 1 + bits - (least.bit_length() - 1)  # super block sizes, as H5EA__hdr_init
    first = 2 * (pointers.bit_length() - 1)  # super blocks whose data blocks the index block lists
    offset = (bits + 7) // 8
    direct = [(least << ((u + 1) // 2)) for u in range(first) for _ in range(1 << (u // 2))]
    size = 14 + inline * width + (len(direct) + blocks - first) * 8 + 4
    w.ledger.claim_checked(index, size, f"the index block of {name}")
    fields.array_block(f, index, (b"EAIB", client, address), name)
    block = (width, client, chunk, offset, page_bits, stats)
    n = _chunks(w, (index + 14, 0), (inline, width, client), chunk, what, stats)
    at = index + 14 + inline * width
    for i, (count, wanted) in enumerate(zip(direct, fields.index_block_offsets(least, first), strict=True)):
        dblock = f.unpack("Q", at + 8 * i, name)[0]
        if dblock != UNDEFINED:
            fields.ea_block(f, dblock, (b"EADB", client, address, offset, wanted), f"a data block of {name}")
        n = _data_block(w, (dblock, n), count, block, what)
    at += 8 * len(direct)
    for u in range(first, blocks):
        sblock = f.unpack("Q", at + 8 * (u - first), name)[0]
        count, elements = 1 << (u // 2), least << ((u + 1) // 2)
        if sblock == UNDEFINED:
            n += count * elements
            continue
        if elements > 1 << page_bits:
            raise Invalid(f"hdf5: a paged extensible array chunk index ({what}) is not supported")
        stats.supers, stats.super_bytes = stats.supers + 1, stats.super_bytes + 14 + offset + 8 * count + 4
        w.ledger.claim_checked(sblock, 14 + offset + 8 * count + 4, f"a super block of {name}")
        start = fields.super_block(least, u)[0]
        fields.ea_block(f, sblock, (b"EASB", client, address, offset, start), f"a super block of {name}")
        for i in range(count):
            dblock = f.unpack("Q", sblock + 14 + offset + 8 * i, name)[0]
            if dblock != UNDEFINED:
                wanted = start + i * elements
                fields.ea_block(
                    f, dblock, (b"EADB", client, address, offset, wanted), f"a data block of {name}"
                )
            n = _data_block(w, (dblock, n), elements, block, what)


def _data_block(w: Walker, where: tuple[int, int], count: int, shape: tuple, what: str) -> int:
    """The data block at where[0] of `count` chunk addresses, the first at position
    where[1]; returns the position after them (an unallocated block's too)."""
    (address, n), (width, client, chunk, offset, page_bits, stats) = where, shape
    if address == UNDEFINED:
        return n + count
    name = f"a data block of the extensible array chunk index of {what}"
    if count > 1 << page_bits:
        raise Invalid(f"hdf5: a paged extensible array chunk index ({what}) is not supported")
    size = 14 + offset + count * width + 4
    stats.datas, stats.data_bytes = stats.datas + 1, stats.data_bytes + size
    w.ledger.claim_checked(address, size, name)
    w.file.signature(address, b"EADB", name)
    return _chunks(w, (address + 14 + offset, n), (count, width, client), chunk, what, stats)
