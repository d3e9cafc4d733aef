"""What an object's description says its data needs: the dataspace (dimensions, maximum
dimensions, element count), the datatype's element size and the filter pipeline. Every
extent a dataset or attribute claims is checked against these: exactly what its content
needs, no byte more (a reader never reads the rest, so the rest could carry anything)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from ..stream import Invalid

if TYPE_CHECKING:
    from .ledger import File

DEFLATE, SHUFFLE, FLETCHER32 = 1, 2, 3
CHECKED = (SHUFFLE, DEFLATE, FLETCHER32)  # the filters the walk decodes, in the order applied
FILTER_NAMES = {
    1: "deflate",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "n-bit",
    6: "scale-offset",
    307: "bzip2",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32013: "zfp",
    32015: "zstd",
    32026: "blosc2",
}
_REMEDY = "h5repack -f GZIP=6 in.h5 out.h5 rewrites it with deflate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Space:
    dims: tuple[int, ...]
    maxdims: tuple[int, ...]
    elements: int
    size: int  # bytes of the message's content


def dataspace(f: File, at: int, what: str) -> Space:
    """A dataspace message (version 1 or 2) at `at`; its reserved bytes must be zero."""
    name = f"the dataspace of {what}"
    version, rank, flags = f.unpack("BBB", at, name)
    if version == 1:
        if f.bytes(at + 3, 5, name).strip(b"\0") or flags & ~0x01:
            raise Invalid(f"hdf5: {name} has reserved bytes or flags set")
        kind, pos = (1 if rank else 0), at + 8
    elif version == 2:
        kind, pos = f.unpack("B", at + 3, name)[0], at + 4
        if kind > 2 or flags & ~0x01 or (kind == 1) != bool(rank):  # simple: rank > 0, as libhdf5 writes
            raise Invalid(f"hdf5: {name} has an unknown kind or flags, or a rank its kind does not have")
    else:
        raise Invalid(f"hdf5: {name} has version {version}")
    if bool(flags & 0x01) != bool(rank):  # libhdf5 keeps maxima (dims if none given) for any rank
        raise Invalid(f"hdf5: {name} has rank {rank} and {'' if flags & 0x01 else 'no '}maximum dimensions")
    dims = f.unpack("Q" * rank, pos, name)
    maxdims = f.unpack("Q" * rank, pos + 8 * rank, name) if flags & 0x01 else dims
    if any(top < size for size, top in zip(dims, maxdims, strict=True)):
        raise Invalid(f"hdf5: {name} has maximum dimensions {maxdims} below its dimensions {dims}")
    elements = 0 if kind == 2 else prod(dims)
    return Space(dims=dims, maxdims=maxdims, elements=elements, size=pos - at + 8 * rank * (1 + (flags & 1)))


def fixed(space: Space, what: str) -> None:
    """A dataspace that cannot grow (compact and contiguous datasets, attributes): libhdf5
    refuses maximum dimensions beyond the dimensions there, so it writes the dimensions."""
    if space.maxdims != space.dims:
        raise Invalid(
            f"hdf5: the dataspace of {what} has maximum dimensions {space.maxdims} beyond its dimensions "
            f"{space.dims}, and {what} cannot grow (only a chunked dataset can)"
        )


def element_size(f: File, at: int, what: str) -> int:
    """The size of one element of the datatype message at `at`."""
    return f.unpack("4xI", at, f"the datatype of {what}")[0]


def filters(f: File, at: int | None, what: str) -> tuple[int, ...]:
    """The filter ids of a filter pipeline message, in the order they were applied."""
    return () if at is None else pipeline(f, at, what)[0]


def deflate_level(f: File, at: int | None, what: str) -> int:
    """The deflate level of the filter pipeline message at `at` (-1: no deflate)."""
    return -1 if at is None else pipeline(f, at, what)[2]


def pipeline(f: File, at: int, what: str) -> tuple[tuple[int, ...], int, int]:
    """(the filter ids, the size, the deflate level or -1) of the filter pipeline message
    at `at`; the filters vmguard decodes as libhdf5's H5Pset_ calls write them (_filter)."""
    name = f"the filter pipeline of {what}"
    version, count = f.unpack("BB", at, name)
    if version not in (1, 2) or (version == 1 and f.bytes(at + 2, 6, name).strip(b"\0")):
        raise Invalid(f"hdf5: {name} has version {version} or its reserved bytes hold data")
    pos, ids, level = at + (8 if version == 1 else 2), [], -1
    for _ in range(count):
        fid = f.unpack("H", pos, name)[0]
        if version == 2 and fid < 256:  # no name length field for the library's own filters
            namelen, (flags, values) = 0, f.unpack("2xHH", pos, name)
            pos += 6
        else:
            namelen, flags, values = f.unpack("HHH", pos + 2, name)
            pos += 8
        padded = -(-namelen // 8) * 8 if version == 1 else namelen
        pad = 4 if version == 1 and values % 2 else 0
        if fid in _WRITTEN:
            got = _filter(f, (fid, flags, values), (pos, namelen, padded + 4 * values, pad), name)
            level = got if fid == DEFLATE else level
        pos += padded + 4 * values + pad
        ids.append(fid)
    return tuple(ids), pos - at, level


_WRITTEN = {  # filter -> (flags, client values, name) as H5Pset_deflate/shuffle/fletcher32 write them
    DEFLATE: (0x01, {1}, b"deflate"),
    SHUFFLE: (0x01, {0, 1}, b"shuffle"),  # the element size, when libhdf5 set it
    FLETCHER32: (0x00, {0}, b"fletcher32"),
}


def _filter(f: File, head: tuple[int, int, int], where: tuple[int, int, int, int], name: str) -> int:
    """One filter of the pipeline: its flags and number of client values libhdf5's, its
    name (when the message has one) libhdf5's padded with zeros, a deflate level 0-9,
    the padding after an odd number of values zeros. Returns the level (0 but deflate's)."""
    fid, flags, values = head
    pos, namelen, after, pad = where
    want_flags, want_values, want_name = _WRITTEN[fid]
    text = f.bytes(pos, namelen, name)
    level = f.unpack("I", pos + after - 4, name)[0] if fid == DEFLATE and values else 0
    if flags != want_flags or values not in want_values or level > 9:
        raise Invalid(
            f"hdf5: {name} gives filter {FILTER_NAMES[fid]} flags {flags:#06x}, {values} client values or "
            f"level {level}, where libhdf5 writes flags {want_flags:#06x} and {sorted(want_values)} values"
        )
    gaps = f.bytes(pos + namelen, after - 4 * values - namelen, name) + f.bytes(pos + after, pad, name)
    named = -(-(len(want_name) + 1) // 8) * 8 if namelen else 0  # v1: the name, a NUL, padded to 8
    if namelen != named or text != want_name.ljust(named, b"\0")[:named] or gaps.strip(b"\0"):
        raise Invalid(
            f"hdf5: {name} names filter {fid} other than libhdf5 ({want_name.decode()} and a NUL, "
            f"padded to {named} bytes) or pads with data"
        )
    return level


def checkable(ids: tuple[int, ...], what: str) -> None:
    """A chunk's bytes are recomputed only through shuffle, deflate and fletcher32, each at
    most once, in that order: any other filter (lzf, szip, blosc, scale-offset, n-bit...)
    or order leaves bytes a reader decodes and the walk cannot: refused."""
    for fid in ids:
        if fid not in CHECKED:
            raise Invalid(
                f"hdf5: filter {FILTER_NAMES.get(fid, 'unknown')} (id {fid}) in {what} cannot be checked "
                f"({_REMEDY})"
            )
    order = [CHECKED.index(fid) for fid in ids]
    if order != sorted(set(order)):
        names = ", ".join(FILTER_NAMES[fid] for fid in ids)
        raise Invalid(
            f"hdf5: the filters of {what} ({names}) are not shuffle, deflate, fletcher32 in that "
            f"order and cannot be checked ({_REMEDY})"
        )


def exact(size: int, needed: int, what: str) -> None:
    if size != needed:
        raise Invalid(f"hdf5: {what} is {size} bytes where its dataspace and datatype need {needed}")


def attribute_pad(version: int):  # noqa: ANN202
    """How an attribute message of this version pads its name, datatype and dataspace
    fields: version 1 to 8 bytes, later ones not."""
    return (lambda n: -(-n // 8) * 8) if version == 1 else (lambda n: n)


def attribute_places(f: File, at: int, what: str) -> tuple[int, int, int, int]:
    """(name, datatype, dataspace, value): where the fields of the attribute message at
    `at` start (version 3 has a character set byte more)."""
    version, _, name, dtype, space = f.unpack("BBHHH", at, f"an attribute of {what}")
    pad = attribute_pad(version)
    start = at + (9 if version == 3 else 8)
    space_at = start + pad(name) + pad(dtype)
    return start, start + pad(name), space_at, space_at + pad(space)
